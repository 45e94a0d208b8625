import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backfillLastBatches, type Doc, type Scope } from '../src/store/resources.js';
import { createDataset, TENANT } from './datasets-fixtures.js';
import { call, startTestServer, type TestServer } from './helpers.js';

/*
 * Datasets whose batches were all recorded before datasets carried `lastBatchId`,
 * `lastBatchStatus` and `lastSuccessfulBatch` get them when the store opens, by the rules of the
 * statement that records a batch, without a new etag or `updated`. Decision 0012, addendum
 * "GET /lastBatches and the backfill".
 */

const CATALOG = '/data/foundation/catalog';
const dir = mkdtempSync(join(tmpdir(), 'inflow-backfill-'));
const BASE = 1_700_000_000_000;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Row {
  doc: Record<string, unknown>;
  body: string;
  etag: string;
  updated_at: number;
}

async function row(t: TestServer, id: string): Promise<Row> {
  const res = await t.server.services.store.db.query<Row>(
    "select doc, body, etag, updated_at from resources where kind = 'dataSets' and id = $1",
    [id],
  );
  const found = res.rows[0];
  if (!found) throw new Error(`no dataset ${id}`);
  return { ...found, updated_at: Number(found.updated_at) };
}

function batchDoc(scope: Scope, id: string, dataSetId: string, created: number, status: string): Doc {
  return {
    id,
    externalId: id,
    status,
    relatedObjects: [{ type: 'dataSet', id: dataSetId }],
    imsOrg: scope.orgId,
    created,
    updated: created,
    version: '1.0.0',
  };
}

describe('backfill of the last-batch fields when the store opens', () => {
  it('sets them once for datasets whose batches predate them: newest created wins, ties by id, etag and updated kept', {
    timeout: 60_000,
  }, async () => {
    const first = await startTestServer({ dataDir: dir, bootstrap: { tenantId: TENANT } });
    const scope = { orgId: first.orgId, sandbox: 'prod' };
    const store = first.server.services.store;
    // What the lake did before the fields existed: the batch record alone.
    const recordAlone = (id: string, dataSetId: string, created: number, status: string) =>
      store.insert('batches', scope, batchDoc(scope, id, dataSetId, created, status), '0', created);

    const mixed = (await createDataset(first, 'bf-mixed')).dataSetId;
    await recordAlone('01BFMIX1', mixed, BASE + 1000, 'success');
    await recordAlone('01BFMIX3', mixed, BASE + 3000, 'failed');
    await recordAlone('01BFMIX2', mixed, BASE + 2000, 'success');
    // Same `created`: the greater id in code point order ("a" after "Z") is the newest.
    const tie = (await createDataset(first, 'bf-tie')).dataSetId;
    await recordAlone('01BFTIEa', tie, BASE + 5000, 'success');
    await recordAlone('01BFTIEZ', tie, BASE + 5000, 'failed');
    const failedOnly = (await createDataset(first, 'bf-failed')).dataSetId;
    await recordAlone('01BFFAIL', failedOnly, BASE + 1000, 'failed');
    // A dataset recorded with the fields, then written back in its old shape (doc and text).
    const stripped = (await createDataset(first, 'bf-stripped')).dataSetId;
    const oldShape = await row(first, stripped);
    await store.insertBatch(
      scope,
      batchDoc(scope, '01BFSTRIP', stripped, BASE + 1000, 'success'),
      { datasetId: stripped, created: BASE + 1000, status: 'success' },
      BASE + 2000,
    );
    await store.db.query(
      "update resources set doc = $1::jsonb, body = $2::text where kind = 'dataSets' and id = $3",
      [JSON.stringify(oldShape.doc), oldShape.body, stripped],
    );
    // Untouched: one that has its fields already, one without a batch.
    const filled = (await createDataset(first, 'bf-filled')).dataSetId;
    await store.insertBatch(
      scope,
      batchDoc(scope, '01BFFILL', filled, BASE + 1000, 'failed'),
      { datasetId: filled, created: BASE + 1000, status: 'failed' },
      BASE + 2000,
    );
    const idle = (await createDataset(first, 'bf-idle')).dataSetId;

    const before = new Map<string, Row>();
    for (const id of [mixed, tie, failedOnly, stripped, filled, idle]) before.set(id, await row(first, id));
    for (const id of [mixed, tie, failedOnly, stripped]) {
      expect(before.get(id)?.doc, id).not.toHaveProperty('lastBatchId');
    }
    expect(before.get(filled)?.doc).toHaveProperty('lastBatchId', '01BFFILL');
    await first.close();

    const second = await startTestServer({ dataDir: dir, bootstrap: {} });
    try {
      const expected: Record<string, Record<string, string>> = {
        [mixed]: { lastBatchId: '01BFMIX3', lastBatchStatus: 'failed', lastSuccessfulBatch: '01BFMIX2' },
        [tie]: { lastBatchId: '01BFTIEa', lastBatchStatus: 'success', lastSuccessfulBatch: '01BFTIEa' },
        [failedOnly]: { lastBatchId: '01BFFAIL', lastBatchStatus: 'failed' },
        [stripped]: {
          lastBatchId: '01BFSTRIP',
          lastBatchStatus: 'success',
          lastSuccessfulBatch: '01BFSTRIP',
        },
      };
      for (const [id, fields] of Object.entries(expected)) {
        const old = before.get(id) as Row;
        const now = await row(second, id);
        // Appended after the dataset's own fields, in the order the recording statement uses.
        expect(now.body, id).toBe(`${old.body.slice(0, -1)},${JSON.stringify(fields).slice(1)}`);
        expect(now.doc, id).toEqual({ ...old.doc, ...fields });
        expect(now.etag, id).toBe(old.etag);
        expect(now.updated_at, id).toBe(old.updated_at);
        const served = await call(second.url, 'GET', `${CATALOG}/dataSets/${id}`, {
          headers: second.headers,
        });
        expect(served.status, served.text).toBe(200);
        const ds = (served.body as Record<string, Record<string, unknown>>)[id];
        expect(ds, id).toMatchObject({ ...fields, updated: old.doc.updated });
        if (!('lastSuccessfulBatch' in fields)) expect(ds, id).not.toHaveProperty('lastSuccessfulBatch');
      }
      for (const id of [filled, idle]) expect(await row(second, id), id).toEqual(before.get(id));

      // Once only: a second run finds nothing to do and writes nothing.
      const afterOpen = new Map<string, Row>();
      for (const id of before.keys()) afterOpen.set(id, await row(second, id));
      expect(await backfillLastBatches(second.server.services.store.db)).toBe(0);
      for (const id of before.keys()) expect(await row(second, id), id).toEqual(afterOpen.get(id));

      // GET /lastBatches reads the same from the batches.
      const last = await call(second.url, 'GET', `${CATALOG}/lastBatches?dataSetId=${mixed},${tie}`, {
        headers: second.headers,
      });
      expect(last.body).toMatchObject({
        [mixed]: {
          lastBatchId: '01BFMIX3',
          lastSuccessfulBatchId: '01BFMIX2',
          lastFailedBatchId: '01BFMIX3',
        },
        [tie]: { lastBatchId: '01BFTIEa', lastSuccessfulBatchId: '01BFTIEa', lastFailedBatchId: '01BFTIEZ' },
      });
    } finally {
      await second.close();
    }
  });
});
