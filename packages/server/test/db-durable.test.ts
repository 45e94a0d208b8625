import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseSyncs, openDb } from '../src/store/db.js';

const root = mkdtempSync(join(tmpdir(), 'inflow-db-durable-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Files and folders under `dir`, itself included. */
function entries(dir: string): number {
  let n = 1;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    n += entry.isDirectory() ? entries(join(dir, entry.name)) : 1;
  }
  return n;
}

describe('the metadata database on disk', () => {
  it('syncs a new data dir whole, then each commit before it is acknowledged', async () => {
    const dir = join(root, 'metadata');
    const beforeOpen = databaseSyncs();
    const db = await openDb(dir);
    try {
      // initdb's files (about a thousand), each synced once before the database is used.
      expect(databaseSyncs() - beforeOpen).toBeGreaterThanOrEqual(entries(dir) / 2);
      expect(existsSync(join(dir, 'inflow-synced'))).toBe(true);
      expect((await db.query('show fsync')).rows).toEqual([{ fsync: 'on' }]);
      expect((await db.query('show wal_sync_method')).rows).toEqual([{ wal_sync_method: 'fsync' }]);
      await db.exec('create table durable_probe (n int)');
      for (let i = 0; i < 5; i++) {
        const before = databaseSyncs();
        await db.query('insert into durable_probe values ($1)', [i]);
        // The commit's WAL reached the disk before the insert's promise resolved.
        expect(databaseSyncs()).toBeGreaterThan(before);
      }
    } finally {
      await db.close();
    }
  });

  it('keeps what was committed across a reopen, and reopening syncs nothing but what it writes', async () => {
    const dir = join(root, 'reopened');
    const first = await openDb(dir);
    await first.exec('create table kept (n int); insert into kept values (1), (2)');
    await first.close();
    const before = databaseSyncs();
    const again = await openDb(dir);
    try {
      expect((await again.query('select n from kept order by n')).rows).toEqual([{ n: 1 }, { n: 2 }]);
      // Not the whole tree again: only PostgreSQL's own syncs of what it writes on start.
      expect(databaseSyncs() - before).toBeLessThan(entries(dir) / 4);
    } finally {
      await again.close();
    }
  });

  it('syncs whole, once, a data dir that was never synced (made by an earlier version, or a crash before its sync)', async () => {
    const dir = join(root, 'older');
    const first = await openDb(dir);
    await first.close();
    rmSync(join(dir, 'inflow-synced'));
    const before = databaseSyncs();
    const again = await openDb(dir);
    try {
      expect(databaseSyncs() - before).toBeGreaterThanOrEqual(entries(dir) / 2);
      expect(existsSync(join(dir, 'inflow-synced'))).toBe(true);
    } finally {
      await again.close();
    }
  });
});
