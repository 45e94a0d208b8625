import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineSourceConnector } from '@inflow/core';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MAX_JSON_DEPTH } from '../src/datasets/parquet-schema.js';
import type { DatasetLake, LandRequest } from '../src/datasets/writer.js';
import { batchDouble, CLOUD_STORAGE_FLOW_SPEC } from './batch-double.js';
import { createDataset, TENANT } from './datasets-fixtures.js';
import { CONNECTORS, call, FS, startTestServer, type TestServer } from './helpers.js';
import { createInlet, envelope, eventually, expectCatalogCounts, readDataset } from './streaming-helpers.js';

/*
 * Every value → Parquet conversion either succeeds or fails its own record with a path and a
 * reason (review issue 5, item 2): one record never makes a batch, a run or the streaming
 * consumer fail. Real server, real lake; read back with hyparquet.
 */

const T = `_${TENANT}`;
const DATA_LAKE_SPEC = 'c604ff05-7f1a-43c0-8e18-33bf874cb11c';
const DOUBLE_SPEC = '3f6b0c8e-2d4a-4e1b-9c57-8a0d6e2f4b13';

/** A valid member (PROFILE_SCHEMA) whose tenant fields are overridden by `fields`. */
const member = (i: number, fields: Record<string, unknown> = {}) => ({
  _id: `m-${i}`,
  [T]: { memberId: i, name: `Member ${i}`, points: 1.5, active: true, ...fields },
});

/** A record whose name is a getter that throws (a connector's lazy record whose source went away). */
function withThrowingName(record: ReturnType<typeof member>) {
  Object.defineProperty(record[T], 'name', {
    enumerable: true,
    get() {
      throw new Error('the source closed');
    },
  });
  return record;
}

/** A batch source yielding `records` once (state `{done: true}`). */
let sourceRecords: Record<string, unknown>[] = [];
const fixed = defineSourceConnector({
  id: 'fixed-records',
  displayName: 'Fixed records (test double)',
  ...batchDouble({
    id: 'fixed-records',
    specId: DOUBLE_SPEC,
    description: 'a test double: the records a test set',
    dataFormats: ['json'],
    setupName: 'fixed',
    setupParams: { source: 'setup' },
  }),
  sourceParams: z.object({ source: z.string() }),
  async *read({ state }) {
    if ((state as { done?: boolean } | undefined)?.done) return;
    yield { records: sourceRecords, state: { done: true } };
  },
});

let t: TestServer;
let dataDir: string;
let scope: LandRequest['scope'];
const lake = () => t.server.services.datasets as DatasetLake;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'inflow-datasets-values-'));
  t = await startTestServer({
    dataDir,
    bootstrap: { clientSecret: 'datasets-values-secret', tenantId: TENANT },
    connectors: [...CONNECTORS, fixed],
    runs: { retryBaseMs: 20, maxAttempts: 3, tickMs: 50 },
    streaming: { flushMs: 100 },
  });
  scope = { orgId: t.orgId, sandbox: 'prod' };
}, 120_000);
afterAll(async () => {
  await t?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function rowsOf(dataSetId: string, batchId: string) {
  const file = join(lake().batchDir(dataSetId, batchId), 'data', 'part-00000.parquet');
  return (await parquetReadObjects({ file: await asyncBufferFromFile(file) })) as Record<string, unknown>[];
}

function errorsOf(dataSetId: string, batchId: string) {
  return readFileSync(join(lake().batchDir(dataSetId, batchId), 'meta', 'row_errors.json'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { code: string; reason: string; path: string; record: unknown });
}

describe('DatasetLake.land: every value either converts or fails its own record', () => {
  it('lands the good records and sends each bad one to row_errors with its path and reason', async () => {
    const { dataSetId } = await createDataset(t, 'values');
    const circular: unknown[] = ['loop'];
    circular.push(circular);
    let deep: unknown = 'bottom';
    for (let i = 0; i < MAX_JSON_DEPTH + 5; i++) deep = [deep];
    const bad: [Record<string, unknown> | unknown, string, RegExp][] = [
      [
        member(101, { memberId: 1e20 }),
        `${T}.memberId`,
        /out of the 64-bit integer range .* got 100000000000000000000$/,
      ],
      [member(102, { memberId: -1e19 }), `${T}.memberId`, /out of the 64-bit integer range/],
      [member(103, { memberId: 2 ** 63 }), `${T}.memberId`, /out of the 64-bit integer range/],
      [
        member(104, { memberId: 2n ** 63n }),
        `${T}.memberId`,
        /out of the 64-bit integer range .* got 9223372036854775808$/,
      ],
      [member(105, { memberId: 1.5 }), `${T}.memberId`, /must be a whole number, got 1\.5/],
      [member(106, { memberId: Number.NaN }), `${T}.memberId`, /must be a whole number, got NaN/],
      [member(107, { memberId: '7' }), `${T}.memberId`, /must be a whole number, got a string/],
      [
        member(108, { points: Number.POSITIVE_INFINITY }),
        `${T}.points`,
        /must be a finite number, got Infinity/,
      ],
      [member(109, { points: Number.NaN }), `${T}.points`, /must be a finite number, got NaN/],
      [member(110, { points: 2n }), `${T}.points`, /must be a number, got a bigint/],
      [member(111, { name: 'half \ud800 a pair' }), `${T}.name`, /not valid Unicode text/],
      [member(112, { joined: new Date('not a date') }), `${T}.joined`, /must be a string, got a Date/],
      [member(113, { active: 'yes' }), `${T}.active`, /must be a boolean, got a string/],
      [member(114, { address: 'Basel' }), `${T}.address`, /must be an object, got a string/],
      [member(115, { address: ['Basel'] }), `${T}.address`, /must be an object, got an array/],
      [
        member(116, { address: new Map([['city', 'Basel']]) }),
        `${T}.address`,
        /must be an object, got a Map/,
      ],
      [member(117, { address: { city: 4000 } }), `${T}.address.city`, /must be a string, got 4000/],
      [member(118, { address: { city: 'Basel', planet: 'Earth' } }), `${T}.address.planet`, /not a field/],
      [member(119, { tags: ['a', 2n ** 70n] }), `${T}.tags[1]`, /bigint .* cannot hold exactly/],
      [member(120, { tags: ['a', Number.NaN] }), `${T}.tags[1]`, /must be a finite number, got NaN/],
      [member(121, { tags: [{ at: new Date(Number.NaN) }] }), `${T}.tags[0].at`, /invalid Date/],
      [member(122, { tags: [() => 1] }), `${T}.tags[0]`, /is a function, not a JSON value/],
      [member(123, { tags: [new Set([1])] }), `${T}.tags[0]`, /is a Set, not a JSON value/],
      [
        member(124, { tags: circular }),
        `${T}.tags${'[1]'.repeat(MAX_JSON_DEPTH)}`,
        /nested deeper than 1000 levels \(or refers to itself\)/,
      ],
      [member(125, { tags: deep }), `${T}.tags${'[0]'.repeat(MAX_JSON_DEPTH)}`, /nested deeper/],
      [withThrowingName(member(126)), T, /cannot be converted \(the source closed\)/],
      ['not a record', '(record)', /must be an object, got a string/],
      [null, '(record)', /must be an object, got null/],
    ];
    const good = [
      member(1),
      member(2, { memberId: -0, points: -0 }),
      member(3, { memberId: 2 ** 53 + 2 }),
      member(4, { memberId: -(2 ** 63) }),
      member(5, { memberId: 2n ** 63n - 1n }),
      member(6, { tags: [1, 'two', true, null, { three: [3] }, [4n], new Date(Date.UTC(2024, 0, 2))] }),
      member(7, { tags: ['a', undefined], address: { city: 'Basel', zip: undefined } }),
      member(8, { name: 'x'.repeat(1 << 20), points: Number.MAX_VALUE }),
      member(9, { name: 'emoji 🦆 and ünïcödé' }),
    ];
    const landed = await t.server.services.datasets.land({
      scope,
      datasetId: dataSetId,
      records: [...good, ...bad.map(([r]) => r)] as Record<string, unknown>[],
      origin: { flowId: 'f-values' },
    });
    expect(landed).toMatchObject({ recordCount: good.length, failedCount: bad.length, created: true });

    const rows = await rowsOf(dataSetId, landed.batchId);
    const tenant = rows.map((r) => r[T] as Record<string, unknown>);
    expect(rows.map((r) => r._id)).toEqual(good.map((g) => g._id));
    expect(tenant.map((r) => r.memberId)).toEqual([
      1n,
      0n,
      2n ** 53n + 2n,
      -(2n ** 63n),
      2n ** 63n - 1n,
      6n,
      7n,
      8n,
      9n,
    ]);
    expect(Object.is(tenant[1]?.points, -0)).toBe(true);
    expect(tenant[5]?.tags).toEqual([1, 'two', true, null, { three: [3] }, [4], '2024-01-02T00:00:00.000Z']);
    expect(tenant[6]?.tags).toEqual(['a', null]);
    expect(tenant[6]?.address).toEqual({ city: 'Basel', zip: null });
    expect(tenant[7]?.name).toBe('x'.repeat(1 << 20));
    expect(tenant[7]?.points).toBe(Number.MAX_VALUE);
    expect(tenant[8]?.name).toBe('emoji 🦆 and ünïcödé');

    const errors = errorsOf(dataSetId, landed.batchId);
    expect(errors.map((e) => [e.path, e.code])).toEqual(bad.map(([, path]) => [path, 'INGEST-1555-400']));
    errors.forEach((e, i) => {
      expect(e.reason, e.path).toMatch((bad[i] as [unknown, string, RegExp])[2]);
      expect(e.reason.startsWith(e.path), e.reason).toBe(true);
    });
    // What JSON cannot hold is still written: bigints as text, cycles marked.
    const tenantOf = (n: number) =>
      (errors[n]?.record as Record<string, Record<string, unknown>> | undefined)?.[T];
    expect(tenantOf(3)?.memberId).toBe('9223372036854775808');
    expect(tenantOf(23)?.tags).toEqual(['loop', '[circular]']);
    expect(errors[26]?.record).toBe('not a record');

    const batch = (
      await call(t.url, 'GET', `/data/foundation/catalog/batches/${landed.batchId}`, { headers: t.headers })
    ).body as Record<string, { status: string; recordCount: number; failedRecordCount: number }>;
    expect(batch[landed.batchId]).toMatchObject({
      status: 'success',
      recordCount: good.length,
      failedRecordCount: bad.length,
    });
  });

  it('a batch of only unconvertible records is a failed batch, not an error', async () => {
    const { dataSetId } = await createDataset(t, 'all bad');
    const landed = await t.server.services.datasets.land({
      scope,
      datasetId: dataSetId,
      records: [member(1, { memberId: 1e20 }), member(2, { points: Number.NaN })],
      origin: {},
    });
    expect(landed).toMatchObject({ recordCount: 0, failedCount: 2, files: [] });
    expect(errorsOf(dataSetId, landed.batchId).map((e) => e.path)).toEqual([`${T}.memberId`, `${T}.points`]);
  });
});

describe('a record outside int64 no longer fails what carries it', () => {
  it('a batch run lands the other records and puts that one in row_errors; the run succeeds', async () => {
    const { dataSetId } = await createDataset(t, 'run with a huge integer');
    sourceRecords = [member(1), member(2, { memberId: 1e20 }), member(3)];
    const post = async (path: string, body: unknown) => {
      const res = await call(t.url, 'POST', path, { headers: t.headers, body });
      expect(res.status, res.text).toBeLessThan(300);
      return res.body as { id: string; items?: { id: string }[] };
    };
    const source = await post(`${FS}/sourceConnections`, {
      name: 'fixed',
      data: { format: 'json' },
      params: { source: 'fixed' },
      connectionSpec: { id: DOUBLE_SPEC, version: '1.0' },
    });
    const target = await post(`${FS}/targetConnections`, {
      name: 'lake',
      params: { dataSetId },
      connectionSpec: { id: DATA_LAKE_SPEC, version: '1.0' },
    });
    const flow = await post(`${FS}/flows`, {
      name: 'huge integer',
      flowSpec: { id: CLOUD_STORAGE_FLOW_SPEC, version: '1.0' },
      sourceConnectionIds: [source.id],
      targetConnectionIds: [target.id],
      scheduleParams: { startTime: String(Math.floor(Date.now() / 1000) + 86_400), frequency: 'once' },
    });
    const runId = (await post(`${FS}/runs`, { flowId: flow.id })).items?.[0]?.id as string;
    type Run = {
      state: string;
      metrics: { recordSummary: Record<string, number>; statusSummary: { extensions: { batchId: string } } };
    };
    const run = await eventually(async () => {
      const got = (
        (await call(t.url, 'GET', `${FS}/runs/${runId}`, { headers: t.headers })).body as { items: Run[] }
      ).items[0];
      return got && (got.state === 'success' || got.state === 'failed') ? got : undefined;
    });
    expect(run.state).toBe('success');
    expect(run.metrics.recordSummary).toMatchObject({
      inputRecordCount: 3,
      outputRecordCount: 2,
      failedRecordCount: 1,
    });
    const batchId = run.metrics.statusSummary.extensions.batchId;
    expect((await rowsOf(dataSetId, batchId)).map((r) => r._id)).toEqual(['m-1', 'm-3']);
    expect(errorsOf(dataSetId, batchId)).toEqual([
      expect.objectContaining({
        path: `${T}.memberId`,
        reason: expect.stringMatching(/64-bit integer range/),
      }),
    ]);
  });

  it('a streamed message with "memberId": 100000000000000000000 is acknowledged, lands in row_errors, and later messages land', async () => {
    const api = { url: t.url, headers: t.headers };
    const { schemaId, dataSetId: datasetId } = await createDataset(t, 'streamed huge integer');
    const inlet = await createInlet(api);
    const send = (seq: number) =>
      call(t.url, 'POST', `/collection/${inlet.inletId}`, {
        body: envelope(schemaId, datasetId, { _id: `s-${seq}`, [T]: { memberId: seq, name: `seq ${seq}` } }),
      });
    expect((await send(1e20)).status).toBe(200);
    expect((await send(2)).status).toBe(200);
    const landed = await eventually(async () => {
      const d = await readDataset(dataDir, datasetId);
      return d.rows.length === 1 && d.failures.length === 1 ? d : undefined;
    });
    expect(landed.rows).toEqual([{ _id: 's-2', [T]: { memberId: 2, name: 'seq 2' } }]);
    expect(landed.failures).toEqual([
      expect.objectContaining({
        code: 'INGEST-1555-400',
        path: `${T}.memberId`,
        reason: expect.stringMatching(/64-bit integer range/),
      }),
    ]);
    expect((await send(3)).status).toBe(200);
    await eventually(async () => {
      const d = await readDataset(dataDir, datasetId);
      return d.rows.length === 2 ? d : undefined;
    });
    await expectCatalogCounts(api, datasetId, 2, 1);
  }, 60_000);
});
