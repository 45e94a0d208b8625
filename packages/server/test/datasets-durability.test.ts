import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DatasetSchemas } from '../src/datasets/dataset-schema.js';
import { DatasetLake } from '../src/datasets/writer.js';
import { createDataset, TENANT } from './datasets-fixtures.js';
import { startTestServer, type TestServer } from './helpers.js';

/*
 * Review issue 5, item 8: a folder created on the commit path has its entry fsynced in its
 * parent, so a power loss cannot take back the dataset folder a batch was renamed into. A power
 * loss cannot be staged in a unit test; what is checked is the order of the file system calls the
 * lake makes (the real calls, recorded on the way through).
 */

const log = vi.hoisted(() => ({ events: [] as string[] }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof real.open = async (...args) => {
    const handle = await real.open(...args);
    const sync = handle.sync.bind(handle);
    handle.sync = async () => {
      await sync();
      log.events.push(`sync ${String(args[0])}`);
    };
    return handle;
  };
  const mkdir = (async (path: string, options?: { recursive?: boolean }) => {
    const created = await real.mkdir(path, options);
    log.events.push(`mkdir ${path}${created === undefined ? ' (existed)' : ''}`);
    return created;
  }) as typeof real.mkdir;
  const rename: typeof real.rename = async (from, to) => {
    await real.rename(from, to);
    log.events.push(`rename ${String(to)}`);
  };
  return { ...real, open, mkdir, rename, default: { ...real, open, mkdir, rename } };
});

let t: TestServer;
const work = mkdtempSync(join(tmpdir(), 'inflow-durability-'));

beforeAll(async () => {
  t = await startTestServer({ bootstrap: { clientSecret: 'durability-secret', tenantId: TENANT } });
});
afterAll(async () => {
  await t?.close();
  rmSync(work, { recursive: true, force: true });
});

const member = { _id: 'm-1', [`_${TENANT}`]: { memberId: 1, name: 'one' } };

describe('DatasetLake: new folders on the commit path are durable', () => {
  it('fsyncs the parent of the lake root, of .tmp and of datasets/{id} after creating them, before the rename into it', async () => {
    const { dataSetId } = await createDataset(t, 'durable');
    const scope = { orgId: t.orgId, sandbox: 'prod' };
    const root = join(work, 'data', 'datasets');
    const lake = new DatasetLake(root, t.server.services.store, new DatasetSchemas(t.server.services.store));
    const datasetDir = join(root, dataSetId);
    const syncs = () => log.events.filter((e) => e.startsWith('sync ')).map((e) => e.slice(5));

    log.events.length = 0;
    await lake.recover();
    // `data` and `data/datasets` were both created: each one's entry is synced in its parent.
    expect(syncs()).toEqual([work, join(work, 'data')]);

    log.events.length = 0;
    const first = await lake.land({ scope, datasetId: dataSetId, records: [member], origin: {} });
    const at = (event: string) => {
      const i = log.events.indexOf(event);
      expect(i, `${event} in\n${log.events.join('\n')}`).toBeGreaterThanOrEqual(0);
      return i;
    };
    const renamed = at(`rename ${join(datasetDir, first.batchId)}`);
    expect(at(`mkdir ${join(root, '.tmp')}`)).toBeLessThan(at(`sync ${root}`));
    expect(at(`mkdir ${datasetDir}`)).toBeLessThan(log.events.lastIndexOf(`sync ${root}`));
    expect(log.events.lastIndexOf(`sync ${root}`)).toBeLessThan(renamed);
    expect(at(`sync ${datasetDir}`)).toBeGreaterThan(renamed);

    // Once made durable, a folder costs nothing more for later batches of this process.
    log.events.length = 0;
    await lake.land({ scope, datasetId: dataSetId, records: [member], origin: {} });
    expect(syncs().filter((p) => p === root || p === dirname(root))).toEqual([]);

    // A new process (another lake over the same root) syncs an existing dataset folder's entry
    // once more: the process that created it may have died before its sync.
    const restarted = new DatasetLake(
      root,
      t.server.services.store,
      new DatasetSchemas(t.server.services.store),
    );
    log.events.length = 0;
    const third = await restarted.land({ scope, datasetId: dataSetId, records: [member], origin: {} });
    expect(log.events.lastIndexOf(`sync ${root}`)).toBeLessThan(
      at(`rename ${join(datasetDir, third.batchId)}`),
    );
  });
});
