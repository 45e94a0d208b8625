import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowProblem } from '../src/errors.js';
import { type Db, openDb } from '../src/store/db.js';
import {
  buildListSql,
  type ListQuery,
  type ListResult,
  type ListScope,
  type ListSpec,
  listResources,
} from '../src/store/list-query.js';

const SCOPE: ListScope = { orgId: 'orgA', sandbox: 'prod' };
const FLOWS: ListSpec = {
  kind: 'flows',
  basePath: '/flows',
  fields: [
    'id',
    'name',
    'description',
    'state',
    'priority',
    'sourceConnectionIds',
    'transformations',
    'inheritedAttributes',
    'metrics',
    'createdAt',
    'updatedAt',
  ],
};
const PAGES: ListSpec = {
  kind: 'pages',
  basePath: '/pages',
  fields: ['id', 'group', 'createdAt', 'updatedAt'],
  extraParams: ['x'],
};
const BULK: ListSpec = {
  kind: 'bulk',
  basePath: '/bulk',
  fields: ['id', 'name', 'state', 'createdAt', 'updatedAt'],
};

const T0 = 1583971856947;

interface Row {
  id: string;
  createdAt: number;
  updatedAt: number;
  [key: string]: unknown;
}

/** Five flows in orgA/prod; ids sort in creation order. */
const FLOW_ROWS: Row[] = [
  {
    id: 'f1',
    name: 'amazon-s3',
    state: 'enabled',
    createdAt: T0,
    updatedAt: T0 + 500,
    sourceConnectionIds: ['s1', 's2'],
    transformations: [
      { name: 'Mapping', params: { mappingId: 'm1', mappingVersion: 0 } },
      { name: 'Delay', params: { delay: 5 } },
    ],
    inheritedAttributes: { properties: { isSourceFlow: true } },
    metrics: { durationSummary: { startedAtUTC: 1593134665781 } },
  },
  {
    id: 'f2',
    name: 'a,b',
    state: 'disabled',
    description: 'x==y<z>w',
    createdAt: T0 + 1000,
    updatedAt: T0 + 1500,
    sourceConnectionIds: ['s3'],
    transformations: [{ name: 'Mapping', params: { mappingId: 'm2', mappingVersion: 3 } }],
    inheritedAttributes: { properties: { isSourceFlow: false } },
    metrics: { durationSummary: { startedAtUTC: 1593134665000 } },
  },
  {
    id: 'f3',
    name: '123',
    state: 'enabled',
    createdAt: T0 + 2000,
    updatedAt: T0 + 2500,
    sourceConnectionIds: [],
    transformations: [],
    inheritedAttributes: { properties: { isSourceFlow: 'true' } },
  },
  {
    id: 'f4',
    name: 'zeta',
    state: 'enabled',
    description: 'a<=b',
    priority: 123,
    createdAt: T0 + 3000,
    updatedAt: T0 + 3500,
  },
  { id: 'f5', name: 'beta', description: 'say "hi"', priority: 7, createdAt: T0 + 4000, updatedAt: T0 - 100 },
];

/** 25 rows with createdAt ties (three per value) and a `group` with few distinct values. */
const PAGE_ROWS: Row[] = Array.from({ length: 25 }, (_, i) => ({
  id: `p${String(i).padStart(2, '0')}`,
  createdAt: 1000 + Math.floor(i / 3),
  updatedAt: 5000 - i,
  ...(i % 5 === 4 ? {} : { group: i % 2 === 0 ? 'even' : 'odd' }),
}));

let db: Db;

async function insert(kind: string, scope: ListScope, row: Row): Promise<void> {
  await db.query(
    `insert into resources (kind, id, org_id, sandbox, doc, etag, created_at, updated_at)
     values ($1, $2, $3, $4, $5::jsonb, 'etag', $6, $7)`,
    [kind, row.id, scope.orgId, scope.sandbox, JSON.stringify(row), row.createdAt, row.updatedAt],
  );
}

beforeAll(async () => {
  db = await openDb(undefined);
  for (const row of FLOW_ROWS) await insert('flows', SCOPE, row);
  // The same name in another org, another sandbox and another kind must never leak.
  const twin = { id: 'x1', name: 'amazon-s3', state: 'enabled', createdAt: T0, updatedAt: T0 };
  await insert('flows', { orgId: 'orgB', sandbox: 'prod' }, twin);
  await insert('flows', { orgId: 'orgA', sandbox: 'dev' }, { ...twin, id: 'x2' });
  await insert('connections', SCOPE, { ...twin, id: 'x3' });
  for (const row of PAGE_ROWS) await insert('pages', SCOPE, row);
  await db.exec(`
    insert into resources (kind, id, org_id, sandbox, doc, etag, created_at, updated_at)
    select 'bulk', 'b' || i, 'orgA', 'prod',
      jsonb_build_object('id', 'b' || i, 'name', 'n' || i, 'state', case when i % 100 = 0 then 'rare' else 'common' end,
        'createdAt', i, 'updatedAt', i),
      'etag', i, i
    from generate_series(1, 3000) as i
  `);
  // PGlite has no autovacuum: flush the GIN pending list and gather stats, as a maintenance run would.
  await db.exec('vacuum analyze resources');
}, 30_000);

afterAll(async () => {
  await db?.close();
});

function list(query: ListQuery, spec: ListSpec = FLOWS, scope: ListScope = SCOPE): Promise<ListResult> {
  return listResources(db, spec, scope, query);
}

function page(result: ListResult): { items: Row[]; next: string | undefined; links: object } {
  if (!('items' in result)) throw new Error('expected a page, got a count');
  return { items: result.items as Row[], next: result._links.next?.href, links: result._links };
}

async function ids(query: ListQuery, spec: ListSpec = FLOWS, scope: ListScope = SCOPE): Promise<string[]> {
  return page(await list(query, spec, scope)).items.map((r) => r.id);
}

/** ids for one filter, default order (newest first). */
function where(...property: string[]): Promise<string[]> {
  return ids({ property });
}

async function problem(query: ListQuery, spec: ListSpec = FLOWS): Promise<FlowProblem> {
  const error = await list(query, spec).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FlowProblem);
  const p = error as FlowProblem;
  expect(p.status).toBe(400);
  return p;
}

async function expectProblem(query: ListQuery, code: string, message: string, spec: ListSpec = FLOWS) {
  const p = await problem(query, spec);
  expect({ code: p.code, message: p.message }).toEqual({ code, message });
}

/** The next href as a query, checking it points at the same collection. */
function queryOf(href: string, spec: ListSpec): ListQuery {
  const url = new URL(href, 'http://inflow.test');
  expect(url.pathname).toBe(spec.basePath);
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of url.searchParams) {
    const prev = query[name];
    query[name] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
  }
  return query;
}

/** Follows next links from `query` to the last page; returns each page's ids. */
async function allPages(query: ListQuery, spec: ListSpec): Promise<string[][]> {
  const pages: string[][] = [];
  let current: ListQuery | undefined = query;
  while (current) {
    const p = page(await list(current, spec));
    pages.push(p.items.map((r) => r.id));
    if (p.next === undefined) expect(p.links).toEqual({});
    current = p.next === undefined ? undefined : queryOf(p.next, spec);
    if (pages.length > 50) throw new Error('paging does not end');
  }
  return pages;
}

function sortedIds(rows: Row[], key: (r: Row) => string | number, descending: boolean): string[] {
  const dir = descending ? -1 : 1;
  return [...rows]
    .sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      if (ka !== kb) return ka < kb ? -dir : dir;
      return a.id < b.id ? -dir : dir;
    })
    .map((r) => r.id);
}

describe('filter operators', () => {
  it('== and != on a string field', async () => {
    expect(await where('state==enabled')).toEqual(['f4', 'f3', 'f1']);
    expect(await where('state!=enabled')).toEqual(['f5', 'f2']);
  });

  it('ranges on createdAt and updatedAt use the columns', async () => {
    expect(await where(`createdAt>${T0 + 1000}`)).toEqual(['f5', 'f4', 'f3']);
    expect(await where(`createdAt>=${T0 + 1000}`)).toEqual(['f5', 'f4', 'f3', 'f2']);
    expect(await where(`createdAt<${T0 + 1000}`)).toEqual(['f1']);
    expect(await where(`createdAt<=${T0 + 1000}`)).toEqual(['f2', 'f1']);
    expect(await where(`updatedAt<${T0}`)).toEqual(['f5']);
  });

  it('number ranges on document fields match only numbers', async () => {
    expect(await where('priority>=7')).toEqual(['f5', 'f4']);
    expect(await where('priority>100')).toEqual(['f4']);
    expect(await where('priority<100')).toEqual(['f5']);
    // name '123' is a string: a numeric range never matches it.
    expect(await where('name>100')).toEqual([]);
  });

  it('string ranges take quoted values and match only strings', async () => {
    expect(await where('name>"y"')).toEqual(['f4']);
    expect(await where('name<"1234"')).toEqual(['f3']);
    expect(await where('priority>"1"')).toEqual([]);
  });

  it('ranges on nested paths', async () => {
    expect(await where('metrics.durationSummary.startedAtUTC>1593134665500')).toEqual(['f1']);
    expect(
      await where(
        'metrics.durationSummary.startedAtUTC>1593134664000',
        'metrics.durationSummary.startedAtUTC<1593134665781',
      ),
    ).toEqual(['f2']);
  });
});

describe('filter values', () => {
  it('a comma list is any-of for == and none-of for !=', async () => {
    expect(await where('name==zeta,beta')).toEqual(['f5', 'f4']);
    expect(await where('name==zeta, beta ,nope')).toEqual(['f5', 'f4']);
    expect(await where('state!=enabled,disabled')).toEqual(['f5']);
  });

  it('quoted values may hold commas and operators', async () => {
    expect(await where('name=="a,b"')).toEqual(['f2']);
    expect(await where('name=="a,b",zeta')).toEqual(['f4', 'f2']);
    expect(await where('name==zeta, "a,b" ')).toEqual(['f4', 'f2']);
    expect(await where('name!="a,b"')).toEqual(['f5', 'f4', 'f3', 'f1']);
    expect(await where('description=="x==y<z>w"')).toEqual(['f2']);
    expect(await where('description=="a<=b"')).toEqual(['f4']);
    expect(await where('description=="say \\"hi\\""')).toEqual(['f5']);
  });

  it('a bare number matches a JSON number or string; a quoted one only the string', async () => {
    expect(await where('name==123')).toEqual(['f3']);
    expect(await where('name=="123"')).toEqual(['f3']);
    expect(await where('priority==123')).toEqual(['f4']);
    expect(await where('priority=="123"')).toEqual([]);
    expect(await where(`createdAt==${T0}`)).toEqual(['f1']);
    expect(await where(`createdAt==${T0},${T0 + 3000}`)).toEqual(['f4', 'f1']);
  });

  it('a bare boolean matches the JSON boolean or the string', async () => {
    expect(await where('inheritedAttributes.properties.isSourceFlow==true')).toEqual(['f3', 'f1']);
    expect(await where('inheritedAttributes.properties.isSourceFlow==false')).toEqual(['f2']);
    expect(await where('inheritedAttributes.properties.isSourceFlow=="true"')).toEqual(['f3']);
  });

  it('[] matches any element of an array', async () => {
    expect(await where('sourceConnectionIds[]==s1')).toEqual(['f1']);
    expect(await where('sourceConnectionIds[]==s3,s2')).toEqual(['f2', 'f1']);
    expect(await where('sourceConnectionIds[]!=s1')).toEqual(['f5', 'f4', 'f3', 'f2']);
    // Without [] the path names the array itself, which is never equal to a string.
    expect(await where('sourceConnectionIds==s1')).toEqual([]);
    expect(await where('transformations[].params.mappingId==m2')).toEqual(['f2']);
    expect(await where('transformations[].name==Delay')).toEqual(['f1']);
  });

  it('ranges through [] match when some element does', async () => {
    expect(await where('transformations[].params.mappingVersion>=1')).toEqual(['f2']);
    expect(await where('transformations[].params.mappingVersion<1')).toEqual(['f1']);
    // Only f1's second element has `delay`; elements without it are skipped, not errors.
    expect(await where('transformations[].params.delay>4')).toEqual(['f1']);
    expect(await where('transformations[].params.mappingId>"m1"')).toEqual(['f2']);
  });

  it('repeated property params are ANDed', async () => {
    expect(await where('state==enabled', `createdAt>${T0 + 1500}`)).toEqual(['f4', 'f3']);
    expect(await where('state==enabled', 'name==zeta,amazon-s3', 'priority>100')).toEqual(['f4']);
  });
});

describe('scope', () => {
  it('never returns rows of another org, sandbox or kind', async () => {
    expect(await where('name==amazon-s3')).toEqual(['f1']);
    expect(await ids({}, FLOWS, { orgId: 'orgB', sandbox: 'prod' })).toEqual(['x1']);
    expect(await ids({}, FLOWS, { orgId: 'orgA', sandbox: 'dev' })).toEqual(['x2']);
    expect(await ids({}, { ...FLOWS, kind: 'connections' })).toEqual(['x3']);
    expect(await ids({}, FLOWS, { orgId: 'orgC', sandbox: 'prod' })).toEqual([]);
  });

  it('counts within the scope only', async () => {
    expect(await list({ count: 'true' })).toEqual({ count: 5 });
    expect(
      await list({ count: 'true', property: 'name==amazon-s3' }, FLOWS, { orgId: 'orgB', sandbox: 'prod' }),
    ).toEqual({ count: 1 });
  });
});

describe('orderby', () => {
  it('defaults to newest first', async () => {
    expect(await ids({})).toEqual(['f5', 'f4', 'f3', 'f2', 'f1']);
  });

  it('sorts on createdAt ascending (bare, +, or + decoded as a space) and descending', async () => {
    const ascending = ['f1', 'f2', 'f3', 'f4', 'f5'];
    expect(await ids({ orderby: 'createdAt' })).toEqual(ascending);
    expect(await ids({ orderby: '+createdAt' })).toEqual(ascending);
    expect(await ids({ orderby: ' createdAt' })).toEqual(ascending);
    expect(await ids({ orderby: '-createdAt' })).toEqual([...ascending].reverse());
  });

  it('sorts on updatedAt', async () => {
    expect(await ids({ orderby: 'updatedAt' })).toEqual(['f5', 'f1', 'f2', 'f3', 'f4']);
    expect(await ids({ orderby: '-updatedAt' })).toEqual(['f4', 'f3', 'f2', 'f1', 'f5']);
  });

  it('sorts on a document field', async () => {
    expect(await ids({ orderby: 'name' })).toEqual(['f3', 'f2', 'f1', 'f5', 'f4']);
    expect(await ids({ orderby: '-name' })).toEqual(['f4', 'f5', 'f1', 'f2', 'f3']);
  });

  it('breaks ties by id in the same direction; a missing field sorts as null, first ascending', async () => {
    expect(await ids({ orderby: '+state' })).toEqual(['f5', 'f2', 'f1', 'f3', 'f4']);
    expect(await ids({ orderby: '-state' })).toEqual(['f4', 'f3', 'f1', 'f2', 'f5']);
  });

  it('breaks createdAt ties by id', async () => {
    expect(await ids({ orderby: 'createdAt', limit: '6' }, PAGES)).toEqual([
      'p00',
      'p01',
      'p02',
      'p03',
      'p04',
      'p05',
    ]);
    expect(await ids({ limit: '4' }, PAGES)).toEqual(['p24', 'p23', 'p22', 'p21']);
  });
});

describe('paging', () => {
  it('walks 4 pages newest first with createdAt ties, no duplicates or gaps', async () => {
    const pages = await allPages({ limit: '7' }, PAGES);
    expect(pages.map((p) => p.length)).toEqual([7, 7, 7, 4]);
    expect(pages.flat()).toEqual(sortedIds(PAGE_ROWS, (r) => r.createdAt, true));
  });

  it('walks pages ascending on createdAt', async () => {
    const pages = await allPages({ orderby: '+createdAt', limit: '5' }, PAGES);
    expect(pages).toHaveLength(5);
    expect(pages.flat()).toEqual(sortedIds(PAGE_ROWS, (r) => r.createdAt, false));
  });

  it('walks pages sorted by a field with many equal values (and missing ones)', async () => {
    const rank = (r: Row) => (r.group === undefined ? '' : String(r.group));
    const up = await allPages({ orderby: 'group', limit: '4' }, PAGES);
    expect(up.length).toBeGreaterThanOrEqual(3);
    expect(up.flat()).toEqual(sortedIds(PAGE_ROWS, rank, false));
    const down = await allPages({ orderby: '-group', limit: '3' }, PAGES);
    expect(down.flat()).toEqual(sortedIds(PAGE_ROWS, rank, true));
  });

  it('keeps filters and extra params in the next link and ends with _links {}', async () => {
    const query = { property: ['group==odd', 'createdAt>1000'], orderby: '-updatedAt', limit: '3', x: '1' };
    const first = page(await list(query, PAGES));
    expect(first.next).toMatch(
      /^\/pages\?property=group%3D%3Dodd&property=createdAt%3E1000&orderby=-updatedAt&limit=3&x=1&continuationToken=[A-Za-z0-9_-]+$/,
    );
    const pages = await allPages(query, PAGES);
    const odd = PAGE_ROWS.filter((r) => r.group === 'odd' && r.createdAt > 1000);
    expect(pages.flat()).toEqual(sortedIds(odd, (r) => r.updatedAt, true));
    expect(pages.length).toBeGreaterThanOrEqual(3);
  });

  it('gives no next link when the rows end exactly at the limit', async () => {
    const even = PAGE_ROWS.filter((r) => r.group === 'even').length;
    const result = page(await list({ property: 'group==even', limit: String(even) }, PAGES));
    expect(result.items).toHaveLength(even);
    expect(result.links).toEqual({});
  });

  it('encodes a + sort sign so the next page keeps ascending order', async () => {
    const first = page(await list({ orderby: '+createdAt', limit: '2' }, PAGES));
    expect(first.next).toContain('orderby=%2BcreatedAt');
  });

  it('pages 100 rows by default and up to 1000 on request', async () => {
    const first = page(await list({}, BULK));
    expect(first.items).toHaveLength(100);
    expect(first.items[0]?.id).toBe('b3000');
    expect(first.next).toBeDefined();
    expect(page(await list({ limit: '1000' }, BULK)).items).toHaveLength(1000);
    expect(page(await list({ limit: '1' }, BULK)).items).toHaveLength(1);
  });
});

describe('count', () => {
  it('returns only the count of matching rows', async () => {
    expect(await list({ count: 'true', property: 'state==enabled' })).toEqual({ count: 3 });
    expect(await list({ count: 'true', orderby: 'name' })).toEqual({ count: 5 });
    expect(await list({ count: 'true' }, BULK)).toEqual({ count: 3000 });
  });

  it('count=false lists as usual', async () => {
    expect(await ids({ count: 'false', limit: '2' })).toEqual(['f5', 'f4']);
  });
});

describe('errors', () => {
  it('1440 for ~', async () => {
    await expectProblem({ property: 'name~^Sample' }, '1440-400', "Operator '~' not implemented");
  });

  it.each([
    ['state!>x', '!>'],
    ['state=x', '='],
    ['state=<x', '=<'],
    ['state=>x', '=>'],
    ['state===x', '==='],
    ['state!x', '!'],
  ])('1450 for an unknown operator: %s', async (property, op) => {
    await expectProblem({ property }, '1450-400', `Invalid operator ${op} in filter params`);
  });

  it.each([
    ['name', 'name'],
    ['createdAt==', 'createdAt=='],
    ['', ''],
    ['==x', '==x'],
    ['name=="abc', 'name=="abc'],
    ['name==a,,b', 'name==a,,b'],
    ['name=="a"bc', 'name=="a"bc'],
    ['name==x,', 'name==x,'],
  ])('1453 for a missing operator or value: %s', async (property, shown) => {
    await expectProblem({ property }, '1453-400', `Invalid query value ${shown} provided in query param`);
  });

  it.each(['connections==x', 'name..x==1', 'name[==1', 'na me==1', 'name[][]==1', 'state;drop==1'])(
    '1449 for an unknown or malformed field: %s',
    async (property) => {
      const field = property.slice(0, property.indexOf('=='));
      await expectProblem({ property }, '1449-400', `Invalid field ${field} in filter params`);
    },
  );

  it('1443 for a range with several values', async () => {
    await expectProblem(
      { property: 'createdAt<=1,2' },
      '1443-400',
      "Operator '<=' is not allowed for multiple values",
    );
  });

  it('1448 for a range on id', async () => {
    await expectProblem({ property: 'id>=abc' }, '1448-400', 'Operator >= not supported for field id');
  });

  it.each([
    ['createdAt>abc', 'abc', 'createdAt'],
    ['createdAt>"5"', '5', 'createdAt'],
    ['createdAt>1.5', '1.5', 'createdAt'],
    ['name>abc', 'abc', 'name'],
    ['priority>true', 'true', 'priority'],
    ['transformations[].params.delay<soon', 'soon', 'transformations[].params.delay'],
    ['name==a\u0000b', 'a\u0000b', 'name'],
  ])('1452 for a bad filter value: %s', async (property, value, field) => {
    await expectProblem({ property }, '1452-400', `Invalid value ${value} for field ${field}`);
  });

  it.each(['*name', '', '#name'])('1432 for a bad sort sign: %j', async (orderby) => {
    await expectProblem(
      { orderby },
      '1432-400',
      'Sort order specified is not correct, prepend + for ascending order and - for descending order',
    );
  });

  it.each([
    ['foo', 'foo'],
    ['-foo', 'foo'],
    ['inheritedAttributes.properties', 'inheritedAttributes.properties'],
    ['+sourceConnectionIds[]', 'sourceConnectionIds[]'],
  ])('1433 for an unknown sort field: %s', async (orderby, field) => {
    await expectProblem(
      { orderby },
      '1433-400',
      `Incorrect field= #${field} passed in orderBy, example are +name, -name, name`,
    );
  });

  it.each(['0', '1001', 'abc', '1.5', '-1', '', '10x'])('1452 for limit=%j', async (limit) => {
    await expectProblem({ limit }, '1452-400', `Invalid value ${limit} for field limit`);
  });

  it('1452 for a repeated limit and for count other than true/false', async () => {
    await expectProblem({ limit: ['5', '6'] }, '1452-400', 'Invalid value 5,6 for field limit');
    await expectProblem({ count: 'yes' }, '1452-400', 'Invalid value yes for field count');
  });

  it('1401 for count with limit', async () => {
    await expectProblem(
      { count: 'true', limit: '5' },
      '1401-400',
      'The limit and count parameters cannot be given together in the same request',
    );
  });

  it('1451 for an unknown param; extra params of the route are accepted', async () => {
    await expectProblem({ testParam: '1' }, '1451-400', 'Invalid params testParam provided in query params');
    await expectProblem({ x: '1' }, '1451-400', 'Invalid params x provided in query params');
    expect(await ids({ x: '1', limit: '1' }, PAGES)).toEqual(['p24']);
  });
});

describe('continuationToken', () => {
  const forge = (body: unknown) => Buffer.from(JSON.stringify(body)).toString('base64url');

  it.each([
    ['not base64url', '!!!'],
    ['not JSON', Buffer.from('hello').toString('base64url')],
    ['missing fields', forge({ o: '-createdAt' })],
    ['a non-integer time', forge({ o: '-createdAt', v: '1 or 1=1', i: 'p01' })],
  ])('1452 for a token that is %s', async (_, token) => {
    await expectProblem(
      { continuationToken: token },
      '1452-400',
      `Invalid value ${token} for field continuationToken`,
      PAGES,
    );
  });

  it('1452 for a token made for another orderby', async () => {
    const next = page(await list({ limit: '2' }, PAGES)).next ?? '';
    const token = queryOf(next, PAGES).continuationToken as string;
    await expectProblem(
      { orderby: 'group', continuationToken: token },
      '1452-400',
      `Invalid value ${token} for field continuationToken`,
      PAGES,
    );
    // The same token with its own orderby works.
    expect(await ids({ limit: '2', continuationToken: token }, PAGES)).toEqual(['p22', 'p21']);
  });

  it('1452 for a forged sort value that is not JSON or that jsonb cannot hold', async () => {
    for (const v of ['{', '"\\u0000"', '1e999999', '{"a":"\\ud800"}']) {
      const token = forge({ o: '+group', v, i: 'p01' });
      await expectProblem(
        { orderby: 'group', continuationToken: token },
        '1452-400',
        `Invalid value ${token} for field continuationToken`,
        PAGES,
      );
    }
  });
});

describe('injection', () => {
  const attempts = [
    `name=="x' or 1=1 --"`,
    "name==x');drop table resources;--",
    "name==x'::jsonb or true or doc @> '{}",
    `transformations[].params.mappingId>"x\\") || true || (\\""`,
    `metrics.durationSummary.startedAtUTC>"'); delete from resources; --"`,
  ];

  it.each(attempts)('%s returns no rows and leaves the table intact', async (property) => {
    const before = await db.query<{ n: number }>('select count(*)::int as n from resources');
    expect(await where(property)).toEqual([]);
    const after = await db.query<{ n: number }>('select count(*)::int as n from resources');
    expect(after.rows[0]?.n).toBe(before.rows[0]?.n);
    expect(before.rows[0]?.n).toBeGreaterThan(3000);
  });

  it('binds values as parameters, never as SQL text', () => {
    const sql = buildListSql(FLOWS, SCOPE, { property: "name==x');drop table resources;--" });
    expect(sql.text).not.toContain('drop');
    expect(sql.params).toContain('{"name":"x\');drop table resources;--"}');
  });
});

describe('indexes', () => {
  async function plan(
    spec: ListSpec,
    query: ListQuery,
    settings = 'set enable_seqscan = off',
  ): Promise<string> {
    const sql = buildListSql(spec, SCOPE, query);
    await db.exec(settings);
    try {
      const res = await db.query<{ 'QUERY PLAN': string }>(`explain ${sql.text}`, sql.params);
      return res.rows.map((r) => r['QUERY PLAN']).join('\n');
    } finally {
      await db.exec('reset all');
    }
  }

  it('equality filters can use the GIN index on doc', async () => {
    expect(await plan(BULK, { property: 'name==n42' })).toMatch(/resources_doc/);
    expect(await plan(BULK, { property: 'state==rare,none' })).toMatch(/resources_doc/);
    expect(await plan(BULK, { property: 'state==rare', count: 'true' })).toMatch(/resources_doc/);
  });

  it('scope + createdAt ordering, ranges and continuation use resources_scope_created', async () => {
    expect(await plan(BULK, {})).toMatch(/Index Scan Backward using resources_scope_created/);
    expect(await plan(BULK, { orderby: 'createdAt' })).toMatch(/Index Scan using resources_scope_created/);
    const range = await plan(BULK, { property: 'createdAt>2500' });
    expect(range).toMatch(/resources_scope_created/);
    expect(range).toMatch(/Index Cond: .*created_at > /);
    const next = page(await list({ limit: '10' }, BULK)).next ?? '';
    const continued = await plan(BULK, queryOf(next, BULK));
    expect(continued).toMatch(/resources_scope_created/);
    expect(continued).toMatch(/Index Cond: .*ROW\(created_at, id\) < ROW/);
  });

  it('updatedAt ordering uses resources_scope_updated', async () => {
    expect(await plan(BULK, { orderby: '-updatedAt' })).toMatch(/resources_scope_updated/);
  });
});
