import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetSchemas } from '../src/datasets/dataset-schema.js';
import { DatasetLake, type LandRequest, ROW_GROUP_ROWS } from '../src/datasets/writer.js';
import { createDataset, duckRows, rowGroupSizes, TENANT } from './datasets-fixtures.js';
import { call, startTestServer, type TestServer } from './helpers.js';

const T = `_${TENANT}`;
let t: TestServer;
let scope: LandRequest['scope'];
const lake = () => t.server.services.datasets as DatasetLake;
const batches = async (dataSetId: string) =>
  (await call(t.url, 'GET', `/data/foundation/catalog/batches?dataSet=${dataSetId}`, { headers: t.headers }))
    .body as Record<string, Record<string, unknown>>;

const member = (i: number) => ({
  _id: `m-${i}`,
  personalEmail: { address: `m${i}@example.com` },
  [T]: {
    memberId: i,
    name: `Member ${i}`,
    points: i * 1.5,
    active: i % 2 === 0,
    joined: `2024-01-${String((i % 28) + 1).padStart(2, '0')}T10:00:00+02:00`,
    tags: ['a', `t${i}`],
    address: { city: 'Basel', zip: `40${i}` },
  },
});

beforeAll(async () => {
  t = await startTestServer({ bootstrap: { clientSecret: 'datasets-secret', tenantId: TENANT } });
  scope = { orgId: t.orgId, sandbox: 'prod' };
});
afterAll(async () => {
  await t.close();
});

describe('DatasetLake.land', () => {
  it('writes one Parquet batch that an independent reader (DuckDB) reads back equal, and records it in the Catalog', async () => {
    const { dataSetId } = await createDataset(t, 'members');
    const records = Array.from({ length: 25 }, (_, i) => member(i));
    const landed = await t.server.services.datasets.land({
      scope,
      datasetId: dataSetId,
      records,
      origin: { flowId: 'f1', runId: 'r1' },
    });
    expect(landed).toMatchObject({ recordCount: 25, failedCount: 0, created: true });
    expect(landed.batchId).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(landed.files).toEqual([{ name: 'part-00000.parquet', bytes: landed.bytes }]);

    const dir = lake().batchDir(dataSetId, landed.batchId);
    const rows = await duckRows(
      join(dir, 'data', '*.parquet'),
      `_id, personalEmail.address as email, ${T}.memberId as memberId, ${T}.name as name, ${T}.points as points, ${T}.active as active, ${T}.joined as joined, ${T}.tags as tags, ${T}.address.city as city, ${T}.address.zip as zip`,
      `${T}.memberId`,
    );
    expect(rows).toEqual(
      records.map((r) => {
        const x = r[T] as Record<string, unknown> & { address: { city: string; zip: string } };
        return {
          _id: r._id,
          email: r.personalEmail.address,
          memberId: String(x.memberId),
          name: x.name,
          points: x.points,
          active: x.active,
          joined: x.joined,
          tags: JSON.stringify(x.tags),
          city: x.address.city,
          zip: x.address.zip,
        };
      }),
    );
    const types = await duckRows(join(dir, 'data', '*.parquet'), `typeof(${T}) as t`);
    expect(types[0]?.t).toBe(
      'STRUCT(memberId BIGINT, "name" VARCHAR, points DOUBLE, active BOOLEAN, joined VARCHAR, tags JSON, address STRUCT(city VARCHAR, zip VARCHAR))',
    );

    const listed = await batches(dataSetId);
    expect(Object.keys(listed)).toEqual([landed.batchId]);
    expect(listed[landed.batchId]).toMatchObject({
      status: 'success',
      recordCount: 25,
      failedRecordCount: 0,
      relatedObjects: [{ type: 'dataSet', id: dataSetId }],
      metrics: { inputRecordCount: 25, outputRecordCount: 25, failedRecordCount: 0 },
      tags: { 'inflow:flowId': ['f1'], 'inflow:runId': ['r1'] },
    });
  });

  it('lands failures in the batch error file with their reason and path; a record that does not fit the columns fails instead of losing a field', async () => {
    const { dataSetId } = await createDataset(t, 'with errors');
    const odd = { ...member(2), [T]: { ...member(2)[T], nickname: 'x' } };
    const landed = await t.server.services.datasets.land({
      scope,
      datasetId: dataSetId,
      records: [member(1), odd],
      failures: [
        { record: { raw: 1 }, reason: 'email must be string', path: 'email', code: 'MAPPER-3700-400' },
      ],
      origin: {},
    });
    expect(landed).toMatchObject({ recordCount: 1, failedCount: 2 });
    const lines = readFileSync(
      join(lake().batchDir(dataSetId, landed.batchId), 'meta', 'row_errors.json'),
      'utf8',
    )
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { code: 'MAPPER-3700-400', reason: 'email must be string', path: 'email', record: { raw: 1 } },
      {
        code: 'INGEST-1555-400',
        reason: `${T}.nickname is not a field of the dataset's schema`,
        path: `${T}.nickname`,
        record: odd,
      },
    ]);
    const batch = (await batches(dataSetId))[landed.batchId];
    expect(batch).toMatchObject({ status: 'success', recordCount: 1, failedRecordCount: 2 });
    expect(batch?.errors).toEqual([
      expect.objectContaining({ code: 'INGEST-1212-400' }),
      expect.objectContaining({ code: 'MAPPER-3700-400', recordCount: 1 }),
      expect.objectContaining({ code: 'INGEST-1555-400', recordCount: 1 }),
    ]);

    const allBad = await t.server.services.datasets.land({
      scope,
      datasetId: dataSetId,
      records: [],
      failures: [{ record: 1, reason: 'bad' }],
      origin: {},
    });
    expect((await batches(dataSetId))[allBad.batchId]).toMatchObject({
      status: 'failed',
      recordCount: 0,
      failedRecordCount: 1,
    });
  });

  it('lands a key once: landing it again returns the batch already landed', async () => {
    const { dataSetId } = await createDataset(t, 'keyed');
    const request = {
      scope,
      datasetId: dataSetId,
      records: [member(1), member(2)],
      origin: { runId: 'run-k' },
      key: 'run-k',
    };
    const first = await t.server.services.datasets.land(request);
    const again = await t.server.services.datasets.land({ ...request, records: [member(3)] });
    expect(again).toEqual({ ...first, created: false });
    expect(Object.keys(await batches(dataSetId))).toEqual([first.batchId]);
  });

  it('lands a batch a piece at a time (open, add, commit): a row group per piece of at most ROW_GROUP_ROWS, read back whole', async () => {
    const { dataSetId } = await createDataset(t, 'pieces');
    const odd = { ...member(5), [T]: { ...member(5)[T], nickname: 'x' } };
    const request = { scope, datasetId: dataSetId, origin: { inletId: 'i1' }, key: 'pieces-1' };
    const batch = await lake().open(request);
    batch.add([member(0), member(1), member(2)]);
    batch.add([member(3), odd], [{ record: { raw: 4 }, reason: 'bad', code: 'MAPPER-3700-400' }]);
    const many = Array.from({ length: ROW_GROUP_ROWS + 10 }, (_, i) => member(10 + i));
    batch.add(many);
    const landed = await batch.commit();
    expect(landed).toMatchObject({ recordCount: 4 + many.length, failedCount: 2, created: true });

    const file = join(lake().batchDir(dataSetId, landed.batchId), 'data', 'part-00000.parquet');
    const ids = (await duckRows(file, '_id')).map((r) => r._id);
    expect(ids).toEqual([0, 1, 2, 3, ...many.map((_, i) => 10 + i)].map((i) => `m-${i}`));
    // Pieces of 3 and 1 rows, then ROW_GROUP_ROWS + 10 split at ROW_GROUP_ROWS.
    expect(await rowGroupSizes(file)).toEqual([3, 1, ROW_GROUP_ROWS, 10]);
    // A committed batch takes no more calls (a second commit would write a second footer).
    expect(() => batch.add([member(1)])).toThrow(/open another/);
    await expect(batch.commit()).rejects.toThrow(/open another/);

    // Opening the key again finds the batch landed: nothing is encoded or written.
    const again = await lake().open(request);
    again.add([member(99)]);
    expect(await again.commit()).toEqual({ ...landed, created: false });
    expect(Object.keys(await batches(dataSetId))).toEqual([landed.batchId]);
  });

  it('refuses a dataset that does not exist, in the service shape', async () => {
    await expect(
      t.server.services.datasets.land({ scope, datasetId: 'f'.repeat(24), records: [member(1)], origin: {} }),
    ).rejects.toMatchObject({ code: '1439-404' });
  });
});

describe('atomic commit and startup recovery', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inflow-datasets-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a crash between the commit and the Catalog record leaves no visible batch; the restart finishes it; half-written folders vanish', {
    timeout: 60_000,
  }, async () => {
    const first = await startTestServer({
      dataDir: dir,
      bootstrap: { clientSecret: 'recover-secret', tenantId: TENANT },
    });
    const { dataSetId } = await createDataset(first, 'recovered');
    const firstScope = { orgId: first.orgId, sandbox: 'prod' };
    const services = first.server.services;
    const root = (services.datasets as DatasetLake).root;
    const crashing = new DatasetLake(
      root,
      services.store,
      new DatasetSchemas(services.store),
      Date.now,
      async () => {
        throw new Error('simulated crash after the rename');
      },
    );
    await expect(
      crashing.land({
        scope: firstScope,
        datasetId: dataSetId,
        records: [member(7)],
        origin: { runId: 'r' },
        key: 'r',
      }),
    ).rejects.toThrow('simulated crash');
    const list = async (s: TestServer) =>
      (
        await call(s.url, 'GET', `/data/foundation/catalog/batches?dataSet=${dataSetId}`, {
          headers: s.headers,
        })
      ).body;
    expect(await list(first)).toEqual({});
    // A batch still being written when the process died: only its temp folder exists.
    mkdirSync(join(root, '.tmp', 'HALFWRITTEN.abcd', 'data'), { recursive: true });
    writeFileSync(join(root, '.tmp', 'HALFWRITTEN.abcd', 'data', 'part-00000.parquet'), 'PAR1');
    // A batch folder without a manifest is not a batch.
    mkdirSync(join(root, dataSetId, 'NOMANIFEST'), { recursive: true });
    await first.close();

    const second = await startTestServer({
      dataDir: dir,
      bootstrap: { clientSecret: 'recover-secret', tenantId: TENANT },
    });
    try {
      const listed = (await list(second)) as Record<string, { recordCount: number; status: string }>;
      expect(Object.values(listed)).toEqual([expect.objectContaining({ status: 'success', recordCount: 1 })]);
      expect(readdirSync(join(root, '.tmp'))).toEqual([]);
      expect(readdirSync(join(root, dataSetId))).toEqual(Object.keys(listed));
      // The run retrying with its key finds the batch that landed.
      const again = await second.server.services.datasets.land({
        scope: { orgId: second.orgId, sandbox: 'prod' },
        datasetId: dataSetId,
        records: [member(7)],
        origin: { runId: 'r' },
        key: 'r',
      });
      expect(again).toMatchObject({ created: false, recordCount: 1, batchId: Object.keys(listed)[0] });
    } finally {
      await second.close();
    }
  });
});

describe('Catalog batch listing (reference §13.2 paging)', () => {
  it('pages with start and limit (default 20, max 100), orders with orderBy, and refuses bad values in the service shape', async () => {
    const { dataSetId } = await createDataset(t, 'paged');
    const landed: string[] = [];
    for (let i = 0; i < 25; i++) {
      const b = await t.server.services.datasets.land({
        scope,
        datasetId: dataSetId,
        records: Array.from({ length: (i % 4) + 1 }, (_, k) => member(i * 10 + k)),
        origin: { runId: 'paging' },
        key: `paging:${i}`,
      });
      landed.push(b.batchId);
    }
    const list = async (query: string) => {
      const res = await call(t.url, 'GET', `/data/foundation/catalog/batches?dataSet=${dataSetId}${query}`, {
        headers: t.headers,
      });
      return { status: res.status, body: res.body as Record<string, Record<string, unknown>> };
    };

    // Default: the 20 oldest, in landing order (keyed ids are not time-ordered, `created` is).
    expect(Object.keys((await list('')).body)).toEqual(landed.slice(0, 20));
    // Pages of 7 walk every batch exactly once; the last page is short (the end-of-list signal).
    const walked: string[] = [];
    for (let start = 0; ; start += 7) {
      const page = Object.keys((await list(`&limit=7&start=${start}`)).body);
      walked.push(...page);
      if (page.length < 7) break;
    }
    expect(walked).toEqual(landed);
    expect(Object.keys((await list('&limit=100')).body)).toEqual(landed);
    expect(Object.keys((await list('&start=25')).body)).toEqual([]);
    // Newest first, and by a numeric field (ties by creation, in the same direction).
    expect(Object.keys((await list('&orderBy=desc:created&limit=3')).body)).toEqual(
      landed.slice(-3).reverse(),
    );
    const byCount = Object.values((await list('&orderBy=desc:recordCount&limit=100')).body).map(
      (b) => b.recordCount,
    );
    expect(byCount).toEqual([...byCount].sort((a, b) => Number(b) - Number(a)));
    expect(byCount[0]).toBe(4);
    expect(Object.keys((await list('&orderBy=created&start=24')).body)).toEqual([landed[24]]);

    for (const [query, field] of [
      ['&limit=0', 'limit'],
      ['&limit=101', 'limit'],
      ['&limit=ten', 'limit'],
      ['&start=-1', 'start'],
      ['&orderBy=sideways:created', 'orderBy'],
      ['&orderBy=desc:nope', 'orderBy'],
    ] as const) {
      const res = await list(query);
      expect(res.status, query).toBe(400);
      expect((res.body as unknown as { report: { field: string } }).report.field, query).toBe(field);
    }
    // Datasets page and order the same way.
    const datasets = await call(
      t.url,
      'GET',
      '/data/foundation/catalog/dataSets?orderBy=desc:created&limit=1',
      {
        headers: t.headers,
      },
    );
    expect(Object.keys(datasets.body as object)).toEqual([dataSetId]);
  });
});
