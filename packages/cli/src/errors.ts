import {
  ApiCallError,
  InflowError,
  InflowNetworkError,
  InflowValidationError,
  RetryExhaustedError,
  SetupStepError,
} from '@inflow/core';

/**
 * Exit codes: scripts branch on these (documented in docs/cli.md and in `inflow --help`).
 */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** The API answered with an error, or something failed at run time. */
  error: 1,
  /** Bad command line, flags or config file: nothing was sent. */
  usage: 2,
  /** No profile, missing credentials, or the API refused them (401/403). */
  auth: 3,
  /** The resource does not exist (404). */
  notFound: 4,
  /** Partly done: some records were rejected, a run failed, a plan has changes (`--exit-code`). */
  partial: 5,
  /** Stopped by Ctrl-C. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI raises itself, with the exit code it maps to and the fix to show. */
export class CliError extends InflowError {
  override readonly name: string = 'CliError';
  readonly exitCode: ExitCode;
  readonly fix: string | undefined;

  constructor(message: string, options: { exitCode?: ExitCode; fix?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.exitCode = options.exitCode ?? EXIT.error;
    this.fix = options.fix;
  }

  static override isInstance(error: unknown): error is CliError {
    return InflowError.isInstance(error) && 'exitCode' in error && 'fix' in error;
  }
}

/** A bad command line or input file (exit 2). */
export class UsageError extends CliError {
  override readonly name = 'UsageError';
  constructor(message: string, fix?: string) {
    super(message, { exitCode: EXIT.usage, ...(fix ? { fix } : {}) });
  }
}

/** Walks `cause` to the API's own answer, if there was one. */
export function apiErrorOf(error: unknown): ApiCallError | undefined {
  let e: unknown = error;
  for (let i = 0; i < 6 && e; i++) {
    if (ApiCallError.isInstance(e)) return e;
    if (RetryExhaustedError.isInstance(e)) {
      e = e.lastError;
      continue;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function networkErrorOf(error: unknown): InflowNetworkError | undefined {
  let e: unknown = error;
  for (let i = 0; i < 6 && e; i++) {
    if (InflowNetworkError.isInstance(e)) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function exitCodeOf(error: unknown): ExitCode {
  if (CliError.isInstance(error)) return error.exitCode;
  const api = apiErrorOf(error);
  if (api) {
    if (api.status === 401 || api.status === 403) return EXIT.auth;
    if (api.status === 404) return EXIT.notFound;
    return EXIT.error;
  }
  if ((error as { name?: unknown })?.name === 'AbortError') return EXIT.interrupted;
  if (InflowValidationError.isInstance(error)) return EXIT.usage;
  return EXIT.error;
}

/** What `--json` prints on stderr, and what the human form is made from. */
export interface ErrorReport {
  error: {
    message: string;
    exitCode: ExitCode;
    /** The API's answer, when there was one. */
    status?: number;
    code?: string;
    title?: string;
    detail?: string;
    requestId?: string;
    /** The failed setup step (`inflow connect`, `inflow apply`). */
    step?: string;
    fix?: string;
  };
}

/** The fix a person should try, beyond what the API's own message says. */
function cliFix(error: unknown): string | undefined {
  if (CliError.isInstance(error)) return error.fix;
  const api = apiErrorOf(error);
  if (api) {
    if (api.problem.kind === 'oauth' || (api.status === 401 && /\/ims\/token/.test(api.url)))
      return 'the client id or secret was refused: run `inflow login` again (or set INFLOW_CLIENT_SECRET)';
    if (api.status === 401) return 'the access token was refused: run `inflow login` again';
    return undefined;
  }
  const net = networkErrorOf(error);
  if (net) {
    const local = /\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(net.url);
    return local
      ? 'nothing answers there: start the server with `npm start` (or `inflow serve`), or pass --endpoint'
      : 'check --endpoint (or the profile) and your network';
  }
  return undefined;
}

export function errorReport(error: unknown): ErrorReport {
  const message = error instanceof Error ? error.message : String(error);
  const api = apiErrorOf(error);
  const fix = cliFix(error);
  return {
    error: {
      message,
      exitCode: exitCodeOf(error),
      ...(api
        ? {
            status: api.status,
            ...(api.problem.code ? { code: api.problem.code } : {}),
            ...(api.problem.title ? { title: api.problem.title } : {}),
            ...(api.problem.detail ? { detail: api.problem.detail } : {}),
            ...(api.requestId ? { requestId: api.requestId } : {}),
          }
        : {}),
      ...(stepOf(error) ? { step: stepOf(error) } : {}),
      ...(fix ? { fix } : {}),
    },
  };
}

function stepOf(error: unknown): string | undefined {
  let e: unknown = error;
  for (let i = 0; i < 4 && e; i++) {
    if (SetupStepError.isInstance(e)) return e.stepId;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
