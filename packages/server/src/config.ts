import type { AnySourceConnector } from '@inflow/core';
import type { StreamingOptions } from './streaming/index.js';

/** How the server is run. Every field has an `INFLOW_*` environment variable (see `configFromEnv`). */
export interface ServerConfig {
  /** `INFLOW_HOST`, default `127.0.0.1`. */
  host: string;
  /** `INFLOW_PORT`, default 8080; 0 picks a free port. */
  port: number;
  /** `INFLOW_DATA_DIR`, default `./.inflow`; `undefined` keeps everything in memory (tests). */
  dataDir: string | undefined;
  /** `INFLOW_PUBLIC_URL`: the base of every inlet URL; default the listen address. */
  publicUrl: string | undefined;
  /** `INFLOW_SECRET_KEY`: 32 bytes as 64 hex chars or base64; default a key file in the data dir. */
  secretKey: string | undefined;
  /**
   * `INFLOW_BOOTSTRAP_ORG_ID`, `…_CLIENT_ID`, `…_CLIENT_SECRET`, `…_TENANT_ID`: what the first start
   * creates (the tenant id is the org's XDM namespace, `_{tenantId}`).
   */
  bootstrap: { orgId?: string; clientId?: string; clientSecret?: string; tenantId?: string };
  /** `INFLOW_TOKEN_TTL_SECONDS`, default 86399 (IMS's 24 h). */
  tokenTtlSeconds: number;
  /** `INFLOW_LOG_LEVEL`: `info` by default, `silent` to log nothing. */
  logLevel: string;
  /** Where log lines go (default stdout); tests capture them here. */
  logStream?: { write(line: string): void };
  /**
   * `INFLOW_CONNECTORS` (comma-separated): connectors to serve besides the built-ins, as connector
   * values or package names / paths to import. When given, nothing is discovered; default: every
   * installed package with the keyword `inflow-connector` (docs/decisions/0013).
   */
  connectors?: readonly (AnySourceConnector | string)[];
  /** Where discovery looks (each folder's and its parents' `node_modules`); default the server's folder and the working dir. */
  connectorSearchPaths?: readonly string[];
  /** Batch runs (see `RunsConfig`); defaults are the real service's. */
  runs?: RunsConfig;
  /** Streaming log and consumer knobs (segment size, micro-batch size and time trigger); defaults suit production. */
  streaming?: StreamingOptions;
  /**
   * `INFLOW_REQUEST_TIMEOUT_MS`: how long a client may take to send a whole request, head and
   * body; default 120000 (requests are at most 1 MB); 0 waits for ever. Checked every 30 s, so a
   * request that overruns it gets its 408 up to 30 s later. The head alone has 60 s (Node's
   * `headersTimeout`), or this if it is shorter.
   */
  requestTimeoutMs?: number;
}

/** Batch run knobs; each has an environment variable, and tests lower them. */
export interface RunsConfig {
  /** `INFLOW_MIN_SCHEDULE_INTERVAL_SECONDS`: the shortest schedule a flow may have, default 900 (the real service's 15 minutes). */
  minScheduleIntervalSeconds?: number;
  /** `INFLOW_RUN_MAX_ATTEMPTS`: attempts of a run before it is marked failed, default 3. */
  maxAttempts?: number;
  /** `INFLOW_RUN_RETRY_BASE_MS`: the wait before the first retry, doubled for each next one; default 30000. */
  retryBaseMs?: number;
  /** `INFLOW_SCHEDULER_TICK_MS`: how often schedules are checked, default 1000. */
  tickMs?: number;
  /** `INFLOW_RUN_CHUNK_RECORDS`: a run lands a batch every this many records, default 50000. */
  chunkRecords?: number;
  /** `INFLOW_RUN_CHUNK_BYTES`: …or once its pending records take about this many bytes, default 64 MiB. */
  chunkBytes?: number;
}

/** The default of `ServerConfig.requestTimeoutMs`. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;

function int(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value)) throw new Error(`${name} must be a whole number, got "${value}"`);
  return Number(value);
}

/** The configuration from `INFLOW_*` environment variables. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const bootstrap: ServerConfig['bootstrap'] = {};
  if (env.INFLOW_BOOTSTRAP_ORG_ID) bootstrap.orgId = env.INFLOW_BOOTSTRAP_ORG_ID;
  if (env.INFLOW_BOOTSTRAP_CLIENT_ID) bootstrap.clientId = env.INFLOW_BOOTSTRAP_CLIENT_ID;
  if (env.INFLOW_BOOTSTRAP_CLIENT_SECRET) bootstrap.clientSecret = env.INFLOW_BOOTSTRAP_CLIENT_SECRET;
  if (env.INFLOW_BOOTSTRAP_TENANT_ID) bootstrap.tenantId = env.INFLOW_BOOTSTRAP_TENANT_ID;
  return {
    host: env.INFLOW_HOST || '127.0.0.1',
    port: int(env.INFLOW_PORT, 'INFLOW_PORT', 8080),
    dataDir: env.INFLOW_DATA_DIR || '.inflow',
    publicUrl: env.INFLOW_PUBLIC_URL || undefined,
    secretKey: env.INFLOW_SECRET_KEY || undefined,
    bootstrap,
    tokenTtlSeconds: int(env.INFLOW_TOKEN_TTL_SECONDS, 'INFLOW_TOKEN_TTL_SECONDS', 86399),
    logLevel: env.INFLOW_LOG_LEVEL || 'info',
    requestTimeoutMs: int(
      env.INFLOW_REQUEST_TIMEOUT_MS,
      'INFLOW_REQUEST_TIMEOUT_MS',
      DEFAULT_REQUEST_TIMEOUT_MS,
    ),
    runs: {
      minScheduleIntervalSeconds: int(
        env.INFLOW_MIN_SCHEDULE_INTERVAL_SECONDS,
        'INFLOW_MIN_SCHEDULE_INTERVAL_SECONDS',
        900,
      ),
      maxAttempts: int(env.INFLOW_RUN_MAX_ATTEMPTS, 'INFLOW_RUN_MAX_ATTEMPTS', 3),
      retryBaseMs: int(env.INFLOW_RUN_RETRY_BASE_MS, 'INFLOW_RUN_RETRY_BASE_MS', 30_000),
      tickMs: int(env.INFLOW_SCHEDULER_TICK_MS, 'INFLOW_SCHEDULER_TICK_MS', 1000),
      chunkRecords: int(env.INFLOW_RUN_CHUNK_RECORDS, 'INFLOW_RUN_CHUNK_RECORDS', 50_000),
      chunkBytes: int(env.INFLOW_RUN_CHUNK_BYTES, 'INFLOW_RUN_CHUNK_BYTES', 64 * 1024 * 1024),
    },
    ...(env.INFLOW_CONNECTORS?.trim()
      ? {
          connectors: env.INFLOW_CONNECTORS.split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        }
      : {}),
  };
}
