import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sqlAs, type TestPostgres } from '@inflow/testkit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DatasetLake } from '../src/datasets/writer.js';
import { createDataset, duckRows, TENANT, XDM_FULL } from './datasets-fixtures.js';
import { call, FS, postOk, startTestServer, type TestServer } from './helpers.js';
import {
  DATA_LAKE_SPEC,
  DATABASE_FLOW_SPEC,
  databaseFlow,
  POSTGRESQL_SPEC,
  seedConnection,
} from './postgresql-flows.js';

const PG: TestPostgres = inject('postgres');
const T = `_${TENANT}`;

let t: TestServer;
let connectionId: string;

const sql = sqlAs(PG);

const post = (path: string, body: unknown) => postOk(t, path, body);
const get = (path: string) => call(t.url, 'GET', path, { headers: t.headers });

/** A loyalty table with `n` rows whose updated_at grows with the id. */
async function makeTable(n: number): Promise<string> {
  const table = `loyalty_${randomBytes(4).toString('hex')}`;
  await sql(
    `create table ${table} (id int primary key, code text not null, name text, points numeric, active boolean, email text, updated_at timestamptz not null)`,
  );
  await insertRows(table, 1, n);
  return table;
}

async function insertRows(table: string, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) {
    await sql(
      `insert into ${table} values ($1, $2, $3, $4, $5, $6, timestamptz '2024-01-01T00:00:00Z' + $7::int * interval '1 hour')`,
      [i, `m-${i}`, `Member ${i}`, i * 2.5, i % 2 === 0, `m${i}@example.com`, i],
    );
  }
}

const MAPPINGS = [
  { sourceType: 'ATTRIBUTE', source: 'code', destination: '_id' },
  { sourceType: 'ATTRIBUTE', source: 'id', destination: `${T}.memberId` },
  { sourceType: 'ATTRIBUTE', source: 'name', destination: `${T}.name` },
  { sourceType: 'ATTRIBUTE', source: 'points', destination: `${T}.points` },
  { sourceType: 'ATTRIBUTE', source: 'active', destination: `${T}.active` },
  { sourceType: 'ATTRIBUTE', source: 'updated_at', destination: `${T}.joined` },
  { sourceType: 'ATTRIBUTE', source: 'email', destination: 'personalEmail.address' },
];

/** The documented chain after the connection: source (table), target (dataset), mapping set, flow. */
const makeFlow = (opts: {
  table: string;
  dataSetId: string;
  schemaId: string;
  schedule?: Record<string, unknown>;
  mappings?: unknown[];
  baseConnectionId?: string;
}): Promise<string> =>
  databaseFlow(t, {
    ...opts,
    connectionId: opts.baseConnectionId ?? connectionId,
    mappings: opts.mappings ?? MAPPINGS,
    deltaColumn: { name: 'updated_at', dateFormat: 'YYYY-MM-DD', timezone: 'UTC' },
    targetSchema: true,
  });

type Run = { id: string; state: string; metrics: Record<string, Record<string, unknown>> };

/** Waits for a run to reach a final state (the executor retries in the background). */
async function settled(runId: string): Promise<Run> {
  for (;;) {
    const res = await get(`${FS}/runs/${runId}`);
    const run = (res.body as { items: Run[] }).items[0] as Run;
    if (run.state === 'success' || run.state === 'failed') return run;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function runNow(flowId: string): Promise<Run> {
  const res = await call(t.url, 'POST', `${FS}/runs`, {
    headers: t.headers,
    body: {
      flowId,
      params: { startTime: '1663735590', windowStartTime: '1651584991', windowEndTime: '1651585956' },
    },
  });
  expect(res.status, res.text).toBe(201);
  const [item] = (res.body as { items: { id: string; etag: string }[] }).items;
  expect(item?.etag).toMatch(/^".+"$/);
  return settled(item?.id as string);
}

const datasetRows = (dataSetId: string) =>
  duckRows(
    join((t.server.services.datasets as DatasetLake).root, dataSetId, '*', 'data', '*.parquet'),
    `_id, personalEmail.address as email, ${T}.memberId as id, ${T}.name as name, ${T}.points as points, ${T}.active as active, ${T}.joined as joined`,
    `${T}.memberId`,
  );

const tableRows = async (table: string) =>
  (
    await sql(
      `select code as "_id", email, id, name, points::float8 as points, active, to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as joined from ${table} order by id`,
    )
  ).rows.map((r) => ({ ...r, id: String(r.id) }));

beforeAll(async () => {
  t = await startTestServer({
    bootstrap: { clientSecret: 'runs-pg-secret', tenantId: TENANT },
    // Chunks of 10,000 records (ten of the connector's 1,000-record read batches): a bigger table lands in several.
    runs: {
      minScheduleIntervalSeconds: 60,
      retryBaseMs: 20,
      maxAttempts: 2,
      tickMs: 50,
      chunkRecords: 10_000,
    },
  });
  connectionId = await seedConnection(t);
});
afterAll(async () => {
  await t?.close();
});

describe('PostgreSQL table → flow → dataset (seed 002)', () => {
  it('lands the table, then only the new rows; dataset rows equal the table (read back with DuckDB)', async () => {
    const table = await makeTable(5);
    const { schemaId, dataSetId } = await createDataset(t, `pg ${table}`);
    const flowId = await makeFlow({ table, dataSetId, schemaId });

    const first = await runNow(flowId);
    expect(first.state).toBe('success');
    expect(first.metrics.recordSummary).toEqual({
      inputRecordCount: 5,
      outputRecordCount: 5,
      failedRecordCount: 0,
    });
    expect(first.metrics.statusSummary).toMatchObject({ status: 'success', errors: [] });
    expect(first.metrics.durationSummary?.completedAtUTC).toBeGreaterThanOrEqual(
      first.metrics.durationSummary?.startedAtUTC as number,
    );
    expect(first.metrics.fileSummary).toMatchObject({ outputFileCount: 1 });
    expect(first.metrics.sizeSummary?.outputBytes).toBeGreaterThan(0);
    expect(await datasetRows(dataSetId)).toEqual(await tableRows(table));

    await insertRows(table, 6, 8);
    const second = await runNow(flowId);
    expect(second.metrics.recordSummary).toMatchObject({ inputRecordCount: 3, outputRecordCount: 3 });
    expect(await datasetRows(dataSetId)).toEqual(await tableRows(table));

    // Nothing new: the run succeeds with no batch.
    const third = await runNow(flowId);
    expect(third.metrics.recordSummary).toMatchObject({ inputRecordCount: 0, outputRecordCount: 0 });

    const batches = (await get(`/data/foundation/catalog/batches?dataSet=${dataSetId}`)).body as Record<
      string,
      { recordCount: number; status: string }
    >;
    expect(Object.values(batches).map((b) => [b.status, b.recordCount])).toEqual([
      ['success', 5],
      ['success', 3],
    ]);
    const preview = await get(`/data/foundation/export/datasets/${dataSetId}/preview?limit=2`);
    expect((preview.body as { data: unknown[] }).data).toEqual([
      {
        _id: 'm-1',
        personalEmail: { address: 'm1@example.com' },
        [T]: { memberId: 1, name: 'Member 1', points: 2.5, active: false, joined: '2024-01-01T01:00:00Z' },
      },
      {
        _id: 'm-2',
        personalEmail: { address: 'm2@example.com' },
        [T]: { memberId: 2, name: 'Member 2', points: 5, active: true, joined: '2024-01-01T02:00:00Z' },
      },
    ]);

    const listed = await get(`${FS}/runs?property=flowId==${flowId}`);
    expect((listed.body as { items: Run[] }).items.map((r) => r.id).sort()).toEqual(
      [first.id, second.id, third.id].sort(),
    );
    const succeeded = await get(`${FS}/runs?property=flowId==${flowId}&property=state==success`);
    expect((succeeded.body as { items: Run[] }).items).toHaveLength(3);
  });

  it('streams a table bigger than one chunk: a batch per chunk, every row exactly once, then only the new rows', async () => {
    const table = await makeTable(0);
    await sql(
      `insert into ${table} select i, 'm-' || i, 'Member ' || i, i * 2.5, i % 2 = 0, 'm' || i || '@example.com',
         timestamptz '2024-01-01T00:00:00Z' + i * interval '1 hour' from generate_series(1, 25000) as i`,
    );
    const { schemaId, dataSetId } = await createDataset(t, `pg big ${table}`);
    const flowId = await makeFlow({ table, dataSetId, schemaId });

    const run = await runNow(flowId);
    expect(run.state, JSON.stringify(run.metrics.statusSummary)).toBe('success');
    expect(run.metrics.recordSummary).toEqual({
      inputRecordCount: 25_000,
      outputRecordCount: 25_000,
      failedRecordCount: 0,
    });
    const batches = async () =>
      Object.entries(
        (await get(`/data/foundation/catalog/batches?dataSet=${dataSetId}`)).body as Record<
          string,
          { recordCount: number; size: number }
        >,
      );
    const landed = await batches();
    expect(landed.map(([, b]) => b.recordCount)).toEqual([10_000, 10_000, 5_000]);
    expect(run.metrics.fileSummary).toMatchObject({ outputFileCount: 3 });
    expect(run.metrics.sizeSummary?.outputBytes).toBe(landed.reduce((n, [, b]) => n + b.size, 0));
    expect(run.metrics.statusSummary?.extensions).toMatchObject({ batchIds: landed.map(([id]) => id) });
    const counts = await duckRows(
      join((t.server.services.datasets as DatasetLake).root, dataSetId, '*', 'data', '*.parquet'),
      `count(*)::int as n, count(distinct _id)::int as ids`,
    );
    expect(counts).toEqual([{ n: 25_000, ids: 25_000 }]);
    expect(await datasetRows(dataSetId)).toEqual(await tableRows(table));

    await insertRows(table, 25_001, 25_003);
    const next = await runNow(flowId);
    expect(next.metrics.recordSummary).toMatchObject({ inputRecordCount: 3, outputRecordCount: 3 });
    expect((await batches()).map(([, b]) => b.recordCount)).toEqual([10_000, 10_000, 5_000, 3]);
    expect(await datasetRows(dataSetId)).toEqual(await tableRows(table));
  });

  it('never advances the state past data that did not land: every record failing, or the database unreachable', async () => {
    const table = await makeTable(3);
    const { schemaId, dataSetId } = await createDataset(t, `pg bad ${table}`);
    // `name` (text) into an integer field: every record fails validation.
    const badFlow = await makeFlow({
      table,
      dataSetId,
      schemaId,
      mappings: [
        { sourceType: 'ATTRIBUTE', source: 'code', destination: '_id' },
        { sourceType: 'ATTRIBUTE', source: 'name', destination: `${T}.memberId` },
      ],
    });
    const failed = await runNow(badFlow);
    expect(failed.state).toBe('failed');
    expect(failed.metrics.statusSummary).toMatchObject({
      status: 'failed',
      errors: [expect.objectContaining({ code: 'INGEST-1212-400' })],
      extensions: expect.objectContaining({
        attempts: 1,
        errors: [expect.objectContaining({ code: 'INGEST-1555-400', recordCount: 3 })],
      }),
    });
    expect(failed.metrics.recordSummary).toMatchObject({
      inputRecordCount: 3,
      outputRecordCount: 0,
      failedRecordCount: 3,
    });
    const failedBatch = (failed.metrics.statusSummary?.extensions as { batchId?: string } | undefined)
      ?.batchId;
    const errors = await get(
      `/data/foundation/export/batches/${failedBatch}/meta?path=row_errors_sample.json`,
    );
    expect((errors.body as { data: { path: string }[] }).data.map((e) => e.path)).toEqual([
      `${T}.memberId`,
      `${T}.memberId`,
      `${T}.memberId`,
    ]);
    // Fixing the mapping: the next run reads from the same (unadvanced) state, so all 3 rows land.
    const mappingId = (
      (await get(`${FS}/flows/${badFlow}`)).body as {
        items: { transformations: { name: string; params: { mappingId: string } }[] }[];
      }
    ).items[0]?.transformations.find((x) => x.name === 'Mapping')?.params.mappingId;
    expect(mappingId).toBeDefined();
    const good = await post('/data/foundation/conversion/mappingSets', {
      outputSchema: { schemaRef: { id: schemaId, contentType: XDM_FULL } },
      mappings: MAPPINGS,
    });
    const flow = await get(`${FS}/flows/${badFlow}`);
    const patched = await call(t.url, 'PATCH', `${FS}/flows/${badFlow}`, {
      headers: {
        ...t.headers,
        'if-match': (flow.body as { items: { etag: string }[] }).items[0]?.etag as string,
      },
      body: [
        {
          op: 'replace',
          path: '/transformations/1',
          value: { name: 'Mapping', params: { mappingId: good.id, mappingVersion: 0 } },
        },
      ],
    });
    expect(patched.status, patched.text).toBe(200);
    const fixed = await runNow(badFlow);
    expect(fixed.metrics.recordSummary).toMatchObject({ inputRecordCount: 3, outputRecordCount: 3 });

    // Unreachable database: retried (maxAttempts 2), then failed with the connector's code; no state saved.
    const deadConnection = await post(`${FS}/connections`, {
      name: 'dead',
      auth: {
        specName: 'Connection String Based Authentication',
        params: {
          connectionString: `Server=127.0.0.1;Database=${PG.database};Port=1;UID=${PG.user};Password=x`,
        },
      },
      connectionSpec: { id: POSTGRESQL_SPEC, version: '1.0' },
    });
    const deadFlow = await makeFlow({
      table,
      dataSetId,
      schemaId,
      baseConnectionId: deadConnection.id as string,
    });
    const dead = await runNow(deadFlow);
    expect(dead.state).toBe('failed');
    expect(dead.metrics.statusSummary).toMatchObject({
      status: 'failed',
      errors: [
        expect.objectContaining({ code: 'CONNECTOR-2001-500' }),
        expect.objectContaining({ code: 'CONNECTOR-2001-500' }),
      ],
      extensions: expect.objectContaining({ attempts: 2 }),
    });
    expect(
      await t.server.services.store.get('flowReadStates', { orgId: t.orgId, sandbox: 'prod' }, deadFlow),
    ).toBeUndefined();
    const failedRuns = await get(`${FS}/runs?property=state==failed&property=flowId==${deadFlow}`);
    expect((failedRuns.body as { items: Run[] }).items.map((r) => r.id)).toEqual([dead.id]);
  });

  it('refuses on-demand runs of streaming or disabled flows and bad bodies, in the service shape', async () => {
    const table = await makeTable(1);
    const { schemaId, dataSetId } = await createDataset(t, `pg refuse ${table}`);
    const flowId = await makeFlow({ table, dataSetId, schemaId });
    expect(
      (await call(t.url, 'POST', `${FS}/runs`, { headers: t.headers, body: { flowId: 'nope' } })).status,
    ).toBe(400);
    expect(
      (await call(t.url, 'POST', `${FS}/runs`, { headers: t.headers, body: { flowId, extra: 1 } })).status,
    ).toBe(400);
    expect(
      (
        await call(t.url, 'POST', `${FS}/runs`, {
          headers: t.headers,
          body: { flowId, params: { startTime: 'soon' } },
        })
      ).status,
    ).toBe(400);
    const disabled = await call(t.url, 'POST', `${FS}/flows/${flowId}/action?op=disable`, {
      headers: t.headers,
    });
    expect(disabled.status).toBe(200);
    const refused = await call(t.url, 'POST', `${FS}/runs`, { headers: t.headers, body: { flowId } });
    expect(refused.status).toBe(400);
    expect((refused.body as { report: { 'detailed-message': string } }).report['detailed-message']).toMatch(
      /is disabled: enable it/,
    );
  });
});

describe('the scheduler', () => {
  it('runs an enabled minute flow on its schedule (minimum lowered), and disabling it stops it', async () => {
    const table = await makeTable(2);
    const { schemaId, dataSetId } = await createDataset(t, `pg sched ${table}`);
    const start = String(Math.floor(Date.now() / 1000));
    const schedule = { startTime: start, frequency: 'minute', interval: '1', backfill: 'true' };
    const flowId = await makeFlow({ table, dataSetId, schemaId, schedule });
    // A second scheduled flow: its runs show that the scheduler looked at every flow after a clock move.
    const witness = await makeFlow({ table, dataSetId, schemaId, schedule });
    const runsOf = async (id: string) =>
      ((await get(`${FS}/runs?property=flowId==${id}`)).body as { items: Run[] }).items;
    const waitForRuns = async (id: string, n: number) => {
      for (;;) {
        const items = await runsOf(id);
        if (items.length >= n && items.every((r) => r.state === 'success' || r.state === 'failed'))
          return items;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const [firstRun] = await waitForRuns(flowId, 1);
    expect(firstRun?.state).toBe('success');
    expect(firstRun?.metrics.recordSummary).toMatchObject({ outputRecordCount: 2 });
    await waitForRuns(witness, 1);

    const services = t.server.services;
    let offset = 61_000;
    services.now = () => Date.now() + offset;
    await insertRows(table, 3, 3);
    const two = await waitForRuns(flowId, 2);
    expect(two.map((r) => r.metrics.recordSummary?.outputRecordCount).sort()).toEqual([1, 2]);
    await waitForRuns(witness, 2);

    expect(
      (await call(t.url, 'POST', `${FS}/flows/${flowId}/action?op=disable`, { headers: t.headers })).status,
    ).toBe(200);
    offset += 61_000;
    await waitForRuns(witness, 3);
    expect(await runsOf(flowId)).toHaveLength(2);
    services.now = Date.now;
  });

  it('refuses schedules below the configured minimum', async () => {
    const table = await makeTable(1);
    const { schemaId, dataSetId } = await createDataset(t, `pg min ${table}`);
    const source = await post(`${FS}/sourceConnections`, {
      name: 'min',
      baseConnectionId: connectionId,
      data: { format: 'tabular' },
      params: { tableName: table },
      connectionSpec: { id: POSTGRESQL_SPEC, version: '1.0' },
    });
    const target = await post(`${FS}/targetConnections`, {
      name: 'lake',
      params: { dataSetId },
      connectionSpec: { id: DATA_LAKE_SPEC, version: '1.0' },
    });
    expect(schemaId).toBeTruthy();
    const res = await call(t.url, 'POST', `${FS}/flows`, {
      headers: t.headers,
      body: {
        name: 'too often',
        flowSpec: { id: DATABASE_FLOW_SPEC, version: '1.0' },
        sourceConnectionIds: [source.id],
        targetConnectionIds: [target.id],
        scheduleParams: { startTime: '1612310466', frequency: 'minute', interval: '0' },
      },
    });
    expect(res.status).toBe(400);
    expect((res.body as { report: { field: string } }).report.field).toBe('scheduleParams.interval');
  });
});

describe('a restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inflow-runs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('retries a run a crash left in progress, and says so in its errors', async () => {
    const shared = t;
    const options = {
      dataDir: dir,
      bootstrap: { clientSecret: 'runs-restart-secret', tenantId: TENANT },
      runs: { minScheduleIntervalSeconds: 60, retryBaseMs: 20, maxAttempts: 3, tickMs: 50 },
    };
    try {
      t = await startTestServer(options);
      connectionId = (
        await post(`${FS}/connections`, {
          name: 'pg',
          auth: {
            specName: 'Connection String Based Authentication',
            params: {
              connectionString: `Server=${PG.host};Database=${PG.database};Port=${PG.port};UID=${PG.user};Password="${PG.password.replaceAll('"', '""')}"`,
            },
          },
          connectionSpec: { id: POSTGRESQL_SPEC, version: '1.0' },
        })
      ).id as string;
      const table = await makeTable(4);
      const { schemaId, dataSetId } = await createDataset(t, `pg restart ${table}`);
      const flowId = await makeFlow({ table, dataSetId, schemaId });
      const flow = ((await get(`${FS}/flows/${flowId}`)).body as { items: Record<string, unknown>[] })
        .items[0];
      // What a process killed during an attempt leaves behind: the run stored `inProgress`.
      const now = Date.now();
      await t.server.services.store.insert(
        'runs',
        { orgId: t.orgId, sandbox: 'prod' },
        {
          id: 'crashed-run',
          flowId,
          flowSpec: flow?.flowSpec,
          params: { startTime: 1, windowStartTime: 0, windowEndTime: 1 },
          state: 'inProgress',
          metrics: {
            durationSummary: { startedAtUTC: now },
            statusSummary: { status: 'inProgress', errors: [], extensions: { attempts: 1 } },
          },
          activities: [],
        },
        'e0',
        now,
      );
      await t.close();

      t = await startTestServer(options);
      const run = await settled('crashed-run');
      expect(run.state).toBe('success');
      expect(run.metrics.statusSummary).toMatchObject({
        status: 'success',
        errors: [expect.objectContaining({ code: 'RUN-1002-500' })],
        extensions: expect.objectContaining({ attempts: 2 }),
      });
      expect(run.metrics.recordSummary).toMatchObject({ outputRecordCount: 4 });
      expect(await datasetRows(dataSetId)).toEqual(await tableRows(table));
    } finally {
      if (t !== shared) await t.close();
      t = shared;
    }
  });
});
