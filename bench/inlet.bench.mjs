// Streaming inlet benchmark (issue 5): acked msgs/s and p99 of POST /collection/{inletId} with
// 1 KiB XDM messages over keep-alive, against a bare node:http server that parses the JSON and
// answers 200 without persisting, in the same run; the batch endpoint; ack-to-queryable latency.
//
//   node bench/inlet.bench.mjs            (BENCH_SECONDS=10 per run by default)
//
// The load generator (autocannon, this process) and each server run in separate processes. The
// Inflow server is packages/server/src bundled with esbuild (no build needed), with a fresh data
// dir on disk for every run, so every ack waits for a durable write (O_DSYNC, or fdatasync).
// BENCH_CASES=200,50,batch,latency picks cases; BENCH_ROUNDS (3) alternating bare/Inflow rounds
// per single-message case; BENCH_PROF=dir writes the main thread's CPU profiles;
// BENCH_TARGET_FLAGS="--cpu-prof --cpu-prof-dir=dir" (or --trace-gc) passes node flags to both
// targets, every thread included (diagnostics, not the run that counts); BENCH_INFLOW_FLAGS only
// to the Inflow target. BENCH_BATCH_RECORDS=n sets the consumer's micro-batch size, and
// BENCH_NO_LANDING=1 stops the consumer so that nothing lands (diagnostics). BENCH_CASES=drain
// (not in the default set) measures the landing alone: CPU per landed message of a backlog.
// BENCH_MESSAGE_BYTES=n sends messages of about n bytes instead of 1 KiB (diagnostics).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sourceBundleOptions } from '../scripts/source-bundle.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundleDir = join(root, 'node_modules', '.cache', 'inflow-inlet-bench');
const bundle = join(bundleDir, 'server.mjs');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
/** Alternating bare/Inflow rounds per connection count; each side's best counts (BENCH_ROUNDS). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECRET = 'bench-secret';
const XDM_FULL = 'application/vnd.adobe.xed-full+json;version=1';

// ---------------------------------------------------------------------------------------------
// Targets (child processes)

if (process.argv[2] === 'bare') {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try {
        JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400).end();
        return;
      }
      const now = Date.now();
      const body = JSON.stringify({ inletId: 'bare', xactionId: `${now}:1:1`, receivedTimeMs: now });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  answerStats(() => ({}));
  server.listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` }));
  });
} else if (process.argv[2] === 'inflow') {
  const { buildServer, configFromEnv } = await import(pathToFileURL(bundle).href);
  const server = await buildServer({
    ...configFromEnv({}),
    dataDir: process.argv[3],
    port: 0,
    logLevel: 'silent',
    bootstrap: { clientSecret: SECRET, tenantId: 'extconndev' },
    // BENCH_BATCH_RECORDS: the consumer's micro-batch size (diagnostics; the default is the server's).
    ...(process.env.BENCH_BATCH_RECORDS
      ? { streaming: { batchRecords: Number(process.env.BENCH_BATCH_RECORDS) } }
      : {}),
  });
  const url = await server.listen();
  // `drain`: time and CPU of landing a backlog the consumer finds at start (no load meanwhile).
  if (process.argv[4] === 'drain') drainReport(server.app.streaming.consumer);
  // BENCH_NO_LANDING=1: the consumer is stopped, so acks go into the log and nothing lands (a
  // diagnostic: the ceiling of the ack path alone, not a run that counts).
  if (process.env.BENCH_NO_LANDING) await server.app.streaming?.consumer.stop();
  answerStats(() => {
    const streaming = server.app.streaming;
    return { log: { ...streaming?.log.stats }, consumer: { ...streaming?.consumer.stats } };
  });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => server.close().then(() => process.exit(0)));
  }
  console.log(JSON.stringify({ url, orgId: server.bootstrap.orgId, clientId: server.bootstrap.clientId }));
} else {
  await main();
}

/**
 * Reports (on stdout, one JSON line) the CPU time of all the process's threads and the wall time
 * the consumer takes to land what the log holds, from the first landed message to the last.
 */
function drainReport(consumer) {
  const total = Number(process.argv[5]);
  let first;
  const timer = setInterval(() => {
    const { consumed } = consumer.stats;
    if (first === undefined && consumed > 0)
      first = {
        consumed,
        cpu: process.cpuUsage(),
        at: performance.now(),
        elu: performance.eventLoopUtilization(),
      };
    if (first === undefined || consumed < total) return;
    clearInterval(timer);
    const cpu = process.cpuUsage(first.cpu);
    const n = consumed - first.consumed;
    console.log(
      JSON.stringify({
        drain: {
          messages: n,
          msgsPerSec: (n * 1000) / (performance.now() - first.at),
          cpuMicrosPerMsg: (cpu.user + cpu.system) / n,
          systemMicrosPerMsg: cpu.system / n,
          mainThreadMicrosPerMsg: (performance.eventLoopUtilization(first.elu).active * 1000) / n,
          maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
        },
      }),
    );
  }, 10);
}

/** Answers the driver's `stats` requests (IPC): this process's CPU time and what `extra` reports. */
function answerStats(extra) {
  let session;
  process.on('message', async (m) => {
    if (m === 'stats') {
      process.send?.({
        cpu: process.cpuUsage(),
        at: performance.now(),
        // The main thread's busy time: what the acks' event loop spends, the worker's landing aside.
        loopActiveMs: performance.eventLoopUtilization().active,
        ...extra(),
      });
    }
    // BENCH_PROF=dir: a V8 CPU profile of the target during each load run (for analysis only).
    if (m === 'prof-start') {
      const { Session } = await import('node:inspector/promises');
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      process.send?.('ok');
    }
    if (m === 'prof-stop') {
      const { profile } = await session.post('Profiler.stop');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(
        join(process.env.BENCH_PROF, `${process.argv[2]}-${Date.now()}.cpuprofile`),
        JSON.stringify(profile),
      );
      session.disconnect();
      process.send?.('ok');
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Driver

function startTarget(args) {
  // BENCH_TARGET_FLAGS: node flags for the targets, e.g. `--cpu-prof --cpu-prof-dir=…` (every thread).
  const flags = (process.env.BENCH_TARGET_FLAGS ?? '').split(' ').filter(Boolean);
  // BENCH_INFLOW_FLAGS: node flags for the Inflow target only (diagnostics).
  if (args[0] === 'inflow') flags.push(...(process.env.BENCH_INFLOW_FLAGS ?? '').split(' ').filter(Boolean));
  const child = spawn(process.execPath, [...flags, fileURLToPath(import.meta.url), ...args], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    env: { ...process.env },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      // Anything else a target prints (a flag's trace) goes to stderr.
      if (flags.length > 0) process.stderr.write(c);
      out += c;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ child, ...JSON.parse(line) });
    });
    child.on('exit', (code) => reject(new Error(`target ${args[0]} exited with ${code}`)));
  });
}

/** The target's CPU time (user + system µs, all threads), wall time and streaming stats. */
function statsOf(target) {
  return new Promise((resolve) => {
    target.child.once('message', resolve);
    target.child.send('stats');
  });
}

/** A load run against `target`, with the target's CPU-µs per acked message alongside the wall-clock figures. */
async function measured(target, url, body, connections, messagesPerRequest = 1) {
  const profile = (op) =>
    process.env.BENCH_PROF
      ? new Promise((resolve) => {
          target.child.once('message', resolve);
          target.child.send(op);
        })
      : undefined;
  await profile('prof-start');
  const before = await statsOf(target);
  const result = await load(url, body, connections);
  const after = await statsOf(target);
  await profile('prof-stop');
  const cpuMicros = after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system;
  const acked = result.msgsPerSec * SECONDS * messagesPerRequest;
  const fsyncs = (after.log?.fsyncs ?? 0) - (before.log?.fsyncs ?? 0);
  const appends = (after.log?.appends ?? 0) - (before.log?.appends ?? 0);
  return {
    ...result,
    cpuMicrosPerMsg: acked > 0 ? cpuMicros / acked : undefined,
    cpuShare: cpuMicros / ((after.at - before.at) * 1000),
    mainThreadMicrosPerMsg:
      acked > 0 ? ((after.loopActiveMs - before.loopActiveMs) * 1000) / acked : undefined,
    ...(after.log
      ? {
          appendsPerFsync: fsyncs > 0 ? appends / fsyncs : undefined,
          fsyncsPerSec: fsyncs / SECONDS,
          commitMs: fsyncs > 0 ? (after.log.commitMs - before.log.commitMs) / fsyncs : undefined,
        }
      : {}),
    ...(after.consumer ? { consumed: after.consumer.consumed - (before.consumer?.consumed ?? 0) } : {}),
  };
}

async function stopTarget(target) {
  target.child.removeAllListeners('exit');
  const exited = new Promise((r) => target.child.once('exit', r));
  target.child.kill('SIGTERM');
  await exited;
}

async function api(url, headers, method, path, body) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** A fresh Inflow server with a schema, a dataset and an open inlet. */
async function startInflow() {
  const dataDir = mkdtempSync(join(tmpdir(), 'inflow-inlet-bench-'));
  const target = await startTarget(['inflow', dataDir]);
  const token = (
    await (
      await fetch(`${target.url}/ims/token/v3`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: target.clientId,
          client_secret: SECRET,
        }),
      })
    ).json()
  ).access_token;
  const headers = {
    Authorization: `Bearer ${token}`,
    'x-api-key': target.clientId,
    'x-gw-ims-org-id': target.orgId,
    'x-sandbox-name': 'prod',
  };
  const schema = await api(target.url, headers, 'POST', '/data/foundation/schemaregistry/tenant/schemas', {
    type: 'object',
    title: 'bench events',
    description: 'bench',
    allOf: [{ $ref: 'https://ns.adobe.com/xdm/context/profile' }, { $ref: '#/definitions/f' }],
    definitions: {
      f: {
        properties: {
          _extconndev: {
            type: 'object',
            properties: { seq: { type: 'integer' }, email: { type: 'string' }, note: { type: 'string' } },
          },
        },
      },
    },
  });
  const [ref] = await api(target.url, headers, 'POST', '/data/foundation/catalog/dataSets', {
    name: 'bench',
    schemaRef: { id: schema.$id, contentType: XDM_FULL },
  });
  const datasetId = ref.replace('@/dataSets/', '');
  const { id } = await api(target.url, headers, 'POST', '/data/foundation/flowservice/connections', {
    name: 'bench inlet',
    connectionSpec: { id: 'bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb', version: '1.0' },
    auth: { specName: 'Streaming Connection', params: { sourceId: 'bench', dataType: 'xdm', name: 'bench' } },
  });
  const conn = await api(target.url, headers, 'GET', `/data/foundation/flowservice/connections/${id}`);
  const inletId = conn.items[0].auth.params.inletId;
  return { ...target, dataDir, headers, schemaId: schema.$id, datasetId, inletId };
}

/** A 1 KiB (1024-byte) XDM envelope. */
function message(schemaId, datasetId, seq) {
  const make = (note) =>
    JSON.stringify({
      header: { schemaRef: { id: schemaId, contentType: XDM_FULL }, datasetId, source: { name: 'bench' } },
      body: {
        xdmMeta: { schemaRef: { id: schemaId, contentType: XDM_FULL } },
        xdmEntity: { _extconndev: { seq, email: `user${seq}@example.com`, note } },
      },
    });
  const base = make('');
  // BENCH_MESSAGE_BYTES: another message size (diagnostics; the goals are for 1 KiB).
  const size = Number(process.env.BENCH_MESSAGE_BYTES ?? 1024);
  return make('x'.repeat(Math.max(0, size - Buffer.byteLength(base))));
}

async function load(url, body, connections) {
  const { default: autocannon } = await import('autocannon');
  const result = await autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections,
    pipelining: 1,
    duration: SECONDS,
  });
  const ok = result['2xx'];
  return {
    msgsPerSec: ok / SECONDS,
    p99: result.latency.p99,
    p50: result.latency.p50,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

async function bundleServer() {
  const { build } = await import('esbuild');
  mkdirSync(bundleDir, { recursive: true });
  await build({
    ...sourceBundleOptions(),
    entryPoints: [join(root, 'packages/server/src/index.ts')],
    outfile: bundle,
  });
}

function pct(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Acks at a steady `rate` for SECONDS; each message's ack-to-visible-in-the-Catalog time. */
async function ackToQueryable(rate) {
  const s = await startInflow();
  const acked = new Map();
  const visible = new Map();
  const seen = new Set();
  let polling = true;
  const poll = (async () => {
    while (polling || visible.size < acked.size) {
      const batches = await api(
        s.url,
        s.headers,
        'GET',
        // Newest first: the Catalog pages (default 20), and only new batches matter here.
        `/data/foundation/catalog/batches?dataSet=${s.datasetId}&orderBy=desc:created&limit=100`,
      );
      const now = Date.now();
      for (const batchId of Object.keys(batches)) {
        if (seen.has(batchId)) continue;
        seen.add(batchId);
        const { asyncBufferFromFile, parquetReadObjects } = await import('hyparquet');
        const dir = join(s.dataDir, 'datasets', s.datasetId, batchId, 'data');
        for (const f of readdirSync(dir)) {
          for (const row of await parquetReadObjects({
            file: await asyncBufferFromFile(join(dir, f)),
            columns: ['_extconndev'],
          })) {
            visible.set(Number(row._extconndev.seq), now);
          }
        }
      }
      if (!polling && Date.now() > stopAt + 30_000) break;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  let stopAt = Number.POSITIVE_INFINITY;
  const { Agent, request } = await import('undici');
  const agent = new Agent({ connections: 32 });
  const started = Date.now();
  const inflight = [];
  for (let seq = 0; seq < rate * SECONDS; seq++) {
    const due = started + (seq * 1000) / rate;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    inflight.push(
      request(`${s.url}/collection/${s.inletId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: message(s.schemaId, s.datasetId, seq),
        dispatcher: agent,
      }).then(async (res) => {
        await res.body.text();
        if (res.statusCode === 200) acked.set(seq, Date.now());
      }),
    );
  }
  await Promise.all(inflight);
  stopAt = Date.now();
  polling = false;
  await poll;
  await agent.close();
  await stopTarget(s);
  rmSync(s.dataDir, { recursive: true, force: true });
  const latencies = [...acked].map(([seq, at]) => (visible.get(seq) ?? Number.POSITIVE_INFINITY) - at);
  return {
    acked: acked.size,
    visible: [...acked.keys()].filter((k) => visible.has(k)).length,
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    max: Math.max(...latencies),
  };
}

async function main() {
  // BENCH_CASES=200,50,batch,latency (the default: all of them) runs a subset while iterating.
  const cases = new Set((process.env.BENCH_CASES ?? '200,50,batch,latency').split(','));
  const loadBefore = loadavg();
  await bundleServer();
  const rows = [];
  for (const connections of [200, 50]) {
    if (!cases.has(String(connections))) continue;
    // Rounds alternate bare and Inflow, and each side keeps its best: the machine's spare
    // capacity drifts over tens of seconds, and a single pair of runs mostly measured the drift.
    let bareResult;
    let inflowResult;
    const all = { bare: [], inflow: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const bare = await startTarget(['bare']);
      const b = await measured(bare, `${bare.url}/collection/x`, message('s', 'd', 1), connections);
      await stopTarget(bare);
      const s = await startInflow();
      const i = await measured(
        s,
        `${s.url}/collection/${s.inletId}`,
        message(s.schemaId, s.datasetId, 1),
        connections,
      );
      await stopTarget(s);
      rmSync(s.dataDir, { recursive: true, force: true });
      all.bare.push(b.msgsPerSec);
      all.inflow.push(i.msgsPerSec);
      if (!bareResult || b.msgsPerSec > bareResult.msgsPerSec) bareResult = b;
      if (!inflowResult || i.msgsPerSec > inflowResult.msgsPerSec) inflowResult = i;
      console.error(
        `${connections} connections, round ${round + 1}: bare ${b.msgsPerSec}, inflow ${i.msgsPerSec}`,
      );
    }
    rows.push({
      connections,
      bare: bareResult,
      inflow: { ...inflowResult, inflowMain: true },
      ratio: inflowResult.msgsPerSec / bareResult.msgsPerSec,
      all,
    });
    console.log(JSON.stringify(rows.at(-1)));
  }
  let batch;
  if (cases.has('batch')) {
    const s = await startInflow();
    const messages = Array.from({ length: 100 }, (_, i) => JSON.parse(message(s.schemaId, s.datasetId, i)));
    const batchBody = JSON.stringify({ messages });
    const batchResult = await measured(s, `${s.url}/collection/batch/${s.inletId}`, batchBody, 20, 100);
    await stopTarget(s);
    rmSync(s.dataDir, { recursive: true, force: true });
    batch = {
      inflowMain: true,
      connections: 20,
      messagesPerRequest: 100,
      ...batchResult,
      requestsPerSec: batchResult.msgsPerSec,
      msgsPerSec: batchResult.msgsPerSec * 100,
    };
    console.log(JSON.stringify({ batch }));
  }
  // `drain` (diagnostic, not in the default set): the landing's own cost, apart from the acks.
  // 200 connections fill the log of a server whose consumer is stopped; a second server on the
  // same data dir lands the backlog at start, and reports its CPU per landed message.
  if (cases.has('drain')) {
    for (let round = 0; round < ROUNDS; round++) {
      process.env.BENCH_NO_LANDING = '1';
      const s = await startInflow();
      delete process.env.BENCH_NO_LANDING;
      const filled = await measured(
        s,
        `${s.url}/collection/${s.inletId}`,
        message(s.schemaId, s.datasetId, 1),
        200,
      );
      await stopTarget(s);
      const acked = Math.round(filled.msgsPerSec * SECONDS);
      const d = await startTarget(['inflow', s.dataDir, 'drain', String(acked)]);
      const report = await new Promise((resolve) => {
        let out = '';
        d.child.stdout.on('data', (c) => {
          out += c;
          const line = out.split('\n').find((l) => l.startsWith('{"drain"'));
          if (line) resolve(JSON.parse(line).drain);
        });
      });
      await stopTarget(d);
      rmSync(s.dataDir, { recursive: true, force: true });
      console.log(JSON.stringify({ drain: { round: round + 1, acked, ...report } }));
    }
  }
  let latency;
  if (cases.has('latency')) {
    latency = await ackToQueryable(1000);
    console.log(JSON.stringify({ ackToQueryable: { rate: 1000, ...latency } }));
  }
  const loadAfter = loadavg();

  const f = (n) => Math.round(n).toLocaleString('en-US');
  const cpu = (r) =>
    r.cpuMicrosPerMsg === undefined
      ? '–'
      : `${r.cpuMicrosPerMsg.toFixed(1)}${r.inflowMain ? `; loop ${r.mainThreadMicrosPerMsg.toFixed(1)}` : ''}`;
  const lines = [
    '',
    `## Streaming inlet (issue 5) — ${new Date().toISOString().slice(0, 10)}`,
    '',
    `Command: \`node bench/inlet.bench.mjs\` (${SECONDS} s per run; single-message cases: ${ROUNDS} rounds alternating bare and Inflow, each side's best run shown, every run in "all runs"; autocannon in the driver process, each server its own process; 1 KiB XDM messages, keep-alive; a fresh data dir on disk per Inflow run, every ack after a durable write). Load average ${loadBefore.map((n) => n.toFixed(1)).join(' ')} before, ${loadAfter.map((n) => n.toFixed(1)).join(' ')} after (${cpus().length} cores). CPU µs/msg: the server process's user + system CPU time (all its threads, the consumer's worker included) per acked message; "loop": the main event loop's busy time per acked message, in wall-clock µs (it includes time the thread was preempted, so on a loaded machine it can exceed the CPU figure; the bare server's is in the JSON lines).`,
    '',
    '| endpoint | connections | bare node:http msgs/s (p99; CPU µs/msg) | Inflow acked msgs/s (p99; CPU µs/msg) | ratio | Inflow acks per durable commit (commit ms) | goal | all runs msgs/s (bare / Inflow) |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| /collection/{id} | ${r.connections} | ${f(r.bare.msgsPerSec)} (${r.bare.p99} ms; ${cpu(r.bare)}) | ${f(r.inflow.msgsPerSec)} (${r.inflow.p99} ms; ${cpu(r.inflow)}) | ${r.ratio.toFixed(2)}× | ${r.inflow.appendsPerFsync?.toFixed(1) ?? '–'} (${r.inflow.commitMs?.toFixed(1) ?? '–'}) | ${r.connections === 200 ? '≥ 0.7×' : '≥ 10,000 msgs/s'} | ${r.all.bare.map(f).join(', ')} / ${r.all.inflow.map(f).join(', ')} |`,
    ),
    ...(batch
      ? [
          `| /collection/batch/{id}, 100 msgs per request | 20 | | ${f(batch.msgsPerSec)} (${f(batch.requestsPerSec)} req/s, p99 ${batch.p99} ms; ${cpu(batch)}) | | ${batch.appendsPerFsync?.toFixed(1) ?? '–'} (${batch.commitMs?.toFixed(1) ?? '–'}) | ≥ 100,000 msgs/s | |`,
        ]
      : []),
    '',
    ...(latency
      ? [
          `Ack-to-queryable (1,000 msgs/s for ${SECONDS} s, time from the 200 until the message's batch is in the Catalog and its Parquet row is read back; polled every 20 ms): p50 ${latency.p50} ms, p99 ${latency.p99} ms, max ${latency.max} ms; ${latency.visible}/${latency.acked} visible (goal p99 ≤ 2 s).`,
          '',
        ]
      : []),
  ];
  console.log(lines.join('\n'));
}
