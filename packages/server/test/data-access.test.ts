import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchManifest, DatasetLake, LandedBatch } from '../src/datasets/writer.js';
import { createDataset, TENANT } from './datasets-fixtures.js';
import { call, startTestServer, type TestServer } from './helpers.js';

const T = `_${TENANT}`;
const DA = '/data/foundation/export';
let t: TestServer;
let dataSetId: string;
let landed: LandedBatch;
let devSandbox: Record<string, string>;
const get = (path: string, headers: Record<string, string> = t.headers) =>
  call(t.url, 'GET', path, { headers });

const member = (i: number) => ({
  _id: `m-${i}`,
  [T]: { memberId: i, name: `Member ${i}`, tags: ['x'], address: { city: 'Bern' } },
});
const records = Array.from({ length: 150 }, (_, i) => member(i));

beforeAll(async () => {
  t = await startTestServer({ bootstrap: { clientSecret: 'da-secret', tenantId: TENANT } });
  ({ dataSetId } = await createDataset(t, 'access'));
  landed = await t.server.services.datasets.land({
    scope: { orgId: t.orgId, sandbox: 'prod' },
    datasetId: dataSetId,
    records,
    failures: [
      { record: { email: 5 }, reason: 'email must be string', path: 'email', code: 'MAPPER-3700-400' },
      { record: { email: 6 }, reason: 'email must be string', path: 'email', code: 'MAPPER-3700-400' },
    ],
    origin: { runId: 'r1' },
  });
  await t.server.services.tenancy.createSandbox(t.orgId, 'dev', 'development');
  devSandbox = { ...t.headers, 'x-sandbox-name': 'dev' };
});
afterAll(async () => {
  await t.close();
});

describe('Data Access', () => {
  it("lists a batch's files, lists a file's parts, and downloads them whole or by range", async () => {
    const files = await get(`${DA}/batches/${landed.batchId}/files`);
    expect(files.status).toBe(200);
    const body = files.body as {
      data: { dataSetFileId: string; _links: { self: { href: string } } }[];
      _page: unknown;
    };
    expect(body._page).toEqual({ limit: 100, count: 1 });
    expect(body.data[0]).toMatchObject({
      dataSetFileId: `${landed.batchId}-1`,
      dataSetViewId: dataSetId,
      records: '150',
      isValid: true,
    });
    const listing = await get(new URL(body.data[0]?._links.self.href as string).pathname);
    expect(listing.status).toBe(200);
    const part = (
      listing.body as { data: { name: string; length: string; _links: { self: { href: string } } }[] }
    ).data[0];
    expect(part).toMatchObject({ name: 'part-00000.parquet', length: String(landed.bytes) });

    const onDisk = readFileSync(
      join(
        (t.server.services.datasets as DatasetLake).batchDir(dataSetId, landed.batchId),
        'data',
        'part-00000.parquet',
      ),
    );
    const whole = await request(part?._links.self.href as string, { headers: t.headers });
    expect(whole.statusCode).toBe(200);
    expect(whole.headers['content-type']).toBe('application/octet-stream');
    expect(Buffer.from(await whole.body.arrayBuffer()).equals(onDisk)).toBe(true);

    const ranged = await request(part?._links.self.href as string, {
      headers: { ...t.headers, range: 'bytes=0-3' },
    });
    expect(ranged.statusCode).toBe(206);
    expect(ranged.headers['content-range']).toBe(`bytes 0-3/${onDisk.length}`);
    expect(await ranged.body.text()).toBe('PAR1');
    const beyond = await get(`${DA}/files/${landed.batchId}-1?path=part-00000.parquet`, {
      ...t.headers,
      range: `bytes=${onDisk.length + 10}-`,
    });
    expect(beyond.status).toBe(416);

    expect((await get(`${DA}/files/${landed.batchId}-1?path=../../keys/secret.key`)).status).toBe(404);
    expect((await get(`${DA}/files/nope-1`)).status).toBe(404);
    expect((await get(`${DA}/files/nope`)).status).toBe(404);
  });

  it('pages listings with start and limit: _links.next walks every entry once, the last page has none', async () => {
    // A batch whose data is split in five Parquet parts (the manifest lists every file under data/).
    const split = await t.server.services.datasets.land({
      scope: { orgId: t.orgId, sandbox: 'prod' },
      datasetId: dataSetId,
      records: records.slice(0, 10),
      origin: { runId: 'r2' },
    });
    const dir = (t.server.services.datasets as DatasetLake).batchDir(dataSetId, split.batchId);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as BatchManifest;
    const [first] = manifest.files;
    const names = [0, 1, 2, 3, 4].map((i) => `part-0000${i}.parquet`);
    for (const name of names.slice(1))
      copyFileSync(join(dir, 'data', first?.name as string), join(dir, 'data', name));
    manifest.files = names.map((name) => ({ ...(first as BatchManifest['files'][0]), name }));
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));

    type Listing = {
      data: { name: string; _links: { self: { href: string } } }[];
      _page: { limit: number; count: number };
      _links?: { next?: { href: string }; page?: { href: string; templated: boolean } };
    };
    const whole = (await get(`${DA}/files/${split.batchId}-1`)).body as Listing;
    expect(whole._page).toEqual({ limit: 100, count: 5 });
    expect(whole.data.map((f) => f.name)).toEqual(names);
    expect(whole._links).toBeUndefined();

    const seen: string[] = [];
    const pages: Listing[] = [];
    let next: string | undefined = `${t.url}${DA}/files/${split.batchId}-1?limit=2`;
    while (next) {
      const res = await request(next, { headers: t.headers });
      expect(res.statusCode).toBe(200);
      const body = (await res.body.json()) as Listing;
      pages.push(body);
      expect(body._page).toEqual({ limit: 2, count: 5 });
      seen.push(...body.data.map((f) => f.name));
      next = body._links?.next?.href;
      expect(pages.length).toBeLessThanOrEqual(3);
    }
    expect(pages.map((p) => p.data.length)).toEqual([2, 2, 1]);
    expect(seen).toEqual(names);
    expect(new Set(seen).size).toBe(names.length);
    expect(pages[0]?._links).toEqual({
      next: { href: `${t.url}${DA}/files/${split.batchId}-1?start=2&limit=2` },
      page: { href: `${t.url}${DA}/files/${split.batchId}-1?start=0&limit=2`, templated: true },
    });
    expect(pages[2]?._links).toBeUndefined();
    // Every listed part downloads through its own link.
    const last = await request(pages[2]?.data[0]?._links.self.href as string, { headers: t.headers });
    expect(last.statusCode).toBe(200);
    expect(Buffer.from(await last.body.arrayBuffer()).length).toBe(first?.bytes);

    // The batch's one dataSetFile: one page whatever the limit; past the end, an empty page.
    const one = (await get(`${DA}/batches/${split.batchId}/files?start=0&limit=1`)).body as Listing;
    expect(one._page).toEqual({ limit: 1, count: 1 });
    expect(one.data).toHaveLength(1);
    expect(one._links).toBeUndefined();
    const past = (await get(`${DA}/batches/${split.batchId}/files?start=1&limit=1`)).body as Listing;
    expect(past).toEqual({ data: [], _page: { limit: 1, count: 1 } });

    for (const path of [`/batches/${split.batchId}/files`, `/files/${split.batchId}-1`]) {
      for (const [query, field] of [
        ['limit=0', 'limit'],
        ['limit=101', 'limit'],
        ['limit=ten', 'limit'],
        ['limit=1&limit=2', 'limit'],
        ['start=-1', 'start'],
        ['start=1.5', 'start'],
      ] as const) {
        const bad = await get(`${DA}${path}?${query}`);
        expect(bad.status, `${path}?${query}`).toBe(400);
        expect(bad.body).toMatchObject({
          type: 'https://ns.adobe.com/aep/errors/FLOW-1460-400',
          status: 400,
          report: { field },
        });
      }
    }
  });

  it('previews the first rows as JSON, nested objects kept', async () => {
    const preview = await get(`${DA}/datasets/${dataSetId}/preview`);
    expect(preview.status).toBe(200);
    const rows = (preview.body as { data: unknown[] }).data;
    expect(rows).toEqual(records.slice(0, 100));
    const five = await get(`${DA}/datasets/${dataSetId}/preview?limit=5`);
    expect((five.body as { data: unknown[] }).data).toEqual(records.slice(0, 5));
    expect((await get(`${DA}/datasets/${dataSetId}/preview?limit=0`)).status).toBe(400);
    expect((await get(`${DA}/datasets/${'a'.repeat(24)}/preview`)).status).toBe(404);
  });

  it('serves the failed records through meta?path=row_errors', async () => {
    const meta = await get(`${DA}/batches/${landed.batchId}/meta?path=row_errors`);
    expect(meta.status).toBe(200);
    const entry = (
      meta.body as { data: { name: string; records: string; _links: { self: { href: string } } }[] }
    ).data[0];
    expect(entry).toMatchObject({ name: 'row_errors.json', records: '2' });
    const file = await request(entry?._links.self.href as string, { headers: t.headers });
    expect(file.statusCode).toBe(200);
    const lines = (await file.body.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { code: 'MAPPER-3700-400', reason: 'email must be string', path: 'email', record: { email: 5 } },
      { code: 'MAPPER-3700-400', reason: 'email must be string', path: 'email', record: { email: 6 } },
    ]);
    const sample = await get(`${DA}/batches/${landed.batchId}/meta?path=row_errors_sample.json`);
    expect((sample.body as { data: unknown[] }).data).toHaveLength(2);
    expect((await get(`${DA}/batches/${landed.batchId}/meta?path=input_files/x`)).status).toBe(404);
  });

  it('shows a batch only in its own sandbox; Catalog serves it by id', async () => {
    expect((await get(`${DA}/batches/${landed.batchId}/files`, devSandbox)).status).toBe(404);
    expect((await get(`${DA}/files/${landed.batchId}-1?path=part-00000.parquet`, devSandbox)).status).toBe(
      404,
    );
    expect((await get(`${DA}/datasets/${dataSetId}/preview`, devSandbox)).status).toBe(404);
    expect((await get(`${DA}/batches/${landed.batchId}/meta?path=row_errors`, devSandbox)).status).toBe(404);
    const batch = await get(`/data/foundation/catalog/batches/${landed.batchId}`);
    expect(batch.body).toEqual({
      [landed.batchId]: expect.objectContaining({ recordCount: 150, failedRecordCount: 2 }),
    });
    expect((await get(`/data/foundation/catalog/batches/${landed.batchId}`, devSandbox)).status).toBe(404);
    const noAuth = await call(t.url, 'GET', `${DA}/batches/${landed.batchId}/files`);
    expect(noAuth.status).toBe(403);
  });
});
