import { createServer } from 'node:net';
import type { PostgresqlCredentials } from '@inflow/connector-postgresql';
import { postgresqlConnector } from '@inflow/connector-postgresql';
import type { TestResult } from '@inflow/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminSql, credentials, PG, tcpServer } from './pg-fixture.js';

const test = (creds: PostgresqlCredentials, signal?: AbortSignal): Promise<TestResult> => {
  const verb = postgresqlConnector.test;
  if (!verb) throw new Error('the PostgreSQL connector has no test verb');
  return verb(creds, signal ? { signal } : {});
};

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function expectNoLeak(result: TestResult, password: string) {
  expect(result.message).not.toContain(password);
  expect(result.message).not.toMatch(/\n\s+at /);
}

describe('test(): a real PostgreSQL 15', () => {
  it('connects and runs select 1', async () => {
    const result = await test(credentials());
    expect(result.ok).toBe(true);
    expect(result.code).toBeUndefined();
    expect(result.message).toMatch(
      new RegExp(`^connected to PostgreSQL 15\\.\\d+ .*at ${PG.host}:${PG.port}, database "${PG.database}"`),
    );
  });

  it('a wrong password is auth_failed, saying authentication failed, without the password or a stack', async () => {
    const wrong = 'CANARY-wrong-pass-;"x';
    const result = await test(credentials({ password: wrong }));
    expect(result).toEqual({
      ok: false,
      code: 'auth_failed',
      message: `authentication failed for user "${PG.user}" at ${PG.host}:${PG.port}: check UID and Password`,
    });
    expectNoLeak(result, wrong);
    expectNoLeak(result, PG.password);
  });

  it('an unknown user is auth_failed too (the server does not say which one was wrong)', async () => {
    const result = await test(credentials({ user: 'no_such_user' }));
    expect(result).toMatchObject({ ok: false, code: 'auth_failed' });
  });

  it('an unreachable port is network, naming host and port', async () => {
    const port = await closedPort();
    const result = await test(credentials({ port }));
    expect(result.ok).toBe(false);
    expect(result.code).toBe('network');
    expect(result.message).toContain(`${PG.host}:${port}`);
    expect(result.message).toContain('ECONNREFUSED');
    expectNoLeak(result, PG.password);
  });

  describe('a server that accepts and never answers', () => {
    const server = tcpServer();

    it('times out after 5 s as network', async () => {
      const port = server.port();
      const started = Date.now();
      const result = await test(credentials({ port }));
      const elapsed = Date.now() - started;
      expect(result).toEqual({
        ok: false,
        code: 'network',
        message: `no answer from ${PG.host}:${port} within 5 s: check Server and Port, and that a firewall lets Inflow reach PostgreSQL`,
      });
      expect(elapsed).toBeGreaterThanOrEqual(4_500);
      expect(elapsed).toBeLessThan(15_000);
    });

    it('stops at once when the signal aborts', async () => {
      const port = server.port();
      const started = Date.now();
      const result = await test(credentials({ port }), AbortSignal.timeout(200));
      expect(result).toMatchObject({ ok: false, message: 'the connection test was cancelled' });
      expect(Date.now() - started).toBeLessThan(3_000);
    });
  });

  it('a database that does not exist is not_found', async () => {
    const result = await test(credentials({ database: 'no_such_db' }));
    expect(result).toEqual({
      ok: false,
      code: 'not_found',
      message: `database "no_such_db" does not exist at ${PG.host}:${PG.port}`,
    });
  });

  describe('a database the user may not connect to', () => {
    const locked = `${PG.database}_locked`;
    beforeAll(async () => {
      await adminSql(`CREATE DATABASE "${locked}"`, 'postgres');
      await adminSql(`REVOKE CONNECT ON DATABASE "${locked}" FROM PUBLIC`, 'postgres');
    });
    afterAll(async () => {
      await adminSql(`DROP DATABASE IF EXISTS "${locked}"`, 'postgres');
    });

    it('is permission', async () => {
      const result = await test(credentials({ database: locked }));
      expect(result.ok).toBe(false);
      expect(result.code).toBe('permission');
      expect(result.message).toContain(`may not connect to database "${locked}"`);
    });
  });

  it('SSLMode=require against a server without TLS fails as network; prefer falls back to plain TCP', async () => {
    const required = await test(credentials({}, ';SSLMode=require'));
    expect(required.ok).toBe(false);
    expect(required.code).toBe('network');
    expect(required.message).toContain(`${PG.host}:${PG.port}`);
    expectNoLeak(required, PG.password);

    const preferred = await test(credentials({}, ';SSLMode=prefer'));
    expect(preferred.ok).toBe(true);
  });
});
