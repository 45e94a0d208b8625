/**
 * Supplies the bearer token for `Authorization`. The transport asks before every request, so a
 * provider that caches is cheap to call.
 */
export interface TokenProvider {
  /** Resolves to a valid access token, fetching or refreshing one if needed. */
  getToken(): Promise<string>;
  /**
   * The service rejected `token` (HTTP 401): forget it so the next `getToken()` fetches a new
   * one. Returns true when a new token can be had, and the transport then retries once.
   * Absent (static tokens): a 401 is final.
   */
  invalidate?(token: string): boolean;
}

/** A fixed token, e.g. one copied from the Developer Console. A 401 is final. */
export function staticToken(token: string): TokenProvider {
  return { getToken: () => Promise.resolve(token) };
}
