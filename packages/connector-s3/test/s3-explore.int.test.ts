import { gzipSync } from 'node:zlib';
import { S3Error, s3Connector } from '@inflow/connector-s3';
import {
  type ExploreItem,
  type ExploreRequest,
  type ExploreStructure,
  InflowValidationError,
} from '@inflow/core';
import { rejectionOf } from '@inflow/testkit';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, createBucket, credentials, dropBucket, put, putMany } from './s3-fixture.js';

const explore = s3Connector.explore as NonNullable<typeof s3Connector.explore>;
const preview = s3Connector.preview as NonNullable<typeof s3Connector.preview>;

const client = adminClient();
let bucket: string;

const CSV =
  'id,name,score,joined,active\n1,"Smith, Ada",9.5,2024-05-01,true\n2,"Grace\nHopper",7,2024-05-02,false\n3,Edsger,,2024-05-03,true\n';
const PEOPLE = [
  { id: 1, name: 'Ada', tags: ['x'], at: '2024-05-01T10:00:00Z' },
  { id: 2, name: 'Grace', tags: [], at: '2024-05-02T10:00:00Z' },
];
const PARQUET = parquetWriteBuffer({
  columnData: [
    { name: 'id', data: [1n, 2n, 3n], type: 'INT64' },
    { name: 'name', data: ['Ada', 'Grace', null], type: 'STRING' },
    { name: 'score', data: [1.5, 2.5, 3.5], type: 'DOUBLE' },
    { name: 'ok', data: [true, false, true], type: 'BOOLEAN' },
    {
      name: 'at',
      data: [new Date('2024-05-01T10:00:00Z'), new Date(0), new Date(86_400_000)],
      type: 'TIMESTAMP',
    },
  ],
});

beforeAll(async () => {
  bucket = await createBucket(client, 'explore');
  await put(client, bucket, 'files/people.csv', CSV);
  await put(client, bucket, 'files/people.psv', 'id|name\n1|a,b\n2|"c|d"\n');
  await put(client, bucket, 'files/people.jsonl', `${PEOPLE.map((p) => JSON.stringify(p)).join('\n')}\n`);
  await put(client, bucket, 'files/people.json', JSON.stringify(PEOPLE, null, 2));
  await put(client, bucket, 'files/people.csv.gz', gzipSync(CSV));
  await put(client, bucket, 'files/people.parquet', new Uint8Array(PARQUET));
  await put(client, bucket, 'files/sub/deeper.csv', 'a\n1\n');
  // More keys than one listing page holds (S3 pages at 1,000).
  await putMany(
    client,
    bucket,
    Array.from({ length: 1_050 }, (_, i) => ({
      key: `many/k${String(i).padStart(4, '0')}.csv`,
      body: `n\n${i}\n`,
    })),
  );
});
afterAll(async () => {
  await dropBucket(client, bucket);
  client.destroy();
});

const file = (object: string, extra: Partial<ExploreRequest> = {}): ExploreRequest => ({
  objectType: 'file',
  object,
  ...extra,
});
const typesOf = (s: ExploreStructure) => Object.fromEntries(s.schema.columns.map((c) => [c.name, c.xdm]));

describe('S3 explore against radosgw', () => {
  it('root lists the buckets', async () => {
    const items = (await explore(credentials(), { objectType: 'root' })) as ExploreItem[];
    expect(items).toContainEqual({ type: 'folder', name: bucket, path: `/${bucket}` });
  });

  it('a folder lists its sub-folders, then its files with size and modified time', async () => {
    const items = (await explore(credentials(), {
      objectType: 'folder',
      object: `/${bucket}/files`,
    })) as ExploreItem[];
    expect(items[0]).toEqual({ type: 'folder', name: 'sub', path: `/${bucket}/files/sub` });
    const csv = items.find((i) => i.name === 'people.csv');
    expect(csv).toMatchObject({
      type: 'file',
      path: `/${bucket}/files/people.csv`,
      canPreview: true,
      canFetchSchema: true,
      size: Buffer.byteLength(CSV),
    });
    expect(Math.abs((csv?.modifiedAt ?? 0) - Date.now())).toBeLessThan(10 * 60_000);
    expect(items).toHaveLength(7);
  });

  it('a folder of 1,050 keys lists every one (past the 1,000-key page)', async () => {
    const items = (await explore(credentials(), {
      objectType: 'folder',
      object: `${bucket}/many/`,
    })) as ExploreItem[];
    expect(items).toHaveLength(1_050);
    expect(new Set(items.map((i) => i.name)).size).toBe(1_050);
    expect(items.at(-1)?.name).toBe('k1049.csv');
  });

  it.each(['/acme/files/../../etc', '/acme/./x', '/acme//x'])(
    'rejects the path %s with an InflowValidationError at object',
    async (object) => {
      const error = await rejectionOf(explore(credentials(), { objectType: 'folder', object }));
      expect(InflowValidationError.isInstance(error)).toBe(true);
      expect((error as InflowValidationError).issues[0]?.path).toBe('object');
    },
  );

  it('a connection scoped by bucketName and folderPath lists that folder at root, and refuses paths beside it', async () => {
    const scoped = credentials({ bucketName: bucket, folderPath: 'files/sub' });
    const items = (await explore(scoped, { objectType: 'root' })) as ExploreItem[];
    expect(items.map((i) => i.name)).toEqual(['deeper.csv']);
    const error = await rejectionOf(explore(scoped, { objectType: 'folder', object: `/${bucket}/many` }));
    expect(InflowValidationError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain('outside this connection');
  });

  it('a file without preview: its columns with inferred types, no data', async () => {
    const structure = (await explore(credentials(), file(`/${bucket}/files/people.csv`))) as ExploreStructure;
    expect(structure.data).toBeUndefined();
    expect(typesOf(structure)).toEqual({
      id: { type: 'integer' },
      name: { type: 'string' },
      score: { type: 'number' },
      joined: { type: 'string', format: 'date' },
      active: { type: 'boolean' },
    });
  });

  it('a missing file: not_found, naming it', async () => {
    const error = await rejectionOf(preview(credentials(), file(`/${bucket}/files/nope.csv`)));
    expect(S3Error.isInstance(error)).toBe(true);
    expect((error as S3Error).code).toBe('not_found');
    expect((error as Error).message).toContain(`/${bucket}/files/nope.csv`);
  });
});

describe('S3 preview against radosgw', () => {
  it('CSV: quoted fields with commas and line breaks, empty fields null, values as text', async () => {
    const s = await preview(credentials(), file(`/${bucket}/files/people.csv`, { fileType: 'delimited' }));
    expect(s.format).toBe('flat');
    expect(s.data).toEqual([
      { id: '1', name: 'Smith, Ada', score: '9.5', joined: '2024-05-01', active: 'true' },
      { id: '2', name: 'Grace\nHopper', score: '7', joined: '2024-05-02', active: 'false' },
      { id: '3', name: 'Edsger', score: null, joined: '2024-05-03', active: 'true' },
    ]);
    expect(s.schema.columns[0]).toEqual({
      name: 'id',
      type: 'integer',
      xdm: { type: 'integer' },
      'meta:xdmType': 'long',
    });
  });

  it('previewCount limits the rows', async () => {
    const s = await preview(credentials(), file(`/${bucket}/files/people.csv`, { previewCount: 1 }));
    expect(s.data).toHaveLength(1);
  });

  it('delimited with a custom columnDelimiter', async () => {
    const s = await preview(
      credentials(),
      file(`/${bucket}/files/people.psv`, { fileType: 'delimited', columnDelimiter: '|' }),
    );
    expect(s.data).toEqual([
      { id: '1', name: 'a,b' },
      { id: '2', name: 'c|d' },
    ]);
  });

  it('gzip-compressed CSV', async () => {
    const s = await preview(
      credentials(),
      file(`/${bucket}/files/people.csv.gz`, { fileType: 'delimited', compressionType: 'gzip' }),
    );
    expect(s.data).toHaveLength(3);
    expect(s.data?.[1]?.name).toBe('Grace\nHopper');
  });

  it.each(['people.jsonl', 'people.json'])('JSON (%s: lines, and an array) with JSON types', async (name) => {
    const s = await preview(credentials(), file(`/${bucket}/files/${name}`, { fileType: 'json' }));
    expect(s.data).toEqual(PEOPLE);
    expect(typesOf(s)).toEqual({
      id: { type: 'integer' },
      name: { type: 'string' },
      tags: { type: 'array' },
      at: { type: 'string', format: 'date-time' },
    });
  });

  it('Parquet: rows through ranged reads, types from the footer', async () => {
    const s = await preview(credentials(), file(`/${bucket}/files/people.parquet`, { fileType: 'parquet' }));
    expect(s.data).toEqual([
      { id: 1, name: 'Ada', score: 1.5, ok: true, at: '2024-05-01T10:00:00.000Z' },
      { id: 2, name: 'Grace', score: 2.5, ok: false, at: '1970-01-01T00:00:00.000Z' },
      { id: 3, name: null, score: 3.5, ok: true, at: '1970-01-02T00:00:00.000Z' },
    ]);
    expect(typesOf(s)).toEqual({
      id: { type: 'integer' },
      name: { type: 'string' },
      score: { type: 'number' },
      ok: { type: 'boolean' },
      at: { type: 'string', format: 'date-time' },
    });
  });

  it('a file that is not what fileType says: a format error naming the file', async () => {
    const error = await rejectionOf(
      preview(credentials(), file(`/${bucket}/files/people.csv`, { fileType: 'parquet' })),
    );
    expect(S3Error.isInstance(error)).toBe(true);
    expect((error as S3Error).code).toBe('format');
    expect((error as Error).message).toContain(`/${bucket}/files/people.csv is not a valid parquet file`);
  });

  it('JSON that is not JSON: a format error naming the file', async () => {
    const error = await rejectionOf(
      preview(credentials(), file(`/${bucket}/files/people.csv`, { fileType: 'json' })),
    );
    expect((error as S3Error).code).toBe('format');
    expect((error as Error).message).toContain('is not a valid json file: record 1 is not a JSON object');
  });
});
