import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { fillPlaceholders, parseSeedCurls, readSeed, type TestS3 } from '@inflow/testkit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DatasetLake } from '../src/datasets/writer.js';
import { createDataset, duckRows, TENANT, XDM_FULL } from './datasets-fixtures.js';
import { call, endedOrRetrying, FS, postOk, S3_SPEC, startTestServer, type TestServer } from './helpers.js';

const S3: TestS3 = inject('s3');
const T = `_${TENANT}`;
const CLOUD_STORAGE_FLOW_SPEC = '9753525b-82c7-4dce-8a9b-5ccfce2b9876';
const DATA_LAKE_SPEC = 'c604ff05-7f1a-43c0-8e18-33bf874cb11c';

let t: TestServer;
let s3: S3Client;

const post = (path: string, body: unknown) => postOk(t, path, body);

type Run = { id: string; state: string; metrics: Record<string, Record<string, unknown>> };

async function runNow(flowId: string): Promise<Run> {
  const res = await post(`${FS}/runs`, { flowId });
  const id = (res.items as { id: string }[])[0]?.id as string;
  for (;;) {
    const run = (
      (await call(t.url, 'GET', `${FS}/runs/${id}`, { headers: t.headers })).body as { items: Run[] }
    ).items[0] as Run;
    if (run.state === 'success' || run.state === 'failed') return run;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const csv = (from: number, to: number) =>
  `id,code,name,email,city\n${Array.from({ length: to - from + 1 }, (_, k) => {
    const i = from + k;
    return `${i},m-${i},"Member ${i}",m${i}@example.com,City ${i}`;
  }).join('\n')}\n`;

/** A new bucket holding one object. */
async function bucketWith(key: string, body: string | Buffer): Promise<string> {
  const bucket = `runs-${randomBytes(5).toString('hex')}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  return bucket;
}

/** A base connection to the test S3 server with its access key. */
const accessKeyConnection = () =>
  post(`${FS}/connections`, {
    name: 's3',
    auth: {
      specName: 'Access Key',
      params: {
        s3AccessKey: S3.accessKeyId,
        s3SecretKey: S3.secretAccessKey,
        serviceUrl: S3.endpoint,
        region: S3.region,
      },
    },
    connectionSpec: { id: S3_SPEC, version: '1.0' },
  });

/**
 * A new dataset named `dataSetName`, and the chain to it: the source connection `source` over
 * `connection`, the lake target, a mapping set of `mappings`, and a flow named `name` that only
 * POST /runs runs (once, a day from now).
 */
async function cloudStorageFlow(opts: {
  name: string;
  dataSetName: string;
  connection: Record<string, unknown>;
  source: { name: string; data: Record<string, unknown>; params: Record<string, unknown> };
  mappings: unknown[];
}): Promise<{ flowId: string; dataSetId: string }> {
  const { schemaId, dataSetId } = await createDataset(t, opts.dataSetName);
  const source = await post(`${FS}/sourceConnections`, {
    name: opts.source.name,
    baseConnectionId: opts.connection.id,
    data: opts.source.data,
    params: opts.source.params,
    connectionSpec: { id: S3_SPEC, version: '1.0' },
  });
  const target = await post(`${FS}/targetConnections`, {
    name: 'lake',
    params: { dataSetId },
    connectionSpec: { id: DATA_LAKE_SPEC, version: '1.0' },
  });
  const mapping = await post('/data/foundation/conversion/mappingSets', {
    outputSchema: { schemaRef: { id: schemaId, contentType: XDM_FULL } },
    mappings: opts.mappings,
  });
  const flow = await post(`${FS}/flows`, {
    name: opts.name,
    flowSpec: { id: CLOUD_STORAGE_FLOW_SPEC, version: '1.0' },
    sourceConnectionIds: [source.id],
    targetConnectionIds: [target.id],
    transformations: [{ name: 'Mapping', params: { mappingId: mapping.id, mappingVersion: 0 } }],
    scheduleParams: { startTime: String(Math.floor(Date.now() / 1000) + 86_400), frequency: 'once' },
  });
  return { flowId: flow.id as string, dataSetId };
}

beforeAll(async () => {
  t = await startTestServer({
    bootstrap: { clientSecret: 'runs-s3-secret', tenantId: TENANT },
    // Chunks of 10,000 records (ten of the connector's 1,000-record read batches): a bigger file lands in several.
    runs: { chunkRecords: 10_000 },
  });
  s3 = new S3Client({
    endpoint: S3.endpoint,
    region: S3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: S3.accessKeyId, secretAccessKey: S3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
});
afterAll(async () => {
  s3?.destroy();
  await t?.close();
});

describe('S3 files → flow → dataset (seed 000)', () => {
  it('lands the files, then only the new ones; dataset rows equal the CSV rows (read back with DuckDB)', async () => {
    const bucket = await bucketWith('members/part-1.csv', csv(1, 4));

    // Seed 000's base connection, plus the endpoint of the S3-compatible server.
    const body = fillPlaceholders(
      parseSeedCurls(readSeed('000')).find((r) => r.method === 'POST' && r.path.endsWith('/connections'))
        ?.body,
      { S3_ACCESS_KEY: S3.accessKeyId, S3_SECRET_KEY: S3.secretAccessKey },
    ) as { auth: { params: Record<string, string> } };
    body.auth.params.serviceUrl = S3.endpoint;
    body.auth.params.region = S3.region;
    const connection = await post(`${FS}/connections`, body);

    const { flowId, dataSetId } = await cloudStorageFlow({
      name: 'Cloud storage dataflow',
      dataSetName: `s3 ${bucket}`,
      connection,
      source: {
        name: 'members folder',
        data: { format: 'delimited', properties: { columnDelimiter: ',' } },
        params: { path: `/${bucket}/members`, type: 'folder' },
      },
      mappings: [
        { sourceType: 'ATTRIBUTE', source: 'code', destination: '_id' },
        { sourceType: 'EXPRESSION', source: 'to_integer(id)', destination: `${T}.memberId` },
        { sourceType: 'ATTRIBUTE', source: 'name', destination: `${T}.name` },
        { sourceType: 'ATTRIBUTE', source: 'email', destination: 'personalEmail.address' },
        { sourceType: 'ATTRIBUTE', source: 'city', destination: `${T}.address.city` },
      ],
    });

    const rows = () =>
      duckRows(
        join((t.server.services.datasets as DatasetLake).root, dataSetId, '*', 'data', '*.parquet'),
        `_id, ${T}.memberId as id, ${T}.name as name, personalEmail.address as email, ${T}.address.city as city`,
        `${T}.memberId`,
      );
    const expected = (n: number) =>
      Array.from({ length: n }, (_, k) => ({
        _id: `m-${k + 1}`,
        id: String(k + 1),
        name: `Member ${k + 1}`,
        email: `m${k + 1}@example.com`,
        city: `City ${k + 1}`,
      }));

    const first = await runNow(flowId);
    expect(first.state, JSON.stringify(first.metrics.statusSummary)).toBe('success');
    expect(first.metrics.recordSummary).toMatchObject({
      inputRecordCount: 4,
      outputRecordCount: 4,
      failedRecordCount: 0,
    });
    expect(first.metrics.fileSummary).toMatchObject({ inputFileCount: 1, outputFileCount: 1 });
    expect(first.metrics.sizeSummary?.inputBytes).toBe(Buffer.byteLength(csv(1, 4)));
    expect(await rows()).toEqual(expected(4));

    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'members/part-2.csv', Body: csv(5, 7) }));
    const second = await runNow(flowId);
    expect(second.metrics.recordSummary).toMatchObject({ inputRecordCount: 3, outputRecordCount: 3 });
    expect(await rows()).toEqual(expected(7));
  });

  it("reads with the source connection's data.format and data.properties, and lands a file bigger than one chunk in several batches", async () => {
    // Semicolons, gzip, and a name that says neither: only data.properties can tell the connector.
    const text = csv(1, 25_000).replaceAll(',', ';');
    const bucket = await bucketWith('export/members.dat', gzipSync(text));
    const { flowId, dataSetId } = await cloudStorageFlow({
      name: 'Gzipped semicolons',
      dataSetName: `s3 gz ${bucket}`,
      connection: await accessKeyConnection(),
      source: {
        name: 'gzipped members',
        data: { format: 'delimited', properties: { columnDelimiter: ';', compressionType: 'gzip' } },
        params: { path: `/${bucket}/export/members.dat`, type: 'file' },
      },
      mappings: [
        { sourceType: 'ATTRIBUTE', source: 'code', destination: '_id' },
        { sourceType: 'EXPRESSION', source: 'to_integer(id)', destination: `${T}.memberId` },
        { sourceType: 'ATTRIBUTE', source: 'city', destination: `${T}.address.city` },
      ],
    });

    const run = await runNow(flowId);
    expect(run.state, JSON.stringify(run.metrics.statusSummary)).toBe('success');
    expect(run.metrics.recordSummary).toEqual({
      inputRecordCount: 25_000,
      outputRecordCount: 25_000,
      failedRecordCount: 0,
    });
    expect(run.metrics.fileSummary).toMatchObject({ inputFileCount: 1, outputFileCount: 3 });
    const batches = (
      await call(t.url, 'GET', `/data/foundation/catalog/batches?dataSet=${dataSetId}`, {
        headers: t.headers,
      })
    ).body as Record<string, { recordCount: number }>;
    expect(Object.values(batches).map((b) => b.recordCount)).toEqual([10_000, 10_000, 5_000]);
    const rows = await duckRows(
      join((t.server.services.datasets as DatasetLake).root, dataSetId, '*', 'data', '*.parquet'),
      `_id, ${T}.memberId as id, ${T}.address.city as city`,
      `${T}.memberId`,
    );
    expect(rows).toEqual(
      Array.from({ length: 25_000 }, (_, k) => ({
        _id: `m-${k + 1}`,
        id: String(k + 1),
        city: `City ${k + 1}`,
      })),
    );
  });
});

describe('a source bucket that is gone', () => {
  it('fails the run at once (NoSuchBucket is not retried), naming the bucket; the next run after it is back succeeds', async () => {
    const bucket = await bucketWith('members/part-1.csv', csv(1, 2));
    const { flowId } = await cloudStorageFlow({
      name: 'Bucket that goes away',
      dataSetName: `s3 gone ${bucket}`,
      connection: await accessKeyConnection(),
      source: {
        name: 'members folder',
        data: { format: 'delimited' },
        params: { path: `/${bucket}/members`, type: 'folder' },
      },
      mappings: [
        { sourceType: 'ATTRIBUTE', source: 'code', destination: '_id' },
        { sourceType: 'EXPRESSION', source: 'to_integer(id)', destination: `${T}.memberId` },
      ],
    });
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'members/part-1.csv' }));
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));

    // This server backs off 30 s between attempts: a retried run would be seen waiting for its next one.
    const id = ((await post(`${FS}/runs`, { flowId })).items as { id: string }[])[0]?.id as string;
    const run = await endedOrRetrying<Run>(t, id);
    expect(run.state, JSON.stringify(run.metrics.statusSummary)).toBe('failed');
    expect(run.metrics.statusSummary).toEqual({
      status: 'failed',
      errors: [
        {
          code: 'CONNECTOR-1001-400',
          message: `the source answered with an error: nothing found while listing /${bucket}/members (NoSuchBucket): check the bucket and path`,
        },
      ],
      extensions: { attempts: 1 },
    });

    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'members/part-1.csv', Body: csv(1, 2) }));
    const next = await runNow(flowId);
    expect(next.state, JSON.stringify(next.metrics.statusSummary)).toBe('success');
    expect(next.metrics.recordSummary).toMatchObject({ inputRecordCount: 2, outputRecordCount: 2 });
  });
});
