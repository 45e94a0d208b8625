import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetSchemas } from '../src/datasets/dataset-schema.js';
import { DatasetLake, type LandRequest } from '../src/datasets/writer.js';
import { createDataset, TENANT, XDM_FULL } from './datasets-fixtures.js';
import { call, startTestServer, type TestServer } from './helpers.js';

/*
 * A dataset carries `lastBatchId`, `lastBatchStatus` and `lastSuccessfulBatch` (reference §13.2,
 * `GET /dataSets/{id}`), set in the statement that records each batch; "last" is the newest
 * `created`, ties broken by the batch id. Decision 0012, addendum of 2026-11-23.
 */

const CATALOG = '/data/foundation/catalog';
let t: TestServer;
let scope: LandRequest['scope'];
const work = mkdtempSync(join(tmpdir(), 'inflow-last-batch-'));
let lakes = 0;

beforeAll(async () => {
  t = await startTestServer({ bootstrap: { clientSecret: 'last-batch-secret', tenantId: TENANT } });
  scope = { orgId: t.orgId, sandbox: 'prod' };
});
afterAll(async () => {
  await t?.close();
  rmSync(work, { recursive: true, force: true });
});

const member = (i: number) => ({ _id: `m-${i}`, [`_${TENANT}`]: { memberId: i, name: `Member ${i}` } });

/**
 * A lake in its own folder over the test server's store, with a clock the test sets (so a batch's
 * `created` is chosen) and a crash after the commit for the batches landed while `crash` is set.
 */
function testLake() {
  const state = { clock: Date.now() + 1_000_000, crash: false };
  const store = t.server.services.store;
  const lake = new DatasetLake(
    join(work, `lake-${++lakes}`),
    store,
    new DatasetSchemas(store),
    () => state.clock,
    async () => {
      if (state.crash) throw new Error('simulated crash after the rename');
    },
  );
  return { lake, state };
}

async function dataset(id: string): Promise<Record<string, unknown>> {
  const res = await call(t.url, 'GET', `${CATALOG}/dataSets/${id}`, { headers: t.headers });
  expect(res.status, res.text).toBe(200);
  return (res.body as Record<string, Record<string, unknown>>)[id] as Record<string, unknown>;
}

const land = (lake: DatasetLake, datasetId: string, ok: boolean, key?: string) =>
  lake.land({
    scope,
    datasetId,
    records: ok ? [member(1)] : [],
    failures: ok ? [] : [{ record: member(2), reason: 'refused by the test' }],
    origin: { runId: 'r' },
    ...(key ? { key } : {}),
  });

describe("a dataset's last batch", () => {
  it('a successful batch sets lastBatchId, lastBatchStatus and lastSuccessfulBatch and moves updated; the etag stays', async () => {
    const { dataSetId } = await createDataset(t, 'last-ok');
    const before = await t.server.services.store.get('dataSets', scope, dataSetId);
    expect(before?.doc).not.toHaveProperty('lastBatchId');
    const { lake, state } = testLake();

    const batch = await land(lake, dataSetId, true);
    const ds = await dataset(dataSetId);
    expect(ds).toMatchObject({
      lastBatchId: batch.batchId,
      lastBatchStatus: 'success',
      lastSuccessfulBatch: batch.batchId,
      updated: state.clock,
    });
    const after = await t.server.services.store.get('dataSets', scope, dataSetId);
    expect(after?.etag).toBe(before?.etag);
    expect(after?.updatedAt).toBe(before?.updatedAt);
    expect(ds.version).toBe('1.0.0');
    // The served text keeps the dataset's field order: `updated` where it was, the new fields last.
    const keys = Object.keys(after?.doc ?? {});
    expect(keys.slice(0, -3)).toEqual(Object.keys(before?.doc ?? {}));
    expect(keys.slice(-3)).toEqual(['lastBatchId', 'lastBatchStatus', 'lastSuccessfulBatch']);
    // The jsonb copy (what filters read) holds the same document.
    const row = await t.server.services.store.db.query<{ doc: Record<string, unknown> }>(
      "select doc from resources where kind = 'dataSets' and id = $1",
      [dataSetId],
    );
    expect(row.rows[0]?.doc).toEqual(after?.doc);
  });

  it('a later failed batch becomes the last batch and the last successful batch stays', async () => {
    const { dataSetId } = await createDataset(t, 'last-failed');
    const { lake, state } = testLake();
    const ok = await land(lake, dataSetId, true);
    state.clock += 1000;
    const failed = await land(lake, dataSetId, false);
    expect(
      (await t.server.services.store.get('batches', scope, failed.batchId))?.doc.status,
      'the batch itself failed',
    ).toBe('failed');

    expect(await dataset(dataSetId)).toMatchObject({
      lastBatchId: failed.batchId,
      lastBatchStatus: 'failed',
      lastSuccessfulBatch: ok.batchId,
      updated: state.clock,
    });

    state.clock += 1000;
    const next = await land(lake, dataSetId, true);
    expect(await dataset(dataSetId)).toMatchObject({
      lastBatchId: next.batchId,
      lastBatchStatus: 'success',
      lastSuccessfulBatch: next.batchId,
    });
  });

  it('startup recovery of a committed but unrecorded batch sets the fields', async () => {
    const { dataSetId } = await createDataset(t, 'last-recovered');
    const { lake, state } = testLake();
    state.crash = true;
    await expect(land(lake, dataSetId, true, 'run-1:0')).rejects.toThrow('simulated crash');
    expect(await dataset(dataSetId)).not.toHaveProperty('lastBatchId');

    state.crash = false;
    state.clock += 5000;
    expect(await lake.recover()).toMatchObject({ finished: 1 });
    const recorded = Object.keys(
      (await call(t.url, 'GET', `${CATALOG}/batches?dataSet=${dataSetId}`, { headers: t.headers }))
        .body as Record<string, unknown>,
    );
    expect(recorded).toHaveLength(1);
    expect(await dataset(dataSetId)).toMatchObject({
      lastBatchId: recorded[0],
      lastBatchStatus: 'success',
      lastSuccessfulBatch: recorded[0],
      updated: state.clock,
    });
  });

  it('an older batch recorded after a newer one changes nothing', async () => {
    const { dataSetId } = await createDataset(t, 'last-older');
    const { lake, state } = testLake();
    // The older batch commits, then the process dies before recording it.
    state.crash = true;
    await expect(land(lake, dataSetId, true, 'slow:0')).rejects.toThrow('simulated crash');
    state.crash = false;
    state.clock += 1000;
    const newer = await land(lake, dataSetId, true);
    const seen = await t.server.services.store.get('dataSets', scope, dataSetId);
    expect(seen?.doc).toMatchObject({ lastBatchId: newer.batchId, lastSuccessfulBatch: newer.batchId });

    // Recovery records the older batch later: the dataset is left exactly as it was.
    state.clock += 1000;
    expect(await lake.recover()).toMatchObject({ finished: 1 });
    const older = await lake.landed(scope, dataSetId, 'slow:0');
    expect(older && (await t.server.services.store.get('batches', scope, older.batchId))).toBeTruthy();
    expect(await t.server.services.store.get('dataSets', scope, dataSetId)).toEqual(seen);
  });

  it('an older successful batch recorded after a newer failed one is the last successful batch, not the last batch', async () => {
    const { dataSetId } = await createDataset(t, 'last-older-success');
    const { lake, state } = testLake();
    const first = await land(lake, dataSetId, true);
    state.clock += 1000;
    state.crash = true;
    await expect(land(lake, dataSetId, true, 'slow:0')).rejects.toThrow('simulated crash');
    state.crash = false;
    state.clock += 1000;
    const failed = await land(lake, dataSetId, false);
    expect(await dataset(dataSetId)).toMatchObject({
      lastBatchId: failed.batchId,
      lastSuccessfulBatch: first.batchId,
    });

    state.clock += 1000;
    await lake.recover();
    const slow = await lake.landed(scope, dataSetId, 'slow:0');
    expect(await dataset(dataSetId)).toMatchObject({
      lastBatchId: failed.batchId,
      lastBatchStatus: 'failed',
      lastSuccessfulBatch: slow?.batchId,
      updated: state.clock,
    });
  });

  it('batches created in the same millisecond: the greater batch id is the last, even when recorded first', async () => {
    const { dataSetId } = await createDataset(t, 'last-tie');
    // Two lakes with the same clock give their batches the same `created`. Both commit and crash
    // before their record, so the test picks the order they are recorded in.
    const a = testLake();
    const b = testLake();
    b.state.clock = a.state.clock;
    a.state.crash = true;
    b.state.crash = true;
    await expect(land(a.lake, dataSetId, true, 'tie:a')).rejects.toThrow('simulated crash');
    await expect(land(b.lake, dataSetId, false, 'tie:b')).rejects.toThrow('simulated crash');
    a.state.crash = false;
    b.state.crash = false;
    const folder = (lake: DatasetLake) => readdirSync(join(lake.root, dataSetId))[0] as string;
    const [greater, smaller] =
      folder(a.lake) > folder(b.lake)
        ? [
            { ...a, key: 'tie:a', status: 'success' },
            { ...b, key: 'tie:b' },
          ]
        : [
            { ...b, key: 'tie:b', status: 'failed' },
            { ...a, key: 'tie:a' },
          ];

    // Finishing a keyed batch's record (what a retrying run does) records the greater id first.
    expect((await greater.lake.landed(scope, dataSetId, greater.key))?.batchId).toBe(folder(greater.lake));
    expect((await smaller.lake.landed(scope, dataSetId, smaller.key))?.batchId).toBe(folder(smaller.lake));
    const created = async (id: string) =>
      (await t.server.services.store.get('batches', scope, id))?.doc.created;
    expect(await created(folder(a.lake))).toBe(await created(folder(b.lake)));
    expect(await dataset(dataSetId)).toMatchObject({
      lastBatchId: folder(greater.lake),
      lastBatchStatus: greater.status,
      lastSuccessfulBatch: folder(a.lake),
    });
  });

  it('batches landing concurrently leave the newest one as the last batch', async () => {
    const { dataSetId } = await createDataset(t, 'last-concurrent');
    const { lake } = testLake();
    const landed = await Promise.all(
      Array.from({ length: 12 }, (_, i) => land(lake, dataSetId, i % 3 !== 0, `c:${i}`)),
    );
    const newestFirst = async (filter: string) =>
      Object.keys(
        (
          await call(t.url, 'GET', `${CATALOG}/batches?dataSet=${dataSetId}&orderBy=desc:created${filter}`, {
            headers: t.headers,
          })
        ).body as Record<string, unknown>,
      );
    const all = await newestFirst('');
    expect(all).toHaveLength(landed.length);
    const successes = await newestFirst('&status=success');
    expect(await dataset(dataSetId)).toMatchObject({
      lastBatchId: all[0],
      lastSuccessfulBatch: successes[0],
    });
  });

  it('a dataset deleted while its batch lands: the batch is recorded, nothing else happens, no error', async () => {
    const { dataSetId } = await createDataset(t, 'last-deleted');
    const store = t.server.services.store;
    const lake = new DatasetLake(
      join(work, `lake-${++lakes}`),
      store,
      new DatasetSchemas(store),
      Date.now,
      async () => {
        await store.delete('dataSets', scope, dataSetId);
      },
    );
    const batch = await land(lake, dataSetId, true);
    expect(await store.get('dataSets', scope, dataSetId)).toBeUndefined();
    expect((await store.get('batches', scope, batch.batchId))?.doc.status).toBe('success');
  });

  it('the fields show in GET /dataSets/{id} and in the listing, and the Catalog filters work on them', async () => {
    const okSet = await createDataset(t, 'filter-ok');
    const failedSet = await createDataset(t, 'filter-failed');
    const idle = await createDataset(t, 'filter-idle');
    const { lake, state } = testLake();
    const ok = await land(lake, okSet.dataSetId, true);
    await land(lake, failedSet.dataSetId, true);
    state.clock += 1000;
    const failed = await land(lake, failedSet.dataSetId, false);

    const list = async (query: string) => {
      const res = await call(t.url, 'GET', `${CATALOG}/dataSets?limit=100&${query}`, { headers: t.headers });
      expect(res.status, res.text).toBe(200);
      return res.body as Record<string, Record<string, unknown>>;
    };
    const all = await list('');
    expect(all[okSet.dataSetId]).toMatchObject({ lastBatchId: ok.batchId, lastBatchStatus: 'success' });
    expect(all[failedSet.dataSetId]).toMatchObject({
      lastBatchId: failed.batchId,
      lastBatchStatus: 'failed',
    });
    expect(all[idle.dataSetId]).not.toHaveProperty('lastBatchId');

    const failedOnly = await list('lastBatchStatus=failed');
    expect(Object.keys(failedOnly)).toContain(failedSet.dataSetId);
    expect(Object.keys(failedOnly)).not.toContain(okSet.dataSetId);
    expect(Object.values(failedOnly).every((d) => d.lastBatchStatus === 'failed')).toBe(true);

    const succeeded = await list('property=lastBatchStatus==success');
    expect(Object.keys(succeeded)).toContain(okSet.dataSetId);
    expect(Object.keys(succeeded)).not.toContain(failedSet.dataSetId);

    const neverLanded = await list('property=!lastBatchId');
    expect(Object.keys(neverLanded)).toContain(idle.dataSetId);
    expect(Object.keys(neverLanded)).not.toContain(okSet.dataSetId);

    const byBatch = await list(
      `lastBatchId=${failed.batchId}&properties=lastBatchStatus,lastSuccessfulBatch`,
    );
    expect(byBatch).toEqual({
      [failedSet.dataSetId]: {
        lastBatchStatus: 'failed',
        lastSuccessfulBatch: (await dataset(failedSet.dataSetId)).lastSuccessfulBatch,
      },
    });

    const one = await call(t.url, 'GET', `${CATALOG}/dataSets/${okSet.dataSetId}?properties=lastBatchId`, {
      headers: t.headers,
    });
    expect(one.body).toEqual({ [okSet.dataSetId]: { lastBatchId: ok.batchId } });
  });

  it('a recorded batch is served with its fields in the order the writer built them', async () => {
    const { dataSetId } = await createDataset(t, 'last-order');
    const { lake } = testLake();
    const batch = await land(lake, dataSetId, true);
    const res = await call(t.url, 'GET', `${CATALOG}/batches/${batch.batchId}`, { headers: t.headers });
    expect(res.status, res.text).toBe(200);
    const keys = Object.keys((res.body as Record<string, Record<string, unknown>>)[batch.batchId] ?? {});
    // The record's own order (writer.ts `record`), not jsonb's (shortest keys first).
    expect(keys.slice(0, 5)).toEqual(['externalId', 'status', 'tags', 'relatedObjects', 'inputFormat']);
    expect(res.text).not.toContain('": ');
  });

  it('a client cannot create a dataset with the fields: the create body is strict', async () => {
    const { schemaId } = await createDataset(t, 'strict-source');
    for (const field of ['lastBatchId', 'lastBatchStatus', 'lastSuccessfulBatch']) {
      const res = await call(t.url, 'POST', `${CATALOG}/dataSets`, {
        headers: t.headers,
        body: { name: `strict ${field}`, schemaRef: { id: schemaId, contentType: XDM_FULL }, [field]: 'x' },
      });
      expect(res.status, res.text).toBe(400);
      expect(res.text).toContain(field);
    }
  });
});
