import { describe, expect, it } from 'vitest';
import { memoryStore } from './memory-store.js';

const SCOPE = { orgId: 'o', sandbox: 'prod' };
const mem = memoryStore();

/** The row's two copies of the document: `doc` (jsonb, what filters see) and `body` (what GET serves). */
async function row(id: string) {
  const res = await mem.db.query<{ doc: Record<string, unknown>; body: string | null; etag: string }>(
    "select doc, body, etag from resources where kind = 'flows' and id = $1",
    [id],
  );
  return res.rows[0];
}

describe('replace keeping fields from the stored row', () => {
  it('takes kept fields from the row at write time (drops what the caller sent), in doc and body alike', async () => {
    await mem.store.insert(
      'flows',
      SCOPE,
      { id: 'f1', name: 'a', lastRunDetails: { id: 'r1', state: 'x' } },
      'e1',
      1,
    );
    // The run engine's write: same etag.
    const run = { id: 'r2', state: 'success', startedAtUTC: 5, completedAtUTC: 6 };
    await mem.store.replace('flows', SCOPE, { id: 'f1', name: 'a', lastRunDetails: run }, 'e1', 'e1', 1);
    // A client write based on the first read.
    const sent = { id: 'f1', name: 'b', lastRunDetails: { id: 'r1', state: 'x' }, z: [1, { q: 'é"}' }] };
    expect(await mem.store.replace('flows', SCOPE, sent, 'e1', 'e2', 2, ['lastRunDetails'])).toBe('ok');
    const stored = await row('f1');
    const expected = { id: 'f1', name: 'b', z: [1, { q: 'é"}' }], lastRunDetails: run };
    expect(stored?.etag).toBe('e2');
    expect(stored?.doc).toEqual(expected);
    expect(JSON.parse(stored?.body ?? '')).toEqual(expected);
    // The body keeps the caller's order, the kept field last, each value as it was written.
    expect(stored?.body).toBe(JSON.stringify(expected));
    expect((await mem.store.get('flows', SCOPE, 'f1'))?.doc).toEqual(expected);
  });

  it('leaves out a kept field the row does not have, and reads a row without body from its doc', async () => {
    await mem.store.insert('flows', SCOPE, { id: 'f2', name: 'a' }, 'e1', 1);
    expect(
      await mem.store.replace(
        'flows',
        SCOPE,
        { id: 'f2', name: 'b', lastRunDetails: { id: 'r' } },
        'e1',
        'e2',
        2,
        ['lastRunDetails'],
      ),
    ).toBe('ok');
    expect(await row('f2')).toMatchObject({ doc: { id: 'f2', name: 'b' }, body: '{"id":"f2","name":"b"}' });

    await mem.db.query(
      'update resources set body = null, doc = doc || \'{"lastRunDetails":{"id":"r3","state":"failed"}}\' where id = \'f2\'',
    );
    expect(
      await mem.store.replace('flows', SCOPE, { id: 'f2', name: 'c' }, 'e2', 'e3', 3, ['lastRunDetails']),
    ).toBe('ok');
    const expected = { id: 'f2', name: 'c', lastRunDetails: { id: 'r3', state: 'failed' } };
    const stored = await row('f2');
    expect(stored?.doc).toEqual(expected);
    expect(JSON.parse(stored?.body ?? '')).toEqual(expected);
    expect(
      await mem.store.replace('flows', SCOPE, { id: 'f2', name: 'd' }, 'e2', 'e4', 4, ['lastRunDetails']),
    ).toBe('stale');
    expect((await row('f2'))?.doc).toEqual(expected);
  });
});
