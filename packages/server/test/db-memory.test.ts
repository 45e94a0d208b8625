import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { openDb } from '../src/store/db.js';

// Its own file, so that no other database shares this process's memory figures.
const root = mkdtempSync(join(tmpdir(), 'inflow-db-memory-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('opening a new data dir', () => {
  it('creates the database apart, so initdb’s memory is not left in the server process', async () => {
    const dir = join(root, 'metadata');
    const before = process.memoryUsage().external;
    const db = await openDb(dir);
    const grown = process.memoryUsage().external - before;
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true);
    expect((await db.query<{ n: number }>('select count(*)::int as n from resources')).rows).toEqual([
      { n: 0 },
    ]);
    await db.close();
    // A PGlite database opened as on a restart holds about 210 MB of WebAssembly memory; created
    // in this thread, initdb's 450 MB more stayed with it (660 MB).
    expect(grown).toBeLessThan(400 * 1024 * 1024);
  });

  it('creates it in this thread, with a warning that says why, when no worker thread can run', async () => {
    vi.resetModules();
    vi.doMock('node:worker_threads', async (original) => ({
      ...(await original<typeof import('node:worker_threads')>()),
      Worker: class {
        constructor() {
          throw new Error('worker threads are not allowed here');
        }
      },
    }));
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      const { openDb: openHere } = await import('../src/store/db.js');
      const dir = join(root, 'here');
      const db = await openHere(dir);
      expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true);
      expect((await db.query<{ n: number }>('select count(*)::int as n from resources')).rows).toEqual([
        { n: 0 },
      ]);
      await db.close();
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
      vi.doUnmock('node:worker_threads');
      vi.resetModules();
    }
    expect(warnings).toEqual([
      expect.stringMatching(/created in the server thread.*worker threads are not allowed here/),
    ]);
  });
});
