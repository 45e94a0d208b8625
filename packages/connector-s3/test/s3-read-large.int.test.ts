// A file larger than the heap of the process that reads it: the connector is bundled from its
// sources (esbuild) and run in a child `node --max-old-space-size=48`, which must read every
// row of a ~150 MB object. Holding the file (or a large part of it) would kill the child.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { READ_BATCH_SIZE } from '@inflow/connector-s3';
import { build } from 'esbuild';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { adminClient, createBucket, dropBucket, put, s3 } from './s3-fixture.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HEAP_MB = 48;
const ROWS = 1_800_000;
const MB = 1024 * 1024;

const client = adminClient();
let bucket: string;
let dir: string;
let size = 0;

/** ~100-byte rows: an id, text with a quoted comma, numbers, a timestamp. */
function bigCsv(): Buffer {
  const parts: Buffer[] = [Buffer.from('id,name,city,amount,at,note\n')];
  let lines: string[] = [];
  for (let i = 1; i <= ROWS; i++) {
    lines.push(
      `${i},"Customer ${i}, Jr.",City ${i % 977},${(i % 100_000) / 100},2024-05-01T10:${String(i % 60).padStart(2, '0')}:00Z,note number ${i}`,
    );
    if (lines.length === 50_000) {
      parts.push(Buffer.from(`${lines.join('\n')}\n`));
      lines = [];
    }
  }
  if (lines.length > 0) parts.push(Buffer.from(`${lines.join('\n')}\n`));
  return Buffer.concat(parts);
}

const CHILD = `
import { s3Connector } from './connector.mjs';
const env = JSON.parse(process.env.INFLOW_CHILD);
let rows = 0, batches = 0, last = 0, ordered = true, peakHeap = 0;
const sample = () => { peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed); };
const timer = setInterval(sample, 5);
for await (const batch of s3Connector.read({ credentials: env.credentials, params: env.params, state: undefined })) {
  batches++;
  for (const r of batch.records) { const id = Number(r.id); if (id !== last + 1) ordered = false; last = id; }
  rows += batch.records.length;
  sample();
}
clearInterval(timer);
console.log(JSON.stringify({ rows, batches, ordered, peakHeap, heapLimit: ${HEAP_MB} * 1024 * 1024 }));
`;

beforeAll(async () => {
  bucket = await createBucket(client, 'large');
  const body = bigCsv();
  size = body.length;
  await put(client, bucket, 'big/events.csv', body);
  dir = await mkdtemp(join(ROOT, 'node_modules', '.inflow-s3-large-'));
  // Bundled from the sources, as the tests run them; the SDK (and its undici handler), hyparquet
  // and zod stay packages.
  await build({
    entryPoints: [join(ROOT, 'packages/connector-s3/src/index.ts')],
    outfile: join(dir, 'connector.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['@aws-sdk/*', '@smithy/*', 'hyparquet', 'zod'],
    alias: { '@inflow/core': join(ROOT, 'packages/core/src/index.ts') },
    define: { __INFLOW_CORE_VERSION__: '"0.0.0-test"' },
    logLevel: 'error',
  });
  await writeFile(join(dir, 'child.mjs'), CHILD);
}, 300_000);

afterAll(async () => {
  await dropBucket(client, bucket);
  client.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it(`reads a ~150 MB CSV in a child whose heap is limited to ${HEAP_MB} MB`, async () => {
  expect(size).toBeGreaterThan(140 * MB);
  const server = s3();
  const { stdout } = await run(
    process.execPath,
    [`--max-old-space-size=${HEAP_MB}`, join(dir, 'child.mjs')],
    {
      cwd: dir,
      env: {
        ...process.env,
        INFLOW_CHILD: JSON.stringify({
          credentials: {
            s3AccessKey: server.accessKeyId,
            s3SecretKey: server.secretAccessKey,
            serviceUrl: server.endpoint,
            region: server.region,
          },
          params: { path: `/${bucket}/big/` },
        }),
      },
      maxBuffer: 1024 * 1024,
      timeout: 300_000,
    },
  );
  const result = JSON.parse(stdout.trim().split('\n').at(-1) as string) as {
    rows: number;
    batches: number;
    ordered: boolean;
    peakHeap: number;
    heapLimit: number;
  };
  expect(result.rows).toBe(ROWS);
  expect(result.ordered).toBe(true);
  // Full batches, then an empty one whose state marks the file finished.
  expect(result.batches).toBe(ROWS / READ_BATCH_SIZE + 1);
  // The file is three times the heap limit; the heap never came near the file's size.
  expect(size).toBeGreaterThan(3 * result.heapLimit);
  expect(result.peakHeap).toBeLessThan(result.heapLimit);
  console.log(
    `read ${(size / MB).toFixed(0)} MB (${ROWS} rows) with --max-old-space-size=${HEAP_MB}: peak heap ${(result.peakHeap / MB).toFixed(1)} MB`,
  );
}, 300_000);
