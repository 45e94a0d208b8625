import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogOrder } from '../src/routes/catalog.js';
import {
  type CatalogKind,
  type CatalogQuery,
  catalogListSql,
  LOOKUP_ROWS,
  parseCatalogFilter,
  runCatalogList,
} from '../src/routes/catalog-filters.js';
import { type Db, openDb } from '../src/store/db.js';

/**
 * The plans of Catalog listings (decision 0012, addendum "Catalog listings and their plans"): a
 * selective filter the GIN index serves (`dataSet=`, `name=`, `property=x==v`, `tags=k:v`) is
 * looked up through `resources_doc` instead of walking the sandbox; unfiltered and unselective
 * listings keep the ordered walk of `resources_scope_created` with its limit; and whichever plan
 * runs, the page is the one the conditions alone give. Plans are checked on EXPLAIN ANALYZE of the
 * statements the listing really runs, never on time.
 */

const PROD = { orgId: 'o', sandbox: 'prod' };
const DEV = { orgId: 'o', sandbox: 'dev' };
const ODD = { orgId: 'o', sandbox: 'odd' };
/** Another org, holding more objects than a lookup reads that match the listings below. */
const FOREIGN = { orgId: 'x', sandbox: 'prod' };
/** A sandbox of org o with no batches, and one with a few that match. */
const EMPTY = { orgId: 'o', sandbox: 'empty' };
const FEW = { orgId: 'o', sandbox: 'few' };
/** Batches (and datasets) of the sandbox besides the ones a test looks for. */
const OTHERS = 20_000;
/** Datasets the other batches belong to, round robin: 100 batches each. */
const OTHER_DATASETS = 200;

let db: Db;

/** Inserts rows made by a SELECT of (kind, id, doc text, created_at) into `scope`. */
async function insertRows(scope: { orgId: string; sandbox: string }, select: string): Promise<void> {
  await db.query(
    `insert into resources (kind, id, org_id, sandbox, doc, body, etag, created_at, updated_at)
     select r.kind, r.id, $1, $2, r.doc::jsonb, r.doc, '0', r.created, r.created
     from (${select}) as r(kind, id, doc, created)`,
    [scope.orgId, scope.sandbox],
  );
}

/** A batch row of dataset `dataSet` as a SELECT. */
const batchRow = (id: string, dataSet: string, created: number, status: string, flow: string) =>
  `select 'batches', '${id}', '${JSON.stringify({
    id,
    status,
    relatedObjects: [{ type: 'dataSet', id: dataSet }],
    tags: { 'inflow:flowId': [flow], acp_producer: 'inflow' },
    created,
    updated: created + 5,
    recordCount: 3,
  })}', ${created}::bigint`;

beforeAll(async () => {
  db = await openDb(undefined);
  // 20,000 batches of 200 datasets, newer than TARGET's and older than NEWEST's; one in ten failed.
  await insertRows(
    PROD,
    `select 'batches', 'b' || lpad(i::text, 6, '0'),
       json_build_object('id', 'b' || lpad(i::text, 6, '0'),
         'status', case when i % 10 = 0 then 'failed' else 'success' end,
         'relatedObjects', json_build_array(json_build_object('type', 'dataSet', 'id', 'D' || (i % ${OTHER_DATASETS}))),
         'tags', json_build_object('inflow:flowId', json_build_array('flow' || (i % ${OTHER_DATASETS})), 'acp_producer', 'inflow'),
         'created', 10000 + i, 'updated', 10000 + i, 'recordCount', i % 7)::text,
       (10000 + i)::bigint
     from generate_series(0, ${OTHERS - 1}) as i`,
  );
  // TARGET: three old batches, two created at the same time (ties go by id).
  await insertRows(
    PROD,
    [
      batchRow('tA', 'TARGET', 1000, 'success', 'flowT'),
      batchRow('tB', 'TARGET', 1000, 'failed', 'flowT'),
      batchRow('tC', 'TARGET', 1001, 'success', 'flowT'),
      batchRow('nA', 'NEWEST', 900_000, 'success', 'flowN'),
      batchRow('nB', 'NEWEST', 900_001, 'success', 'flowN'),
      batchRow('nC', 'NEWEST', 900_002, 'failed', 'flowN'),
    ].join(' union all '),
  );
  // The same dataset's batches in another sandbox never show in prod.
  await insertRows(DEV, batchRow('devA', 'TARGET', 2000, 'success', 'flowT'));
  await insertRows(
    PROD,
    `select 'dataSets', 'd' || lpad(i::text, 6, '0'),
       json_build_object('id', 'd' || lpad(i::text, 6, '0'), 'name', 'Set ' || i,
         'tags', json_build_object('team', json_build_array('x' || (i % 100))), 'created', 10000 + i)::text,
       (10000 + i)::bigint
     from generate_series(0, ${OTHERS - 1}) as i
     union all select 'dataSets', 'dT', '{"id":"dT","name":"Target set","tags":{"team":["t"]},"created":1000}', 1000`,
  );
  // Odd values, to check that what the GIN index finds holds every object the conditions keep.
  const odd: [string, string][] = [
    ['o01', '{"id":"o01","name":5.0,"recordCount":5.0}'],
    ['o02', '{"id":"o02","name":true,"recordCount":"5"}'],
    ['o03', '{"id":"o03","name":"Promo * 2024","score":1e2}'],
    ['o04', '{"id":"o04","name":"Promo 2024","tags":{"a":["b:c"]}}'],
    ['o05', '{"id":"o05","name":["5"],"tags":{"a:b":["c"]}}'],
    ['o06', '{"id":"o06","tags":{"k":7}}'],
    ['o07', '{"id":"o07","tags":{"k":["7.0"]}}'],
    ['o08', '{"id":"o08","tags":{"k":[7.0]}}'],
    ['o09', '{"id":"o09","tags":{"k":[{"a":1}]}}'],
    ['o10', '{"id":"o10","tags":{"k":[true,"x"]}}'],
    ['o11', '{"id":"o11","tags":{"acp_x":"v"}}'],
    ['o12', '{"id":"o12","tags":{"k":["*"],"k:*":["1"]}}'],
    ['o13', '{"id":"o13","name":"5","score":100.0,"tags":{"k":"true"}}'],
  ];
  // Org x: LOOKUP_ROWS + 1,000 successful batches of version 1.0.0, all of dataset FOREIGN.
  await insertRows(
    FOREIGN,
    `select 'batches', 'x' || i,
       json_build_object('id', 'x' || i, 'status', 'success', 'version', '1.0.0',
         'relatedObjects', json_build_array(json_build_object('type', 'dataSet', 'id', 'FOREIGN')),
         'tags', json_build_object('acp_producer', 'inflow'), 'created', 10000 + i, 'updated', 10000 + i)::text,
       (10000 + i)::bigint
     from generate_series(0, ${LOOKUP_ROWS + 999}) as i`,
  );
  // FEW: 3 of 30 batches match.
  await insertRows(
    FEW,
    `select 'batches', 'f' || lpad(i::text, 2, '0'),
       json_build_object('id', 'f' || lpad(i::text, 2, '0'),
         'status', case when i % 10 = 0 then 'success' else 'failed' end,
         'version', case when i % 10 = 0 then '1.0.0' else '0.9' end,
         'relatedObjects', json_build_array(json_build_object('type', 'dataSet', 'id', case when i % 10 = 0 then 'FOREIGN' else 'F' end)),
         'tags', json_build_object('acp_producer', case when i % 10 = 0 then 'inflow' else 'other' end),
         'created', 3000 + i, 'updated', 4000 - i)::text,
       (3000 + i)::bigint
     from generate_series(0, 29) as i`,
  );
  await insertRows(
    ODD,
    odd
      .map(([id, doc], n) => `select 'dataSets', '${id}', '${doc}', ${5000 + n}::bigint`)
      .join(' union all '),
  );
}, 120_000);
afterAll(async () => {
  await db.close();
});

/** `db` whose listing statements also run as EXPLAIN ANALYZE, their plans pushed to `plans`. */
function explaining(target: Db, plans: string[]): Db {
  type Queryable = { query: (text: string, params?: unknown[]) => Promise<{ rows: unknown[] }> };
  const wrap = <T extends object>(inner: T): T =>
    new Proxy(inner, {
      get(obj, prop) {
        if (prop === 'query') {
          return async (text: string, params?: unknown[]) => {
            const q = obj as unknown as Queryable;
            const res = await q.query(text, params);
            if (/\bfrom resources\b/.test(text)) {
              const plan = await q.query(`explain (analyze) ${text}`, params);
              plans.push(plan.rows.map((r) => (r as Record<string, string>)['QUERY PLAN']).join('\n'));
            }
            return res;
          };
        }
        if (prop === 'transaction') {
          return (fn: (tx: object) => Promise<unknown>) =>
            (
              obj as unknown as { transaction: (f: (tx: object) => Promise<unknown>) => Promise<unknown> }
            ).transaction((tx) => fn(wrap(tx)));
        }
        const value = Reflect.get(obj, prop, obj);
        return typeof value === 'function' ? value.bind(obj) : value;
      },
    });
  return wrap(target);
}

type Scope = { orgId: string; sandbox: string };

/** A listing as the route runs it: its ids in order, and the plans of the statements it ran. */
async function list(kind: CatalogKind, query: CatalogQuery, scope: Scope = PROD) {
  const plans: string[] = [];
  const rows = await runCatalogList(
    explaining(db, plans),
    kind,
    scope,
    parseCatalogFilter(kind, query),
    catalogOrder(kind, query.orderBy),
    { start: Number(query.start ?? 0), limit: Number(query.limit ?? 20) },
  );
  const text = plans.join('\n');
  const removed = [...text.matchAll(/Rows Removed by Filter: (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
  return { ids: rows.map(([id]) => id), plans, text, removed };
}

/**
 * The same page from the conditions alone: the plain statement, every object of the scope read
 * in a sequential scan and sorted, whatever the indexes hold.
 */
async function truth(kind: CatalogKind, query: CatalogQuery, scope: Scope = PROD): Promise<string[]> {
  const sql = catalogListSql(
    kind,
    scope,
    parseCatalogFilter(kind, query),
    catalogOrder(kind, query.orderBy),
    { start: Number(query.start ?? 0), limit: Number(query.limit ?? 20) },
  );
  const res = await db.transaction(async (tx) => {
    await tx.exec('set local enable_indexscan = off; set local enable_bitmapscan = off');
    return tx.query<{ id: string }>(sql.text, sql.params);
  });
  return res.rows.map((r) => r.id);
}

/** Selective listings, with what the generator says they return. */
const SELECTIVE: [CatalogKind, CatalogQuery, string[]][] = [
  ['batches', { dataSet: 'TARGET', orderBy: 'desc:created', limit: '1' }, ['tC']],
  ['batches', { dataSet: 'TARGET' }, ['tA', 'tB', 'tC']],
  ['batches', { dataSet: 'TARGET', orderBy: 'desc:created', start: '1', limit: '5' }, ['tB', 'tA']],
  ['batches', { dataSet: 'NEWEST', orderBy: 'asc:created', limit: '2' }, ['nA', 'nB']],
  ['batches', { dataSet: 'TARGET', status: 'failed' }, ['tB']],
  ['batches', { tags: 'inflow:flowId:flowT', orderBy: 'desc:created', limit: '1' }, ['tC']],
  ['batches', { dataSet: 'TARGET', orderBy: 'desc:updated' }, ['tC', 'tB', 'tA']],
  ['dataSets', { name: 'Target set', orderBy: 'desc:created', limit: '1' }, ['dT']],
  ['dataSets', { property: 'name==Target set', orderBy: 'desc:created', limit: '1' }, ['dT']],
  ['dataSets', { tags: 'team:t', orderBy: 'desc:created', limit: '1' }, ['dT']],
  ['dataSets', { name: 'Target set' }, ['dT']],
];

/** Listings whose filter keeps many rows at the top of the order, or has none. */
const UNSELECTIVE: [CatalogKind, CatalogQuery][] = [
  ['batches', { orderBy: 'desc:created', limit: '20' }],
  ['batches', { limit: '20' }],
  ['batches', { status: 'success', orderBy: 'desc:created', limit: '20' }],
  ['batches', { status: 'failed', orderBy: 'desc:created', limit: '20' }],
  ['dataSets', { orderBy: 'desc:created', limit: '100' }],
];

function checkPlans(label: string) {
  describe(label, () => {
    it('a selective filter is looked up through resources_doc, reading a few hundred rows, not the sandbox', async () => {
      for (const [kind, query, expected] of SELECTIVE) {
        const got = await list(kind, query);
        const what = `${kind} ${JSON.stringify(query)}\n${got.text}`;
        expect(got.ids, what).toEqual(expected);
        expect(got.text, what).toContain('Bitmap Index Scan on resources_doc');
        expect(got.text, what).not.toMatch(/Seq Scan|Bitmap Index Scan on resources_(pkey|scope)/);
        // At most the rows of a walk (50 per row the page needs, at least 500), then the
        // matches: never the 20,000 others.
        const needed = Number(query.start ?? 0) + Number(query.limit ?? 20);
        expect(got.removed, what).toBeLessThanOrEqual(Math.max(500, 50 * needed) + 10);
      }
    });

    it('unfiltered and unselective listings keep the ordered walk of resources_scope_created with its limit', async () => {
      for (const [kind, query] of UNSELECTIVE) {
        const got = await list(kind, query);
        const what = `${kind} ${JSON.stringify(query)}\n${got.text}`;
        expect(got.ids, what).toEqual(await truth(kind, query));
        expect(got.plans, what).toHaveLength(1);
        expect(got.text, what).toMatch(/Index Scan (Backward )?using resources_scope_created/);
        // No sort of the scope, no lookup: the walk stops as soon as the page is full.
        expect(got.text, what).not.toMatch(/Sort|Bitmap|Seq Scan/);
        expect(got.removed, what).toBeLessThan(500);
      }
    });
  });
}

/**
 * Rows the plans read from `resources`: what each scan of the table returned, plus the rows it
 * dropped itself (`Rows Removed by Filter` or `by Index Recheck` under it).
 */
function rowsRead(plans: string[]): number {
  let total = 0;
  for (const plan of plans) {
    let inScan = false;
    for (const line of plan.split('\n')) {
      const node = /^\s*(?:->\s+)?(.*?)\s+\(cost=.*actual time=\S+ rows=([\d.]+) loops=(\d+)/.exec(line);
      if (node) {
        inScan = /\bScan\b.* on resources\b/.test(node[1] ?? '');
        if (inScan) total += Number(node[2]) * Number(node[3]);
        continue;
      }
      const removed = /Rows Removed by (?:Filter|Index Recheck): (\d+)/.exec(line);
      if (inScan && removed) total += Number(removed[1]);
    }
  }
  return total;
}

/** Listings another org's objects match by the thousand (FOREIGN), run from org o. */
const FOREIGN_MATCHES: [CatalogQuery, string[]][] = [
  [{ status: 'success' }, ['f00', 'f10', 'f20']],
  [{ tags: 'acp_producer:inflow', orderBy: 'desc:updated' }, ['f00', 'f10', 'f20']],
  [{ version: '1.0.0' }, ['f00', 'f10', 'f20']],
  [{ dataSet: 'FOREIGN', orderBy: 'desc:created', limit: '2' }, ['f20', 'f10']],
  [{ status: 'success', orderBy: 'desc:created', limit: '20' }, ['f20', 'f10', 'f00']],
];

function checkForeign(label: string) {
  it(`another org's matching objects cost a listing at most LOOKUP_ROWS rows read (${label})`, async () => {
    for (const [query, few] of FOREIGN_MATCHES) {
      for (const [scope, expected] of [
        [EMPTY, []],
        [FEW, few],
      ] as [Scope, string[]][]) {
        const got = await list('batches', query, scope);
        const what = `${scope.sandbox} ${JSON.stringify(query)}\n${got.text}`;
        expect(got.ids, what).toEqual(expected);
        expect(await truth('batches', query, scope), what).toEqual(expected);
        // The lookup reads at most LOOKUP_ROWS + 1 objects of any scope; the walk before it
        // and the planner's plan after it read the sandbox's own (30 in FEW) at most: never
        // the other org's 6,000.
        expect(rowsRead(got.plans), what).toBeLessThanOrEqual(LOOKUP_ROWS + 1 + 2 * 30);
      }
    }
  });
}

checkPlans('before the planner has statistics on the rows');
describe('before the planner has statistics on the rows', () => checkForeign('stale'));

describe('with fresh statistics', () => {
  beforeAll(async () => {
    await db.exec('analyze resources');
  });
  checkPlans('after analyze');
  checkForeign('analyzed');
});

describe('whichever plan runs, the page is the one the conditions alone give', () => {
  it('in every order, paging with start and limit, and with other filters alongside', async () => {
    const queries: [CatalogKind, CatalogQuery][] = [
      ...SELECTIVE.map(([kind, query]) => [kind, query] as [CatalogKind, CatalogQuery]),
      ...UNSELECTIVE,
      ['batches', { dataSet: 'TARGET,NEWEST', orderBy: 'desc:created' }],
      ['batches', { dataSet: 'D5', orderBy: 'asc:created', limit: '20' }],
      ['batches', { dataSet: 'D5', orderBy: 'desc:created', limit: '1' }],
      ['batches', { dataSet: 'D5', orderBy: 'desc:recordCount', limit: '20' }],
      ['batches', { dataSet: 'D5', createdAfter: '15000', orderBy: 'desc:created', limit: '100' }],
      ['batches', { dataSet: 'TARGET', property: 'status~^fail' }],
      ['batches', { dataSet: 'TARGET', properties: 'status,relatedObjects' }],
      ['batches', { dataSet: '!TARGET', orderBy: 'desc:created', limit: '5' }],
      ['batches', { batch: 'tA,nC', dataSet: 'TARGET' }],
      ['batches', { status: 'failed', orderBy: 'desc:created', start: '4000', limit: '100' }],
      ['batches', { recordCount: '3', orderBy: 'desc:created', limit: '10' }],
      ['batches', { tags: 'acp_producer:inflow', orderBy: 'desc:created', limit: '5' }],
      ['dataSets', { name: 'Target*' }],
      ['dataSets', { name: 'Set 19999,Target set', orderBy: 'asc:created' }],
      ['dataSets', { tags: 'team:x5', orderBy: 'desc:created', limit: '30' }],
      ['dataSets', { tags: 'team:x5', orderBy: 'desc:name', limit: '30' }],
    ];
    for (const [kind, query] of queries) {
      const got = await list(kind, query);
      expect(got.ids, `${kind} ${JSON.stringify(query)}\n${got.text}`).toEqual(await truth(kind, query));
    }
    // The datasets' batches in another sandbox are not found, though they hold the same link.
    expect((await list('batches', { dataSet: 'TARGET' }, DEV)).ids).toEqual(['devA']);
  });

  it('paging through a dataset 7 at a time gives its 100 batches once each, newest first', async () => {
    const ids: string[] = [];
    for (let start = 0; start < 110; start += 7) {
      ids.push(
        ...(await list('batches', { dataSet: 'D5', orderBy: 'desc:created', start: `${start}`, limit: '7' }))
          .ids,
      );
    }
    const expected = Array.from(
      { length: OTHERS / OTHER_DATASETS },
      (_, n) => OTHERS - OTHER_DATASETS + 5 - n * OTHER_DATASETS,
    ).map((i) => `b${String(i).padStart(6, '0')}`);
    expect(ids).toEqual(expected);
    expect(await truth('batches', { dataSet: 'D5', orderBy: 'desc:created', limit: '100' })).toEqual(
      expected,
    );
  });

  it('numbers, booleans, literal stars and tag names holding colons are found as the conditions read them', async () => {
    const cases: [CatalogQuery, string[]][] = [
      [{ name: '5' }, ['o01', 'o13']],
      [{ property: 'name==5.00' }, ['o01']],
      [{ name: 'true' }, ['o02']],
      [{ name: 'Promo ** 2024' }, ['o03']],
      [{ recordCount: '5' }, ['o01', 'o02']],
      [{ score: '1e2' }, ['o03', 'o13']],
      [{ tags: 'a:b:c' }, ['o04', 'o05']],
      [{ tags: 'k:7' }, ['o06']],
      [{ tags: 'k:7.0' }, ['o07', 'o08']],
      [{ tags: 'k:{"a": 1}' }, ['o09']],
      [{ tags: 'k:true' }, ['o10', 'o13']],
      [{ tags: 'k:x' }, ['o10']],
      [{ tags: 'acp_x:v' }, ['o11']],
      [{ tags: 'k:**' }, ['o12']],
      [{ tags: 'k:*:1' }, ['o12']],
    ];
    for (const [query, expected] of cases) {
      const got = await list('dataSets', { ...query, limit: '100' }, ODD);
      const what = `${JSON.stringify(query)}\n${got.text}`;
      expect(await truth('dataSets', { ...query, limit: '100' }, ODD), what).toEqual(expected);
      expect(got.ids, what).toEqual(expected);
    }
  });
});
