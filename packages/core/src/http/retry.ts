/**
 * When and how long to retry. Decisions are made from the HTTP status and the low-level error
 * code only, never from message text.
 */
export interface RetryPolicy {
  /** Total tries including the first. Default 4 (the first try and three retries, as DCS asks). */
  maxAttempts: number;
  /** The first backoff ceiling in ms; doubles each retry (full jitter). Default 250. */
  baseDelayMs: number;
  /** The largest backoff ceiling in ms. Default 8000. */
  maxDelayMs: number;
  /**
   * The whole budget in ms, first try included. A retry whose wait (backoff or `Retry-After`)
   * would end past it is not made. Default 60000.
   */
  budgetMs: number;
  /**
   * Retry POST and PATCH too. Default false: a create that timed out may have happened, and
   * sending it again would create a duplicate.
   */
  retryNonIdempotent: boolean;
  /** How to wait; tests inject one that records the delays. Default: a timer. */
  sleep: (ms: number) => Promise<void>;
  /** A number in [0, 1); tests inject a fixed one. Default `Math.random`. */
  random: () => number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 250,
  maxDelayMs: 8000,
  budgetMs: 60_000,
  retryNonIdempotent: false,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method.toUpperCase());
}

/**
 * Errors raised before a single byte of the request left: retrying them cannot duplicate
 * anything, so they are retried whatever the method.
 */
const CONNECT_PHASE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/** Errors on a connection that may have carried the request (reset, closed, timed out). */
const IN_FLIGHT_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

export function isRetryableNetworkCode(
  code: string | undefined,
  method: string,
  policy: RetryPolicy,
): boolean {
  if (!code) return false;
  if (CONNECT_PHASE_CODES.has(code)) return true;
  return IN_FLIGHT_CODES.has(code) && (isIdempotent(method) || policy.retryNonIdempotent);
}

/** Full-jitter exponential backoff for retry number `retry` (1-based). */
export function backoffDelay(retry: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return Math.floor(policy.random() * ceiling);
}

/** `Retry-After` as seconds (a number of seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, (at - now) / 1000);
}
