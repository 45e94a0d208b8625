// The read's COPY path against a real PostgreSQL: text that needs COPY's escapes, every type
// decoded as `preview` decodes it, state values inlined as literals, and early stops.
import type { PostgresqlReadState } from '@inflow/connector-postgresql';
import { postgresqlConnector, READ_BATCH_CHARS, READ_BATCH_SIZE } from '@inflow/connector-postgresql';
import type { ExploreStructure, RecordBatch } from '@inflow/core';
import { rejectionOf } from '@inflow/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { credentials, readAll, recordsOf, sql } from './pg-fixture.js';

const stateOf = (batch: RecordBatch | undefined) => batch?.state as PostgresqlReadState;

/** Sessions of the connector still running a COPY. */
const copying = async () =>
  (
    await sql(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'inflow' AND query LIKE 'COPY%'",
    )
  ).rows[0];

beforeAll(async () => {
  await sql(`
    DROP SCHEMA IF EXISTS it_copy CASCADE;
    CREATE SCHEMA it_copy;
    CREATE TYPE it_copy.mood AS ENUM ('sad', 'happy');
    CREATE TABLE it_copy.all_types (
      id integer PRIMARY KEY,
      t text, ch char(3),
      i2 smallint, i8 bigint, big bigint,
      n numeric(12,2), huge numeric, tiny numeric, r real, d double precision, nan double precision,
      b boolean,
      ts timestamp, tstz timestamptz, inf timestamptz, dt date,
      j json, jb jsonb,
      ia integer[], ta text[], grid integer[][], tsa timestamptz[], ja jsonb[],
      u uuid, by bytea, m it_copy.mood, iv interval, tm time
    );
    INSERT INTO it_copy.all_types VALUES (
      1,
      E'tab\\there\\nnew line\\r\\\\back\\\\slash \\\\N "quoted" héllo 日本 😀', 'ab',
      -32768, -9007199254740991, -9223372036854775808,
      -1234567890.12, 123456789012345678901234567890.123456789, 0.000000000000000000001, 1.5, -0.1, 'Infinity',
      false,
      '2024-02-29 23:59:59.123456', '2024-02-29 23:59:59.5+02', 'infinity', '2024-02-29',
      E'{"a": [1, 2.5, null], "tab": "x\\\\ty", "q": "\\\\"", "u": "\\u00e9"}', E'{"nested": {"ok": true}, "s": "a\\\\\\\\b\\\\nc"}',
      '{1,NULL,3}', E'{"a,b","c\\\\"d",NULL,"NULL","","e\\\\\\\\f","tab\\there","{x}"}', '{{1,2},{3,NULL}}',
      '{"2024-01-01 00:00:00+00",NULL}', E'{"{\\\\"k\\\\": [1, \\\\"\\\\\\\\t\\\\"]}",NULL}',
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff0a09', 'happy', '1 day 02:03:04', '13:14:15'
    );
    INSERT INTO it_copy.all_types (id, t) VALUES (2, '\\N'), (3, ''), (4, NULL);

    CREATE TABLE it_copy.named (id integer PRIMARY KEY, label text NOT NULL);
    INSERT INTO it_copy.named
      SELECT g, CASE WHEN g <= 10 THEN E'o''neil \\\\ "x"' ELSE E'z\\\\''' || lpad(g::text, 6, '0') END
        FROM generate_series(1, 12) g;

    CREATE TABLE it_copy.wide (id integer PRIMARY KEY, body text);
    INSERT INTO it_copy.wide SELECT g, repeat(E'ab\\tc', 30000) FROM generate_series(1, 3) g;

    CREATE TABLE it_copy.wider (id integer PRIMARY KEY, body text);
    INSERT INTO it_copy.wider SELECT g, repeat('x', ${READ_BATCH_CHARS / 4}) FROM generate_series(1, 10) g;

    CREATE TABLE it_copy.many (id integer PRIMARY KEY, v text);
    INSERT INTO it_copy.many SELECT g, 'v' || g FROM generate_series(1, ${3 * READ_BATCH_SIZE}) g;
  `);
});

describe('read through COPY', () => {
  it('decodes every type exactly as preview (a plain query) does, escapes and NULLs included', async () => {
    const preview = postgresqlConnector.preview;
    if (!preview) throw new Error('no preview verb');
    const shown = (await preview(credentials(), {
      objectType: 'table',
      object: 'it_copy.all_types',
      previewCount: 10,
    })) as ExploreStructure;
    const read = recordsOf(await readAll({ tableName: 'it_copy.all_types' }));
    expect(read).toEqual(shown.data);
    expect(read).toHaveLength(4);
    expect(read[0]).toMatchObject({
      t: 'tab\there\nnew line\r\\back\\slash \\N "quoted" héllo 日本 😀',
      ch: 'ab ',
      big: '-9223372036854775808',
      n: -1234567890.12,
      huge: '123456789012345678901234567890.123456789',
      tiny: 1e-21,
      d: -0.1,
      nan: 'Infinity',
      b: false,
      ts: '2024-02-29T23:59:59.123456Z',
      tstz: '2024-02-29T21:59:59.5Z',
      inf: 'infinity',
      j: { a: [1, 2.5, null], tab: 'x\ty', q: '"', u: 'é' },
      jb: { nested: { ok: true }, s: 'a\\b\nc' },
      ia: [1, null, 3],
      ta: ['a,b', 'c"d', null, 'NULL', '', 'e\\f', 'tab\there', '{x}'],
      grid: [
        [1, 2],
        [3, null],
      ],
      tsa: ['2024-01-01T00:00:00Z', null],
      ja: [{ k: [1, '\t'] }, null],
      by: Buffer.from([0, 255, 10, 9]).toString('base64'),
      m: 'happy',
    });
    // A text that reads `\N` is not NULL; an empty text is not NULL either.
    expect(read.slice(1).map((r) => r.t)).toEqual(['\\N', '', null]);
  });

  it('reads rows far longer than a network chunk', async () => {
    const records = recordsOf(await readAll({ tableName: 'it_copy.wide' }));
    expect(records.map((r) => r.id)).toEqual([1, 2, 3]);
    for (const record of records) expect(record.body).toBe('ab\tc'.repeat(30000));
  });

  it(`ends a batch at ${READ_BATCH_CHARS} characters of rows, and resumes after it`, async () => {
    // Each row's text is a little over a quarter of the bound: four rows reach it.
    const batches = await readAll({ tableName: 'it_copy.wider' });
    expect(batches.map((b) => b.records.length)).toEqual([4, 4, 2]);
    expect(batches.map((b) => stateOf(b))).toEqual([
      { v: 1, mode: 'full', keyColumns: ['id'], after: ['4'], done: false, rows: 4 },
      { v: 1, mode: 'full', keyColumns: ['id'], after: ['8'], done: false, rows: 8 },
      { v: 1, mode: 'full', keyColumns: ['id'], done: true, rows: 10 },
    ]);
    const rest = await readAll({ tableName: 'it_copy.wider' }, batches[0]?.state);
    expect(recordsOf(rest).map((r) => r.id)).toEqual([5, 6, 7, 8, 9, 10]);
    expect(recordsOf(rest).every((r) => r.body === 'x'.repeat(READ_BATCH_CHARS / 4))).toBe(true);
  });

  it('resumes an incremental read whose cursor texts hold quotes and backslashes, mid-tie', async () => {
    const params = { tableName: 'it_copy.named', deltaColumn: { name: 'label' } };
    const first = await readAll(params, undefined, { limit: 4 });
    expect(stateOf(first.at(-1))).toMatchObject({
      value: `o'neil \\ "x"`,
      seen: [['1'], ['2'], ['3'], ['4']],
    });
    const rest = await readAll(params, first.at(-1)?.state);
    expect(recordsOf(rest).map((r) => r.id)).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
    expect(stateOf(rest.at(-1))).toMatchObject({ value: `z\\'000012`, seen: [['12']] });

    await sql(`INSERT INTO it_copy.named VALUES (13, E'z\\\\''000012'), (14, E'z\\\\''000013')`);
    const next = await readAll(params, rest.at(-1)?.state);
    expect(recordsOf(next).map((r) => r.id)).toEqual([13, 14]);
  });

  it('stops the COPY and closes its connection when the consumer stops early', async () => {
    const read = postgresqlConnector.read;
    if (!read) throw new Error('no read verb');
    let delivered = 0;
    for await (const batch of read({
      credentials: credentials(),
      params: { tableName: 'it_copy.many' },
      state: undefined,
    })) {
      delivered += batch.records.length;
      break;
    }
    expect(delivered).toBe(READ_BATCH_SIZE);
    await expect.poll(copying).toEqual({ n: 0 });
  });

  it('stops the COPY and closes its connection when the signal aborts mid-read', async () => {
    const read = postgresqlConnector.read;
    if (!read) throw new Error('no read verb');
    const controller = new AbortController();
    const seen: number[] = [];
    const error = await rejectionOf(
      (async () => {
        for await (const batch of read({
          credentials: credentials(),
          params: { tableName: 'it_copy.many' },
          state: undefined,
          signal: controller.signal,
        })) {
          seen.push(batch.records.length);
          controller.abort();
        }
      })(),
    );
    expect((error as Error).name).toBe('AbortError');
    expect(seen).toEqual([READ_BATCH_SIZE]);
    await expect.poll(copying).toEqual({ n: 0 });
    // The table is still readable: the aborted read left nothing behind.
    expect(recordsOf(await readAll({ tableName: 'it_copy.many' }, undefined, { limit: 2 }))).toHaveLength(2);
  });
});
