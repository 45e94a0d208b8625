// Benchmark: a Data Prep mapping set of 10 fields, 3 of them through functions (lower, upper,
// to_integer), compiled by `compileMappingSet`, against a hand-written JS function that does the
// same (same output, same missing-field and to_integer rules) and against JSONata doing the
// same, in one process and one run. Goal: compiled ≥ 0.5× the hand-written records/s.
//   npx turbo run build --filter=@inflow/core && node bench/mapping.bench.mjs
//
// Records are Customer.io-style webhook events (reference §10.2), varied so no call site sees a
// single shape: some lack fields, campaign ids arrive as numbers or numeric text. Each round runs
// the three cases one after another (order rotating) over the same records; each case keeps its
// best round. Before timing, all three are checked to produce identical output for every record.
// The markdown section is printed and appended to bench/RESULTS.md (--no-append only prints it).
import { appendFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual, parseArgs } from 'node:util';
import jsonata from 'jsonata';
import { compileMappingSet } from '../packages/core/dist/index.js';

const { values: options } = parseArgs({
  options: {
    records: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '7' },
    'jsonata-records': { type: 'string', default: '20000' },
    'no-append': { type: 'boolean', default: false },
  },
});
const RECORDS = Number(options.records);
const ROUNDS = Number(options.rounds);
const JSONATA_RECORDS = Number(options['jsonata-records']);
const GOAL = 0.5;

const mappingSet = {
  outputSchema: { schemaRef: { id: 'https://ns.adobe.com/acme/schemas/bench' } },
  mappings: [
    { sourceType: 'ATTRIBUTE', source: 'event_id', destination: '_acme.id' },
    { sourceType: 'EXPRESSION', source: 'lower(data.identifiers.email)', destination: '_acme.email' },
    { sourceType: 'ATTRIBUTE', source: 'metric', destination: '_acme.metric' },
    { sourceType: 'EXPRESSION', source: 'upper(object_type)', destination: '_acme.objectType' },
    { sourceType: 'ATTRIBUTE', source: 'timestamp', destination: '_acme.timestamp' },
    { sourceType: 'ATTRIBUTE', source: 'data.customer_id', destination: '_acme.customerId' },
    { sourceType: 'ATTRIBUTE', source: 'data.identifiers.cio_id', destination: '_acme.cioId' },
    { sourceType: 'EXPRESSION', source: 'to_integer(data.campaign_id)', destination: '_acme.campaign' },
    { sourceType: 'ATTRIBUTE', source: 'data.subject', destination: '_acme.subject' },
    { sourceType: 'ATTRIBUTE', source: 'data.recipient', destination: '_acme.recipient' },
  ],
};

/** The same mapping written by hand: missing fields left out, null passed on, to_integer's checks. */
function handWritten(r) {
  const acme = {};
  const data = r.data;
  const ids = data?.identifiers;
  let errors = null;
  if (r.event_id !== undefined) acme.id = r.event_id;
  const email = ids?.email;
  if (email !== undefined) acme.email = email == null ? email : String(email).toLowerCase();
  if (r.metric !== undefined) acme.metric = r.metric;
  const type = r.object_type;
  if (type !== undefined) acme.objectType = type == null ? type : String(type).toUpperCase();
  if (r.timestamp !== undefined) acme.timestamp = r.timestamp;
  if (data?.customer_id !== undefined) acme.customerId = data.customer_id;
  if (ids?.cio_id !== undefined) acme.cioId = ids.cio_id;
  const campaign = data?.campaign_id;
  if (campaign != null) {
    const n =
      typeof campaign === 'number'
        ? campaign
        : /^\s*[+-]?\d+(\.\d*)?\s*$/.test(campaign)
          ? Number(campaign)
          : Number.NaN;
    if (Number.isNaN(n) || Math.trunc(n) < -2147483648 || Math.trunc(n) > 2147483647) {
      errors = [
        {
          path: '_acme.campaign',
          reason: `to_integer: ${JSON.stringify(campaign)} is not a number`,
          mapping: 7,
        },
      ];
    } else {
      acme.campaign = Math.trunc(n) || 0;
    }
  } else if (campaign === null) {
    acme.campaign = null;
  }
  if (data?.subject !== undefined) acme.subject = data.subject;
  if (data?.recipient !== undefined) acme.recipient = data.recipient;
  const value = Object.keys(acme).length > 0 ? { _acme: acme } : {};
  return errors === null ? { ok: true, value } : { ok: false, errors, value };
}

const jsonataExpression = jsonata(`{
  "_acme": {
    "id": event_id,
    "email": $lowercase(data.identifiers.email),
    "metric": metric,
    "objectType": $uppercase(object_type),
    "timestamp": timestamp,
    "customerId": data.customer_id,
    "cioId": data.identifiers.cio_id,
    "campaign": $exists(data.campaign_id) ? $floor($number(data.campaign_id)),
    "subject": data.subject,
    "recipient": data.recipient
  }
}`);

const OBJECT_TYPES = ['customer', 'email', 'push', 'in_app', 'sms', 'slack', 'webhook'];
const METRICS = ['subscribed', 'sent', 'delivered', 'opened', 'clicked', 'converted', 'bounced'];

function makeRecord(i) {
  const type = OBJECT_TYPES[i % OBJECT_TYPES.length];
  const record = {
    event_id: `01E4C4CT6YDC7Y5M7FE${String(i).padStart(7, '0')}`,
    object_type: type,
    metric: METRICS[(i * 7) % METRICS.length],
    timestamp: 1613063089 + i,
    data: {
      customer_id: String(i % 5000),
      identifiers: {
        id: String(i % 5000),
        email: `User${i % 5000}@Example.com`,
        cio_id: `cio_${i.toString(16)}`,
      },
    },
  };
  if (type !== 'customer') {
    record.data.delivery_id = `RPILAgUBcRhIBqSfeiIwdIYJKxTY${i}`;
    record.data.campaign_id = i % 3 === 0 ? String(100 + (i % 50)) : 100 + (i % 50);
    record.data.subject = `Subject ${i % 100}`;
    record.data.recipient = `user${i % 5000}@example.com`;
  }
  if (i % 11 === 0) delete record.data.identifiers.cio_id;
  return record;
}

const records = Array.from({ length: RECORDS }, (_, i) => makeRecord(i));
const compiled = compileMappingSet(mappingSet, { name: 'bench' });

// Same output from all three on every record JSONata gets (JSONata leaves out missing fields too).
for (let i = 0; i < RECORDS; i++) {
  const a = compiled(records[i]);
  const b = handWritten(records[i]);
  if (!isDeepStrictEqual(a, b))
    throw new Error(`record ${i}: compiled ${JSON.stringify(a)} ≠ hand-written ${JSON.stringify(b)}`);
  if (i < JSONATA_RECORDS) {
    const c = await jsonataExpression.evaluate(records[i]);
    if (!isDeepStrictEqual(JSON.parse(JSON.stringify(c)), a.value))
      throw new Error(`record ${i}: JSONata ${JSON.stringify(c)} ≠ compiled ${JSON.stringify(a.value)}`);
  }
}

let sink = 0;
function timeSync(fn, n) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const result = fn(records[i]);
    if (result.ok) sink++;
  }
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function timeJsonata(n) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const result = await jsonataExpression.evaluate(records[i]);
    if (result) sink++;
  }
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const cases = {
  compiled: { n: RECORDS, run: () => timeSync(compiled, RECORDS), rates: [] },
  'hand-written': { n: RECORDS, run: () => timeSync(handWritten, RECORDS), rates: [] },
  jsonata: { n: JSONATA_RECORDS, run: () => timeJsonata(JSONATA_RECORDS), rates: [] },
};
const names = Object.keys(cases);
// One untimed warm-up round, so every case is optimised before it counts.
for (const name of names) await cases[name].run();
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < names.length; k++) {
    const name = names[(round + k) % names.length];
    const seconds = await cases[name].run();
    cases[name].rates.push(cases[name].n / seconds);
  }
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const best = Object.fromEntries(names.map((n) => [n, Math.max(...cases[n].rates)]));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ratio = best.compiled / best['hand-written'];
const lines = [
  '',
  `## Mapping compiler: 10 fields, 3 functions (${new Date().toISOString().slice(0, 10)})`,
  '',
  'Command: `npx turbo run build --filter=@inflow/core && node bench/mapping.bench.mjs`',
  '',
  `Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; ${fmt(RECORDS)} Customer.io-style records (${fmt(JSONATA_RECORDS)} for JSONata), ${ROUNDS} rounds after a warm-up, order rotating; outputs checked identical first.`,
  '',
  '| case | best records/s | median records/s | vs hand-written (best) |',
  '|---|---:|---:|---:|',
  ...names.map(
    (n) =>
      `| ${n} | ${fmt(best[n])} | ${fmt(median(cases[n].rates))} | ${(best[n] / best['hand-written']).toFixed(3)}× |`,
  ),
  '',
  `Goal compiled ≥ ${GOAL}× hand-written: **${ratio >= GOAL ? 'met' : 'not met'}** (${ratio.toFixed(2)}×). Spread of the compiled rounds: ${fmt(Math.min(...cases.compiled.rates))}–${fmt(Math.max(...cases.compiled.rates))} records/s.`,
  '',
];
const text = lines.join('\n');
console.log(text);
if (sink === 0) console.log('(no record mapped)');
if (!options['no-append']) {
  appendFileSync(join(dirname(fileURLToPath(import.meta.url)), 'RESULTS.md'), text);
}
