import type { Dispatcher } from 'undici';
import { InflowError } from '../errors/inflow-error.js';
import type { RetryPolicy } from '../http/retry.js';
import { PlatformTransport } from '../http/transport.js';
import type { TokenProvider } from './token-provider.js';

/** Adobe's IMS host; Inflow's own server answers the same path on its own host. */
export const DEFAULT_IMS_ENDPOINT = 'https://ims-na1.adobelogin.com';

/** The scopes Experience Platform APIs need (Adobe's Postman environment template). */
export const DEFAULT_PLATFORM_SCOPES = [
  'openid',
  'session',
  'AdobeID',
  'read_organizations',
  'additional_info.projectedProductContext',
];

export interface ImsServerToServerOptions {
  clientId: string;
  clientSecret: string;
  /** Default `DEFAULT_PLATFORM_SCOPES`. Sent comma-separated, as IMS expects. */
  scopes?: readonly string[];
  /** Scheme and host of IMS. Default `https://ims-na1.adobelogin.com`. */
  imsEndpoint?: string;
  dispatcher?: Dispatcher;
  retry?: Partial<RetryPolicy>;
  /**
   * Refresh this many seconds before `expires_in` runs out (at most half the token's life).
   * Default 300.
   */
  refreshMarginSeconds?: number;
  /** The clock, in ms; tests inject one. Default `Date.now`. */
  now?: () => number;
  userAgent?: string;
}

interface TokenResponse {
  access_token?: unknown;
  token_type?: unknown;
  /** Seconds (OAuth server-to-server); the deprecated JWT exchange used ms. */
  expires_in?: unknown;
}

/**
 * OAuth server-to-server client credentials against IMS (`POST /ims/token/v3`). Caches the token
 * until shortly before it expires; concurrent callers share one fetch; a token the service
 * rejects is dropped and fetched anew once.
 */
export class ImsServerToServerTokenProvider implements TokenProvider {
  private readonly transport: PlatformTransport;
  private readonly now: () => number;
  private cached: { token: string; refreshAt: number } | undefined;
  private inflight: Promise<string> | undefined;
  /** How many tokens were fetched; useful in tests and metrics. */
  fetchCount = 0;

  constructor(private readonly opts: ImsServerToServerOptions) {
    if (!opts.clientId)
      throw new InflowError('clientId is empty: set it to the OAuth client id (the x-api-key)');
    if (!opts.clientSecret) throw new InflowError('clientSecret is empty: set it to the OAuth client secret');
    this.now = opts.now ?? Date.now;
    this.transport = new PlatformTransport({
      endpoint: opts.imsEndpoint ?? DEFAULT_IMS_ENDPOINT,
      ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
      ...(opts.retry ? { retry: opts.retry } : {}),
      ...(opts.userAgent ? { userAgent: opts.userAgent } : {}),
      secrets: [opts.clientSecret],
    });
  }

  getToken(): Promise<string> {
    const cached = this.cached;
    if (cached && this.now() < cached.refreshAt) return Promise.resolve(cached.token);
    this.inflight ??= this.fetch().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  invalidate(token: string): boolean {
    if (this.cached?.token === token) this.cached = undefined;
    return true;
  }

  private async fetch(): Promise<string> {
    const res = await this.transport.send<TokenResponse>({
      method: 'POST',
      service: 'root',
      path: '/ims/token/v3',
      anonymous: true,
      // Asking for a token creates nothing, so repeating it is safe.
      retryNonIdempotent: true,
      form: {
        grant_type: 'client_credentials',
        client_id: this.opts.clientId,
        client_secret: this.opts.clientSecret,
        scope: (this.opts.scopes ?? DEFAULT_PLATFORM_SCOPES).join(','),
      },
    });
    this.fetchCount++;
    const { access_token: token, expires_in: expiresIn } = res.body ?? {};
    if (typeof token !== 'string' || token.length === 0) {
      throw new InflowError(
        `IMS answered ${res.status} without an access_token: check imsEndpoint (${this.transport.endpoint})`,
      );
    }
    const lifetimeMs = (typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn : 3600) * 1000;
    const marginMs = Math.min((this.opts.refreshMarginSeconds ?? 300) * 1000, lifetimeMs / 2);
    this.cached = { token, refreshAt: this.now() + lifetimeMs - marginMs };
    return token;
  }
}

/** Shorthand for `new ImsServerToServerTokenProvider(options)`. */
export function imsServerToServer(options: ImsServerToServerOptions): ImsServerToServerTokenProvider {
  return new ImsServerToServerTokenProvider(options);
}
