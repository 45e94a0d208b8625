const marker = Symbol.for('inflow.error');

/** Options every Inflow error accepts; `cause` is always passed on when there is one. */
export interface InflowErrorOptions {
  cause?: unknown;
}

/**
 * The root of Inflow's one error family. Check with `InflowError.isInstance(e)` rather than
 * `instanceof`: two copies of `@inflow/core` in one process (a connector with its own nested
 * install) still recognise each other's errors through the `Symbol.for` marker.
 */
export class InflowError extends Error {
  readonly [marker] = true;
  override readonly name: string = 'InflowError';

  constructor(message: string, options: InflowErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }

  static isInstance(error: unknown): error is InflowError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}

/** One field that failed validation, with a dotted path such as `auth.params.s3SecretKey`. */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** Input that does not fit its schema: a connector definition, credentials, setup input. */
export class InflowValidationError extends InflowError {
  override readonly name = 'InflowValidationError';
  readonly issues: readonly ValidationIssue[];

  constructor(message: string, issues: readonly ValidationIssue[], options: InflowErrorOptions = {}) {
    super(message, options);
    this.issues = issues;
  }

  static override isInstance(error: unknown): error is InflowValidationError {
    return InflowError.isInstance(error) && error.name === 'InflowValidationError';
  }
}

/** A request that never got an HTTP answer: refused, reset, timed out, DNS failure. */
export class InflowNetworkError extends InflowError {
  override readonly name = 'InflowNetworkError';
  readonly method: string;
  readonly url: string;
  /** The low-level error code (`ECONNREFUSED`, `UND_ERR_SOCKET`, …) when there is one. */
  readonly code: string | undefined;
  readonly isRetryable = true;

  constructor(input: {
    method: string;
    url: string;
    code: string | undefined;
    message: string;
    cause: unknown;
  }) {
    super(input.message, { cause: input.cause });
    this.method = input.method;
    this.url = input.url;
    this.code = input.code;
  }

  static override isInstance(error: unknown): error is InflowNetworkError {
    return InflowError.isInstance(error) && error.name === 'InflowNetworkError';
  }
}
