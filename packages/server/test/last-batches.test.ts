import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Doc, Scope } from '../src/store/resources.js';
import { createDataset, TENANT } from './datasets-fixtures.js';
import { call, startTestServer, type TestServer, tokenFor } from './helpers.js';

/*
 * `GET /data/foundation/catalog/lastBatches?dataSetId=a,b` (reference §13.2, the Catalog's
 * `lastBatchesResponse`): per dataset id, its last batch, last successful and last failed batch,
 * read from the batch records. Decision 0012, addendum "GET /lastBatches and the backfill".
 */

const CATALOG = '/data/foundation/catalog';
const OTHER_ORG = 'LASTBATCHES-OTHER@AdobeOrg';
let t: TestServer;
let prod: Scope;
let dev: Scope;
let other: Scope;
let devHeaders: Record<string, string>;
let otherHeaders: Record<string, string>;
const BASE = 1_700_000_000_000;

beforeAll(async () => {
  t = await startTestServer({ bootstrap: { clientSecret: 'last-batches-secret', tenantId: TENANT } });
  prod = { orgId: t.orgId, sandbox: 'prod' };
  dev = { orgId: t.orgId, sandbox: 'dev' };
  other = { orgId: OTHER_ORG, sandbox: 'prod' };
  const tenancy = t.server.services.tenancy;
  await tenancy.createSandbox(t.orgId, 'dev', 'development');
  devHeaders = { ...t.headers, 'x-sandbox-name': 'dev' };
  await tenancy.ensureOrg(OTHER_ORG);
  await tenancy.ensureSandbox(OTHER_ORG, 'prod', 'production');
  await tenancy.createClient(OTHER_ORG, 'last-batches-other', 'other-secret', 'test');
  otherHeaders = {
    Authorization: `Bearer ${await tokenFor(t.url, 'last-batches-other', 'other-secret')}`,
    'x-api-key': 'last-batches-other',
    'x-gw-ims-org-id': OTHER_ORG,
    'x-sandbox-name': 'prod',
  };
});
afterAll(async () => {
  await t?.close();
});

/** A Catalog batch record of dataset `dataSetId`, shaped as the lake writes it (writer.ts `record`). */
function batchDoc(scope: Scope, id: string, dataSetId: string, created: number, status: string): Doc {
  return {
    id,
    externalId: id,
    status,
    tags: {},
    relatedObjects: [{ type: 'dataSet', id: dataSetId }],
    inputFormat: { format: 'parquet' },
    imsOrg: scope.orgId,
    started: created,
    completed: created,
    created,
    updated: created + 7,
    recordCount: status === 'success' ? 1 : 0,
    failedRecordCount: status === 'success' ? 0 : 1,
    version: '1.0.0',
  };
}

/** Records a batch the way the lake does (`insertBatch`: the record and the dataset's fields). */
async function record(scope: Scope, id: string, dataSetId: string, created: number, status: string) {
  await t.server.services.store.insertBatch(
    scope,
    batchDoc(scope, id, dataSetId, created, status),
    { datasetId: dataSetId, created, status },
    created + 7,
  );
}

/** Records a batch the way the lake did before datasets carried their last batch: the record alone. */
async function recordAlone(scope: Scope, id: string, dataSetId: string, created: number, status: string) {
  await t.server.services.store.insert(
    'batches',
    scope,
    batchDoc(scope, id, dataSetId, created, status),
    '0',
    created,
  );
}

/** A dataset stored directly in `scope` (another org or sandbox has no schema to create one on). */
async function storedDataset(scope: Scope, id: string): Promise<void> {
  await t.server.services.store.insert(
    'dataSets',
    scope,
    { id, name: id, state: 'DRAFT', imsOrg: scope.orgId, created: BASE, updated: BASE },
    '0',
    BASE,
  );
}

async function lastBatches(query: string, headers = t.headers) {
  return call(t.url, 'GET', `${CATALOG}/lastBatches${query}`, { headers });
}

async function ok(query: string, headers = t.headers): Promise<Record<string, Record<string, unknown>>> {
  const res = await lastBatches(query, headers);
  expect(res.status, res.text).toBe(200);
  return res.body as Record<string, Record<string, unknown>>;
}

let unique = 0;
/** A batch id no other test uses, ending in `tail` (ids sort by `tail` within one call). */
const batchId = (tail: string) => `01LB${String(++unique).padStart(4, '0')}${tail}`;

describe('GET /lastBatches', () => {
  it('per dataset: the newest batch, the newest successful and the newest failed one, keyed by dataset id in the order asked', async () => {
    const mixed = (await createDataset(t, 'lb-mixed')).dataSetId;
    const onlyOk = (await createDataset(t, 'lb-only-ok')).dataSetId;
    const onlyFailed = (await createDataset(t, 'lb-only-failed')).dataSetId;
    const idle = (await createDataset(t, 'lb-idle')).dataSetId;
    const m = [batchId('A'), batchId('B'), batchId('C'), batchId('D')];
    // Recorded out of order: the newest `created` is the last batch, not the last one recorded.
    await record(prod, m[3] as string, mixed, BASE + 4000, 'failed');
    await record(prod, m[0] as string, mixed, BASE + 1000, 'success');
    await record(prod, m[2] as string, mixed, BASE + 3000, 'success');
    await record(prod, m[1] as string, mixed, BASE + 2000, 'failed');
    const s = [batchId('A'), batchId('B')];
    await record(prod, s[1] as string, onlyOk, BASE + 500, 'success');
    await record(prod, s[0] as string, onlyOk, BASE + 100, 'success');
    const f = batchId('A');
    await record(prod, f, onlyFailed, BASE + 900, 'failed');

    const res = await lastBatches(`?dataSetId=${onlyFailed},${idle},${mixed},${onlyOk}`);
    expect(res.status, res.text).toBe(200);
    const sandboxId = (await t.server.services.tenancy.sandbox(t.orgId, 'prod'))?.id;
    expect(res.body).toEqual({
      [onlyFailed]: {
        lastBatchId: f,
        lastBatchStatus: 'failed',
        lastFailedBatchId: f,
        imsOrg: t.orgId,
        sandboxId,
        created: BASE + 900,
        updated: BASE + 907,
      },
      [mixed]: {
        lastBatchId: m[3],
        lastBatchStatus: 'failed',
        lastSuccessfulBatchId: m[2],
        lastFailedBatchId: m[3],
        imsOrg: t.orgId,
        sandboxId,
        created: BASE + 4000,
        updated: BASE + 4007,
      },
      [onlyOk]: {
        lastBatchId: s[1],
        lastBatchStatus: 'success',
        lastSuccessfulBatchId: s[1],
        imsOrg: t.orgId,
        sandboxId,
        created: BASE + 500,
        updated: BASE + 507,
      },
    });
    // The order asked for, not the order of creation (idle: no batch, no entry).
    expect(Object.keys(res.body as object)).toEqual([onlyFailed, mixed, onlyOk]);
    // It agrees with the dataset's own fields.
    const ds = await call(t.url, 'GET', `${CATALOG}/dataSets/${mixed}`, { headers: t.headers });
    expect((ds.body as Record<string, Record<string, unknown>>)[mixed]).toMatchObject({
      lastBatchId: m[3],
      lastBatchStatus: 'failed',
      lastSuccessfulBatch: m[2],
    });
  });

  it('batches created in the same millisecond: the greater id in code point order is the newest', async () => {
    const tie = (await createDataset(t, 'lb-tie')).dataSetId;
    // Code point order puts "Z" before "a"; a case-insensitive or locale collation would not.
    const small = '01LBTIEZ';
    const great = '01LBTIEa';
    await record(prod, great, tie, BASE + 10_000, 'failed');
    await record(prod, small, tie, BASE + 10_000, 'success');
    const ok1 = '01LBTIEOK1';
    const ok2 = '01LBTIEOK2';
    await record(prod, ok2, tie, BASE + 5000, 'success');
    await record(prod, ok1, tie, BASE + 5000, 'success');
    expect((await ok(`?dataSetId=${tie}`))[tie]).toMatchObject({
      lastBatchId: great,
      lastBatchStatus: 'failed',
      lastSuccessfulBatchId: small,
      lastFailedBatchId: great,
    });
    const ds = await call(t.url, 'GET', `${CATALOG}/dataSets/${tie}`, { headers: t.headers });
    expect((ds.body as Record<string, Record<string, unknown>>)[tie]).toMatchObject({
      lastBatchId: great,
      lastSuccessfulBatch: small,
    });
  });

  it('answers from the batch records, also for a dataset whose own last-batch fields are missing', async () => {
    const old = (await createDataset(t, 'lb-old')).dataSetId;
    const a = batchId('A');
    const b = batchId('B');
    await recordAlone(prod, a, old, BASE + 100, 'success');
    await recordAlone(prod, b, old, BASE + 200, 'failed');
    const ds = await call(t.url, 'GET', `${CATALOG}/dataSets/${old}`, { headers: t.headers });
    expect((ds.body as Record<string, Record<string, unknown>>)[old]).not.toHaveProperty('lastBatchId');
    expect((await ok(`?dataSetId=${old}`))[old]).toMatchObject({
      lastBatchId: b,
      lastBatchStatus: 'failed',
      lastSuccessfulBatchId: a,
      lastFailedBatchId: b,
    });
  });

  it('another org or sandbox: its datasets are left out, and its batches never count', async () => {
    const mine = (await createDataset(t, 'lb-mine')).dataSetId;
    const mineBatch = batchId('A');
    await record(prod, mineBatch, mine, BASE + 100, 'success');
    const inDev = 'aaaaaaaaaaaaaaaaaaaaaa01';
    const inOther = 'aaaaaaaaaaaaaaaaaaaaaa02';
    await storedDataset(dev, inDev);
    await storedDataset(other, inOther);
    const devBatch = batchId('A');
    const otherBatch = batchId('A');
    await record(dev, devBatch, inDev, BASE + 100, 'failed');
    await record(other, otherBatch, inOther, BASE + 100, 'success');
    // A newer batch in dev that names the prod dataset (a dataset id is not a scope).
    await recordAlone(dev, batchId('Z'), mine, BASE + 99_000, 'failed');

    const ids = `?dataSetId=${mine},${inDev},${inOther}`;
    expect(await ok(ids)).toEqual({
      [mine]: expect.objectContaining({ lastBatchId: mineBatch, lastBatchStatus: 'success' }),
    });
    const fromDev = await ok(ids, devHeaders);
    expect(Object.keys(fromDev)).toEqual([inDev]);
    expect(fromDev[inDev]).toMatchObject({
      lastBatchId: devBatch,
      lastFailedBatchId: devBatch,
      imsOrg: t.orgId,
    });
    const fromOther = await ok(ids, otherHeaders);
    expect(Object.keys(fromOther)).toEqual([inOther]);
    expect(fromOther[inOther]).toMatchObject({ lastBatchId: otherBatch, imsOrg: OTHER_ORG });
  });

  it('unknown ids, deleted datasets and datasets without a batch are left out; repeats count once', async () => {
    const gone = (await createDataset(t, 'lb-gone')).dataSetId;
    const kept = (await createDataset(t, 'lb-kept')).dataSetId;
    const keptBatch = batchId('A');
    await record(prod, batchId('A'), gone, BASE + 100, 'success');
    await record(prod, keptBatch, kept, BASE + 100, 'success');
    expect(await t.server.services.store.delete('dataSets', prod, gone)).toBe(true);
    const body = await ok(`?dataSetId=ffffffffffffffffffffffff,${gone},${kept},${kept}&dataSetId=${kept}`);
    expect(Object.keys(body)).toEqual([kept]);
    expect(body[kept]?.lastBatchId).toBe(keptBatch);
    expect(await ok('?dataSetId=ffffffffffffffffffffffff')).toEqual({});
  });

  it('properties=a,b returns those fields of each entry', async () => {
    const one = (await createDataset(t, 'lb-properties')).dataSetId;
    const b = batchId('A');
    await record(prod, b, one, BASE + 100, 'failed');
    expect(
      await ok(`?dataSetId=${one}&properties=lastBatchStatus,lastBatchId,lastSuccessfulBatchId`),
    ).toEqual({
      [one]: { lastBatchId: b, lastBatchStatus: 'failed' },
    });
  });

  it('up to 100 distinct ids are taken', async () => {
    const one = (await createDataset(t, 'lb-hundred')).dataSetId;
    await record(prod, batchId('A'), one, BASE + 100, 'success');
    const filler = Array.from({ length: 99 }, (_, i) => `f${String(i).padStart(23, '0')}`);
    const body = await ok(`?dataSetId=${[...filler, one, one].join(',')}`);
    expect(Object.keys(body)).toEqual([one]);
  });

  it('bad input is a 400 in the Catalog error shape naming the parameter', async () => {
    const ids101 = Array.from({ length: 101 }, (_, i) => `f${String(i).padStart(23, '0')}`).join(',');
    const cases: [string, string, RegExp][] = [
      ['', 'dataSetId', /required/],
      ['?dataSetId=', 'dataSetId', /required/],
      ['?dataSetId=a,,b', 'dataSetId', /empty id/],
      ['?dataSetId=a,', 'dataSetId', /empty id/],
      ['?dataSetId=a%20b', 'dataSetId', /"a b"/],
      ['?dataSetId=a%00', 'dataSetId', /1 to 64 letters/],
      ['?dataSetId=%ED%A0%80', 'dataSetId', /1 to 64 letters/],
      [`?dataSetId=${'x'.repeat(65)}`, 'dataSetId', /1 to 64 letters/],
      [`?dataSetId=${ids101}`, 'dataSetId', /more than 100/],
      ['?dataSetId=a&limit=5', 'limit', /dataSetId=id\[,id…\] and properties/],
      ['?dataSetId=a&lastBatchStatus=failed', 'lastBatchStatus', /not a parameter/],
      ['?dataSetId=a&properties=a.b', 'properties', /.+/],
    ];
    for (const [query, field, message] of cases) {
      const res = await lastBatches(query);
      expect(res.status, `${query}: ${res.text}`).toBe(400);
      const body = res.body as {
        type: string;
        status: number;
        report: Record<string, unknown>;
        errorMessage: string;
      };
      expect(body.type, query).toBe('https://ns.adobe.com/aep/errors/FLOW-1460-400');
      expect(body.status, query).toBe(400);
      expect(body.report.field, query).toBe(field);
      expect(body.errorMessage, query).toMatch(message);
    }
  });

  it('is in the published OpenAPI document with dataSetId required', async () => {
    const res = await call(t.url, 'GET', '/openapi.json', { headers: t.headers });
    expect(res.status, res.text).toBe(200);
    const op = (res.body as { paths: Record<string, Record<string, unknown>> }).paths[
      `${CATALOG}/lastBatches`
    ]?.get as { operationId: string; parameters: { name: string; required: boolean }[] };
    expect(op.operationId).toBe('listLastBatches');
    expect(op.parameters.find((p) => p.name === 'dataSetId')?.required).toBe(true);
  });
});
