import { randomBytes } from 'node:crypto';
import { postgresqlConnector } from '@inflow/connector-postgresql';
import { describeSourceConnector } from '@inflow/testkit';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { connectionString, sql } from './pg-fixture.js';

// A schema of its own: the int tests use the same database at the same time.
const SCHEMA = `conformance_${randomBytes(4).toString('hex')}`;
const TABLE = `${pg.escapeIdentifier(SCHEMA)}.customers`;
const AUTH = 'Connection String Based Authentication';

type Row = { id: number; name: string; updated_at: string };
const at = (second: number) => `2024-05-01T10:00:${String(second).padStart(2, '0')}Z`;
// Rows 3 and 4 share a cursor value, and so does new row 7 with row 5: the boundary of a read.
const ROWS: Row[] = [
  { id: 1, name: 'Ada', updated_at: at(1) },
  { id: 2, name: 'Grace', updated_at: at(2) },
  { id: 3, name: 'Edsger', updated_at: at(3) },
  { id: 4, name: 'Barbara', updated_at: at(3) },
  { id: 5, name: 'Donald', updated_at: at(4) },
];
const NEW_ROWS: Row[] = [
  { id: 7, name: 'Frances', updated_at: at(4) },
  { id: 6, name: 'Leslie', updated_at: at(5) },
  { id: 8, name: 'Niklaus', updated_at: at(9) },
];

async function insert(rows: Record<string, unknown>[]): Promise<void> {
  for (const row of rows) {
    await sql(`INSERT INTO ${TABLE} (id, name, updated_at) VALUES ($1, $2, $3)`, [
      row.id,
      row.name,
      row.updated_at,
    ]);
  }
}

beforeAll(async () => {
  await sql(`CREATE SCHEMA ${pg.escapeIdentifier(SCHEMA)};
    CREATE TABLE ${TABLE} (id integer PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL)`);
  await insert(ROWS);
});

afterAll(async () => {
  await sql(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(SCHEMA)} CASCADE`);
});

const SEED_PASSWORD = 'CANARY-pg-conf-pass-0c93';
const WRONG_PASSWORD = 'CANARY-pg-conf-wrong-;8e1a';
const seedCredentials = {
  connectionString: `Server=pg.acme.test;Database=crm;Port=5432;UID=inflow_reader;Password=${SEED_PASSWORD}`,
};

describeSourceConnector(postgresqlConnector, {
  expected: {
    id: '74a1c565-4e59-48d7-9d67-7c03b8a13137',
    name: 'postgresql',
    providerId: '0ed90a81-07f4-4586-8190-b40eccef1c5a',
  },
  credentials: { [AUTH]: seedCredentials },
  sourceParams: { tableName: 'public.customers', deltaColumn: { name: 'updated_at' } },
  setupInput: {
    name: 'Test connection for PostgreSQL',
    description: 'Test connection for PostgreSQL',
    credentials: seedCredentials,
  },
  // The whole connection string is the secret (it holds the password).
  setupSecrets: [seedCredentials.connectionString],
  // The real server, with a wrong password: refused, and the password never echoed.
  canary: {
    params: { connectionString: connectionString({ password: WRONG_PASSWORD }) },
    secret: WRONG_PASSWORD,
    code: 'auth_failed',
  },
  read: {
    credentials: { params: { connectionString: connectionString() } },
    params: { tableName: `${SCHEMA}.customers`, deltaColumn: { name: 'updated_at' } },
    key: 'id',
    expectedCount: ROWS.length,
    limit: 2,
    newRows: NEW_ROWS,
    insert,
  },
});
