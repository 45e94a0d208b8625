// The test PostgreSQL the `int` project's global setup provides (scripts/services/vitest-global-setup.ts).
import { createServer, type Server, type Socket } from 'node:net';
import type { PostgresqlCredentials } from '@inflow/connector-postgresql';
import { POSTGRESQL_AUTH_SPEC_NAME, postgresqlConnector } from '@inflow/connector-postgresql';
import type { JsonValue, RecordBatch } from '@inflow/core';
import { sqlAs, type TestPostgres } from '@inflow/testkit';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';

export const PG: TestPostgres = inject('postgres');

/** A connection string in the documented form; the password is quoted (it holds `;`, `"`, `'`). */
export function connectionString(
  overrides: Partial<Record<'host' | 'port' | 'database' | 'user' | 'password', string | number>> = {},
  extra = '',
): string {
  const v = { ...PG, ...overrides };
  const password = String(v.password).replaceAll('"', '""');
  return `Server=${v.host};Database=${v.database};Port=${v.port};UID=${v.user};Password="${password}"${extra}`;
}

/** Validated credentials, as the server hands them to the verbs. */
export function credentials(
  overrides: Parameters<typeof connectionString>[0] = {},
  extra = '',
): PostgresqlCredentials {
  return postgresqlConnector.parseCredentials(POSTGRESQL_AUTH_SPEC_NAME, {
    connectionString: connectionString(overrides, extra),
  });
}

/** Runs SQL as the test user (the owner of the test database). */
export const sql = sqlAs(PG);

/** Runs SQL as the superuser, in `database` (default: the test database). */
export async function adminSql(text: string, database = PG.database): Promise<pg.QueryResult> {
  const url = new URL(PG.adminUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

/**
 * A TCP server on 127.0.0.1 for the tests of the calling describe block, handing each connection
 * to `onSocket`; listening before them, closed (its connections destroyed) after. `port()` is
 * its port once the tests start.
 */
export function tcpServer(onSocket: (socket: Socket) => void = () => {}): { port(): number } {
  let server: Server;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      onSocket(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: () => (server.address() as { port: number }).port };
}

/** Every batch of a read. */
export async function readAll(
  params: Record<string, unknown>,
  state?: JsonValue,
  options: { limit?: number; signal?: AbortSignal } = {},
): Promise<RecordBatch[]> {
  const batches: RecordBatch[] = [];
  const read = postgresqlConnector.read;
  if (!read) throw new Error('the PostgreSQL connector has no read verb');
  for await (const batch of read({
    credentials: credentials(),
    params: postgresqlConnector.parseSourceParams(params),
    state,
    ...options,
  })) {
    batches.push(batch);
  }
  return batches;
}

/** The records of batches, in order. */
export const recordsOf = (batches: RecordBatch[]) => batches.flatMap((b) => b.records);
