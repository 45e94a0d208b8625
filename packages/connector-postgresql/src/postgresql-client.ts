import type { ConnectionOptions } from 'node:tls';
import { InflowError, redact, type TestResult } from '@inflow/core';
import pg from 'pg';
import { type PostgresConnectionSettings, parseConnectionString } from './postgresql-connection-string.js';
import type { PostgresqlCredentials } from './postgresql-credentials.js';

/** How long connecting (TCP, TLS and authentication together) may take before it is a failure. */
export const CONNECT_TIMEOUT_MS = 5_000;

/** A `TestResult.code`, also carried by every `PostgresqlError`. */
export type PostgresqlErrorCode =
  | 'auth_failed'
  | 'network'
  | 'permission'
  | 'not_found'
  | 'invalid'
  | 'query';

/**
 * A failure talking to PostgreSQL: connecting, authenticating, or a query the server refused.
 * The message names host, port, database and user as needed, never the password; `code` is
 * the stable reason, `sqlState` the server's SQLSTATE when it sent one.
 */
export class PostgresqlError extends InflowError {
  override readonly name = 'PostgresqlError';
  readonly code: PostgresqlErrorCode;
  readonly sqlState: string | undefined;
  /** True for failures that may pass on their own: the network, a server starting or full. */
  readonly isRetryable: boolean;

  constructor(input: {
    message: string;
    code: PostgresqlErrorCode;
    sqlState?: string | undefined;
    isRetryable?: boolean;
    cause?: unknown;
  }) {
    super(input.message, { cause: input.cause });
    this.code = input.code;
    this.sqlState = input.sqlState;
    this.isRetryable = input.isRetryable ?? input.code === 'network';
  }

  static override isInstance(error: unknown): error is PostgresqlError {
    return InflowError.isInstance(error) && error.name === 'PostgresqlError';
  }
}

/** The parsed connection string of validated credentials. */
export function settingsOf(credentials: PostgresqlCredentials): PostgresConnectionSettings {
  const parsed = parseConnectionString(credentials.connectionString);
  if (!parsed.ok) {
    throw new PostgresqlError({ message: `invalid connectionString: ${parsed.error}`, code: 'invalid' });
  }
  return parsed.value;
}

/**
 * The TLS options for an `SSLMode`, as libpq reads it. Absent or `disable`: no TLS. `require`:
 * TLS without checking the certificate. `verify-ca`: the certificate must chain to a trusted CA
 * (Node's store), any host name. `verify-full`: and it must name the host. `prefer` and `allow`
 * try TLS without verification first and fall back to plain TCP when the TLS attempt fails
 * before the server answered (Node's driver cannot negotiate the way libpq does).
 */
export function tlsOptions(sslMode: PostgresConnectionSettings['sslMode']): false | ConnectionOptions {
  switch (sslMode) {
    case undefined:
    case 'disable':
      return false;
    case 'allow':
    case 'prefer':
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { rejectUnauthorized: true };
  }
}

/** The `pg` client configuration for a connection string's settings. */
export function clientConfig(
  settings: PostgresConnectionSettings,
  ssl: false | ConnectionOptions = tlsOptions(settings.sslMode),
): pg.ClientConfig {
  return {
    host: settings.server,
    port: settings.port,
    database: settings.database,
    user: settings.user,
    password: settings.password,
    ssl,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    application_name: 'inflow',
  };
}

/**
 * Fixed session settings: every value's text form (which the connector decodes, and which
 * incremental state stores) depends on them, never on the server's or role's defaults.
 * Read-only: a source connector never writes.
 */
const SESSION_SETUP = [
  "SET TimeZone TO 'UTC'",
  "SET DateStyle TO 'ISO, MDY'",
  "SET IntervalStyle TO 'iso_8601'",
  'SET extra_float_digits TO 3',
  "SET bytea_output TO 'hex'",
  'SET default_transaction_read_only TO on',
].join('; ');

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'the connection was refused',
  ECONNRESET: 'the connection was reset',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  ETIMEDOUT: 'the connection timed out',
  EPIPE: 'the connection was closed',
};
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME']);

/** Failures of a TLS attempt after which `prefer`/`allow` may try plain TCP. */
const tlsFallbacks = new WeakSet<PostgresqlError>();

/**
 * SQLSTATE classes of failures, of a query or a connection attempt, that may pass on their own:
 * connection exceptions (08), transaction rollbacks such as serialization failures and deadlocks
 * (40), insufficient resources (53), operator intervention such as a shutdown or a cancelled
 * statement (57, except 57P04 database dropped). Anything else (a dropped table, a missing
 * column, a permission) stays until someone changes the database or the flow.
 */
const RETRYABLE_CLASSES = new Set(['08', '40', '53', '57']);
/** Single states that may pass: lock not available (55P03), system and I/O errors (58000, 58030). */
const RETRYABLE_STATES = new Set(['55P03', '58000', '58030']);
/** An object the query names is gone: undefined table (42P01), undefined schema (3F000). */
const NOT_FOUND_STATES = new Set(['42P01', '3F000']);

/** Whether a SQLSTATE names a failure that may pass on its own (see `RETRYABLE_CLASSES`). */
function isTransientState(code: string): boolean {
  return RETRYABLE_CLASSES.has(code.slice(0, 2)) ? code !== '57P04' : RETRYABLE_STATES.has(code);
}

/** SQLSTATEs a connection attempt gets back, and what they mean for the person who set it up. */
function serverFailure(
  error: { code: string; message: string },
  settings: PostgresConnectionSettings,
): { code: PostgresqlErrorCode; message: string; isRetryable?: boolean } {
  const where = `${settings.server}:${settings.port}`;
  switch (error.code) {
    case '28P01':
      return {
        code: 'auth_failed',
        message: `authentication failed for user "${settings.user}" at ${where}: check UID and Password`,
      };
    case '28000':
      return {
        code: 'permission',
        message: `${where} refused user "${settings.user}" for database "${settings.database}": ${error.message} (check pg_hba.conf and the role's LOGIN right)`,
      };
    case '3D000':
      return { code: 'not_found', message: `database "${settings.database}" does not exist at ${where}` };
    case '42501':
      return {
        code: 'permission',
        message: `user "${settings.user}" may not connect to database "${settings.database}" at ${where}: ${error.message}`,
      };
    default:
      // The same SQLSTATEs that make a query worth retrying make a connection attempt worth
      // retrying: too many connections (53300, also a pooler's), a server starting up or shutting
      // down (57P03, 57P01), a pooler's protocol-level refusal (pgbouncer's 08P01 at
      // max_client_conn). Anything else stays until someone changes the server or the credentials.
      if (error.code === '08P01') {
        // pgbouncer answers 08P01 for everything it refuses, a full pool and a misconfiguration
        // ("no such database") alike: retried, but the message does not promise it will pass.
        return {
          code: 'network',
          message: `${where} refused the connection: ${error.message} (SQLSTATE 08P01, retried: a full connection pooler answers this, but so does a misconfigured one)`,
          isRetryable: true,
        };
      }
      if (isTransientState(error.code)) {
        return {
          code: 'network',
          message: `${where} cannot take the connection now: ${error.message} (SQLSTATE ${error.code}); try again later`,
          isRetryable: true,
        };
      }
      return {
        code: 'invalid',
        message: `${where} refused the connection: ${error.message} (SQLSTATE ${error.code})`,
      };
  }
}

/**
 * What a failed connection attempt means, as a `PostgresqlError`. Decided by the error's code
 * (SQLSTATE, errno, TLS code) and our own clock, never by message text; the password is
 * redacted from whatever text is kept.
 */
export function connectFailure(
  error: unknown,
  settings: PostgresConnectionSettings,
  timedOut: boolean,
): PostgresqlError {
  const where = `${settings.server}:${settings.port}`;
  const code =
    typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : '';
  const text = error instanceof Error ? error.message : String(error);
  let failure: { code: PostgresqlErrorCode; message: string; isRetryable?: boolean; sqlState?: string };
  if (error instanceof pg.DatabaseError && /^[0-9A-Z]{5}$/.test(code)) {
    failure = { ...serverFailure({ code, message: text }, settings), sqlState: code };
  } else if (DNS_CODES.has(code)) {
    failure = { code: 'network', message: `cannot resolve host "${settings.server}": check Server` };
  } else if (NETWORK_CODES[code]) {
    failure = {
      code: 'network',
      message: `cannot connect to ${where}: ${NETWORK_CODES[code]} (${code}); check Server and Port, and that PostgreSQL accepts TCP connections from Inflow`,
    };
  } else if (timedOut) {
    failure = {
      code: 'network',
      message: `no answer from ${where} within ${CONNECT_TIMEOUT_MS / 1000} s: check Server and Port, and that a firewall lets Inflow reach PostgreSQL`,
    };
  } else if (/CERT|SELF_SIGNED|UNABLE_TO|TLS|SSL/.test(code)) {
    failure = {
      code: 'network',
      message: `TLS with ${where} failed (${code}): use SSLMode=require to encrypt without verifying the certificate, or give the server a certificate Node trusts`,
    };
  } else {
    failure = { code: 'network', message: `cannot connect to ${where}: ${text}` };
  }
  return new PostgresqlError({
    ...failure,
    message: redact(failure.message, [settings.password]),
    cause: error,
  });
}

/**
 * Drops the connection at once, whatever it is doing (connecting, or waiting on a query): what
 * an abort needs. `end()` would wait for a connection attempt to finish or time out.
 */
export function disconnect(client: pg.Client): void {
  client.connection.stream.destroy();
}

async function attempt(
  settings: PostgresConnectionSettings,
  ssl: false | ConnectionOptions,
  signal: AbortSignal | undefined,
): Promise<pg.Client> {
  const client = new pg.Client(clientConfig(settings, ssl));
  // A client that errors while idle (server restart, network drop) must not crash the process:
  // the next query on it fails and says why.
  client.on('error', () => {});
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
  }, CONNECT_TIMEOUT_MS);
  const abort = () => disconnect(client);
  signal?.addEventListener('abort', abort, { once: true });
  try {
    await client.connect();
    await client.query(SESSION_SETUP);
    return client;
  } catch (error) {
    await client.end().catch(() => {});
    signal?.throwIfAborted();
    const failure = connectFailure(error, settings, timedOut);
    const code = (error as { code?: unknown })?.code;
    // The server never answered as PostgreSQL (no SQLSTATE), and it was not DNS, the network or the clock.
    if (
      ssl !== false &&
      !timedOut &&
      failure.sqlState === undefined &&
      !(typeof code === 'string' && (DNS_CODES.has(code) || NETWORK_CODES[code]))
    ) {
      tlsFallbacks.add(failure);
    }
    throw failure;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', abort);
  }
}

/**
 * Opens one connection with the session settings applied. Throws `PostgresqlError` (code
 * `auth_failed`, `network`, `permission`, `not_found`, `invalid`), or the signal's reason when
 * aborted. The caller ends the client.
 */
export async function connect(
  settings: PostgresConnectionSettings,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<pg.Client> {
  options.signal?.throwIfAborted();
  const ssl = tlsOptions(settings.sslMode);
  if (settings.sslMode !== 'prefer' && settings.sslMode !== 'allow') {
    return attempt(settings, ssl, options.signal);
  }
  try {
    return await attempt(settings, ssl, options.signal);
  } catch (error) {
    if (!(PostgresqlError.isInstance(error) && tlsFallbacks.has(error))) throw error;
    return attempt(settings, false, options.signal);
  }
}

/**
 * Turns an error from a query into a `PostgresqlError` that says what was being done. Errors
 * that are already Inflow errors pass through.
 */
export function queryFailure(error: unknown, doing: string, password: string): unknown {
  if (InflowError.isInstance(error)) return error;
  const code = (error as { code?: unknown })?.code;
  const text = error instanceof Error ? error.message : String(error);
  if (error instanceof pg.DatabaseError && typeof code === 'string') {
    return new PostgresqlError({
      message: redact(`${doing} failed: ${text} (SQLSTATE ${code})`, [password]),
      code: code === '42501' ? 'permission' : NOT_FOUND_STATES.has(code) ? 'not_found' : 'query',
      sqlState: code,
      isRetryable: isTransientState(code),
      cause: error,
    });
  }
  return new PostgresqlError({
    message: redact(`${doing} failed: ${text}`, [password]),
    code: 'network',
    cause: error,
  });
}

/**
 * The `test` verb: connects, runs `select 1`, and reports. Never throws, never includes the
 * password or a stack trace.
 */
export async function testConnection(
  credentials: PostgresqlCredentials,
  options: { signal?: AbortSignal } = {},
): Promise<TestResult> {
  const parsed = parseConnectionString(credentials.connectionString);
  if (!parsed.ok) return { ok: false, code: 'invalid', message: `invalid connectionString: ${parsed.error}` };
  const settings = parsed.value;
  let client: pg.Client | undefined;
  try {
    client = await connect(settings, options);
    const result = await client.query<{ ok: number; version: string }>(
      "select 1 as ok, current_setting('server_version') as version",
    );
    const version = result.rows[0]?.version ?? 'unknown';
    return {
      ok: true,
      message: `connected to PostgreSQL ${version} at ${settings.server}:${settings.port}, database "${settings.database}", as "${settings.user}"`,
    };
  } catch (error) {
    const failure = PostgresqlError.isInstance(error)
      ? error
      : options.signal?.aborted
        ? new PostgresqlError({ message: 'the connection test was cancelled', code: 'network' })
        : (queryFailure(error, 'select 1', settings.password) as PostgresqlError);
    return { ok: false, code: failure.code, message: failure.message };
  } finally {
    await client?.end().catch(() => {});
  }
}
