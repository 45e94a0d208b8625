import { sqlAs, type TestPostgres } from '@inflow/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDataset, TENANT } from './datasets-fixtures.js';
import {
  CONNECTORS,
  call,
  endedOrRetrying,
  FS,
  postOk,
  startTestServer,
  type TestServer,
} from './helpers.js';
import { databaseFlow, membersTable, seedConnection } from './postgresql-flows.js';
import { stepped, steppedFlow } from './stepped-source.js';

/*
 * What a run shows while it executes and how it ends on a source that is gone: the run's metrics
 * after each landed chunk (a source the test steps through, on the real server), and a dropped
 * table (the real PostgreSQL) failing at once instead of being retried.
 */

const PG: TestPostgres = inject('postgres');
const sql = sqlAs(PG);

type Run = {
  id: string;
  state: string;
  metrics: Record<string, Record<string, unknown>> & {
    statusSummary: {
      status: string;
      errors: { code: string; message: string }[];
      extensions: Record<string, unknown>;
    };
  };
};

type Flow = {
  id: string;
  etag: string;
  lastRunDetails?: { id: string; state: string; startedAtUTC: number; completedAtUTC?: number };
};

const getFlow = async (t: TestServer, id: string) =>
  ((await call(t.url, 'GET', `${FS}/flows/${id}`, { headers: t.headers })).body as { items: Flow[] })
    .items[0] as Flow;

/** The ids of the flows `GET /flows?property=…` lists for `filter`. */
async function flowIds(t: TestServer, filter: string): Promise<string[]> {
  const res = await call(t.url, 'GET', `${FS}/flows?property=${encodeURIComponent(filter)}`, {
    headers: t.headers,
  });
  expect(res.status, res.text).toBe(200);
  return (res.body as { items: Flow[] }).items.map((f) => f.id);
}

const getRun = async (t: TestServer, id: string) =>
  ((await call(t.url, 'GET', `${FS}/runs/${id}`, { headers: t.headers })).body as { items: Run[] })
    .items[0] as Run;

async function startRun(t: TestServer, flowId: string): Promise<string> {
  const res = await postOk(t, `${FS}/runs`, { flowId });
  return (res.items as { id: string }[])[0]?.id as string;
}

describe('a run in progress shows what it landed so far (a source the test steps through)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({
      bootstrap: { clientSecret: 'runs-details-stepped', tenantId: TENANT },
      connectors: [...CONNECTORS, stepped],
      // A chunk per connector batch: each batch the read yields lands before it asks for the next.
      runs: { chunkRecords: 100, retryBaseMs: 20, maxAttempts: 3, tickMs: 50 },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  const makeFlow = (name: string, total: number) => steppedFlow(t, name, total);

  /** The counts of `n` landed records of the stepped source (every 10th fails). */
  const counts = (n: number) => ({
    inputRecordCount: n,
    outputRecordCount: n - n / 10,
    failedRecordCount: n / 10,
  });

  it('updates the counts after each landed chunk, and ends with exactly the landed totals', async () => {
    const { flowId, stepper } = await makeFlow('stepped-progress', 300);
    const before = await getFlow(t, flowId);
    expect(before.lastRunDetails).toBeUndefined();
    const id = await startRun(t, flowId);

    expect(await stepper.reached()).toBe(100);
    const one = await getRun(t, id);
    expect(one.state).toBe('inProgress');
    expect(one.metrics.recordSummary).toEqual(counts(100));
    expect(one.metrics.fileSummary).toEqual({ inputFileCount: 1, outputFileCount: 1 });
    expect(one.metrics.sizeSummary?.inputBytes).toBe(1000);
    expect(one.metrics.sizeSummary?.outputBytes).toBeGreaterThan(0);
    expect(one.metrics.durationSummary?.startedAtUTC).toEqual(expect.any(Number));
    expect(one.metrics.durationSummary?.completedAtUTC).toBeUndefined();
    expect(one.metrics.statusSummary).toMatchObject({
      status: 'inProgress',
      errors: [],
      extensions: { attempts: 1, batchIds: [expect.any(String)] },
    });
    // The flow names its run in progress, and its etag is the one taken before the run.
    const running = await getFlow(t, flowId);
    expect(running.lastRunDetails).toEqual({
      id,
      state: 'inProgress',
      startedAtUTC: one.metrics.durationSummary?.startedAtUTC,
    });
    expect(running.etag).toBe(before.etag);

    stepper.release();
    expect(await stepper.reached()).toBe(200);
    const two = await getRun(t, id);
    expect(two.state).toBe('inProgress');
    expect(two.metrics.recordSummary).toEqual(counts(200));
    expect(two.metrics.fileSummary).toEqual({ inputFileCount: 2, outputFileCount: 2 });
    expect(two.metrics.sizeSummary?.outputBytes).toBeGreaterThan(
      one.metrics.sizeSummary?.outputBytes as number,
    );
    expect(two.metrics.statusSummary.extensions.batchIds).toHaveLength(2);

    stepper.release();
    expect(await stepper.reached()).toBe(300);
    stepper.release();
    const done = await endedOrRetrying<Run>(t, id);
    expect(done.state).toBe('success');
    expect(done.metrics.recordSummary).toEqual(counts(300));
    expect(done.metrics.fileSummary).toEqual({ inputFileCount: 3, outputFileCount: 3 });
    expect(done.metrics.statusSummary.extensions.batchIds).toHaveLength(3);

    const after = await getFlow(t, flowId);
    const { startedAtUTC, completedAtUTC } = done.metrics.durationSummary as Record<string, number>;
    expect(after.lastRunDetails).toEqual({ id, state: 'success', startedAtUTC, completedAtUTC });
    expect(after.etag).toBe(before.etag);
    // The generic listing filter reaches it (the reference's own example).
    expect(await flowIds(t, `lastRunDetails.startedAtUTC>=${startedAtUTC}`)).toContain(flowId);
    expect(await flowIds(t, `lastRunDetails.startedAtUTC>=${(startedAtUTC as number) + 1}`)).not.toContain(
      flowId,
    );
    expect(await flowIds(t, 'lastRunDetails.state==success')).toContain(flowId);
    expect(await flowIds(t, 'lastRunDetails.state==failed')).not.toContain(flowId);

    // A client's PATCH with the etag it read before the run still applies, and keeps the field;
    // the field itself is the service's.
    const patched = await call(t.url, 'PATCH', `${FS}/flows/${flowId}`, {
      headers: { ...t.headers, 'if-match': before.etag },
      body: [{ op: 'replace', path: '/name', value: 'stepped-progress renamed' }],
    });
    expect(patched.status, patched.text).toBe(200);
    expect((await getFlow(t, flowId)).lastRunDetails).toEqual(after.lastRunDetails);
    const refused = await call(t.url, 'PATCH', `${FS}/flows/${flowId}`, {
      headers: { ...t.headers, 'if-match': (patched.body as { etag: string }).etag },
      body: [{ op: 'replace', path: '/lastRunDetails/state', value: 'failed' }],
    });
    expect(refused.status, refused.text).toBe(400);
    expect((refused.body as { report: { 'detailed-message': string } }).report['detailed-message']).toBe(
      'lastRunDetails cannot be updated',
    );
  });

  it('a run that started before the one the flow names does not replace it', async () => {
    const { flowId, stepper } = await makeFlow('stepped-older-run', 100);
    // As if another run of this flow had started later (an on-demand run while this one waited).
    const scope = { orgId: t.orgId, sandbox: 'prod' };
    const store = t.server.services.store;
    const flow = await store.get('flows', scope, flowId);
    if (!flow) throw new Error(`flow ${flowId} not found`);
    const newer = { id: 'a-newer-run', state: 'inProgress', startedAtUTC: Date.now() + 3_600_000 };
    expect(
      await store.replace(
        'flows',
        scope,
        { ...flow.doc, lastRunDetails: newer },
        flow.etag,
        flow.etag,
        flow.updatedAt,
      ),
    ).toBe('ok');
    const id = await startRun(t, flowId);
    expect(await stepper.reached()).toBe(100);
    expect((await getFlow(t, flowId)).lastRunDetails).toEqual(newer);
    stepper.release();
    const done = await endedOrRetrying<Run>(t, id);
    expect(done.state).toBe('success');
    expect((await getFlow(t, flowId)).lastRunDetails).toEqual(newer);
  });

  it('a retry resumes after the last landed chunk: its counts start there and nothing counts twice', async () => {
    const { flowId, stepper } = await makeFlow('stepped-retry', 300);
    stepper.failAt = 200;
    const id = await startRun(t, flowId);
    expect(await stepper.reached()).toBe(100);
    stepper.release();
    expect(await stepper.reached()).toBe(200);
    expect((await getRun(t, id)).metrics.recordSummary).toEqual(counts(200));
    // The read fails after chunk 1 landed; the second attempt reads on from offset 200.
    stepper.release();
    expect(await stepper.reached()).toBe(300);
    const resumed = await getRun(t, id);
    expect(resumed.state).toBe('inProgress');
    expect(resumed.metrics.statusSummary).toMatchObject({
      status: 'inProgress',
      errors: [expect.objectContaining({ code: 'CONNECTOR-2001-500' })],
      extensions: expect.objectContaining({ attempts: 2 }),
    });
    expect(resumed.metrics.recordSummary).toEqual(counts(300));
    expect(resumed.metrics.fileSummary).toEqual({ inputFileCount: 3, outputFileCount: 3 });
    stepper.release();
    const done = await endedOrRetrying<Run>(t, id);
    expect(done.state).toBe('success');
    expect(done.metrics.recordSummary).toEqual(counts(300));
    expect(done.metrics.fileSummary).toEqual({ inputFileCount: 3, outputFileCount: 3 });
  });
});

describe('a source table that was dropped (the real PostgreSQL)', () => {
  let t: TestServer;
  let connectionId: string;
  beforeAll(async () => {
    // The default back-off (30 s): a failure that is retried is seen waiting for its next attempt.
    t = await startTestServer({
      bootstrap: { clientSecret: 'runs-details-pg', tenantId: TENANT },
      runs: { minScheduleIntervalSeconds: 60, maxAttempts: 3, tickMs: 50 },
    });
    connectionId = await seedConnection(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  /** A table of 3 rows named `table` (a new name by default). */
  const makeTable = (table?: string) => membersTable(3, table);

  async function makeFlow(table: string): Promise<string> {
    const { schemaId, dataSetId } = await createDataset(t, `pg ${table}`);
    return databaseFlow(t, { table, connectionId, schemaId, dataSetId });
  }

  /** A failed run that was tried once, not retried, and says why (naming `table`). */
  function expectFailedAtOnce(run: Run, table: string): void {
    expect(run.state, JSON.stringify(run.metrics.statusSummary)).toBe('failed');
    expect(run.metrics.statusSummary).toMatchObject({
      status: 'failed',
      errors: [{ code: 'CONNECTOR-1001-400', message: expect.stringContaining(table) }],
      extensions: { attempts: 1 },
    });
    expect(run.metrics.statusSummary.extensions.nextAttemptAtUTC).toBeUndefined();
    expect(run.metrics.recordSummary).toEqual({
      inputRecordCount: 0,
      outputRecordCount: 0,
      failedRecordCount: 0,
    });
  }

  it('dropped before the run: the run fails at once, naming the table; the next run after it is back succeeds', async () => {
    const table = await makeTable();
    const flowId = await makeFlow(table);
    await sql(`drop table ${table}`);
    const failed = await endedOrRetrying<Run>(t, await startRun(t, flowId));
    expectFailedAtOnce(failed, table);
    expect(failed.metrics.statusSummary.errors[0]?.message).toMatch(/does not exist/);
    expect((await getFlow(t, flowId)).lastRunDetails).toEqual({
      id: failed.id,
      state: 'failed',
      startedAtUTC: failed.metrics.durationSummary?.startedAtUTC,
      completedAtUTC: failed.metrics.durationSummary?.completedAtUTC,
    });
    expect(await flowIds(t, 'lastRunDetails.state==failed')).toContain(flowId);

    await makeTable(table);
    const next = await endedOrRetrying<Run>(t, await startRun(t, flowId));
    expect(next.state, JSON.stringify(next.metrics.statusSummary)).toBe('success');
    expect(next.metrics.recordSummary).toMatchObject({ inputRecordCount: 3, outputRecordCount: 3 });
    expect((await getFlow(t, flowId)).lastRunDetails).toMatchObject({ id: next.id, state: 'success' });
    expect(await flowIds(t, 'lastRunDetails.state==failed')).not.toContain(flowId);
  });

  it('dropped while the run waits to read it (SQLSTATE 42P01): fails at once with the table named, no retry scheduled', async () => {
    const table = await makeTable();
    const flowId = await makeFlow(table);
    // Another session holds the table: the run finds it in the catalog, then waits on its lock;
    // the table is dropped meanwhile, so the read's query meets a relation that no longer exists.
    const { host, port, database, user, password } = PG;
    const holder = new pg.Client({ host, port, database, user, password });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query(`lock table ${table} in access exclusive mode`);
      const id = await startRun(t, flowId);
      for (;;) {
        const waiting = await holder.query(
          `select 1 from pg_locks where relation = $1::regclass and not granted`,
          [table],
        );
        if (waiting.rowCount) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      await holder.query(`drop table ${table}`);
      await holder.query('commit');

      const failed = await endedOrRetrying<Run>(t, id);
      expectFailedAtOnce(failed, table);
      expect(failed.metrics.statusSummary.errors[0]?.message).toMatch(/SQLSTATE 42P01/);
    } finally {
      await holder.end();
    }
  });
});
