import { Agent, type Dispatcher, request as undiciRequest } from 'undici';
import { staticToken, type TokenProvider } from '../auth/token-provider.js';
import { ApiCallError, RETRYABLE_STATUSES } from '../errors/api-call-error.js';
import { InflowError, InflowNetworkError } from '../errors/inflow-error.js';
import { REDACTED, redact } from '../secrets/secret.js';
import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  isIdempotent,
  isRetryableNetworkCode,
  parseRetryAfter,
  type RetryPolicy,
} from './retry.js';

declare const __INFLOW_CORE_VERSION__: string;
/** `@inflow/core`'s own version, baked in at build time. */
export const CORE_VERSION: string =
  typeof __INFLOW_CORE_VERSION__ === 'string' ? __INFLOW_CORE_VERSION__ : '0.0.0';

/** The Platform services a request can address; each is a base path under the endpoint. */
export const SERVICE_PATHS = {
  flowservice: '/data/foundation/flowservice',
  conversion: '/data/foundation/conversion',
  catalog: '/data/foundation/catalog',
  schemaregistry: '/data/foundation/schemaregistry',
  export: '/data/foundation/export',
  /** No base path: the endpoint itself (IMS, `/collection/…` inlets). */
  root: '',
} as const;
export type ServiceName = keyof typeof SERVICE_PATHS;

export type QueryValue = string | number | boolean | undefined | readonly (string | number | boolean)[];

/** One API call, described as data: what a setup step returns and what `plan()` prints. */
export interface ApiRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  service: ServiceName;
  /** Path under the service base, starting with `/`. */
  path: string;
  /** Query parameters; an array repeats the parameter (`property` filters AND this way). */
  query?: Record<string, QueryValue>;
  /** A JSON body (sent with `Content-Type: application/json`). */
  body?: unknown;
  /** A form body (sent as `application/x-www-form-urlencoded`), for IMS. */
  form?: Record<string, string>;
  /** The etag for `If-Match`, quoted or not; sent as given. */
  ifMatch?: string;
  headers?: Record<string, string>;
  /** Send without Platform auth headers (IMS token calls). Default false. */
  anonymous?: boolean;
  /** Allow retrying this POST/PATCH (it is safe to repeat). Default: the policy's setting. */
  retryNonIdempotent?: boolean;
}

/** A request as it goes on the wire (or would, for `plan()`). */
export interface PreparedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** The JSON body as a value (not a string), or the form fields. */
  body?: unknown;
}

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Record<string, string>;
  body: T;
  requestId: string | undefined;
}

/** A redacted line about one request, for whoever wants to log it. */
export interface HttpLogEvent {
  message: string;
  method: string;
  url: string;
  status?: number;
  attempt: number;
  durationMs?: number;
}

export interface PlatformTransportOptions {
  /** Scheme and host, e.g. `https://platform.adobe.io` or `http://127.0.0.1:8080`. */
  endpoint: string;
  /** `x-api-key`: the IMS client id. */
  apiKey?: string;
  /** `x-gw-ims-org-id`, e.g. `5C1328435BF324E90A49402A@AdobeOrg`. */
  orgId?: string;
  /** `x-sandbox-name`: the all-lowercase sandbox name, e.g. `prod`. */
  sandboxName?: string;
  /** A bearer token, or a provider that fetches and refreshes one. */
  token?: TokenProvider | string;
  /** Where requests go; default one shared keep-alive `Agent`. Inject to test or proxy. */
  dispatcher?: Dispatcher;
  retry?: Partial<RetryPolicy>;
  /** `user-agent` product, default `inflow-core/<version>`; connectors pass `inflow-connector-s3/0.1.0`. */
  userAgent?: string;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** Values to redact from errors and logs besides the token (client secrets, credentials). */
  secrets?: Iterable<string>;
  /** Ms to wait for response headers and between body chunks. Default 30000. */
  timeoutMs?: number;
  /** Receives one redacted line per attempt. */
  log?: (event: HttpLogEvent) => void;
}

let sharedAgent: Agent | undefined;
/** The one keep-alive agent every transport shares unless given its own dispatcher. */
export function sharedDispatcher(): Dispatcher {
  sharedAgent ??= new Agent({ keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, connections: 128 });
  return sharedAgent;
}

/** Thrown when retries ran out of attempts or budget; `cause` is the last failure. */
export class RetryExhaustedError extends InflowError {
  override readonly name = 'RetryExhaustedError';
  readonly attempts: number;
  readonly elapsedMs: number;
  readonly lastError: InflowError;

  constructor(lastError: InflowError, attempts: number, elapsedMs: number, reason: string) {
    super(
      `${lastError.message} — gave up after ${attempts} attempt${attempts === 1 ? '' : 's'} in ${(elapsedMs / 1000).toFixed(1)} s (${reason}); the service may be overloaded or down: try again later`,
      { cause: lastError },
    );
    this.attempts = attempts;
    this.elapsedMs = elapsedMs;
    this.lastError = lastError;
  }

  get status(): number | undefined {
    return ApiCallError.isInstance(this.lastError) ? this.lastError.status : undefined;
  }

  static override isInstance(error: unknown): error is RetryExhaustedError {
    return InflowError.isInstance(error) && error.name === 'RetryExhaustedError';
  }
}

/**
 * The shared HTTP runtime: Platform headers, bearer tokens (with one refresh-and-retry on a
 * 401), retry with backoff honouring `Retry-After`, one error family, redaction.
 */
export class PlatformTransport {
  readonly endpoint: string;
  readonly options: Readonly<PlatformTransportOptions>;
  private readonly policy: RetryPolicy;
  private readonly tokens: TokenProvider | undefined;
  private readonly extraSecrets: string[];

  constructor(options: PlatformTransportOptions) {
    let url: URL;
    try {
      url = new URL(options.endpoint);
    } catch (cause) {
      throw new InflowError(
        `endpoint "${options.endpoint}" is not a URL: use e.g. https://platform.adobe.io`,
        {
          cause,
        },
      );
    }
    this.endpoint = url.origin + url.pathname.replace(/\/+$/, '');
    this.options = options;
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.tokens = typeof options.token === 'string' ? staticToken(options.token) : options.token;
    this.extraSecrets = [...(options.secrets ?? [])];
  }

  /** The base URL of a service, e.g. `https://platform.adobe.io/data/foundation/flowservice`. */
  serviceBase(service: ServiceName): string {
    return this.endpoint + SERVICE_PATHS[service];
  }

  /** Builds the URL of a request (path + query under the service base). */
  url(req: Pick<ApiRequest, 'service' | 'path' | 'query'>): string {
    const url = new URL(this.serviceBase(req.service) + req.path);
    for (const [k, v] of Object.entries(req.query ?? {})) {
      if (v === undefined) continue;
      for (const item of Array.isArray(v) ? v : [v]) url.searchParams.append(k, String(item));
    }
    return url.toString();
  }

  /** The request exactly as it would be sent, with `token` in the Authorization header. */
  prepare(req: ApiRequest, token: string | undefined): PreparedRequest {
    const headers: Record<string, string> = {};
    if (!req.anonymous) {
      if (token !== undefined) headers.Authorization = `Bearer ${token}`;
      if (this.options.apiKey) headers['x-api-key'] = this.options.apiKey;
      if (this.options.orgId) headers['x-gw-ims-org-id'] = this.options.orgId;
      if (this.options.sandboxName) headers['x-sandbox-name'] = this.options.sandboxName;
    }
    let body: unknown;
    if (req.form) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      body = req.form;
    } else if (req.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = req.body;
    }
    if (req.ifMatch !== undefined) headers['If-Match'] = req.ifMatch;
    headers['user-agent'] = this.options.userAgent ?? `inflow-core/${CORE_VERSION}`;
    Object.assign(headers, this.options.headers, req.headers);
    return { method: req.method, url: this.url(req), headers, ...(body === undefined ? {} : { body }) };
  }

  /** What `plan()` shows: the prepared request with the token and every secret redacted. */
  preview(req: ApiRequest, secrets: Iterable<string> = []): PreparedRequest {
    const prepared = this.prepare(req, req.anonymous || !this.tokens ? undefined : REDACTED);
    return redact(prepared, [...this.extraSecrets, ...secrets]);
  }

  /** Sends a request; resolves on 2xx, throws an `InflowError` otherwise. */
  async send<T = unknown>(req: ApiRequest): Promise<ApiResponse<T>> {
    const policy = this.policy;
    const started = Date.now();
    const mayRetryStatus = isIdempotent(req.method) || (req.retryNonIdempotent ?? policy.retryNonIdempotent);
    let refreshed = false;
    let attempt = 0;
    for (;;) {
      attempt++;
      const token = req.anonymous || !this.tokens ? undefined : await this.tokens.getToken();
      const secrets = [...this.extraSecrets, ...(token ? [token] : [])];
      const prepared = this.prepare(req, token);
      // Assigned on every path that reaches the check below (a 2xx returns first).
      let failure!: InflowError;
      let retryable = false;
      let retryAfter: number | undefined;
      let res: ApiResponse<T> | undefined;
      try {
        res = await this.dispatch<T>(prepared, attempt, secrets);
      } catch (error) {
        if (!InflowNetworkError.isInstance(error)) throw error;
        failure = error;
        retryable = isRetryableNetworkCode(error.code, req.method, policy);
      }
      if (res) {
        if (res.status >= 200 && res.status < 300) return res;
        retryAfter = parseRetryAfter(res.headers['retry-after']);
        failure = redactError(
          new ApiCallError({
            method: prepared.method,
            url: prepared.url,
            status: res.status,
            body: res.body,
            requestId: res.requestId,
            retryAfterSeconds: retryAfter,
          }),
          secrets,
        );
        if (res.status === 401 && token && !refreshed && this.tokens?.invalidate?.(token)) {
          refreshed = true;
          attempt--;
          continue;
        }
        retryable = RETRYABLE_STATUSES.has(res.status) && mayRetryStatus;
      }
      if (!retryable) throw failure;
      const elapsed = Date.now() - started;
      if (attempt >= policy.maxAttempts) {
        throw new RetryExhaustedError(
          failure,
          attempt,
          elapsed,
          `the limit is ${policy.maxAttempts} attempts`,
        );
      }
      const delay = retryAfter !== undefined ? retryAfter * 1000 : backoffDelay(attempt, policy);
      if (elapsed + delay > policy.budgetMs) {
        throw new RetryExhaustedError(
          failure,
          attempt,
          elapsed,
          `the next wait of ${Math.round(delay)} ms would exceed the ${policy.budgetMs} ms retry budget`,
        );
      }
      await policy.sleep(delay);
    }
  }

  private async dispatch<T>(
    prepared: PreparedRequest,
    attempt: number,
    secrets: string[],
  ): Promise<ApiResponse<T>> {
    const started = Date.now();
    const timeout = this.options.timeoutMs ?? 30_000;
    const body =
      prepared.body === undefined
        ? undefined
        : prepared.headers['Content-Type'] === 'application/x-www-form-urlencoded'
          ? new URLSearchParams(prepared.body as Record<string, string>).toString()
          : JSON.stringify(prepared.body);
    let res: Dispatcher.ResponseData;
    try {
      res = await undiciRequest(prepared.url, {
        method: prepared.method as Dispatcher.HttpMethod,
        headers: prepared.headers,
        body,
        dispatcher: this.options.dispatcher ?? sharedDispatcher(),
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
    } catch (cause) {
      const code = errorCode(cause);
      const host = safeHost(prepared.url);
      const event = {
        message: `${prepared.method} ${prepared.url} failed: ${code ?? 'network error'}`,
        method: prepared.method,
        url: prepared.url,
        attempt,
        durationMs: Date.now() - started,
      };
      this.options.log?.(redact(event, secrets));
      throw redactError(
        new InflowNetworkError({
          method: prepared.method,
          url: prepared.url,
          code,
          message: `${prepared.method} ${prepared.url} could not reach ${host}${code ? ` (${code})` : ''}: check that the endpoint is right and the service is running`,
          cause,
        }),
        secrets,
      );
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
    }
    const text = await res.body.text();
    let parsed: unknown = text.length === 0 ? undefined : text;
    if (text.length > 0 && (/json/i.test(headers['content-type'] ?? '') || /^\s*[[{]/.test(text))) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    const requestId = headers['x-request-id'] ?? headers['x-inflow-request-id'];
    this.options.log?.(
      redact(
        {
          message: `${prepared.method} ${prepared.url} -> ${res.statusCode}`,
          method: prepared.method,
          url: prepared.url,
          status: res.statusCode,
          attempt,
          durationMs: Date.now() - started,
        },
        secrets,
      ),
    );
    return { status: res.statusCode, headers, body: parsed as T, requestId };
  }
}

function errorCode(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 4 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const nested = (e as { errors?: unknown[] }).errors;
    if (Array.isArray(nested) && nested.length > 0) {
      e = nested[0];
      continue;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** Redacts an error's message (and body) in place; errors keep their class and fields. */
export function redactError<E extends InflowError>(error: E, secrets: Iterable<string>): E {
  const list = [...secrets];
  if (list.length === 0) return error;
  for (const key of ['message', 'stack', 'url', 'body', 'problem'] as const) {
    const value = (error as Record<string, unknown>)[key];
    if (value !== undefined)
      Object.defineProperty(error, key, { value: redact(value, list), configurable: true });
  }
  return error;
}
