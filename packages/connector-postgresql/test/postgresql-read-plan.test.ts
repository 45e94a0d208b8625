import { InflowValidationError, type JsonValue } from '@inflow/core';
import { thrownBy } from '@inflow/testkit';
import { describe, expect, it } from 'vitest';
import { type ColumnInfo, nameCandidates, pickColumns, type TableRef } from '../src/postgresql-catalog.js';
import {
  IncrementalTracker,
  MAX_SEEN_KEYS,
  type PostgresqlReadState,
  parseReadState,
  planRead,
  recordBuilder,
} from '../src/postgresql-read.js';
import { converterFor, PG_OID } from '../src/postgresql-types.js';

const column = (name: string, baseOid: number = PG_OID.int4): ColumnInfo => {
  const resolved = { baseOid, isArray: false, delimiter: ',' };
  return { name, type: 'integer', resolved, convert: converterFor(resolved) };
};
const table: TableRef = { schema: 'sales', name: 'Orders', oid: 1 };
const columns = [column('id'), column('amount', PG_OID.numeric), column('updated_at', PG_OID.timestamptz)];
const updatedAt = columns[2];

describe('planRead: full reads', () => {
  it('reads every column in primary-key order', () => {
    const plan = planRead({ table, columns, primaryKey: ['id'] }, undefined, undefined);
    expect(plan.sql).toBe(
      'SELECT t."id", t."amount", t."updated_at", t."id"::text FROM "sales"."Orders" AS t ORDER BY t."id"',
    );
    expect(plan.values).toEqual([]);
    expect(plan).toMatchObject({ mode: 'full', keyColumns: ['id'], keyCount: 1, start: undefined });
  });

  it('resumes after the key of a half-way state, as parameters', () => {
    const prior: PostgresqlReadState = {
      v: 1,
      mode: 'full',
      keyColumns: ['region', 'id'],
      after: ['eu', '42'],
      done: false,
      rows: 10,
    };
    const plan = planRead({ table, columns, primaryKey: ['region', 'id'] }, prior, 5);
    expect(plan.sql).toBe(
      'SELECT t."id", t."amount", t."updated_at", t."region"::text, t."id"::text FROM "sales"."Orders" AS t ' +
        'WHERE (t."region", t."id") > ($1, $2) ORDER BY t."region", t."id" LIMIT $3',
    );
    expect(plan.values).toEqual(['eu', '42', 5]);
    expect(plan.start).toEqual(prior);
  });

  it('starts over after a finished copy, or when the key changed', () => {
    const done: PostgresqlReadState = { v: 1, mode: 'full', keyColumns: ['id'], done: true, rows: 3 };
    expect(planRead({ table, columns, primaryKey: ['id'] }, done, undefined).start).toBeUndefined();
    const otherKey: PostgresqlReadState = { ...done, done: false, after: ['1'], keyColumns: ['uuid'] };
    expect(planRead({ table, columns, primaryKey: ['id'] }, otherKey, undefined).values).toEqual([]);
  });

  it('reads a relation without a key in no order', () => {
    const plan = planRead({ table, columns, primaryKey: [] }, undefined, undefined);
    expect(plan.sql).toBe('SELECT t."id", t."amount", t."updated_at" FROM "sales"."Orders" AS t');
    expect(plan.keyCount).toBe(0);
  });

  it('escapes every identifier: names are never SQL', () => {
    const evil: TableRef = { schema: 'x"; DROP TABLE y; --', name: 'a"b', oid: 2 };
    const plan = planRead(
      { table: evil, columns: [column('c"; DELETE FROM z; --')], primaryKey: [] },
      undefined,
      undefined,
    );
    expect(plan.sql).toBe('SELECT t."c""; DELETE FROM z; --" FROM "x""; DROP TABLE y; --"."a""b" AS t');
  });
});

describe('planRead: incremental reads', () => {
  const target = { table, columns, primaryKey: ['id'], cursor: updatedAt };

  it('first read: rows with a cursor, in (cursor, key) order', () => {
    const plan = planRead(target, undefined, undefined);
    expect(plan.sql).toBe(
      'SELECT t."id", t."amount", t."updated_at", t."updated_at"::text, t."id"::text FROM "sales"."Orders" AS t ' +
        'WHERE t."updated_at" IS NOT NULL ORDER BY t."updated_at", t."id"',
    );
    expect(plan).toMatchObject({ mode: 'incremental', keyColumns: ['id'], keyCount: 1 });
  });

  it('next read: after the boundary value, and at it only the keys not seen', () => {
    const prior: PostgresqlReadState = {
      v: 1,
      mode: 'incremental',
      column: 'updated_at',
      keyColumns: ['id'],
      value: '2024-01-01 00:00:00+00',
      seen: [['7'], ['3']],
    };
    const plan = planRead(target, prior, undefined);
    expect(plan.sql).toContain(
      'WHERE t."updated_at" IS NOT NULL AND (t."updated_at" > $1 OR (t."updated_at" = $1 AND ' +
        'jsonb_build_array(t."id"::text) NOT IN (SELECT unnest($2::jsonb[]))))',
    );
    expect(plan.values).toEqual(['2024-01-01 00:00:00+00', ['["7"]', '["3"]']]);
  });

  it('next read from a state past MAX_SEEN_KEYS: after the last (cursor, key)', () => {
    const prior: PostgresqlReadState = {
      v: 1,
      mode: 'incremental',
      column: 'updated_at',
      keyColumns: ['id'],
      value: 'v',
      after: ['99'],
    };
    const plan = planRead(target, prior, undefined);
    expect(plan.sql).toContain('(t."updated_at" > $1 OR (t."updated_at" = $1 AND (t."id") > ($2)))');
    expect(plan.values).toEqual(['v', '99']);
  });

  it('without a primary key, the key is an md5 of the whole row', () => {
    const plan = planRead({ ...target, primaryKey: [] }, undefined, undefined);
    expect(plan.sql).toContain('md5(ROW(t.*)::text)::text');
    expect(plan.sql).toContain('ORDER BY t."updated_at", md5(ROW(t.*)::text)');
    expect(plan.keyColumns).toEqual([]);
  });

  it('a state for another column starts over; one whose key changed re-reads the boundary value', () => {
    const prior: PostgresqlReadState = {
      v: 1,
      mode: 'incremental',
      column: 'created_at',
      keyColumns: ['id'],
      value: 'v',
      seen: [['1']],
    };
    expect(planRead(target, prior, undefined).start).toBeUndefined();
    const rekeyed = planRead(target, { ...prior, column: 'updated_at', keyColumns: ['uuid'] }, undefined);
    expect(rekeyed.sql).toContain('t."updated_at" >= $1');
    expect(rekeyed.start).toMatchObject({ keyColumns: ['id'], seen: [] });
  });
});

describe('IncrementalTracker', () => {
  const tracker = (start?: Parameters<typeof planRead>[1]) =>
    new IncrementalTracker('updated_at', ['id'], (t) => t, start?.mode === 'incremental' ? start : undefined);

  it('keeps the keys of every row at the last value, and copies them into each state', () => {
    const t = tracker();
    expect(t.state()).toBeUndefined();
    t.observe('1', ['a']);
    t.observe('2', ['b']);
    t.observe('2', ['c']);
    const first = t.state();
    expect(first).toEqual({
      v: 1,
      mode: 'incremental',
      column: 'updated_at',
      keyColumns: ['id'],
      value: '2',
      seen: [['b'], ['c']],
    });
    t.observe('2', ['d']);
    expect(first?.seen).toEqual([['b'], ['c']]);
    t.observe('3', ['a']);
    expect(t.state()).toMatchObject({ value: '3', seen: [['a']] });
  });

  it('continues the seen keys of the state it started from', () => {
    const t = tracker({
      v: 1,
      mode: 'incremental',
      column: 'updated_at',
      keyColumns: ['id'],
      value: '2',
      seen: [['b']],
    });
    t.observe('2', ['c']);
    expect(t.state()).toMatchObject({ value: '2', seen: [['b'], ['c']] });
  });

  it(`switches to the last key past ${MAX_SEEN_KEYS} rows at one value, and back at the next value`, () => {
    const t = tracker();
    for (let i = 0; i < MAX_SEEN_KEYS; i++) t.observe('5', [String(i)]);
    expect((t.state() as { seen: unknown[] }).seen).toHaveLength(MAX_SEEN_KEYS);
    t.observe('5', ['x']);
    expect(t.state()).toMatchObject({ value: '5', after: ['x'] });
    expect(t.state()).not.toHaveProperty('seen');
    t.observe('5', ['y']);
    expect(t.state()).toMatchObject({ after: ['y'] });
    t.observe('6', ['z']);
    expect(t.state()).toMatchObject({ value: '6', seen: [['z']] });
    expect(t.state()).not.toHaveProperty('after');
  });
});

describe('parseReadState', () => {
  it('accepts no state, and both kinds', () => {
    expect(parseReadState(undefined)).toBeUndefined();
    expect(parseReadState(null)).toBeUndefined();
    const full = { v: 1, mode: 'full', keyColumns: [], done: true, rows: 0 };
    expect(parseReadState(full)).toEqual(full);
  });

  it.each<JsonValue>([{ offset: 3 }, { v: 2, mode: 'full' }, 'abc', [1]])(
    'rejects %j, naming state',
    (state) => {
      const error = thrownBy(() => parseReadState(state));
      expect(InflowValidationError.isInstance(error)).toBe(true);
      expect((error as InflowValidationError).issues[0]?.path).toBe('state');
    },
  );
});

describe('nameCandidates', () => {
  it('tries every dot as the schema/table split, and the bare name on the search path', () => {
    expect(nameCandidates('public.orders')).toEqual({ pairs: [['public', 'orders']], bare: 'public.orders' });
    expect(nameCandidates('a.b.c')).toEqual({
      pairs: [
        ['a', 'b.c'],
        ['a.b', 'c'],
      ],
      bare: 'a.b.c',
    });
    expect(nameCandidates('orders')).toEqual({ pairs: [], bare: 'orders' });
  });

  it('reads the quoted SQL form', () => {
    expect(nameCandidates('"My Schema"."Odd ""name"""')).toEqual({
      pairs: [['My Schema', 'Odd "name"']],
      bare: undefined,
    });
    expect(nameCandidates('"Orders"')).toEqual({ pairs: [], bare: 'Orders' });
  });
});

describe('pickColumns', () => {
  it('keeps the order asked, drops repeats, and takes all when none are named', () => {
    expect(
      pickColumns(table, columns, ['updated_at', 'id', 'id'], 'params.columns').map((c) => c.name),
    ).toEqual(['updated_at', 'id']);
    expect(pickColumns(table, columns, [], 'params.columns')).toHaveLength(3);
    expect(pickColumns(table, columns, undefined, 'params.columns')).toHaveLength(3);
  });

  it('names each unknown column and its index', () => {
    const error = thrownBy(() => pickColumns(table, columns, ['id', 'nope', 'x"y'], 'params.columns'));
    expect(InflowValidationError.isInstance(error)).toBe(true);
    const e = error as InflowValidationError;
    expect(e.message).toContain('column "nope", column "x"y" not in table sales.Orders');
    expect(e.message).toContain('its columns: id, amount, updated_at');
    expect(e.issues.map((i) => i.path)).toEqual(['params.columns.1.name', 'params.columns.2.name']);
  });
});

describe('recordBuilder', () => {
  it('builds plain records with every column in order, whatever the names', () => {
    const names = ['id', 'say "hi"', 'back\\slash', 'line\nbreak', '\u2028', '1', 'constructor', ''];
    const build = recordBuilder(names.map((name) => column(name)));
    const record = build(names.map((_, j) => j * 10));
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
    expect(Object.entries(record)).toEqual([
      ['1', 50],
      ...names.filter((n) => n !== '1').map((name) => [name, names.indexOf(name) * 10]),
    ]);
    // Each call makes a new record.
    expect(build(names.map(() => null))).not.toBe(build(names.map(() => null)));
  });

  it('makes a column named __proto__ an own property, never the prototype', () => {
    const build = recordBuilder([column('id'), column('__proto__')]);
    const record = build([1, { polluted: true }]);
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
    expect(Object.keys(record)).toEqual(['id', '__proto__']);
    expect(Object.getOwnPropertyDescriptor(record, '__proto__')?.value).toEqual({ polluted: true });
    expect(JSON.parse(JSON.stringify(record))).toEqual(JSON.parse('{"id":1,"__proto__":{"polluted":true}}'));
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });
});
