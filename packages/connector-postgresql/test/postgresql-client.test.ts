import {
  type PostgresConnectionSettings,
  PostgresqlError,
  postgresqlConnector,
} from '@inflow/connector-postgresql';
import { InflowError } from '@inflow/core';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  CONNECT_TIMEOUT_MS,
  clientConfig,
  connectFailure,
  queryFailure,
  tlsOptions,
} from '../src/postgresql-client.js';

const PASSWORD = 'CANARY-pg-pass-41d2';
const settings: PostgresConnectionSettings = {
  server: 'pg.acme.test',
  database: 'crm',
  port: 6543,
  user: 'inflow_reader',
  password: PASSWORD,
};

const serverError = (code: string, message: string) => {
  const error = new pg.DatabaseError(message, message.length, 'error');
  error.code = code;
  return error;
};
const systemError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('tlsOptions: SSLMode as libpq reads it', () => {
  it.each([
    [undefined, false],
    ['disable', false],
    ['allow', { rejectUnauthorized: false }],
    ['prefer', { rejectUnauthorized: false }],
    ['require', { rejectUnauthorized: false }],
    ['verify-full', { rejectUnauthorized: true }],
  ] as const)('%s → %j', (mode, expected) => {
    expect(tlsOptions(mode)).toEqual(expected);
  });

  it('verify-ca checks the chain but not the host name', () => {
    const options = tlsOptions('verify-ca');
    if (!options) throw new Error('verify-ca must use TLS');
    expect(options.rejectUnauthorized).toBe(true);
    expect(options.checkServerIdentity?.('other.host', {} as never)).toBeUndefined();
  });
});

describe('clientConfig', () => {
  it('maps the connection string and sets a short connect timeout', () => {
    expect(clientConfig({ ...settings, sslMode: 'require' })).toMatchObject({
      host: 'pg.acme.test',
      port: 6543,
      database: 'crm',
      user: 'inflow_reader',
      password: PASSWORD,
      ssl: { rejectUnauthorized: false },
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    expect(CONNECT_TIMEOUT_MS).toBe(5_000);
  });
});

describe('connectFailure: by code, never by message text, never the password', () => {
  it.each([
    {
      error: serverError('28P01', 'password authentication failed for user "inflow_reader"'),
      code: 'auth_failed',
      says: 'authentication failed for user "inflow_reader" at pg.acme.test:6543: check UID and Password',
    },
    {
      error: serverError('3D000', 'database "crm" does not exist'),
      code: 'not_found',
      says: 'database "crm" does not exist at pg.acme.test:6543',
    },
    {
      error: serverError('42501', 'permission denied for database "crm"'),
      code: 'permission',
      says: 'may not connect to database "crm"',
    },
    {
      error: serverError('28000', 'no pg_hba.conf entry for host "10.0.0.1"'),
      code: 'permission',
      says: 'check pg_hba.conf',
    },
    {
      error: systemError('ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.1:6543'),
      code: 'network',
      says: 'cannot connect to pg.acme.test:6543: the connection was refused (ECONNREFUSED)',
    },
    {
      error: systemError('ENOTFOUND', 'getaddrinfo ENOTFOUND pg.acme.test'),
      code: 'network',
      says: 'cannot resolve host "pg.acme.test"',
    },
    {
      error: systemError('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'),
      code: 'network',
      says: 'use SSLMode=require',
    },
  ])('$error.code → $code', ({ error, code, says }) => {
    const failure = connectFailure(error, settings, false);
    expect(PostgresqlError.isInstance(failure)).toBe(true);
    expect(InflowError.isInstance(failure)).toBe(true);
    expect(failure.code).toBe(code);
    expect(failure.message).toContain(says);
    expect(failure.cause).toBe(error);
    expect(failure.isRetryable).toBe(code === 'network');
  });

  it('says "no answer within 5 s" when our own clock ran out', () => {
    const failure = connectFailure(
      new Error('Connection terminated due to connection timeout'),
      settings,
      true,
    );
    expect(failure.code).toBe('network');
    expect(failure.message).toBe(
      'no answer from pg.acme.test:6543 within 5 s: check Server and Port, and that a firewall lets Inflow reach PostgreSQL',
    );
  });

  it('redacts the password from any text it keeps', () => {
    const failure = connectFailure(new Error(`weird failure mentioning ${PASSWORD}`), settings, false);
    expect(failure.message).toBe('cannot connect to pg.acme.test:6543: weird failure mentioning [REDACTED]');
    const server = connectFailure(serverError('XX000', `bad ${PASSWORD}`), settings, false);
    expect(server.message).not.toContain(PASSWORD);
    expect(server.sqlState).toBe('XX000');
  });
});

describe('connectFailure: a server error while connecting is classified like a query failure', () => {
  it.each([
    // pgbouncer answers the startup packet with 08P01 when it is full.
    ['08P01', 'no more connections allowed (max_client_conn)', true],
    ['08006', 'connection failure', true],
    ['57P03', 'the database system is starting up', true],
    ['57P01', 'terminating connection due to administrator command', true],
    ['57P02', 'terminating connection because of crash of another server process', true],
    ['53300', 'too many connections for role "inflow_reader"', true],
    ['53200', 'out of memory', true],
    ['40001', 'could not serialize access', true],
    ['55P03', 'could not obtain lock on relation', true],
    ['58000', 'could not fork new process for connection', true],
    ['57P04', 'database dropped', false],
    ['55000', 'database "crm" is not currently accepting connections', false],
    ['0A000', 'feature not supported', false],
    ['XX000', 'internal error', false],
  ] as const)('%s (%s) → retryable %s', (state, text, retryable) => {
    const failure = connectFailure(serverError(state, text), settings, false);
    expect(failure).toMatchObject({ sqlState: state, isRetryable: retryable });
    expect(failure.code).toBe(retryable ? 'network' : 'invalid');
    expect(failure.message).toBe(
      state === '08P01'
        ? `pg.acme.test:6543 refused the connection: ${text} (SQLSTATE 08P01, retried: a full connection pooler answers this, but so does a misconfigured one)`
        : retryable
          ? `pg.acme.test:6543 cannot take the connection now: ${text} (SQLSTATE ${state}); try again later`
          : `pg.acme.test:6543 refused the connection: ${text} (SQLSTATE ${state})`,
    );
  });

  it.each([
    ['28P01', 'auth_failed'],
    ['28000', 'permission'],
    ['3D000', 'not_found'],
    ['42501', 'permission'],
  ] as const)('%s stays %s and not retryable', (state, code) => {
    const failure = connectFailure(serverError(state, 'refused'), settings, false);
    expect(failure).toMatchObject({ code, sqlState: state, isRetryable: false });
  });
});

describe('queryFailure: what a refused query means, by SQLSTATE', () => {
  it.each([
    ['42P01', 'relation "public.gone" does not exist', 'not_found', false],
    ['3F000', 'schema "crm" does not exist', 'not_found', false],
    ['42501', 'permission denied for table t', 'permission', false],
    ['42703', 'column "x" does not exist', 'query', false],
    ['22P02', 'invalid input syntax for type integer', 'query', false],
    ['57P04', 'database dropped', 'query', false],
    ['40001', 'could not serialize access', 'query', true],
    ['08006', 'connection failure', 'query', true],
    ['53300', 'too many connections', 'query', true],
    ['57014', 'canceling statement due to statement timeout', 'query', true],
    ['57P01', 'terminating connection due to administrator command', 'query', true],
    ['55P03', 'could not obtain lock on relation', 'query', true],
    ['58030', 'could not read block', 'query', true],
  ] as const)('%s (%s) → %s, retryable %s', (state, text, code, retryable) => {
    const failure = queryFailure(serverError(state, text), 'reading "public"."gone"', PASSWORD);
    expect(PostgresqlError.isInstance(failure)).toBe(true);
    expect(failure).toMatchObject({ code, sqlState: state, isRetryable: retryable });
    expect((failure as PostgresqlError).message).toBe(
      `reading "public"."gone" failed: ${text} (SQLSTATE ${state})`,
    );
  });

  it('a failure without a SQLSTATE (the socket closed) is a retryable network failure', () => {
    const failure = queryFailure(new Error('Connection terminated unexpectedly'), 'reading t', PASSWORD);
    expect(failure).toMatchObject({ code: 'network', isRetryable: true });
  });
});

describe('the connector declares its data-plane verbs', () => {
  it('has test, explore, preview and read, and a deltaColumn param', () => {
    expect(typeof postgresqlConnector.test).toBe('function');
    expect(typeof postgresqlConnector.explore).toBe('function');
    expect(typeof postgresqlConnector.preview).toBe('function');
    expect(typeof postgresqlConnector.read).toBe('function');
    const spec = postgresqlConnector.connectionSpec.sourceSpec?.spec as {
      properties: Record<string, { properties?: Record<string, unknown>; required?: string[] }>;
    };
    expect(spec.properties.deltaColumn?.required).toEqual(['name']);
    expect(
      postgresqlConnector.parseSourceParams({ tableName: 'public.t', deltaColumn: { name: 'updated_at' } }),
    ).toEqual({ tableName: 'public.t', deltaColumn: { name: 'updated_at' } });
  });

  it('test() reports an invalid connection string without throwing', async () => {
    const result = await postgresqlConnector.test?.({ connectionString: 'Server=h' } as never);
    expect(result).toMatchObject({ ok: false, code: 'invalid' });
  });
});
