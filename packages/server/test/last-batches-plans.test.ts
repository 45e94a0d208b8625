import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, openDb } from '../src/store/db.js';
import { backfillLastBatches, LAST_BATCH_FIELDS, ResourceStore, type Scope } from '../src/store/resources.js';

/*
 * The plans of `GET /lastBatches` and of the backfill at open (decision 0012, addendum
 * "GET /lastBatches in three index lookups"): each named dataset costs a primary key lookup and
 * three backward walks of `resources_batch_dataset`, `_success` and `_failed` that stop at their
 * first entry, so the rows read do not grow with the dataset's batches. Checked on EXPLAIN ANALYZE
 * of the statements the store really runs, before and after `analyze`, never on time.
 */

const PROD: Scope = { orgId: 'o', sandbox: 'prod' };
const DEV: Scope = { orgId: 'o', sandbox: 'dev' };
/** Batches of BIG and of SMALL: the same lookups must read the same rows for both. */
const BIG_BATCHES = 5000;
const SMALL_BATCHES = 50;
/** Other datasets of the sandbox, with 50 batches each (one in ten failed). */
const FILLERS = 100;

let db: Db;

/** Inserts rows made by a SELECT of (kind, id, doc text, created_at) into `scope`. */
async function insertRows(scope: Scope, select: string): Promise<void> {
  await db.query(
    `insert into resources (kind, id, org_id, sandbox, doc, body, etag, created_at, updated_at)
     select r.kind, r.id, $1, $2, r.doc::jsonb, r.doc, '0', r.created, r.created
     from (${select}) as r(kind, id, doc, created)`,
    [scope.orgId, scope.sandbox],
  );
}

/**
 * `count` batches of `dataSet` as a SELECT, ids `{prefix}00000`…, created 1000 + n; every tenth
 * failed (n % 10 = 3), the others successful. Shaped as the lake writes them (writer.ts `record`).
 */
const batches = (prefix: string, dataSet: string, count: number) =>
  `select 'batches', '${prefix}' || lpad(n::text, 5, '0'),
     json_build_object('id', '${prefix}' || lpad(n::text, 5, '0'),
       'status', case when n % 10 = 3 then 'failed' else 'success' end,
       'tags', json_build_object('acp_producer', json_build_array('inflow')),
       'relatedObjects', json_build_array(json_build_object('type', 'dataSet', 'id', '${dataSet}')),
       'created', 1000 + n, 'updated', 1005 + n, 'recordCount', 3)::text,
     (1000 + n)::bigint
   from generate_series(0, ${count - 1}) as n`;

/** One batch as a SELECT. */
const batch = (id: string, dataSet: string, created: number, status: string) =>
  `select 'batches', '${id}', '${JSON.stringify({
    id,
    status,
    relatedObjects: [{ type: 'dataSet', id: dataSet }],
    created,
    updated: created + 5,
  })}', ${created}::bigint`;

const dataset = (id: string) => `select 'dataSets', '${id}', '{"id":"${id}","name":"${id}"}', 1::bigint`;

beforeAll(async () => {
  db = await openDb(undefined);
  await insertRows(PROD, batches('big', 'BIG', BIG_BATCHES));
  await insertRows(PROD, batches('small', 'SMALL', SMALL_BATCHES));
  for (let i = 0; i < FILLERS; i++) await insertRows(PROD, batches(`f${i}x`, `F${i}`, 50));
  await insertRows(
    PROD,
    [
      // The newest two of BIG share their `created`: "biga" is the newest ("a" after "Z" in
      // code point order).
      batch('bigZ', 'BIG', 900_000, 'failed'),
      batch('biga', 'BIG', 900_000, 'success'),
      batch('ok1', 'NEVERFAILED', 2000, 'success'),
      batch('ok2', 'NEVERFAILED', 2001, 'success'),
      // A batch of a status other than success and failed counts only as the newest.
      batch('run1', 'RUNNING', 3000, 'success'),
      batch('run2', 'RUNNING', 3001, 'loading'),
    ].join(' union all '),
  );
  // Newer batches in another sandbox that name BIG: they are not BIG's batches in prod.
  await insertRows(DEV, batch('devBig', 'BIG', 990_000, 'failed'));
  await insertRows(
    PROD,
    [
      ...['BIG', 'SMALL', 'NEVERFAILED', 'RUNNING', 'NOBATCH'].map(dataset),
      `select 'dataSets', 'F' || i, json_build_object('id', 'F' || i)::text, 1::bigint
       from generate_series(0, ${FILLERS - 1}) as i`,
      // Datasets without a batch, so that reading every dataset would show.
      `select 'dataSets', 'E' || i, json_build_object('id', 'E' || i)::text, 1::bigint
       from generate_series(0, 4999) as i`,
    ].join(' union all '),
  );
}, 120_000);
afterAll(async () => {
  await db.close();
});

type Queryable = {
  query: (text: string, params?: unknown[]) => Promise<unknown>;
  exec: (text: string) => Promise<unknown>;
};

/**
 * `target` whose statements on `resources` are first run as EXPLAIN ANALYZE and rolled back (so
 * an update is measured on the rows it would change), their plans pushed to `plans`, then run.
 */
function explaining(target: Db, plans: string[]): Db {
  const wrap = <T extends object>(inner: T, inTransaction: boolean): T =>
    new Proxy(inner, {
      get(obj, prop) {
        if (prop === 'query') {
          return async (text: string, params?: unknown[]) => {
            const q = obj as unknown as Queryable;
            if (/\bresources\b/.test(text)) {
              await q.exec(inTransaction ? 'savepoint plan_probe' : 'begin');
              try {
                const plan = (await q.query(`explain (analyze, costs off, timing off) ${text}`, params)) as {
                  rows: Record<string, string>[];
                };
                plans.push(plan.rows.map((r) => r['QUERY PLAN']).join('\n'));
              } finally {
                await q.exec(inTransaction ? 'rollback to savepoint plan_probe' : 'rollback');
              }
            }
            return q.query(text, params);
          };
        }
        if (prop === 'transaction') {
          return (fn: (tx: object) => Promise<unknown>) =>
            (
              obj as unknown as { transaction: (f: (tx: object) => Promise<unknown>) => Promise<unknown> }
            ).transaction((tx) => fn(wrap(tx, true)));
        }
        const value = Reflect.get(obj, prop, obj);
        return typeof value === 'function' ? value.bind(obj) : value;
      },
    });
  return wrap(target, false);
}

/** A scan node of a plan: its line (without the arrow), rows returned per loop, loops. */
interface ScanNode {
  line: string;
  rows: number;
  loops: number;
  /** The line of the node above it. */
  parent: string;
}

function scansOf(plan: string): ScanNode[] {
  const lines = plan.split('\n');
  const nodes: ScanNode[] = [];
  lines.forEach((line, i) => {
    if (!/Scan\b.* on resources\b/.test(line)) return;
    const m = /actual rows=([\d.]+) loops=(\d+)/.exec(line);
    if (!m) throw new Error(`no actual rows in ${line}`);
    const indent = line.search(/\S/);
    let p = i - 1;
    while (p >= 0 && (lines[p] as string).search(/\S/) >= indent) p--;
    nodes.push({
      line: line.trim().replace(/^->\s+/, ''),
      rows: Number(m[1]),
      loops: Number(m[2]),
      parent: (lines[p] ?? '').trim().replace(/^->\s+/, ''),
    });
  });
  return nodes;
}

/** The scans of batches: the lookups' alias is `b` (`b_1`, `b_2` once the planner numbers them). */
const batchScans = (plan: string) => scansOf(plan).filter((n) => / on resources b(_\d+)?\b/.test(n.line));

/** The three indexes, in sorted order. */
const LOOKUPS = [
  'resources_batch_dataset',
  'resources_batch_dataset_failed',
  'resources_batch_dataset_success',
];

/**
 * Each batch lookup is a backward walk of one of the three indexes under a Limit, returning at
 * most one row per loop; nothing reads a dataset's batches any other way.
 */
function expectBoundedLookups(plan: string): ScanNode[] {
  expect(plan).not.toMatch(/Sort|Bitmap|Seq Scan|resources_doc|resources_scope_created/);
  const scans = batchScans(plan);
  expect(scans.map((n) => /using (\S+)/.exec(n.line)?.[1]).sort(), plan).toEqual(LOOKUPS);
  for (const n of scans) {
    expect(n.line, plan).toMatch(/^Index Scan Backward using resources_batch_dataset/);
    expect(n.parent, plan).toMatch(/^Limit\b/);
    expect(n.rows, plan).toBeLessThanOrEqual(1);
  }
  expect(plan).not.toMatch(/Rows Removed by Filter/);
  return scans;
}

/** `lastBatches` as the route runs it, with the plans of what it ran. */
async function lastBatches(ids: string[], scope: Scope = PROD) {
  const plans: string[] = [];
  const entries = await new ResourceStore(explaining(db, plans)).lastBatches(scope, ids);
  expect(plans).toHaveLength(1);
  return { entries, plan: plans[0] as string };
}

function checkPlans(label: string) {
  describe(label, () => {
    it('per named dataset: a primary key lookup and three backward index walks stopping at their first row', async () => {
      const { entries, plan } = await lastBatches([
        'BIG',
        'NOBATCH',
        'SMALL',
        'unknown',
        'NEVERFAILED',
        'RUNNING',
      ]);
      expect(entries).toEqual([
        {
          dataSetId: 'BIG',
          lastBatchId: 'biga',
          lastBatchStatus: 'success',
          created: 900_000,
          updated: 900_005,
          lastSuccessfulBatchId: 'biga',
          lastFailedBatchId: 'bigZ',
        },
        {
          dataSetId: 'SMALL',
          lastBatchId: 'small00049',
          lastBatchStatus: 'success',
          created: 1049,
          updated: 1054,
          lastSuccessfulBatchId: 'small00049',
          lastFailedBatchId: 'small00043',
        },
        {
          dataSetId: 'NEVERFAILED',
          lastBatchId: 'ok2',
          lastBatchStatus: 'success',
          created: 2001,
          updated: 2006,
          lastSuccessfulBatchId: 'ok2',
          lastFailedBatchId: undefined,
        },
        {
          dataSetId: 'RUNNING',
          lastBatchId: 'run2',
          lastBatchStatus: 'loading',
          created: 3001,
          updated: 3006,
          lastSuccessfulBatchId: 'run1',
          lastFailedBatchId: undefined,
        },
      ]);
      const scans = expectBoundedLookups(plan);
      // The newest batch is looked for once per dataset found (not for unknown ids).
      expect(scans.find((n) => / using resources_batch_dataset on /.test(n.line))?.loops, plan).toBe(5);
      // Every scan of `resources`, datasets included, returns at most one row per loop: the
      // datasets are looked up by id, never read as a whole.
      for (const n of scansOf(plan)) expect(n.rows, plan).toBeLessThanOrEqual(1);
    });

    it('the rows read are the same for a dataset of 5,000 batches as for one of 50', async () => {
      const big = await lastBatches(['BIG']);
      const small = await lastBatches(['SMALL']);
      const what = `${big.plan}\n${small.plan}`;
      // Batch rows read: rows returned by each scan of batches, over all its loops.
      const read = (plan: string) => batchScans(plan).reduce((sum, n) => sum + n.rows * n.loops, 0);
      expect(read(big.plan), what).toBe(read(small.plan));
      expect(read(big.plan), what).toBe(3);
      const walks = (plan: string) =>
        expectBoundedLookups(plan).map(
          (n) => `${/using (\S+)/.exec(n.line)?.[1]} rows=${n.rows} loops=${n.loops}`,
        );
      expect(walks(big.plan).sort(), what).toEqual(LOOKUPS.map((i) => `${i} rows=1 loops=1`));
      expect(walks(small.plan).sort(), what).toEqual(walks(big.plan).sort());
    });

    it('a request naming 100 datasets: 100 lookups of each kind, each bounded', async () => {
      const ids = ['BIG', 'SMALL', ...Array.from({ length: 98 }, (_, i) => `F${i}`)];
      const { entries, plan } = await lastBatches(ids);
      expect(entries.map((e) => e.dataSetId)).toEqual(ids);
      expect(entries[2]).toMatchObject({ lastBatchId: 'f0x00049', lastFailedBatchId: 'f0x00043' });
      const scans = expectBoundedLookups(plan);
      for (const n of scans) expect(n.loops, plan).toBe(100);
      for (const n of scansOf(plan)) expect(n.rows, plan).toBeLessThanOrEqual(1);
    });

    it('batches of another sandbox that name the dataset are not among its batches', async () => {
      const { entries, plan } = await lastBatches(['BIG']);
      expect(entries[0]?.lastBatchId).toBe('biga');
      expectBoundedLookups(plan);
    });
  });
}

checkPlans('before the planner has statistics on the rows');

describe('with fresh statistics', () => {
  beforeAll(async () => {
    await db.exec('analyze resources');
  });
  checkPlans('after analyze');
});

describe('the backfill when the store opens', () => {
  it('looks up each dataset lacking the fields by the same three index walks, never reading its batches', async () => {
    // Every dataset here was stored without the fields: 5,105 of them, 104 with batches.
    const plans: string[] = [];
    expect(await backfillLastBatches(explaining(db, plans))).toBe(FILLERS + 4);
    expect(plans).toHaveLength(1);
    const plan = plans[0] as string;
    const scans = batchScans(plan);
    expect(scans.map((n) => /using (\S+)/.exec(n.line)?.[1]).sort(), plan).toEqual(LOOKUPS);
    expect(plan).not.toMatch(/resources_doc/);
    for (const n of scans) {
      expect(n.line, plan).toMatch(/^Index Scan Backward using resources_batch_dataset/);
      expect(n.parent, plan).toMatch(/^Limit\b/);
      expect(n.rows, plan).toBeLessThanOrEqual(1);
    }
    const fields = await db.query<{ id: string; fields: Record<string, string> }>(
      `select id, jsonb_build_object('a', doc -> $1::text, 'b', doc -> $2::text, 'c', doc -> $3::text) as fields
       from resources where kind = 'dataSets' and id in ('BIG', 'NEVERFAILED', 'NOBATCH') order by id`,
      [...LAST_BATCH_FIELDS],
    );
    expect(fields.rows).toEqual([
      { id: 'BIG', fields: { a: 'biga', b: 'success', c: 'biga' } },
      { id: 'NEVERFAILED', fields: { a: 'ok2', b: 'success', c: 'ok2' } },
      { id: 'NOBATCH', fields: { a: null, b: null, c: null } },
    ]);
  });
});

describe('the dataset of a batch, as the indexes read it', () => {
  it('a batch document without a usable dataset link is stored all the same, and belongs to no dataset', async () => {
    const store = new ResourceStore(db);
    await store.insert('dataSets', DEV, { id: 'ODD' }, '0', 1);
    const odd: Record<string, unknown>[] = [
      {},
      { relatedObjects: 'ODD' },
      { relatedObjects: [7, null, 'x', { type: 7, id: 'ODD' }, { type: 'dataSet' }] },
      { relatedObjects: [{ type: 'dataSet', id: { id: 'ODD' } }] },
      { relatedObjects: [{ type: 'dataSet', id: ['ODD'] }] },
      { relatedObjects: [{ type: 'dataSets', id: 'ODD' }] },
    ];
    for (const [n, doc] of odd.entries()) {
      await store.insert('batches', DEV, { ...doc, id: `odd${n}`, status: 'success' }, '0', 5000 + n);
    }
    expect(await store.get('batches', DEV, `odd${odd.length - 1}`)).toBeDefined();
    expect(await store.lastBatches(DEV, ['ODD'])).toEqual([]);
  });
});
