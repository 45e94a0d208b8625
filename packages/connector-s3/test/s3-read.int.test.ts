import { createServer, request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import { DeleteBucketCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { READ_BATCH_SIZE, S3Error, type S3ReadState, s3Connector } from '@inflow/connector-s3';
import { InflowValidationError, type JsonValue, type RecordBatch } from '@inflow/core';
import { rejectionOf } from '@inflow/testkit';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, createBucket, credentials, denyAll, dropBucket, put } from './s3-fixture.js';

const read = s3Connector.read as NonNullable<typeof s3Connector.read>;
const client = adminClient();
let bucket: string;
let denied: string;

async function collect(
  params: Record<string, unknown>,
  state?: JsonValue,
  options: { limit?: number; secret?: string } = {},
): Promise<RecordBatch[]> {
  const batches: RecordBatch[] = [];
  for await (const batch of read({
    credentials: credentials(options.secret ? { s3SecretKey: options.secret } : {}),
    params: s3Connector.parseSourceParams(params),
    state,
    ...(options.limit === undefined ? {} : { limit: options.limit }),
  })) {
    batches.push(batch);
  }
  return batches;
}
const all = (batches: RecordBatch[]) => batches.flatMap((b) => b.records);
const lastState = (batches: RecordBatch[]) => JSON.parse(JSON.stringify(batches.at(-1)?.state)) as JsonValue;
const csvOf = (from: number, to: number) =>
  `id,name\n${Array.from({ length: to - from }, (_, i) => `${from + i},name ${from + i}`).join('\n')}\n`;
const ids = (records: Record<string, unknown>[]) => records.map((r) => Number(r.id));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

beforeAll(async () => {
  bucket = await createBucket(client, 'read');
  denied = await createBucket(client, 'read-denied');
  await put(client, denied, 'x.csv', 'a\n1\n');
  await denyAll(client, denied);
});
afterAll(async () => {
  await dropBucket(client, bucket);
  await dropBucket(client, denied);
  client.destroy();
});

describe('S3 read against radosgw: formats', () => {
  it('reads every file of a folder, oldest first, not its sub-folders unless recursive', async () => {
    await put(client, bucket, 'csv/a.csv', csvOf(0, 3));
    await put(client, bucket, 'csv/b.csv', csvOf(3, 5));
    await put(client, bucket, 'csv/sub/c.csv', csvOf(5, 6));
    const flat = await collect({ path: `/${bucket}/csv`, type: 'folder' });
    expect(ids(all(flat))).toEqual(range(0, 5));
    expect(all(flat)[0]).toEqual({ id: '0', name: 'name 0' });
    expect(flat.reduce((n, b) => n + (b.files ?? 0), 0)).toBe(2);
    expect(flat.reduce((n, b) => n + (b.bytes ?? 0), 0)).toBe(csvOf(0, 3).length + csvOf(3, 5).length);
    const deep = await collect({ path: `/${bucket}/csv/`, recursive: true });
    expect(ids(all(deep)).sort((a, b) => a - b)).toEqual(range(0, 6));
  });

  it('a glob selects files by name', async () => {
    const batches = await collect({ path: `/${bucket}/csv/*.csv` });
    expect(ids(all(batches))).toEqual(range(0, 5));
    const one = await collect({ path: `/${bucket}/csv/b*` });
    expect(ids(all(one))).toEqual(range(3, 5));
  });

  it('a single file, with type file or told apart from a folder by the listing', async () => {
    expect(ids(all(await collect({ path: `/${bucket}/csv/b.csv`, type: 'file' })))).toEqual([3, 4]);
    expect(ids(all(await collect({ path: `/${bucket}/csv/b.csv` })))).toEqual([3, 4]);
    expect(ids(all(await collect({ path: `/${bucket}/csv/sub` })))).toEqual([5]);
  });

  it('delimited with a custom delimiter, gzip, JSON lines, a JSON array and Parquet', async () => {
    await put(client, bucket, 'mixed/a.txt', 'id;note\n1;"semi;colon"\n2;"two\nlines"\n');
    await put(client, bucket, 'mixed/b.csv.gz', gzipSync(csvOf(3, 5)));
    await put(client, bucket, 'mixed/c.jsonl', '{"id":5,"n":{"x":1}}\n{"id":6,"n":null}\n');
    await put(client, bucket, 'mixed/d.json', '[\n {"id":7},\n {"id":8, "s":"]}"}\n]');
    await put(
      client,
      bucket,
      'mixed/e.parquet',
      new Uint8Array(
        parquetWriteBuffer({
          columnData: [{ name: 'id', data: new Int32Array(range(9, 109)), type: 'INT32' }],
          rowGroupSize: 30,
        }),
      ),
    );
    expect(
      all(await collect({ path: `/${bucket}/mixed/a.txt`, fileType: 'delimited', columnDelimiter: ';' })),
    ).toEqual([
      { id: '1', note: 'semi;colon' },
      { id: '2', note: 'two\nlines' },
    ]);
    expect(ids(all(await collect({ path: `/${bucket}/mixed/b.csv.gz` })))).toEqual([3, 4]);
    expect(
      all(
        await collect({ path: `/${bucket}/mixed/b.csv.gz`, fileType: 'delimited', compressionType: 'gzip' }),
      ),
    ).toHaveLength(2);
    expect(all(await collect({ path: `/${bucket}/mixed/c.jsonl`, fileType: 'json' }))).toEqual([
      { id: 5, n: { x: 1 } },
      { id: 6, n: null },
    ]);
    expect(all(await collect({ path: `/${bucket}/mixed/d.json` }))).toEqual([{ id: 7 }, { id: 8, s: ']}' }]);
    expect(ids(all(await collect({ path: `/${bucket}/mixed/e.parquet` })))).toEqual(range(9, 109));
  });

  it('a file of unknown type without fileType: an InflowValidationError at params.fileType, before reading', async () => {
    await put(client, bucket, 'odd/x.dat', 'a\n1\n');
    const error = await rejectionOf(collect({ path: `/${bucket}/odd/` }));
    expect(InflowValidationError.isInstance(error)).toBe(true);
    expect((error as InflowValidationError).issues[0]?.path).toBe('params.fileType');
  });
});

describe('S3 read against radosgw: failures', () => {
  it('a missing file: not_found', async () => {
    const error = await rejectionOf(collect({ path: `/${bucket}/nope.csv`, type: 'file' }));
    expect((error as S3Error).code).toBe('not_found');
    expect((error as Error).message).toContain(`no file /${bucket}/nope.csv`);
  });

  it('a wrong secret: auth_failed, without the secret', async () => {
    const error = await rejectionOf(
      collect({ path: `/${bucket}/csv/` }, undefined, { secret: 'CANARY-read-9d2e' }),
    );
    expect(S3Error.isInstance(error)).toBe(true);
    expect((error as S3Error).code).toBe('auth_failed');
    expect((error as Error).message).not.toContain('CANARY-read-9d2e');
  });

  it('a bucket without permission: permission', async () => {
    const error = await rejectionOf(collect({ path: `/${denied}/` }));
    expect((error as S3Error).code).toBe('permission');
    expect((error as Error).message).toContain(`listing /${denied}/`);
  });

  it('a path with .. segments: an InflowValidationError at params.path', async () => {
    const error = await rejectionOf(collect({ path: `/${bucket}/csv/../../x` }));
    expect((error as InflowValidationError).issues[0]?.path).toBe('params.path');
  });
});

describe('S3 read against radosgw: batches and state', () => {
  it('splits a large file into batches whose states resume it exactly, through JSON', async () => {
    const rows = READ_BATCH_SIZE * 2 + 500;
    await put(client, bucket, 'big/rows.csv', csvOf(0, rows));
    const params = { path: `/${bucket}/big/` };
    const batches = await collect(params);
    expect(batches.map((b) => b.records.length)).toEqual([READ_BATCH_SIZE, READ_BATCH_SIZE, 500]);
    expect(ids(all(batches))).toEqual(range(0, rows));
    const first = batches[0]?.state as S3ReadState;
    expect(first.file).toMatchObject({ key: 'big/rows.csv', records: READ_BATCH_SIZE });
    expect((lastState(batches) as S3ReadState).file).toBeUndefined();

    // Resumed after the first batch, as an engine that crashed before landing the second would.
    const rest = await collect(params, JSON.parse(JSON.stringify(first)));
    expect(ids(all(rest))).toEqual(range(READ_BATCH_SIZE, rows));
    // After the last batch: nothing new.
    expect(all(await collect(params, lastState(batches)))).toEqual([]);
  });

  it('resumes Parquet inside a row group and gzip mid-file after a limited read', async () => {
    for (const [path, expected] of [
      [`/${bucket}/mixed/e.parquet`, range(9, 109)],
      [`/${bucket}/mixed/b.csv.gz`, [3, 4]],
    ] as const) {
      const head = await collect({ path }, undefined, { limit: 1 });
      expect(all(head)).toHaveLength(1);
      const rest = await collect({ path }, lastState(head));
      expect([...ids(all(head)), ...ids(all(rest))]).toEqual(expected);
    }
    const head = await collect({ path: `/${bucket}/mixed/e.parquet` }, undefined, { limit: 45 });
    const rest = await collect({ path: `/${bucket}/mixed/e.parquet` }, lastState(head));
    expect([...ids(all(head)), ...ids(all(rest))]).toEqual(range(9, 109));
  });

  it('a second read yields only new and changed files', async () => {
    await put(client, bucket, 'inc/a.csv', csvOf(0, 2));
    await put(client, bucket, 'inc/b.csv', csvOf(2, 4));
    await put(client, bucket, 'inc/empty.csv', 'id,name\n');
    const params = { path: `/${bucket}/inc/` };
    const first = await collect(params);
    expect(ids(all(first))).toEqual(range(0, 4));
    const state = lastState(first);
    expect((state as S3ReadState).mark?.done.length).toBeGreaterThan(0);

    expect(await collect(params, state)).toEqual([]);

    await put(client, bucket, 'inc/c.csv', csvOf(10, 12)); // new
    await put(client, bucket, 'inc/a.csv', csvOf(20, 21)); // changed
    const second = await collect(params, state);
    expect(ids(all(second)).sort((x, y) => x - y)).toEqual([10, 11, 20]);
    expect(second.reduce((n, b) => n + (b.files ?? 0), 0)).toBe(2);

    expect(all(await collect(params, lastState(second)))).toEqual([]);
  });

  it('fetches the next file ahead, in order, and drops it when the read stops early', async () => {
    // Each file's body arrives before the next is requested; gzip and plain alike.
    await put(client, bucket, 'ahead/a.csv', csvOf(0, READ_BATCH_SIZE + 10));
    await put(client, bucket, 'ahead/b.csv.gz', gzipSync(csvOf(READ_BATCH_SIZE + 10, READ_BATCH_SIZE + 20)));
    await put(client, bucket, 'ahead/c.csv', csvOf(READ_BATCH_SIZE + 20, READ_BATCH_SIZE + 30));
    const params = { path: `/${bucket}/ahead/` };
    const whole = await collect(params);
    expect(ids(all(whole))).toEqual(range(0, READ_BATCH_SIZE + 30));
    expect(whole.reduce((n, b) => n + (b.files ?? 0), 0)).toBe(3);

    // A limit inside the second file: the third, requested ahead, is dropped unread, and the
    // state resumes exactly where the limit stopped.
    const head = await collect(params, undefined, { limit: READ_BATCH_SIZE + 15 });
    expect(ids(all(head))).toEqual(range(0, READ_BATCH_SIZE + 15));
    const rest = await collect(params, lastState(head));
    expect(ids(all(rest))).toEqual(range(READ_BATCH_SIZE + 15, READ_BATCH_SIZE + 30));

    // A consumer that stops after the first batch (its return closes the read) and one that
    // aborts: neither hangs, and a read afterwards is whole.
    for await (const batch of read({
      credentials: credentials(),
      params: s3Connector.parseSourceParams(params),
      state: undefined,
    })) {
      expect(batch.records).toHaveLength(READ_BATCH_SIZE);
      break;
    }
    const controller = new AbortController();
    const aborted = rejectionOf(
      (async () => {
        for await (const _ of read({
          credentials: credentials(),
          params: s3Connector.parseSourceParams(params),
          state: undefined,
          signal: controller.signal,
        })) {
          controller.abort();
        }
      })(),
    );
    expect(await aborted).toBeDefined();
    expect(ids(all(await collect(params)))).toEqual(range(0, READ_BATCH_SIZE + 30));
  });

  describe('a file deleted between the listing and its GET', () => {
    /** A Parquet file of `rows` ids in one row group: read by ranged GETs, never fetched ahead. */
    const parquetOf = (from: number, to: number) =>
      new Uint8Array(
        parquetWriteBuffer({
          columnData: [{ name: 'id', data: new Int32Array(range(from, to)), type: 'INT32' }],
          rowGroupSize: to - from,
        }),
      );

    /**
     * A read paused after its first batch. The first file is Parquet with more rows than a batch:
     * its GETs are done when the batch is yielded, and nothing is fetched ahead after Parquet,
     * so the next file's GET is sent only after the read resumes.
     */
    async function pausedRead(path: string) {
      const reading = read({
        credentials: credentials(),
        params: s3Connector.parseSourceParams({ path }),
        state: undefined,
      })[Symbol.asyncIterator]();
      const first = await reading.next();
      if (first.done) throw new Error('the read ended before its first batch');
      expect(first.value.records).toHaveLength(READ_BATCH_SIZE);
      const rest = async () => {
        const batches = [first.value];
        for (let next = await reading.next(); !next.done; next = await reading.next())
          batches.push(next.value);
        return batches;
      };
      return { rest };
    }

    it('is skipped: the read ends with the other files, and its mark leaves room for a re-upload', async () => {
      await put(client, bucket, 'gone/a.parquet', parquetOf(0, READ_BATCH_SIZE + 500));
      await put(client, bucket, 'gone/b.csv', csvOf(2000, 2010));
      await put(client, bucket, 'gone/c.csv', csvOf(3000, 3010));
      const params = { path: `/${bucket}/gone/` };

      const paused = await pausedRead(params.path);
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'gone/b.csv' }));
      const batches = await paused.rest();

      expect(ids(all(batches))).toEqual([...range(0, READ_BATCH_SIZE + 500), ...range(3000, 3010)]);
      expect(batches.reduce((n, b) => n + (b.files ?? 0), 0)).toBe(2);
      const state = lastState(batches) as S3ReadState;
      expect(state.file).toBeUndefined();
      const marked = state.mark?.done.map(([key]) => key);
      expect(marked).toContain(`${bucket}/gone/c.csv`);
      expect(marked).not.toContain(`${bucket}/gone/b.csv`);

      // Nothing new: a read from that state yields nothing and does not fail.
      expect(all(await collect(params, lastState(batches)))).toEqual([]);
      // The producer puts the same bytes back under the same key: the next read takes them.
      await put(client, bucket, 'gone/b.csv', csvOf(2000, 2010));
      expect(ids(all(await collect(params, lastState(batches))))).toEqual(range(2000, 2010));
    });

    it('a file gone while a read was part-way through it: the next state drops the position, and a re-upload is read whole', async () => {
      await put(client, bucket, 'gone-partial/a.csv', csvOf(0, 20));
      const params = { path: `/${bucket}/gone-partial/` };
      const head = await collect(params, undefined, { limit: 5 });
      const saved = lastState(head) as S3ReadState;
      expect(saved.file).toMatchObject({ key: 'gone-partial/a.csv', records: 5 });

      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'gone-partial/a.csv' }));
      const gone = await collect(params, saved);
      expect(all(gone)).toEqual([]);
      // The engine keeps the last state it was given: the read must hand back one without the file.
      const after = (gone.length > 0 ? lastState(gone) : saved) as S3ReadState;
      expect(after.file).toBeUndefined();

      await put(client, bucket, 'gone-partial/a.csv', csvOf(0, 20));
      expect(ids(all(await collect(params, after)))).toEqual(range(0, 20));
    });

    it('a key the store still has, but whose GET answers NoSuchKey, fails the read retryably instead of being skipped', async () => {
      await put(client, bucket, 'liar/a.csv', csvOf(0, 5));
      await put(client, bucket, 'liar/b.csv', csvOf(5, 10));
      // A pass-through proxy to the real radosgw (requests and signatures unchanged) that answers
      // the GET of one key as a replica behind the listing would: 404 NoSuchKey. Its HEAD, and
      // everything else, is the real server's.
      const upstream = new URL(credentials().serviceUrl as string);
      const liar = `/${bucket}/liar/a.csv`;
      const proxy = createServer((req, res) => {
        if (req.method === 'GET' && req.url?.split('?')[0] === liar) {
          req.resume();
          res.writeHead(404, { 'content-type': 'application/xml' });
          res.end(
            '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>',
          );
          return;
        }
        const up = httpRequest(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        up.on('error', () => res.destroy());
        req.pipe(up);
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      try {
        const serviceUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
        const error = await rejectionOf(
          (async () => {
            for await (const _ of read({
              credentials: credentials({ serviceUrl }),
              params: s3Connector.parseSourceParams({ path: `/${bucket}/liar/` }),
              state: undefined,
            })) {
              // Nothing may be delivered past the file the store contradicts itself on.
            }
          })(),
        );
        expect(S3Error.isInstance(error)).toBe(true);
        expect(error).toMatchObject({ code: 'network', s3Code: 'NoSuchKey', isRetryable: true });
        expect((error as Error).message).toContain(
          `/${bucket}/liar/a.csv is listed, and still there as listed`,
        );
      } finally {
        await new Promise<void>((resolve) => proxy.close(() => resolve()));
      }
      // Straight from the store, both files read.
      expect(ids(all(await collect({ path: `/${bucket}/liar/` })))).toEqual(range(0, 10));
    });

    it('a bucket deleted after the listing still fails the read: not_found, not retryable', async () => {
      const doomed = await createBucket(client, 'read-doomed');
      await put(client, doomed, 'a.parquet', parquetOf(0, READ_BATCH_SIZE + 500));
      await put(client, doomed, 'b.csv', csvOf(2000, 2010));

      const paused = await pausedRead(`/${doomed}/`);
      for (const key of ['a.parquet', 'b.csv']) {
        await client.send(new DeleteObjectCommand({ Bucket: doomed, Key: key }));
      }
      await client.send(new DeleteBucketCommand({ Bucket: doomed }));
      const error = await rejectionOf(paused.rest());

      expect(S3Error.isInstance(error)).toBe(true);
      expect(error).toMatchObject({ code: 'not_found', s3Code: 'NoSuchBucket', isRetryable: false });
      expect((error as Error).message).toContain(`reading /${doomed}/b.csv`);
    });
  });

  it('refuses a state that is not an S3 read state', async () => {
    const error = await rejectionOf(collect({ path: `/${bucket}/inc/` }, { v: 1, mode: 'full' }));
    expect(InflowValidationError.isInstance(error)).toBe(true);
    expect((error as InflowValidationError).issues[0]?.path).toBe('state');
  });
});
