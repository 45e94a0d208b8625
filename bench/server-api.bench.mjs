// Benchmark: the Inflow API (GET by id, filtered list) over N stored connections, against a bare
// Fastify route returning a constant, in the same run. Each target is its own process; this
// process generates the load (autocannon). Appends the result to bench/RESULTS.md.
//   npm run build && node bench/server-api.bench.mjs [seconds=10] [connections=50]
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';

const seconds = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 50);
const stored = Number(process.env.BENCH_CONNECTIONS ?? 10000);

function start(mode) {
  const child = spawn(process.execPath, ['bench/server-target.mjs', mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => resolve({ child, info: JSON.parse(line) }));
    child.once('exit', (code) => reject(new Error(`${mode} target exited with ${code}`)));
  });
}

function load(opts) {
  return new Promise((resolve, reject) => {
    autocannon({ duration: seconds, connections, pipelining: 1, ...opts }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

const summary = (r) => ({ rps: r.requests.average, p99: r.latency.p99, errors: r.errors + r.non2xx });

const bare = await start('bare');
const inflow = await start('inflow');
const { url, orgId, clientId, clientSecret, ids } = inflow.info;
const tokenRes = await fetch(`${url}/ims/token/v3`, {
  method: 'POST',
  body: new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: clientSecret,
  }),
});
const { access_token: token } = await tokenRes.json();
const headers = {
  Authorization: `Bearer ${token}`,
  'x-api-key': clientId,
  'x-gw-ims-org-id': orgId,
  'x-sandbox-name': 'prod',
};

const results = {};
results.bare = summary(await load({ url: `${bare.info.url}/const` }));
let n = 0;
results.getById = summary(
  await load({
    url,
    headers,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({
          ...req,
          path: `/data/foundation/flowservice/connections/${ids[n++ % ids.length]}`,
        }),
      },
    ],
  }),
);
results.filteredList = summary(
  await load({
    url: `${url}/data/foundation/flowservice/connections?property=connectionSpec.id==ecadc60c-7455-4d87-84dc-2a0e293d997b&property=state==enabled&limit=20`,
    headers,
  }),
);
results.commonList = summary(
  await load({
    url: `${url}/data/foundation/flowservice/connections?property=state==enabled&limit=20`,
    headers,
  }),
);
bare.child.kill();
inflow.child.kill();

const ratio = (k) => (results[k].rps / results.bare.rps).toFixed(2);
const row = (name, k) =>
  `| ${name} | ${results[k].rps.toFixed(0)} | ${results[k].p99} | ${k === 'bare' ? '1.00' : ratio(k)} | ${results[k].errors} |`;
const text = [
  '',
  `## Server API, ${new Date().toISOString().slice(0, 10)} — ${stored} stored connections`,
  '',
  `Command: \`npm run build && node bench/server-api.bench.mjs ${seconds} ${connections}\` (${cpus().length} cores, Node ${process.version}; autocannon ${connections} connections, ${seconds} s per case; each server in its own process).`,
  '',
  '| case | req/s | p99 ms | vs bare Fastify | errors |',
  '|---|---|---|---|---|',
  row('bare Fastify route (constant)', 'bare'),
  row('GET /connections/{id} (auth, PGlite, mask)', 'getById'),
  row(
    'GET /connections?property=connectionSpec.id==…&property=state==enabled&limit=20 (1% match)',
    'filteredList',
  ),
  row('GET /connections?property=state==enabled&limit=20 (50% match)', 'commonList'),
  '',
].join('\n');
appendFileSync('bench/RESULTS.md', text);
console.log(text);
if (results.getById.errors || results.filteredList.errors || results.commonList.errors) {
  console.error('requests failed during the benchmark');
  process.exit(1);
}
