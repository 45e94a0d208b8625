import { InflowError } from './inflow-error.js';

/** Which of the real services' error layers a body came from (reference §1.4, §6.3, §8). */
export type ProblemKind =
  | 'flow-service' // {type: …/FLOW-1404-412, title, status, report: {detailed-message, request-id}, errorMessage}
  | 'gateway' // {error_code: "401013", message}
  | 'streaming' // {type, status: "401", title, report: {message}}
  | 'problem' // RFC 7807 {type, status, title, detail}
  | 'oauth' // {error: "invalid_client", error_description}
  | 'message' // {errorMessage} or {message} alone
  | 'unknown';

/** An error body of any real shape, reduced to what a caller can act on. */
export interface Problem {
  kind: ProblemKind;
  /** The service's own code: `1404-412` (Flow Service), `401013` (gateway), `invalid_client` (IMS). */
  code: string | undefined;
  title: string | undefined;
  detail: string | undefined;
  requestId: string | undefined;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const rec = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** Reduces a parsed error body (or raw text) to a `Problem`. Never throws. */
export function parseProblem(body: unknown): Problem {
  const b = rec(body);
  if (!b) {
    const text = typeof body === 'string' ? body.trim().slice(0, 500) : undefined;
    return { kind: 'unknown', code: undefined, title: undefined, detail: str(text), requestId: undefined };
  }
  const report = rec(b.report);
  const type = str(b.type);
  const flowCode = type?.match(/\/FLOW-(\d{4}-\d{3})$/)?.[1];
  if (flowCode || (report && str(report['detailed-message']))) {
    return {
      kind: 'flow-service',
      code: flowCode,
      title: str(b.title),
      detail: str(report?.['detailed-message']) ?? str(b.errorMessage) ?? str(b.errorDetails),
      requestId: str(report?.['request-id']),
    };
  }
  if (report && str(report.message)) {
    return {
      kind: 'streaming',
      code: undefined,
      title: str(b.title),
      detail: str(report.message),
      requestId: undefined,
    };
  }
  if (str(b.error_code)) {
    return {
      kind: 'gateway',
      code: str(b.error_code),
      title: undefined,
      detail: str(b.message),
      requestId: undefined,
    };
  }
  if (str(b.error)) {
    return {
      kind: 'oauth',
      code: str(b.error),
      title: undefined,
      detail: str(b.error_description),
      requestId: undefined,
    };
  }
  if (type && (str(b.detail) || str(b.title))) {
    return {
      kind: 'problem',
      code: undefined,
      title: str(b.title),
      detail: str(b.detail),
      requestId: undefined,
    };
  }
  const message = str(b.errorMessage) ?? str(b.message);
  if (message)
    return { kind: 'message', code: undefined, title: undefined, detail: message, requestId: undefined };
  return { kind: 'unknown', code: undefined, title: undefined, detail: undefined, requestId: undefined };
}

/** Statuses worth another attempt: throttling and the gateway's transient failures. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

function hintFor(status: number, problem: Problem): string | undefined {
  const code = problem.code;
  if (code === '1404-412' || status === 412)
    return 'the etag is stale: GET the resource again and retry with its current etag';
  if (code === '1403-400') return "send the resource's etag in If-Match (GET it first)";
  if (code === '403010') return 'send an Authorization: Bearer {ACCESS_TOKEN} header';
  if (code === '403000' || code === '403003') return 'set x-api-key to the client id the token was issued to';
  if (code === '400003' || code === '2001-401' || code === '2002-401')
    return 'set the x-gw-ims-org-id header';
  if (code === '2105-400') return 'set the x-sandbox-name header';
  if (code?.startsWith('210') && status === 404) return 'check x-sandbox-name: that sandbox does not exist';
  if (problem.kind === 'oauth') return 'check the client id and client secret';
  if (status === 401) return 'the access token is missing, invalid or expired: get a new one';
  if (status === 403) return 'the credentials are valid but not allowed to do this';
  if (status === 404) return 'verify the resource id, the org and the sandbox';
  if (status === 429) return 'too many requests: slow down and retry later';
  return undefined;
}

export interface ApiCallErrorInput {
  method: string;
  url: string;
  status: number;
  /** The parsed JSON body, or the raw text when it was not JSON. */
  body: unknown;
  requestId: string | undefined;
  /** Seconds the server asked us to wait (`Retry-After`), when it said. */
  retryAfterSeconds?: number | undefined;
  cause?: unknown;
}

/**
 * A non-2xx answer from a Flow Service–style API. Carries the status, the request id, the raw
 * body and its `Problem` reduction, and a message that says what to do about it.
 */
export class ApiCallError extends InflowError {
  override readonly name = 'ApiCallError';
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly requestId: string | undefined;
  readonly body: unknown;
  readonly problem: Problem;
  readonly retryAfterSeconds: number | undefined;

  constructor(input: ApiCallErrorInput) {
    const problem = parseProblem(input.body);
    const requestId = input.requestId ?? problem.requestId;
    const what = [problem.code, problem.title].filter(Boolean).join(' ');
    const hint = hintFor(input.status, problem);
    const path = safePath(input.url);
    const said =
      `${input.method} ${path} failed with HTTP ${input.status}` +
      (what ? ` (${what})` : '') +
      (problem.detail ? `: ${problem.detail}` : '');
    // A detail that ends its own sentence gets no second full stop before the hint.
    const message =
      said +
      (hint ? `${/[.!?]$/.test(said) ? '' : '.'} Fix: ${hint}` : '') +
      (requestId ? ` [request id ${requestId}]` : '');
    super(message, { cause: input.cause });
    this.method = input.method;
    this.url = input.url;
    this.status = input.status;
    this.requestId = requestId;
    this.body = input.body;
    this.problem = { ...problem, requestId };
    this.retryAfterSeconds = input.retryAfterSeconds;
  }

  /** True for 429/502/503/504: the same request may succeed later. */
  get isRetryable(): boolean {
    return RETRYABLE_STATUSES.has(this.status);
  }

  static override isInstance(error: unknown): error is ApiCallError {
    return InflowError.isInstance(error) && error.name === 'ApiCallError';
  }
}

function safePath(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname + u.search;
  } catch {
    return url;
  }
}
