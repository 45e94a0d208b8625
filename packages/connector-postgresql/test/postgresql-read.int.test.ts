import type { PostgresqlReadState } from '@inflow/connector-postgresql';
import { MAX_SEEN_KEYS, postgresqlConnector, READ_BATCH_SIZE } from '@inflow/connector-postgresql';
import type { JsonValue, RecordBatch } from '@inflow/core';
import { InflowValidationError } from '@inflow/core';
import { rejectionOf } from '@inflow/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { credentials, readAll, recordsOf, sql } from './pg-fixture.js';

const ids = (batches: RecordBatch[]) => recordsOf(batches).map((r) => r.id);
const stateOf = (batch: RecordBatch | undefined) => batch?.state as PostgresqlReadState;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
/** Rows in it_read.customers: two and a half batches. */
const CUSTOMERS = 2.5 * READ_BATCH_SIZE;

beforeAll(async () => {
  await sql(`
    DROP SCHEMA IF EXISTS it_read CASCADE;
    CREATE SCHEMA it_read;
    CREATE TABLE it_read.customers (
      id integer PRIMARY KEY, name text NOT NULL, balance numeric(14,2), big bigint,
      tags text[], profile jsonb, seen_at timestamptz, born date
    );
    INSERT INTO it_read.customers
      SELECT g, 'customer ' || g, g * 1.25, 9007199254740990 + g,
             ARRAY['t' || (g % 3), NULL], jsonb_build_object('g', g, 'even', g % 2 = 0),
             '2024-01-01 00:00:00.000001+00'::timestamptz + g * interval '1 second', DATE '2000-01-01' + (g % 365)
        FROM generate_series(1, ${CUSTOMERS}) g;
  `);
});

describe('full read', () => {
  it(`streams the whole table in batches of ${READ_BATCH_SIZE}, in key order, each with its state`, async () => {
    const batches = await readAll({ tableName: 'it_read.customers' });
    const B = READ_BATCH_SIZE;
    expect(batches.map((b) => b.records.length)).toEqual([B, B, B / 2]);
    expect(ids(batches)).toEqual(range(1, CUSTOMERS));
    expect(batches.map((b) => b.state)).toEqual([
      { v: 1, mode: 'full', keyColumns: ['id'], after: [String(B)], done: false, rows: B },
      { v: 1, mode: 'full', keyColumns: ['id'], after: [String(2 * B)], done: false, rows: 2 * B },
      { v: 1, mode: 'full', keyColumns: ['id'], done: true, rows: CUSTOMERS },
    ]);
    expect(recordsOf(batches)[1]).toEqual({
      id: 2,
      name: 'customer 2',
      balance: 2.5,
      big: '9007199254740992',
      tags: ['t2', null],
      profile: { g: 2, even: true },
      seen_at: '2024-01-01T00:00:02.000001Z',
      born: '2000-01-03',
    });
    // Up to 2^53 − 1 a bigint is a number; past it, its exact text.
    expect(recordsOf(batches)[0]?.big).toBe(9007199254740991);
  });

  it('resumes after the last batch that landed, and starts over after a finished copy', async () => {
    const first = await readAll({ tableName: 'it_read.customers' }, undefined, { limit: READ_BATCH_SIZE });
    expect(stateOf(first.at(-1))).toMatchObject({ after: [String(READ_BATCH_SIZE)], done: false });
    const rest = await readAll({ tableName: 'it_read.customers' }, first.at(-1)?.state);
    expect(ids(rest)).toEqual(range(READ_BATCH_SIZE + 1, CUSTOMERS));
    expect(stateOf(rest.at(-1))).toEqual({
      v: 1,
      mode: 'full',
      keyColumns: ['id'],
      done: true,
      rows: CUSTOMERS,
    });

    const again = await readAll({ tableName: 'it_read.customers' }, rest.at(-1)?.state, { limit: 3 });
    expect(ids(again)).toEqual([1, 2, 3]);
  });

  it('reads only the columns asked for, in their order', async () => {
    const batches = await readAll(
      { tableName: 'it_read.customers', columns: [{ name: 'name' }, { name: 'id' }] },
      undefined,
      { limit: 2 },
    );
    expect(recordsOf(batches)).toEqual([
      { name: 'customer 1', id: 1 },
      { name: 'customer 2', id: 2 },
    ]);
    expect(Object.keys(recordsOf(batches)[0] ?? {})).toEqual(['name', 'id']);
  });

  it('rejects an unknown column, an unknown cursor column, and one that cannot order rows', async () => {
    const unknown = await rejectionOf(
      readAll({ tableName: 'it_read.customers', columns: [{ name: 'nope' }] }),
    );
    expect(InflowValidationError.isInstance(unknown)).toBe(true);
    expect((unknown as InflowValidationError).issues[0]?.path).toBe('params.columns.0.name');
    expect((unknown as Error).message).toContain('column "nope" not in table it_read.customers');

    const cursor = await rejectionOf(
      readAll({ tableName: 'it_read.customers', deltaColumn: { name: 'nope' } }),
    );
    expect((cursor as InflowValidationError).issues[0]?.path).toBe('params.deltaColumn.name');

    const json = await rejectionOf(
      readAll({ tableName: 'it_read.customers', deltaColumn: { name: 'profile' } }),
    );
    expect((json as Error).message).toContain('is jsonb, which cannot order rows');
  });

  it('treats an injection attempt in tableName or a column as a name that does not exist', async () => {
    for (const tableName of [
      'it_read.customers; DROP TABLE it_read.customers; --',
      'it_read.customers" WHERE false; --',
      '"it_read"."customers""; DELETE FROM it_read.customers; --"',
    ]) {
      const error = await rejectionOf(readAll({ tableName }));
      expect(InflowValidationError.isInstance(error), String(error)).toBe(true);
      expect((error as InflowValidationError).issues[0]?.path).toBe('params.tableName');
    }
    const column = await rejectionOf(
      readAll({ tableName: 'it_read.customers', columns: [{ name: 'id" FROM pg_authid; --' }] }),
    );
    expect(InflowValidationError.isInstance(column)).toBe(true);
    const left = await sql('SELECT count(*)::int AS n FROM it_read.customers');
    expect(left.rows[0]).toEqual({ n: CUSTOMERS });
  });

  it('refuses a state it did not write', async () => {
    const error = await rejectionOf(readAll({ tableName: 'it_read.customers' }, { offset: 12 }));
    expect(InflowValidationError.isInstance(error)).toBe(true);
    expect((error as InflowValidationError).issues[0]?.path).toBe('state');
  });

  it('stops, and closes its connection, when the signal aborts', async () => {
    const controller = new AbortController();
    const read = postgresqlConnector.read;
    if (!read) throw new Error('no read verb');
    let delivered = 0;
    const error = await rejectionOf(
      (async () => {
        for await (const batch of read({
          credentials: credentials(),
          params: { tableName: 'it_read.customers' },
          state: undefined,
          signal: controller.signal,
        })) {
          delivered += batch.records.length;
          controller.abort();
        }
      })(),
    );
    expect((error as Error).name).toBe('AbortError');
    expect(delivered).toBe(READ_BATCH_SIZE);
    await expect
      .poll(
        async () =>
          (
            await sql(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'inflow' AND query LIKE 'FETCH%'",
            )
          ).rows[0],
      )
      .toEqual({ n: 0 });
  });
});

describe('incremental read with ties at the cursor', () => {
  const T = '2024-06-01 12:00:00.123456+00';
  const params = { tableName: 'it_read.changes', deltaColumn: { name: 'updated_at' } };

  beforeAll(async () => {
    // READ_BATCH_SIZE − 10 distinct cursor values below T, then 30 rows at T straddling the
    // first batch boundary.
    await sql(`
      CREATE TABLE it_read.changes (id integer PRIMARY KEY, updated_at timestamptz, note text);
      INSERT INTO it_read.changes
        SELECT g, TIMESTAMPTZ '${T}' - (11000 - g) * interval '1 second', 'old ' || g
          FROM generate_series(1001, ${1000 + READ_BATCH_SIZE - 10}) g;
      INSERT INTO it_read.changes SELECT g, TIMESTAMPTZ '${T}', 'tie ' || g FROM generate_series(11001, 11030) g;
      INSERT INTO it_read.changes VALUES (99999, NULL, 'no cursor: not read incrementally');
    `);
  });

  it('delivers every row once, reads exactly the new rows next time (even with smaller keys at the boundary), and resumes mid-tie', async () => {
    const first = await readAll(params);
    expect(first.map((b) => b.records.length)).toEqual([READ_BATCH_SIZE, 20]);
    expect(ids(first)).toEqual([...range(1001, 1000 + READ_BATCH_SIZE - 10), ...range(11001, 11030)]);
    const mid = stateOf(first[0]);
    expect(mid).toEqual({
      v: 1,
      mode: 'incremental',
      column: 'updated_at',
      keyColumns: ['id'],
      value: T,
      seen: range(11001, 11010).map((id) => [String(id)]),
    });
    expect(stateOf(first[1])).toMatchObject({
      value: T,
      seen: range(11001, 11030).map((id) => [String(id)]),
    });
    // Timestamps keep their microseconds.
    expect(recordsOf(first).at(-1)).toEqual({
      id: 11030,
      updated_at: '2024-06-01T12:00:00.123456Z',
      note: 'tie 11030',
    });

    // New rows at the boundary value, with keys below and above every key seen, and later rows.
    await sql(`
      INSERT INTO it_read.changes SELECT g, TIMESTAMPTZ '${T}', 'late tie ' || g FROM generate_series(1, 5) g;
      INSERT INTO it_read.changes SELECT g, TIMESTAMPTZ '${T}', 'late tie ' || g FROM generate_series(11031, 11032) g;
      INSERT INTO it_read.changes SELECT g, TIMESTAMPTZ '${T}' + interval '1 second', 'newer ' || g FROM generate_series(20001, 20003) g;
    `);
    const second = await readAll(params, first.at(-1)?.state);
    expect(ids(second)).toEqual([1, 2, 3, 4, 5, 11031, 11032, 20001, 20002, 20003]);
    expect(stateOf(second.at(-1))).toMatchObject({
      value: '2024-06-01 12:00:01.123456+00',
      seen: [['20001'], ['20002'], ['20003']],
    });

    const third = await readAll(params, second.at(-1)?.state);
    expect(third).toEqual([]);

    // A crash after the first batch landed: the next read takes the other 20 ties and the new rows.
    const resumed = await readAll(params, first[0]?.state);
    expect(ids(resumed)).toEqual([1, 2, 3, 4, 5, ...range(11011, 11032), 20001, 20002, 20003]);
  });

  it('without a primary key, tells rows apart by an md5 of the row', async () => {
    await sql(`
      CREATE TABLE it_read.log (at integer, msg text);
      INSERT INTO it_read.log VALUES (1, 'a'), (2, 'b'), (2, 'c'), (2, 'd');
    `);
    const logParams = { tableName: 'it_read.log', deltaColumn: { name: 'at' } };
    const first = await readAll(logParams);
    expect(
      recordsOf(first)
        .map((r) => r.msg)
        .sort(),
    ).toEqual(['a', 'b', 'c', 'd']);
    expect(stateOf(first.at(-1))).toMatchObject({ value: '2', keyColumns: [] });
    expect((stateOf(first.at(-1)) as { seen: string[][] }).seen).toHaveLength(3);

    await sql(`INSERT INTO it_read.log VALUES (2, 'e'), (2, 'a'), (3, 'f')`);
    const second = await readAll(logParams, first.at(-1)?.state);
    expect(
      recordsOf(second)
        .map((r) => r.msg)
        .sort(),
    ).toEqual(['a', 'e', 'f']);
    expect(await readAll(logParams, second.at(-1)?.state)).toEqual([]);
  });

  it(`past ${MAX_SEEN_KEYS} rows at one value, keeps the last key instead of every key`, async () => {
    await sql(`
      CREATE TABLE it_read.bulk (id integer PRIMARY KEY, day date NOT NULL);
      INSERT INTO it_read.bulk SELECT g, DATE '2024-01-01' FROM generate_series(1, ${MAX_SEEN_KEYS + 50}) g;
    `);
    const bulkParams = { tableName: 'it_read.bulk', deltaColumn: { name: 'day' } };
    const first = await readAll(bulkParams);
    expect(recordsOf(first)).toHaveLength(MAX_SEEN_KEYS + 50);
    expect(stateOf(first.at(-1))).toEqual({
      v: 1,
      mode: 'incremental',
      column: 'day',
      keyColumns: ['id'],
      value: '2024-01-01',
      after: [String(MAX_SEEN_KEYS + 50)],
    });
    await sql(
      `INSERT INTO it_read.bulk VALUES (${MAX_SEEN_KEYS + 51}, '2024-01-01'), (${MAX_SEEN_KEYS + 52}, '2024-01-02')`,
    );
    const second = await readAll(bulkParams, first.at(-1)?.state);
    expect(ids(second)).toEqual([MAX_SEEN_KEYS + 51, MAX_SEEN_KEYS + 52]);
    expect(stateOf(second.at(-1))).toMatchObject({
      value: '2024-01-02',
      seen: [[String(MAX_SEEN_KEYS + 52)]],
    });
  });

  it('incremental state is plain JSON', async () => {
    const batches = await readAll(params, undefined, { limit: 3 });
    const state = batches.at(-1)?.state as JsonValue;
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });
});
