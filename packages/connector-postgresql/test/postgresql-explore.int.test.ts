import { PostgresqlError, postgresqlConnector } from '@inflow/connector-postgresql';
import type { ExploreItem, ExploreRequest, ExploreResult, ExploreStructure } from '@inflow/core';
import { InflowValidationError } from '@inflow/core';
import { rejectionOf } from '@inflow/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { credentials, sql } from './pg-fixture.js';

const explore = (request: ExploreRequest, creds = credentials()): Promise<ExploreResult> => {
  const verb = postgresqlConnector.explore;
  if (!verb) throw new Error('the PostgreSQL connector has no explore verb');
  return verb(creds, request);
};
const preview = (request: Omit<ExploreRequest, 'objectType'>): Promise<ExploreStructure> => {
  const verb = postgresqlConnector.preview;
  if (!verb) throw new Error('the PostgreSQL connector has no preview verb');
  return verb(credentials(), { objectType: 'table', ...request });
};

beforeAll(async () => {
  await sql(`
    DROP SCHEMA IF EXISTS it_explore CASCADE;
    CREATE SCHEMA it_explore;
    CREATE TYPE it_explore.mood AS ENUM ('sad', 'happy');
    CREATE DOMAIN it_explore.positive AS numeric CHECK (VALUE > 0);
    CREATE TABLE it_explore.all_types (
      id integer PRIMARY KEY,
      t text, vc varchar(20), ch char(3),
      i2 smallint, i4 integer, i8 bigint, big bigint,
      n numeric(12,2), huge numeric, r real, d double precision, nan double precision,
      b boolean,
      ts timestamp, tstz timestamptz, dt date,
      j json, jb jsonb,
      ia integer[], ta text[], grid integer[][], tsa timestamptz[],
      u uuid, by bytea, m it_explore.mood, pos it_explore.positive, iv interval, tm time
    );
    INSERT INTO it_explore.all_types VALUES (
      1,
      'héllo "world"; DROP TABLE x', 'short', 'ab',
      -32768, 2147483647, 9007199254740991, 9223372036854775807,
      1234567890.12, 123456789012345678901234567890.123456789, 1.5, 0.1, 'NaN',
      true,
      '2024-02-29 23:59:59.123456', '2024-02-29 23:59:59.123456+02', '2024-02-29',
      '{"a": [1, 2.5, null], "b": "x"}', '{"nested": {"ok": true}, "n": 12}',
      '{1,NULL,3}', '{"a,b","c\\"d",NULL,""}', '{{1,2},{3,4}}', '{"2024-01-01 00:00:00+00"}',
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff10', 'happy', 42.5, '1 day 02:03:04', '13:14:15'
    );
    INSERT INTO it_explore.all_types (id) VALUES (2);

    CREATE TABLE it_explore.many (id integer PRIMARY KEY, label text);
    INSERT INTO it_explore.many SELECT g, 'row ' || g FROM generate_series(150, 1, -1) g;

    CREATE VIEW it_explore.small_view AS SELECT id, t FROM it_explore.all_types;
    CREATE TABLE it_explore.events (id integer, at date) PARTITION BY RANGE (at);
    CREATE TABLE it_explore.events_2024 PARTITION OF it_explore.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE it_explore."Mixed Case" ("Weird ""col""; DROP TABLE it_explore.many; --" text, "select" int);
    INSERT INTO it_explore."Mixed Case" VALUES ('kept', 7);
    CREATE TABLE it_explore."dotted.name" (x int);
  `);
});

describe('explore root', () => {
  it('lists the tables as schema.table, views and partitioned parents included, partitions and system schemas not', async () => {
    const items = (await explore({ objectType: 'root' })) as ExploreItem[];
    const ours = items.filter((item) => item.path.startsWith('it_explore.'));
    expect(ours).toEqual(
      ['Mixed Case', 'all_types', 'dotted.name', 'events', 'many', 'small_view'].map((name) => ({
        type: 'table',
        name,
        path: `it_explore.${name}`,
        canPreview: true,
        canFetchSchema: true,
      })),
    );
    expect(items.some((item) => /^(pg_catalog|information_schema|pg_toast)\./.test(item.path))).toBe(false);
  });
});

describe('explore a table', () => {
  it('describes every column with its PostgreSQL type and XDM type', async () => {
    const structure = (await explore({
      objectType: 'table',
      object: 'it_explore.all_types',
    })) as ExploreStructure;
    expect(structure.format).toBe('flat');
    expect(structure.data).toBeUndefined();
    const byName = Object.fromEntries(
      structure.schema.columns.map((c) => [c.name, [c.type, c.xdm?.type, c.xdm?.format, c['meta:xdmType']]]),
    );
    expect(byName).toEqual({
      id: ['integer', 'integer', undefined, 'int'],
      t: ['text', 'string', undefined, 'string'],
      vc: ['character varying(20)', 'string', undefined, 'string'],
      ch: ['character(3)', 'string', undefined, 'string'],
      i2: ['smallint', 'integer', undefined, 'short'],
      i4: ['integer', 'integer', undefined, 'int'],
      i8: ['bigint', 'integer', undefined, 'long'],
      big: ['bigint', 'integer', undefined, 'long'],
      n: ['numeric(12,2)', 'number', undefined, 'number'],
      huge: ['numeric', 'number', undefined, 'number'],
      r: ['real', 'number', undefined, 'number'],
      d: ['double precision', 'number', undefined, 'number'],
      nan: ['double precision', 'number', undefined, 'number'],
      b: ['boolean', 'boolean', undefined, 'boolean'],
      ts: ['timestamp without time zone', 'string', 'date-time', 'date-time'],
      tstz: ['timestamp with time zone', 'string', 'date-time', 'date-time'],
      dt: ['date', 'string', 'date', 'date'],
      j: ['json', 'object', undefined, 'object'],
      jb: ['jsonb', 'object', undefined, 'object'],
      ia: ['integer[]', 'array', undefined, 'array'],
      ta: ['text[]', 'array', undefined, 'array'],
      grid: ['integer[]', 'array', undefined, 'array'],
      tsa: ['timestamp with time zone[]', 'array', undefined, 'array'],
      u: ['uuid', 'string', undefined, 'string'],
      by: ['bytea', 'string', undefined, 'string'],
      m: ['it_explore.mood', 'string', undefined, 'string'],
      pos: ['it_explore.positive', 'number', undefined, 'number'],
      iv: ['interval', 'string', undefined, 'string'],
      tm: ['time without time zone', 'string', undefined, 'string'],
    });
  });

  it('rejects an unknown table at object', async () => {
    const error = await rejectionOf(explore({ objectType: 'table', object: 'it_explore.nope' }));
    expect(InflowValidationError.isInstance(error)).toBe(true);
    expect((error as InflowValidationError).issues[0]?.path).toBe('object');
    expect((error as Error).message).toContain('table "it_explore.nope" does not exist');
  });

  it('treats an injection attempt in object as a name that does not exist', async () => {
    for (const object of [
      'it_explore.many; DROP TABLE it_explore.many; --',
      'it_explore.many" ; DROP TABLE it_explore.many; --',
      "it_explore.many' OR '1'='1",
      '"it_explore"."many""; DROP TABLE it_explore.many; --"',
    ]) {
      const error = await rejectionOf(explore({ objectType: 'table', object, preview: true }));
      expect(InflowValidationError.isInstance(error), String(error)).toBe(true);
    }
    const left = await sql('SELECT count(*)::int AS n FROM it_explore.many');
    expect(left.rows[0]).toEqual({ n: 150 });
  });

  it('finds names with capitals, spaces, quotes and dots, as paths or quoted SQL names', async () => {
    for (const object of ['it_explore.Mixed Case', '"it_explore"."Mixed Case"']) {
      const structure = (await explore({ objectType: 'table', object, preview: true })) as ExploreStructure;
      expect(structure.data).toEqual([{ 'Weird "col"; DROP TABLE it_explore.many; --': 'kept', select: 7 }]);
    }
    const dotted = (await explore({
      objectType: 'table',
      object: 'it_explore.dotted.name',
    })) as ExploreStructure;
    expect(dotted.schema.columns.map((c) => c.name)).toEqual(['x']);
  });

  it('refuses objectType folder and file, and a table without object', async () => {
    for (const request of [
      { objectType: 'folder', object: 'x' },
      { objectType: 'file', object: 'x' },
      { objectType: 'table' },
    ] as ExploreRequest[]) {
      expect(InflowValidationError.isInstance(await rejectionOf(explore(request)))).toBe(true);
    }
  });

  it('with a wrong password, throws auth_failed without the password', async () => {
    const wrong = 'CANARY-explore-pass';
    const error = await rejectionOf(explore({ objectType: 'root' }, credentials({ password: wrong })));
    expect(PostgresqlError.isInstance(error)).toBe(true);
    expect((error as PostgresqlError).code).toBe('auth_failed');
    expect((error as Error).message).not.toContain(wrong);
  });
});

describe('preview', () => {
  it('returns every type decoded, and NULL as null', async () => {
    const structure = await preview({ object: 'it_explore.all_types' });
    expect(structure.schema.columns).toHaveLength(29);
    expect(structure.data).toEqual([
      {
        id: 1,
        t: 'héllo "world"; DROP TABLE x',
        vc: 'short',
        ch: 'ab ',
        i2: -32768,
        i4: 2147483647,
        i8: 9007199254740991,
        big: '9223372036854775807',
        n: 1234567890.12,
        huge: '123456789012345678901234567890.123456789',
        r: 1.5,
        d: 0.1,
        nan: 'NaN',
        b: true,
        ts: '2024-02-29T23:59:59.123456Z',
        tstz: '2024-02-29T21:59:59.123456Z',
        dt: '2024-02-29',
        j: { a: [1, 2.5, null], b: 'x' },
        jb: { nested: { ok: true }, n: 12 },
        ia: [1, null, 3],
        ta: ['a,b', 'c"d', null, ''],
        grid: [
          [1, 2],
          [3, 4],
        ],
        tsa: ['2024-01-01T00:00:00Z'],
        u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        by: Buffer.from([0, 255, 16]).toString('base64'),
        m: 'happy',
        pos: 42.5,
        iv: 'P1DT2H3M4S',
        tm: '13:14:15',
      },
      {
        id: 2,
        ...Object.fromEntries(
          structure.schema.columns.filter((c) => c.name !== 'id').map((c) => [c.name, null]),
        ),
      },
    ]);
  });

  it('returns the first 100 rows by default, in primary-key order, or previewCount', async () => {
    const all = await preview({ object: 'it_explore.many' });
    expect(all.data).toHaveLength(100);
    expect(all.data?.[0]).toEqual({ id: 1, label: 'row 1' });
    expect(all.data?.[99]).toEqual({ id: 100, label: 'row 100' });
    const five = await preview({ object: 'it_explore.many', previewCount: 5 });
    expect(five.data?.map((r) => r.id)).toEqual([1, 2, 3, 4, 5]);
    const viaExplore = (await explore({
      objectType: 'table',
      object: 'it_explore.many',
      preview: true,
      previewCount: 2,
    })) as ExploreStructure;
    expect(viaExplore.data).toEqual([
      { id: 1, label: 'row 1' },
      { id: 2, label: 'row 2' },
    ]);
  });

  it('previews a view', async () => {
    const structure = await preview({ object: 'it_explore.small_view', previewCount: 1 });
    expect(structure.data).toHaveLength(1);
    expect(structure.schema.columns.map((c) => c.name)).toEqual(['id', 't']);
  });

  it.each([0, -1, 1.5, 10_001])('rejects previewCount %s', async (previewCount) => {
    const error = await rejectionOf(preview({ object: 'it_explore.many', previewCount }));
    expect(InflowValidationError.isInstance(error)).toBe(true);
    expect((error as InflowValidationError).issues[0]?.path).toBe('previewCount');
  });
});
