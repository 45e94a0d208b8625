import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlowServiceClient } from '@inflow/core';
import { buildServer, type InflowServer, saveBootstrap } from '@inflow/server';
import type { TestPostgres } from '@inflow/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { captureIo, main } from '../src/index.js';
import { CONNECTORS } from './helpers.js';

/**
 * `inflow runs watch` against real runs: PostgreSQL tables read by database flows (made with
 * `inflow apply`), runs started with `POST /runs`, and the watch's JSON lines and exit code.
 */
const PG: TestPostgres = inject('postgres');
const SECRET = 'runs-watch-secret';

interface WatchLine {
  id: string;
  flowId?: string;
  status: string;
  read: number;
  written: number;
  failed: number;
  errors: string[];
}

let server: InflowServer;
let url: string;
let dir: string;
let client: FlowServiceClient;
let env: Record<string, string | undefined>;
let flows: Record<string, string>;
let tables: Record<'good' | 'dropped', string>;

async function sql(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({
    host: PG.host,
    port: PG.port,
    database: PG.database,
    user: PG.user,
    password: PG.password,
  });
  await c.connect();
  try {
    return await c.query(text, values);
  } finally {
    await c.end();
  }
}

async function makeTable(rows: number): Promise<string> {
  const table = `watch_${randomBytes(4).toString('hex')}`;
  await sql(
    `create table ${table} (id int primary key, code text not null, name text, updated_at timestamptz not null)`,
  );
  await insertRows(table, 1, rows);
  return table;
}

async function insertRows(table: string, from: number, to: number): Promise<void> {
  await sql(
    `insert into ${table} select i, 'm-' || i, 'Member ' || i, timestamptz '2024-01-01T00:00:00Z' + i * interval '1 hour'
       from generate_series($1::int, $2::int) as i`,
    [from, to],
  );
}

/** Runs `inflow …` in-process against the server; `signal` stands for Ctrl-C. */
async function inflow(argv: string[], signal?: AbortSignal) {
  const io = captureIo({ env, cwd: dir });
  const code = await main(argv, signal ? { ...io, signal } : io);
  return { code, stdout: io.out(), stderr: io.err() };
}

const lines = (stdout: string): WatchLine[] =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as WatchLine);

/** What a run's statuses may be, in order: each watch line is a step forward (or the same step with new counts). */
const ORDER = ['scheduled', 'inprogress', 'success', 'failed'];
function expectProgression(seen: WatchLine[], final: 'success' | 'failed'): void {
  const steps = seen.map((l) => ORDER.indexOf(l.status));
  expect(
    steps.every((s) => s >= 0),
    JSON.stringify(seen),
  ).toBe(true);
  expect(steps, JSON.stringify(seen)).toEqual([...steps].sort((a, b) => a - b));
  expect(seen.at(-1)?.status).toBe(final);
  // Nothing after the end: one final line.
  expect(seen.filter((l) => l.status === final)).toHaveLength(1);
}

const startRun = async (flow: string) => (await client.runs.create({ flowId: flow })).id;

async function settled(runId: string): Promise<string> {
  for (;;) {
    const { state } = (await client.runs.get(runId)) as { state?: string };
    if (state === 'success' || state === 'failed') return state;
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'inflow-watch-'));
  const dataDir = join(dir, 'data');
  server = await buildServer({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    publicUrl: undefined,
    secretKey: undefined,
    bootstrap: { tenantId: 'acme', clientSecret: SECRET },
    tokenTtlSeconds: 3600,
    logLevel: 'silent',
    connectors: CONNECTORS,
    // Retries 20 ms apart, two attempts: a failing run ends in well under a second.
    runs: { retryBaseMs: 20, maxAttempts: 2, tickMs: 50 },
  });
  url = await server.listen();
  const bootstrapFile = saveBootstrap(dataDir, server.bootstrap) as string;
  env = { INFLOW_CONFIG: join(dir, 'config', 'config.json'), HOME: dir };
  expect((await inflow(['login', '--from-bootstrap', bootstrapFile, '--endpoint', url])).code).toBe(0);
  const token = await fetch(`${url}/ims/token/v3`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: server.bootstrap.clientId,
      client_secret: SECRET,
    }),
  }).then(async (r) => ((await r.json()) as { access_token: string }).access_token);
  client = new FlowServiceClient({
    endpoint: url,
    apiKey: server.bootstrap.clientId,
    orgId: server.bootstrap.orgId,
    sandboxName: 'prod',
    token,
  });

  // Three flows on one PostgreSQL connection: a good one, one whose mapping puts text into an
  // integer field (every record fails), and one whose table is dropped after it is made.
  tables = { good: await makeTable(5), dropped: await makeTable(2) };
  const file = join(dir, 'inflow.yaml');
  const flow = (key: string, mapping: string) => `
  ${key}:
    name: Watch ${key}
    flowSpec: CRMToAEP
    sources: ${key}
    targets: ${key}
    mapping: ${mapping}
    transformations:
      - { name: Copy, params: { deltaColumn: { name: updated_at, dateFormat: YYYY-MM-DD, timezone: UTC } } }
    scheduleParams: { startTime: ${Math.floor(Date.now() / 1000) + 86_400}, frequency: once }`;
  const source = (key: string, table: string) => `
  ${key}: { name: ${key} table, connection: pg, data: { format: tabular }, params: { tableName: ${table} } }`;
  const target = (key: string) => `
  ${key}: { name: ${key} lake, dataset: members }`;
  writeFileSync(
    file,
    `version: 1
schemas:
  members:
    title: Watch members
    class: profile
    fields: { memberId: integer, name: string }
datasets:
  members: { name: Watch members, schema: members }
connections:
  pg:
    name: Watch PostgreSQL
    connectionSpec: postgresql
    auth:
      params: { connectionString: "\${PG_CONNECTION_STRING}" }
sourceConnections:${source('good', tables.good)}${source('badMapping', tables.good)}${source('dropped', tables.dropped)}
targetConnections:${target('good')}${target('badMapping')}${target('dropped')}
mappingSets:
  good:
    schema: members
    mappings:
      - { sourceType: ATTRIBUTE, source: code, destination: _id }
      - { sourceType: ATTRIBUTE, source: id, destination: "_\${TENANT_ID}.memberId" }
      - { sourceType: ATTRIBUTE, source: name, destination: "_\${TENANT_ID}.name" }
  bad:
    schema: members
    mappings:
      - { sourceType: ATTRIBUTE, source: code, destination: _id }
      - { sourceType: ATTRIBUTE, source: name, destination: "_\${TENANT_ID}.memberId" }
flows:${flow('good', 'good')}${flow('badMapping', 'bad')}${flow('dropped', 'good')}
`,
  );
  const password = `"${PG.password.replaceAll('"', '""')}"`;
  env.PG_CONNECTION_STRING = `Server=${PG.host};Database=${PG.database};Port=${PG.port};UID=${PG.user};Password=${password}`;
  const applied = await inflow(['apply', '-f', file, '--json']);
  expect(applied.code, applied.stderr).toBe(0);
  flows = (JSON.parse(applied.stdout) as { ids: Record<string, Record<string, string>> }).ids.flows ?? {};
  expect(Object.keys(flows).sort()).toEqual(['badMapping', 'dropped', 'good']);
  await sql(`drop table ${tables.dropped}`);
});

afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('inflow runs watch against real runs', () => {
  it('--help shows the usage, the flags and examples', async () => {
    const r = await inflow(['runs', 'watch', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: inflow runs watch [--flow ID | --run ID]');
    expect(r.stdout).toContain('--until-done');
    expect(r.stdout).toContain('--interval SECONDS');
    expect(r.stdout).toContain('Examples:');
  });

  it('follows a flow while it runs twice: each run to success with its record counts, until Ctrl-C', async () => {
    const stop = new AbortController();
    const io = captureIo({ env, cwd: dir });
    const watching = main(['runs', 'watch', '--flow', flows.good as string, '--json', '--interval', '0.05'], {
      ...io,
      signal: stop.signal,
    });
    const first = await startRun(flows.good as string);
    expect(await settled(first)).toBe('success');
    // The Copy transformation's delta column: the next run reads only the new rows.
    await insertRows(tables.good, 6, 8);
    const second = await startRun(flows.good as string);
    expect(await settled(second)).toBe('success');
    // Both runs ended; the watch prints their ends at its next poll. Then Ctrl-C.
    const ended = () => lines(io.out()).filter((l) => l.status === 'success').length;
    while (ended() < 2) await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    expect(await watching, io.err()).toBe(0);

    const seen = lines(io.out());
    expect(new Set(seen.map((l) => l.id))).toEqual(new Set([first, second]));
    expect(seen.every((l) => l.flowId === flows.good)).toBe(true);
    const ofFirst = seen.filter((l) => l.id === first);
    const ofSecond = seen.filter((l) => l.id === second);
    expectProgression(ofFirst, 'success');
    expectProgression(ofSecond, 'success');
    expect(ofFirst.at(-1)).toMatchObject({ read: 5, written: 5, failed: 0, errors: [] });
    expect(ofSecond.at(-1)).toMatchObject({ read: 3, written: 3, failed: 0, errors: [] });
    // The first run's lines all come before the second's: it ended before the second was made.
    expect(seen.findIndex((l) => l.id === second)).toBeGreaterThan(seen.findLastIndex((l) => l.id === first));
  });

  it('--until-done right after POST /runs: exits 0 once the run succeeds, with its counts', async () => {
    await insertRows(tables.good, 9, 12);
    const runId = await startRun(flows.good as string);
    const r = await inflow([
      'runs',
      'watch',
      '--flow',
      flows.good as string,
      '--until-done',
      '--json',
      '--interval',
      '0.05',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const seen = lines(r.stdout);
    expect(
      seen.every((l) => l.id === runId),
      r.stdout,
    ).toBe(true);
    expectProgression(seen, 'success');
    expect(seen.at(-1)).toMatchObject({ read: 4, written: 4, failed: 0, errors: [] });
  });

  it('--until-done after the run already ended: still reports it (the newest run is never history)', async () => {
    await insertRows(tables.good, 13, 14);
    const runId = await startRun(flows.good as string);
    expect(await settled(runId)).toBe('success');
    const r = await inflow([
      'runs',
      'watch',
      '--flow',
      flows.good as string,
      '--until-done',
      '--json',
      '--interval',
      '0.05',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toEqual([
      expect.objectContaining({ id: runId, status: 'success', read: 2, written: 2, failed: 0, errors: [] }),
    ]);
    // Older finished runs stay history: the same watch again shows only this newest one.
    const again = await inflow(['runs', 'watch', '--flow', flows.good as string, '--until-done', '--json']);
    expect(lines(again.stdout).map((l) => l.id)).toEqual([runId]);
  });

  it('a run whose every record fails the mapping: exit 5, the failed count and the error code', async () => {
    const rows = Number((await sql(`select count(*)::int as n from ${tables.good}`)).rows[0].n);
    const runId = await startRun(flows.badMapping as string);
    const r = await inflow([
      'runs',
      'watch',
      '--flow',
      flows.badMapping as string,
      '--until-done',
      '--json',
      '--interval',
      '0.05',
    ]);
    expect(r.code, r.stderr).toBe(5);
    const seen = lines(r.stdout);
    expect(
      seen.every((l) => l.id === runId),
      r.stdout,
    ).toBe(true);
    expectProgression(seen, 'failed');
    const last = seen.at(-1) as WatchLine;
    expect(last).toMatchObject({ read: rows, written: 0, failed: rows });
    expect(last.errors).toEqual([expect.stringMatching(/^INGEST-1212-400 \S/)]);

    // The same for a person: the status, the counts and the error line, exit 5.
    const human = await inflow(['runs', 'watch', '--flow', flows.badMapping as string, '--until-done']);
    expect(human.code).toBe(5);
    expect(human.stdout).toContain(runId);
    expect(human.stdout).toMatch(new RegExp(`failed\\s+read ${rows}  written 0  failed ${rows}`));
    expect(human.stdout).toMatch(/\n {4}INGEST-1212-400 \S/);
  });

  it("a run whose table was dropped: each attempt's error, exit 5", async () => {
    const runId = await startRun(flows.dropped as string);
    const r = await inflow([
      'runs',
      'watch',
      '--flow',
      flows.dropped as string,
      '--until-done',
      '--json',
      '--interval',
      '0.05',
    ]);
    expect(r.code, r.stderr).toBe(5);
    const seen = lines(r.stdout);
    expect(
      seen.every((l) => l.id === runId),
      r.stdout,
    ).toBe(true);
    expectProgression(seen, 'failed');
    const last = seen.at(-1) as WatchLine;
    expect(last).toMatchObject({ read: 0, written: 0, failed: 0 });
    expect(last.errors.length).toBeGreaterThan(0);
    for (const e of last.errors) expect(e).toContain(tables.dropped);
  });

  it('--run ID follows one run to its end: exit 0 for a success, 5 for a failure', async () => {
    const good = await startRun(flows.good as string);
    const ok = await inflow(['runs', 'watch', '--run', good, '--json', '--interval', '0.05']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(lines(ok.stdout).at(-1)).toMatchObject({ id: good, status: 'success' });
    const bad = await startRun(flows.badMapping as string);
    const failed = await inflow(['runs', 'watch', '--run', bad, '--json', '--interval', '0.05']);
    expect(failed.code, failed.stderr).toBe(5);
    expect(lines(failed.stdout).at(-1)).toMatchObject({ id: bad, status: 'failed' });
  });
});
