import { randomBytes } from 'node:crypto';
import {
  type PostgresqlCredentials,
  PostgresqlError,
  postgresqlConnector,
} from '@inflow/connector-postgresql';
import { rejectionOf } from '@inflow/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminSql, credentials, PG, tcpServer } from './pg-fixture.js';

/** Reads a table to its end: what a run does with the connector. */
async function readWith(creds: PostgresqlCredentials): Promise<void> {
  const read = postgresqlConnector.read;
  if (!read) throw new Error('the PostgreSQL connector has no read verb');
  for await (const _ of read({
    credentials: creds,
    params: postgresqlConnector.parseSourceParams({ tableName: 'public.nothing_read' }),
    state: undefined,
  })) {
    // A refused connection never gets here.
  }
}

/** An ErrorResponse message of the wire protocol, as a server sends it before closing. */
function errorResponse(sqlState: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${sqlState}\0M${message}\0\0`, 'utf8');
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([head, fields]);
}

describe('connecting: a refusal that may pass is retryable, on the read a run makes', () => {
  describe('a real PostgreSQL 15 at a role connection limit', () => {
    const role = `inflow_it_limit_${randomBytes(4).toString('hex')}`;
    const password = `pw-${randomBytes(8).toString('hex')}`;
    beforeAll(async () => {
      await adminSql(`CREATE ROLE "${role}" LOGIN PASSWORD '${password}' CONNECTION LIMIT 0`);
    });
    afterAll(async () => {
      await adminSql(`DROP ROLE IF EXISTS "${role}"`);
    });

    it('fails with too_many_connections (53300), retryable, saying to try again later', async () => {
      const error = await rejectionOf(readWith(credentials({ user: role, password })));
      expect(PostgresqlError.isInstance(error)).toBe(true);
      expect(error).toMatchObject({ code: 'network', sqlState: '53300', isRetryable: true });
      expect((error as Error).message).toBe(
        `${PG.host}:${PG.port} cannot take the connection now: too many connections for role "${role}" (SQLSTATE 53300); try again later`,
      );
      expect((error as Error).message).not.toContain(password);
    });
  });

  describe('a full pgbouncer (answers the startup packet with 08P01, as pgbouncer does at max_client_conn)', () => {
    const server = tcpServer((socket) => {
      // The client's first message is the startup packet (no TLS asked: SSLMode unset).
      socket.once('data', () => {
        socket.end(errorResponse('08P01', 'no more connections allowed (max_client_conn)'));
      });
    });

    it('fails as retryable network, naming host, port and SQLSTATE', async () => {
      const port = server.port();
      const error = await rejectionOf(readWith(credentials({ port })));
      expect(PostgresqlError.isInstance(error)).toBe(true);
      expect(error).toMatchObject({ code: 'network', sqlState: '08P01', isRetryable: true });
      expect((error as Error).message).toBe(
        `${PG.host}:${port} refused the connection: no more connections allowed (max_client_conn) (SQLSTATE 08P01, retried: a full connection pooler answers this, but so does a misconfigured one)`,
      );
      const tested = await postgresqlConnector.test?.(credentials({ port }));
      expect(tested).toMatchObject({ ok: false, code: 'network' });
    });
  });
});
