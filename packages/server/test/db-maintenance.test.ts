import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, keepStatisticsFresh, openDb } from '../src/store/db.js';

/*
 * PGlite runs no autovacuum: the server vacuums and analyzes `resources` itself now and then
 * (`keepStatisticsFresh`), so the dead versions updates leave behind become reusable room.
 */

let db: Db;
beforeAll(async () => {
  db = await openDb(undefined);
  for (let i = 0; i < 200; i++) {
    const doc = JSON.stringify({ id: `d${i}`, n: 0 });
    await db.query(
      'insert into resources (kind, id, org_id, sandbox, doc, body, etag, created_at, updated_at) values ($1,$2,$3,$4,$5::jsonb,$5,$6,$7,$7)',
      ['dataSets', `d${i}`, 'o', 'prod', doc, 'e', 1000 + i],
    );
  }
});
afterAll(async () => {
  await db.close();
});

const stats = async () =>
  (
    await db.query<{ last_vacuum: Date | null; last_analyze: Date | null }>(
      "select last_vacuum, last_analyze from pg_stat_user_tables where relname = 'resources'",
    )
  ).rows[0];

const tableBytes = async () =>
  Number(
    (await db.query<{ size: string }>("select pg_relation_size('resources')::text as size")).rows[0]?.size,
  );

/** Rewrites every row `times` times: each update leaves a dead version behind. */
async function churn(times: number): Promise<void> {
  for (let n = 0; n < times; n++) {
    await db.query(
      "update resources set doc = jsonb_set(doc, '{n}', to_jsonb($1::int)), body = jsonb_set(doc, '{n}', to_jsonb($1::int))::text",
      [n],
    );
  }
}

describe('the store keeps itself in shape', () => {
  it('vacuums and analyzes resources on its timer, so updates reuse the room dead rows left', async () => {
    expect((await stats())?.last_vacuum ?? null).toBeNull();
    await churn(10);
    const stop = keepStatisticsFresh(db, 20);
    try {
      await expect.poll(async () => (await stats())?.last_vacuum ?? null, { timeout: 10_000 }).not.toBeNull();
    } finally {
      stop();
    }
    expect((await stats())?.last_analyze).not.toBeNull();
    // After the vacuum, as many updates again fit in the room it freed: the table does not grow.
    const after = await tableBytes();
    await churn(5);
    expect(await tableBytes()).toBe(after);
  });
});
