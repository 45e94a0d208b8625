// Benchmark: the S3 connector's `read` of 1 GB of CSV (several objects) against a raw GetObject
// download of the same objects that drains each body into nothing, in the same run, on a
// throwaway radosgw (scripts/services/radosgw.sh; or the server named by INFLOW_TEST_S3_URL,
// INFLOW_TEST_S3_ACCESS_KEY, INFLOW_TEST_S3_SECRET_KEY). Goal: read ≥ 0.5× the download's MB/s,
// with a peak RSS under 300 MB. The download is measured twice, through the SDK's default HTTP
// handler and through the undici one the connector uses; the goal is judged against the faster.
//   npx turbo run build --filter=@inflow/connector-s3 && node bench/s3-read.bench.mjs
//
// Every measured case runs in a fresh Node process (this file with `--worker KIND`), so the peak
// RSS it reports (sampled every 10 ms) is that case's alone. Cases alternate,
// round after round, and each keeps its best of --repeat runs (default 2). The markdown section is
// printed and appended to bench/RESULTS.md (--no-append only prints it). --mb N (default 1024)
// and --objects N (default 8) size the data for a quick try. --node-flags="…" runs both cases'
// processes with those V8 flags (a diagnostic, e.g. --node-flags=--max-semi-space-size=64; the
// default run is the one that counts). Node CPU s is user + system time of the case's process,
// GC threads included; it is steadier than wall time on a loaded machine, so both are reported.
import { execFile } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CONNECT_TIMEOUT_MS, READ_BATCH_SIZE, s3Connector } from '../packages/connector-s3/dist/index.js';

const { values: options } = parseArgs({
  options: {
    mb: { type: 'string', default: '1024' },
    objects: { type: 'string', default: '8' },
    repeat: { type: 'string', default: '2' },
    'no-append': { type: 'boolean', default: false },
    worker: { type: 'string' },
    'node-flags': { type: 'string', default: '' },
    env: { type: 'string' },
  },
});
const TOTAL_MB = Number(options.mb);
const OBJECTS = Number(options.objects);
const REPEAT = Number(options.repeat);
const GOAL = 0.5;
const RSS_GOAL_MB = 300;
const MB = 1024 * 1024;
const BUCKET = 'inflow-bench';
const PREFIX = 'csv/';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const self = fileURLToPath(import.meta.url);

function clientOf(server, requestHandler) {
  return new S3Client({
    ...(requestHandler ? { requestHandler } : {}),
    endpoint: server.url,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

// ---------------------------------------------------------------- worker (one measured case)

/**
 * GetObject of every object, one after another (as the connector reads them), bodies drained.
 * `undici`: through the HTTP handler the connector's own client uses (decision 0008, addendum
 * 2026-11-23), not the SDK's default one.
 */
async function rawWorker(server, undici) {
  const client = clientOf(
    server,
    undici
      ? new (await import('@smithy/undici-http-handler')).UndiciHttpHandler({
          dispatcher: { connect: { timeout: CONNECT_TIMEOUT_MS } },
        })
      : undefined,
  );
  const started = performance.now();
  const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: PREFIX }));
  let bytes = 0;
  for (const o of listed.Contents ?? []) {
    const result = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: o.Key }));
    for await (const chunk of result.Body) bytes += chunk.length;
  }
  const ms = performance.now() - started;
  client.destroy();
  return { bytes, rows: 0, ms };
}

/** The connector's full read of the folder: every record built, batches of READ_BATCH_SIZE. */
async function readWorker(server) {
  const started = performance.now();
  let rows = 0;
  let bytes = 0;
  for await (const batch of s3Connector.read({
    credentials: {
      s3AccessKey: server.accessKey,
      s3SecretKey: server.secretKey,
      serviceUrl: server.url,
      region: 'us-east-1',
    },
    params: { path: `/${BUCKET}/${PREFIX}`, fileType: 'delimited' },
    state: undefined,
  })) {
    rows += batch.records.length;
    bytes += batch.bytes ?? 0;
  }
  return { bytes, rows, ms: performance.now() - started };
}

async function worker(kind, server) {
  const cpu = process.cpuUsage();
  // Sampled: the kernel's maxRSS of a child starts at its parent's (inherited across fork).
  let peakRss = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 10);
  const result = kind === 'read' ? await readWorker(server) : await rawWorker(server, kind === 'raw-undici');
  clearInterval(timer);
  const used = process.cpuUsage(cpu);
  const peakRssMb = Math.max(peakRss, process.memoryUsage.rss()) / MB;
  process.stdout.write(
    `${JSON.stringify({ ...result, cpuS: (used.user + used.system) / 1e6, peakRssMb })}\n`,
  );
}

function run(file, args, opts = {}) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { maxBuffer: 64 * 1024 * 1024, ...opts }, (error, stdout, stderr) => {
      if (error) reject(Object.assign(error, { stdout, stderr }));
      else resolve(stdout);
    });
  });
}

async function measure(kind, envFile) {
  const flags = options['node-flags'].split(' ').filter(Boolean);
  const stdout = await run(process.execPath, [...flags, self, '--worker', kind, '--env', envFile]);
  return JSON.parse(stdout.trim().split('\n').at(-1));
}

// ---------------------------------------------------------------- main

function readEnv(file) {
  const lines = Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return {
    url: lines.INFLOW_TEST_S3_URL,
    accessKey: lines.INFLOW_TEST_S3_ACCESS_KEY,
    secretKey: lines.INFLOW_TEST_S3_SECRET_KEY,
  };
}

/** One object of ~`bytes` CSV: 10 columns, a quoted field with a comma in every row. */
function csvObject(index, bytes) {
  const parts = [Buffer.from('id,object,name,city,amount,score,active,at,code,note\n')];
  let size = parts[0].length;
  let id = 0;
  while (size < bytes) {
    const lines = [];
    for (let i = 0; i < 20_000; i++) {
      id++;
      lines.push(
        `${id},${index},"Customer ${id}, Jr.",City ${id % 977},${(id % 100_000) / 100},${id % 1000},${id % 2 === 0},2024-05-01T10:${String(id % 60).padStart(2, '0')}:00Z,C${id % 9973},note number ${id}`,
      );
    }
    const chunk = Buffer.from(`${lines.join('\n')}\n`);
    parts.push(chunk);
    size += chunk.length;
  }
  return { body: Buffer.concat(parts), rows: id };
}

async function main() {
  const started = performance.now();
  let dir;
  let envFile;
  let stop = async () => {};
  if (process.env.INFLOW_TEST_S3_URL) {
    dir = mkdtempSync(join(tmpdir(), 'inflow-bench-s3-'));
    envFile = join(dir, 'env');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      envFile,
      ['URL', 'ACCESS_KEY', 'SECRET_KEY']
        .map((k) => `INFLOW_TEST_S3_${k}=${process.env[`INFLOW_TEST_S3_${k}`]}\n`)
        .join(''),
    );
  } else {
    dir = mkdtempSync(join(tmpdir(), 'inflow-bench-rgw-'));
    const script = join(root, 'scripts/services/radosgw.sh');
    await run('bash', [script, 'start', dir]);
    envFile = join(dir, 'env');
    stop = async () => {
      await run('bash', [script, 'stop', dir]).catch(() => {});
    };
  }
  const server = readEnv(envFile);
  const client = clientOf(server);
  try {
    await client.send(new CreateBucketCommand({ Bucket: BUCKET })).catch(() => {});
    let totalRows = 0;
    let totalBytes = 0;
    const perObject = Math.ceil((TOTAL_MB * MB) / OBJECTS);
    for (let i = 0; i < OBJECTS; i++) {
      const { body, rows } = csvObject(i, perObject);
      await client.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: `${PREFIX}part-${i}.csv`,
          Body: body,
          ContentLength: body.length,
        }),
      );
      totalRows += rows;
      totalBytes += body.length;
    }
    console.error(`uploaded ${OBJECTS} objects, ${(totalBytes / MB).toFixed(0)} MB, ${totalRows} rows`);

    const runs = { raw: [], 'raw-undici': [], read: [] };
    for (let r = 0; r < REPEAT; r++) {
      for (const kind of ['raw', 'raw-undici', 'read']) {
        const m = await measure(kind, envFile);
        runs[kind].push(m);
        console.error(
          `round ${r + 1} ${kind}: ${(m.ms / 1000).toFixed(2)} s, ${m.peakRssMb.toFixed(0)} MB RSS`,
        );
      }
    }
    const best = (list) => list.reduce((a, b) => (b.ms < a.ms ? b : a));
    const raw = best(runs.raw);
    const rawUndici = best(runs['raw-undici']);
    const read = best(runs.read);
    if (read.rows !== totalRows) throw new Error(`the read yielded ${read.rows} rows, not ${totalRows}`);
    for (const m of [raw, rawUndici]) {
      if (m.bytes !== totalBytes) throw new Error(`the download drained ${m.bytes} bytes, not ${totalBytes}`);
    }
    const mbps = (m) => totalBytes / MB / (m.ms / 1000);
    // The goal is judged against the faster of the two downloads: the SDK's default handler (the
    // baseline the issue names) and the connector's own (undici).
    const fastest = rawUndici.ms < raw.ms ? rawUndici : raw;
    const ratio = mbps(read) / mbps(fastest);
    const peak = Math.max(...runs.read.map((m) => m.peakRssMb));
    const met = ratio >= GOAL && peak < RSS_GOAL_MB;
    const row = (name, m, list) =>
      `| ${name} | ${(m.ms / 1000).toFixed(2)} | ${mbps(m).toFixed(1)} | ${(mbps(m) / mbps(raw)).toFixed(2)}× | ${(mbps(m) / mbps(rawUndici)).toFixed(2)}× | ${m.rows ? Math.round(m.rows / (m.ms / 1000)).toLocaleString('en') : '–'} | ${m.cpuS.toFixed(1)} | ${(m.cpuS / (totalBytes / 2 ** 30)).toFixed(1)} | ${Math.max(...list.map((x) => x.peakRssMb)).toFixed(0)} | ${list.map((x) => `${(x.ms / 1000).toFixed(2)} (${x.cpuS.toFixed(1)} CPU s)`).join(', ')} |`;
    // The command as run, less --no-append (which only decides where the section goes).
    const shownArgs = process.argv.slice(2).filter((a) => a !== '--no-append');
    const section = [
      '',
      `## S3 read: 1 GB of CSV, connector read vs raw GetObject (${new Date().toISOString().slice(0, 10)})`,
      '',
      `Command: \`npx turbo run build --filter=@inflow/connector-s3 && node bench/s3-read.bench.mjs${shownArgs.length ? ` ${shownArgs.join(' ')}` : ''}\``,
      '',
      `${OBJECTS} objects, ${(totalBytes / MB).toFixed(0)} MB, ${totalRows.toLocaleString('en')} rows × 10 columns, in a throwaway radosgw (memstore) on this machine`,
      `(${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GB, load average ${loadavg()[0].toFixed(1)} at the end). Each case runs in a fresh Node ${process.version}`,
      `process; best of ${REPEAT}, cases alternating. "raw" is GetObject of each object in turn with the body drained into nothing,`,
      'through the SDK\'s default HTTP handler, and "raw, undici" the same through the handler the connector uses;',
      `"read" is \`s3Connector.read\` of the folder (every record built, batches of ${READ_BATCH_SIZE.toLocaleString('en')}). Peak RSS is sampled every 10 ms.`,
      ...(options['node-flags']
        ? [`Both cases ran with \`node ${options['node-flags']}\` (a diagnostic run).`]
        : []),
      '',
      '| case | best s | MB/s | vs raw | vs raw, undici | records/s | Node CPU s | CPU s per GB | peak RSS MB | all runs s (CPU) |',
      '|---|---|---|---|---|---|---|---|---|---|',
      row('raw GetObject', raw, runs.raw),
      row('raw GetObject, undici', rawUndici, runs['raw-undici']),
      row('connector read', read, runs.read),
      '',
      `Result: read against the faster download = **${ratio.toFixed(2)}×** (goal ≥ ${GOAL}×), read peak RSS **${peak.toFixed(0)} MB** (goal < ${RSS_GOAL_MB} MB): goal ${met ? '**met**' : '**not met**'}.`,
      `Whole run: ${((performance.now() - started) / 1000).toFixed(0)} s.`,
      '',
    ].join('\n');
    process.stdout.write(section);
    if (!options['no-append']) appendFileSync(join(here, 'RESULTS.md'), section);
  } finally {
    // Leave an external server as it was.
    const listed = await client.send(new ListObjectsV2Command({ Bucket: BUCKET })).catch(() => ({}));
    for (const o of listed.Contents ?? []) {
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: o.Key })).catch(() => {});
    }
    await client.send(new DeleteBucketCommand({ Bucket: BUCKET })).catch(() => {});
    client.destroy();
    await stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (options.worker) {
  const server = readEnv(options.env);
  await worker(options.worker, server);
} else {
  await main();
}
