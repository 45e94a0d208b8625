import { ListBucketsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { InflowError, redact, type TestResult } from '@inflow/core';
import { UndiciHttpHandler } from '@smithy/undici-http-handler';
import type { S3Credentials } from './s3-credentials.js';

/** How long connecting to the endpoint may take before it is a failure. */
export const CONNECT_TIMEOUT_MS = 5_000;

/**
 * How long an S3 answer may keep Inflow waiting: for its headers once the request is sent, and
 * for each next chunk of its body while Inflow is reading it (a body paused by back-pressure is
 * not timed). S3 sends a GetObject's headers once the object is found, a ListObjects page's once
 * the page is built: well under a second, seconds on a bad day, so 30 s leaves that room many
 * times over (the AWS SDK for Java 2.x's default socket read timeout is 30 s too) and only a big
 * object's transfer takes long, which is not timed as a whole. Without it undici waits 300 s.
 */
export const RESPONSE_TIMEOUT_MS = 30_000;

let responseTimeoutMs = RESPONSE_TIMEOUT_MS;
/** Tests only: a shorter `RESPONSE_TIMEOUT_MS`, for clients made after it; no argument restores it. */
export function setResponseTimeoutForTests(ms = RESPONSE_TIMEOUT_MS): void {
  responseTimeoutMs = ms;
}

/** The signing region when the credentials name none. */
export const DEFAULT_REGION = 'us-east-1';

/** A `TestResult.code`, also carried by every `S3Error`. */
export type S3ErrorCode = 'auth_failed' | 'network' | 'permission' | 'not_found' | 'invalid' | 'format';

/**
 * A failure talking to S3 or reading a file: the key pair refused, the endpoint unreachable, a
 * bucket or key missing or forbidden, a file that does not parse. The message names the
 * endpoint, bucket or key as needed, never the secret; `code` is the stable reason, `s3Code`
 * the service's error code (`SignatureDoesNotMatch`, `AccessDenied`, …) when it sent one.
 */
export class S3Error extends InflowError {
  override readonly name = 'S3Error';
  readonly code: S3ErrorCode;
  readonly s3Code: string | undefined;
  /** HTTP status of the service's answer, when there was one. */
  readonly status: number | undefined;
  /** True for failures that may pass on their own: the network, throttling, a 5xx. */
  readonly isRetryable: boolean;

  constructor(input: {
    message: string;
    code: S3ErrorCode;
    s3Code?: string | undefined;
    status?: number | undefined;
    isRetryable?: boolean;
    cause?: unknown;
  }) {
    super(input.message, { cause: input.cause });
    this.code = input.code;
    this.s3Code = input.s3Code;
    this.status = input.status;
    this.isRetryable = input.isRetryable ?? input.code === 'network';
  }

  static override isInstance(error: unknown): error is S3Error {
    return InflowError.isInstance(error) && error.name === 'S3Error';
  }
}

/** The endpoint the credentials reach, for messages: `http://127.0.0.1:7480` or AWS's regional one. */
export function endpointOf(credentials: S3Credentials): string {
  return credentials.serviceUrl ?? `https://s3.${credentials.region ?? DEFAULT_REGION}.amazonaws.com`;
}

/**
 * An S3 client for validated credentials. Path-style addressing for S3-compatible endpoints
 * (no bucket in the host name), and checksums only where S3 requires them: S3-compatible
 * servers (Ceph Pacific) reject the SDK's streaming trailer checksums. The SDK retries
 * throttling, 5xx and network errors itself (3 attempts); with `retryTimeouts: false`, for the
 * verbs a user waits on (`test`, `explore`, `preview`), not a connect or response timeout, so a
 * silent endpoint fails after one `RESPONSE_TIMEOUT_MS`, not three.
 *
 * HTTP goes through undici (`UndiciHttpHandler`), as the rest of Inflow's HTTP does: it costs
 * about a quarter less CPU per GB read than the SDK's default `node:http` handler. The handler
 * gets Agent options, not an Agent, so it makes an Agent of its own for this client: connecting
 * (TCP, and TLS for https) may take `CONNECT_TIMEOUT_MS`, an answer's headers and each gap in
 * its body `RESPONSE_TIMEOUT_MS` (a body paused by back-pressure is not timed), and
 * `client.destroy()` closes the Agent with every connection in it. See decision 0008's addenda.
 */
export function createClient(
  credentials: S3Credentials,
  options: { retryTimeouts?: boolean } = {},
): S3Client {
  const client = new S3Client({
    region: credentials.region ?? DEFAULT_REGION,
    ...(credentials.serviceUrl ? { endpoint: credentials.serviceUrl, forcePathStyle: true } : {}),
    credentials: {
      accessKeyId: credentials.s3AccessKey,
      secretAccessKey: credentials.s3SecretKey,
      ...(credentials.s3SessionToken ? { sessionToken: credentials.s3SessionToken } : {}),
    },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // Agent options: the handler passes a request's own headersTimeout and bodyTimeout only when
    // the command sets `requestTimeout`, which none does, so undici applies these.
    requestHandler: new UndiciHttpHandler({
      dispatcher: {
        connect: { timeout: CONNECT_TIMEOUT_MS },
        headersTimeout: responseTimeoutMs,
        bodyTimeout: responseTimeoutMs,
      },
    }),
  });
  if (options.retryTimeouts === false) {
    // The retry middleware asks the config for its strategy on every command.
    const standard = client.config.retryStrategy;
    client.config.retryStrategy = async () => withoutTimeoutRetries(await standard());
  }
  return client;
}

type RetryStrategy = Awaited<ReturnType<S3Client['config']['retryStrategy']>>;

/** The SDK's retry strategy, except that it gives up on an attempt that timed out. */
function withoutTimeoutRetries(strategy: RetryStrategy): RetryStrategy {
  if (!('refreshRetryTokenForRetry' in strategy)) return strategy;
  return {
    acquireInitialRetryToken: (scope) => strategy.acquireInitialRetryToken(scope),
    // Rejecting ends the retries: the SDK then throws the attempt's own error.
    refreshRetryTokenForRetry: (token, info) =>
      isTimeout(networkCodeOf(info.error))
        ? Promise.reject(info.error)
        : strategy.refreshRetryTokenForRetry(token, info),
    recordSuccess: (token) => strategy.recordSuccess(token),
  };
}

const AUTH_CODES = new Set([
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'InvalidSecurity',
]);
const NOT_FOUND_CODES = new Set(['NoSuchBucket', 'NoSuchKey', 'NotFound']);
/**
 * Error codes S3 (and AWS) answer for conditions that pass on their own, whatever the HTTP
 * status (`RequestTimeout` is a 400, `SlowDown` a 503, `Throttling` may be a 400). Mirrors the
 * AWS SDK's own lists, `TRANSIENT_ERROR_CODES` and `THROTTLING_ERROR_CODES` in
 * `@smithy/core/retry` (`service-error-classification/constants.ts`, @smithy/core 3.41), which
 * are not exported and not a dependency of this package; plus S3's `IncompleteBody` (400: the
 * request body arrived short, a connection cut mid-upload).
 */
const TRANSIENT_CODES = new Set([
  // TRANSIENT_ERROR_CODES
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  // THROTTLING_ERROR_CODES
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TransactionInProgressException',
  // S3's own
  'IncompleteBody',
]);
/**
 * Why the endpoint could not be reached (the connection was never made), by errno or undici
 * code. `TimeoutError` is the name the SDK's handlers give a timeout that carries no code.
 */
const UNREACHED_CODES: Record<string, string> = {
  ECONNREFUSED: 'the connection was refused',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  ETIMEDOUT: 'the connection timed out',
  UND_ERR_CONNECT_TIMEOUT: `connecting took longer than ${CONNECT_TIMEOUT_MS / 1_000} s`,
  TimeoutError: 'the connection timed out',
};
/** Why a connection that was made failed before the answer was complete, by errno or undici code. */
const BROKEN_CODES: Record<string, string> = {
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed',
  UND_ERR_SOCKET: 'the endpoint closed the connection',
};
/** An answer that did not come within `RESPONSE_TIMEOUT_MS`: its headers, or its body's next chunk. */
const LATE_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME']);

const isNetworkCode = (code: unknown): code is string =>
  typeof code === 'string' &&
  (Object.hasOwn(UNREACHED_CODES, code) ||
    Object.hasOwn(BROKEN_CODES, code) ||
    LATE_CODES.has(code) ||
    DNS_CODES.has(code));
/** undici's timeouts, which the SDK retries (the handler names them `TimeoutError`). */
const isTimeout = (code: string | undefined) =>
  code !== undefined && (code === 'UND_ERR_CONNECT_TIMEOUT' || LATE_CODES.has(code));

/**
 * The errno or undici code of a network failure: on the error itself (its `code`, else its
 * `name`), else on what it wraps: its `cause`, or the `errors` of an `AggregateError` (Node's
 * one per address it tried to connect to).
 */
function networkCodeOf(error: unknown, depth = 0): string | undefined {
  if (typeof error !== 'object' || error === null || depth > 5) return undefined;
  const e = error as { code?: unknown; name?: unknown; cause?: unknown; errors?: unknown };
  if (isNetworkCode(e.code)) return e.code;
  if (isNetworkCode(e.name)) return e.name;
  for (const inner of Array.isArray(e.errors) ? e.errors : []) {
    const code = networkCodeOf(inner, depth + 1);
    if (code) return code;
  }
  return networkCodeOf(e.cause, depth + 1);
}

/** The host (and port) of the endpoint, for network messages. */
function hostOf(credentials: S3Credentials): string {
  try {
    return new URL(endpointOf(credentials)).host;
  } catch {
    return endpointOf(credentials);
  }
}

/**
 * What a failed S3 call means, as an `S3Error`. Decided by the service's error code, the HTTP
 * status and the errno or undici code, never by message text; the secret and the session token
 * are redacted from whatever text is kept. `doing` says what was being done (`listing
 * s3://acme/in/`).
 */
export function s3Failure(error: unknown, credentials: S3Credentials, doing: string): S3Error {
  if (S3Error.isInstance(error)) return error;
  const e = error as { name?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  const name = typeof e?.name === 'string' ? e.name : '';
  const secrets = [credentials.s3SecretKey, credentials.s3SessionToken ?? ''].filter(Boolean);
  const make = (code: S3ErrorCode, message: string, isRetryable?: boolean) =>
    new S3Error({
      message: redact(message, secrets),
      code,
      s3Code: status !== undefined && name ? name : undefined,
      status,
      ...(isRetryable === undefined ? {} : { isRetryable }),
      cause: error,
    });

  if (status !== undefined) {
    if (AUTH_CODES.has(name)) {
      return make(
        'auth_failed',
        `${endpointOf(credentials)} rejected the key pair (${name}) while ${doing}: check s3AccessKey and s3SecretKey${
          name.includes('Token') ? ', and that s3SessionToken has not expired' : ''
        }`,
      );
    }
    if (name === 'AccessDenied' || name === 'AllAccessDisabled' || status === 403) {
      return make(
        'permission',
        `the key pair was accepted, but has no permission for ${doing} (${name || 'HTTP 403'}): grant it s3:ListBucket and s3:GetObject there`,
      );
    }
    if (NOT_FOUND_CODES.has(name) || status === 404) {
      return make(
        'not_found',
        `nothing found while ${doing} (${name || 'HTTP 404'}): check the bucket and path`,
      );
    }
    if (name === 'InvalidRange') {
      return make('invalid', `${doing} asked for a byte range beyond the end of the object (InvalidRange)`);
    }
    const retryable = status >= 500 || status === 429 || TRANSIENT_CODES.has(name);
    return make(
      retryable ? 'network' : 'invalid',
      `${endpointOf(credentials)} answered HTTP ${status}${name ? ` (${name})` : ''} while ${doing}`,
      retryable,
    );
  }
  const host = hostOf(credentials);
  const code = networkCodeOf(error);
  if (code && DNS_CODES.has(code)) {
    return make('network', `cannot resolve host "${host}" while ${doing}: check serviceUrl`);
  }
  if (code && Object.hasOwn(UNREACHED_CODES, code)) {
    return make(
      'network',
      `cannot reach ${host} while ${doing}: ${UNREACHED_CODES[code]} (${code}); check serviceUrl and that Inflow can reach the endpoint`,
    );
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return make(
      'network',
      `no answer from ${endpointOf(credentials)} within ${responseTimeoutMs / 1_000} s while ${doing} (${code}): the connection was made; check that serviceUrl names an S3 endpoint and that it is answering`,
    );
  }
  if (code === 'UND_ERR_BODY_TIMEOUT') {
    return make(
      'network',
      `the answer from ${endpointOf(credentials)} stopped part-way while ${doing}: nothing more came within ${responseTimeoutMs / 1_000} s (${code})`,
    );
  }
  if (code && Object.hasOwn(BROKEN_CODES, code)) {
    return make(
      'network',
      `the connection to ${host} failed while ${doing}: ${BROKEN_CODES[code]} (${code})`,
    );
  }
  const text = error instanceof Error ? error.message : String(error);
  return make('network', `${doing} failed talking to ${host}: ${text}`);
}

/**
 * The `test` verb. With `bucketName`: lists one key of it (under `folderPath`). Without:
 * lists the buckets. A refused key pair is `auth_failed`, an unreachable endpoint `network`
 * (naming the host), a bucket the key may not list `permission`. Never throws, never includes
 * the secret or a stack trace.
 */
export async function testConnection(
  credentials: S3Credentials,
  options: { signal?: AbortSignal } = {},
): Promise<TestResult> {
  const client = createClient(credentials, { retryTimeouts: false });
  const where = endpointOf(credentials);
  const bucket = credentials.bucketName;
  const doing = bucket ? `listing bucket "${bucket}"` : 'listing the buckets';
  try {
    if (bucket) {
      const prefix = credentials.folderPath?.replace(/^\/+/, '');
      await client.send(
        new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1, ...(prefix ? { Prefix: prefix } : {}) }),
        { abortSignal: options.signal },
      );
      return { ok: true, message: `the key pair may list bucket "${bucket}" at ${where}` };
    }
    const result = await client.send(new ListBucketsCommand({}), { abortSignal: options.signal });
    const count = result.Buckets?.length ?? 0;
    return {
      ok: true,
      message: `the key pair was accepted by ${where}: it sees ${count} bucket${count === 1 ? '' : 's'}`,
    };
  } catch (error) {
    if (options.signal?.aborted)
      return { ok: false, code: 'network', message: 'the connection test was cancelled' };
    const failure = s3Failure(error, credentials, doing);
    const message =
      failure.code === 'permission' && !bucket
        ? `the key pair was accepted by ${where}, but may not list the buckets (${failure.s3Code ?? 'AccessDenied'}): set bucketName to a bucket it may read, or grant it s3:ListAllMyBuckets`
        : failure.code === 'permission'
          ? `the key pair was accepted by ${where}, but has no permission to list bucket "${bucket}" (${failure.s3Code ?? 'AccessDenied'}): grant it s3:ListBucket and s3:GetObject there`
          : failure.message;
    return { ok: false, code: failure.code, message };
  } finally {
    client.destroy();
  }
}
