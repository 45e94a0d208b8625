import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, openDb } from '../src/store/db.js';
import { listResources, WINDOW_ROWS } from '../src/store/list-query.js';

const SPEC = { kind: 'connections', basePath: '/connections', fields: ['state', 'tier', 'createdAt'] };
const SCOPE = { orgId: 'o', sandbox: 'prod' };
const ROWS = WINDOW_ROWS + 2500;
let db: Db;

beforeAll(async () => {
  db = await openDb(undefined);
  await db.transaction(async (tx) => {
    for (let i = 0; i < ROWS; i++) {
      // `tier` gold: the oldest 300 rows only (few, and all at the far end of a newest-first walk).
      const doc = JSON.stringify({
        id: `r${i}`,
        state: i % 3 ? 'enabled' : 'disabled',
        tier: i < 300 ? 'gold' : 'basic',
      });
      await tx.query(
        'insert into resources (kind, id, org_id, sandbox, doc, body, etag, created_at, updated_at) values ($1,$2,$3,$4,$5::jsonb,$5,$6,$7,$7)',
        ['connections', `r${i}`, 'o', 'prod', doc, 'e', 1000 + Math.floor(i / 7)],
      );
    }
  });
}, 60_000);
afterAll(async () => {
  await db.close();
});

async function everyPage(query: Record<string, string | string[]>): Promise<string[]> {
  const ids: string[] = [];
  let next: Record<string, string | string[]> | undefined = query;
  while (next) {
    const page = await listResources(db, SPEC, SCOPE, next);
    if ('count' in page) throw new Error('count');
    ids.push(...page.items.map((d) => (d as { id: string }).id));
    const href = page._links.next?.href;
    next = href
      ? {
          ...query,
          continuationToken: new URL(href, 'http://x').searchParams.get('continuationToken') as string,
        }
      : undefined;
  }
  return ids;
}

describe('both plans (the newest rows in index order, or the GIN index) give the same pages', () => {
  it('many matches: every enabled row once, newest first, ties by id', async () => {
    const ids = await everyPage({ property: 'state==enabled', limit: '700' });
    const expected = Array.from({ length: ROWS }, (_, i) => i)
      .filter((i) => i % 3 !== 0)
      .sort((a, b) => Math.floor(b / 7) - Math.floor(a / 7) || (`r${b}` < `r${a}` ? -1 : 1))
      .map((i) => `r${i}`);
    expect(expected.length).toBeGreaterThan(ROWS / 2);
    expect(ids).toEqual(expected);
  });

  it('few matches at the far end: the same rows and order as a plain scan would give', async () => {
    const ids = await everyPage({
      property: ['tier==gold', 'state==enabled'],
      limit: '50',
      orderby: '-createdAt',
    });
    const expected = Array.from({ length: 300 }, (_, i) => i)
      .filter((i) => i % 3 !== 0)
      .sort((a, b) => Math.floor(b / 7) - Math.floor(a / 7) || (`r${b}` < `r${a}` ? -1 : 1))
      .map((i) => `r${i}`);
    expect(ids).toEqual(expected);
    expect(await listResources(db, SPEC, SCOPE, { property: 'tier==platinum' })).toEqual({
      items: [],
      _links: {},
    });
  });
});
