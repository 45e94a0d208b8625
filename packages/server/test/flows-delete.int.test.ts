import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LandRequest } from '../src/datasets/writer.js';
import { DEFAULT_CHUNK_BYTES, READ_STATE_KIND, RunExecutor } from '../src/runs/executor.js';
import { RunScheduler, SCHEDULE_STATE_KIND } from '../src/runs/scheduler.js';
import type { ResourceStore, Scope } from '../src/store/resources.js';
import { createDataset, TENANT } from './datasets-fixtures.js';
import { CONNECTORS, call, endedOrRetrying, FS, startTestServer, type TestServer } from './helpers.js';
import { databaseFlow, membersTable, seedConnection } from './postgresql-flows.js';
import { type Stepper, stepped, steppedFlow } from './stepped-source.js';

let t: TestServer;
let connectionId: string;
let scope: Scope;

const get = (path: string) => call(t.url, 'GET', path, { headers: t.headers });

type Run = { id: string; state: string };
const runsOf = async (flowId: string) =>
  ((await get(`${FS}/runs?property=flowId==${flowId}`)).body as { items: Run[] }).items;
/** Waits until a flow has `n` runs, all finished. */
async function finishedRuns(flowId: string, n: number): Promise<Run[]> {
  for (;;) {
    const items = await runsOf(flowId);
    if (items.length >= n && items.every((r) => r.state === 'success' || r.state === 'failed')) return items;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A minute flow (the server's minimum lowered to a minute) reading `table` into a new dataset, due now. */
async function scheduledFlow(table: string): Promise<string> {
  const { schemaId, dataSetId } = await createDataset(t, `delete ${table} ${randomBytes(2).toString('hex')}`);
  return databaseFlow(t, {
    table,
    connectionId,
    schemaId,
    dataSetId,
    targetSchema: true,
    schedule: { startTime: String(Math.floor(Date.now() / 1000)), frequency: 'minute', interval: '1' },
  });
}

beforeAll(async () => {
  t = await startTestServer({
    bootstrap: { clientSecret: 'flows-delete-secret', tenantId: TENANT },
    runs: { minScheduleIntervalSeconds: 60, retryBaseMs: 20, maxAttempts: 2, tickMs: 50 },
  });
  scope = { orgId: t.orgId, sandbox: 'prod' };
  connectionId = await seedConnection(t);
});
afterAll(async () => {
  await t?.close();
});

describe('deleting a scheduled flow', () => {
  it('removes its read state and schedule, and the scheduler never runs it again', async () => {
    const table = await membersTable(2);
    const flowId = await scheduledFlow(table);
    // Another scheduled flow: its runs show the scheduler looked at every flow after the clock moved.
    const witness = await scheduledFlow(table);
    const [first] = await finishedRuns(flowId, 1);
    expect(first?.state).toBe('success');
    await finishedRuns(witness, 1);

    const { store } = t.server.services;
    expect((await store.get(READ_STATE_KIND, scope, flowId))?.doc).toMatchObject({ runId: first?.id });
    expect(await store.get(SCHEDULE_STATE_KIND, scope, flowId)).toBeDefined();
    // What a scheduler tick under way during an earlier delete could leave: a slot of a flow that is gone.
    const gone = randomUUID();
    await store.insert(SCHEDULE_STATE_KIND, scope, { id: gone, scheduleKey: '{}', nextRunAt: 0 }, 'e', 0);
    await store.insert(READ_STATE_KIND, scope, { id: gone, state: null }, 'e', 0);

    const deleted = await call(t.url, 'DELETE', `${FS}/flows/${flowId}`, { headers: t.headers });
    expect(deleted.status).toBe(204);
    expect((await get(`${FS}/flows/${flowId}`)).status).toBe(404);
    expect(await store.get(READ_STATE_KIND, scope, flowId)).toBeUndefined();
    expect(await store.get(SCHEDULE_STATE_KIND, scope, flowId)).toBeUndefined();
    expect(await store.get(SCHEDULE_STATE_KIND, scope, gone)).toBeUndefined();
    expect(await store.get(READ_STATE_KIND, scope, gone)).toBeUndefined();
    // The flow that remains keeps its state.
    expect(await store.get(READ_STATE_KIND, scope, witness)).toBeDefined();
    expect(await store.get(SCHEDULE_STATE_KIND, scope, witness)).toBeDefined();

    // Two slots later: the witness ran twice more, the deleted flow not at all, and nothing came back.
    const services = t.server.services;
    services.now = () => Date.now() + 61_000;
    await finishedRuns(witness, 2);
    services.now = () => Date.now() + 122_000;
    await finishedRuns(witness, 3);
    expect((await runsOf(flowId)).map((r) => r.id)).toEqual([first?.id]);
    expect(await store.get(READ_STATE_KIND, scope, flowId)).toBeUndefined();
    expect(await store.get(SCHEDULE_STATE_KIND, scope, flowId)).toBeUndefined();
    services.now = Date.now;
  });
});

describe('deleting a flow while the run engine works on it (a source the test steps through)', () => {
  let s: TestServer;
  let sScope: Scope;
  type FullRun = Run & {
    metrics: {
      recordSummary: Record<string, number>;
      statusSummary: {
        status: string;
        errors: { code: string; message: string }[];
        extensions: Record<string, unknown>;
      };
    };
  };
  beforeAll(async () => {
    // The server's own scheduler does not tick during these tests (an hour): the scheduler test
    // drives its own ticks.
    s = await startTestServer({
      bootstrap: { clientSecret: 'flows-delete-stepped', tenantId: TENANT },
      connectors: [...CONNECTORS, stepped],
      runs: {
        chunkRecords: 100,
        retryBaseMs: 20,
        maxAttempts: 3,
        minScheduleIntervalSeconds: 60,
        tickMs: 3_600_000,
      },
    });
    sScope = { orgId: s.orgId, sandbox: 'prod' };
  });
  afterAll(async () => {
    await s?.close();
  });

  const sCall = (method: string, path: string, body?: unknown) =>
    call(s.url, method, path, { headers: s.headers, body });
  const runOf = async (id: string) =>
    ((await sCall('GET', `${FS}/runs/${id}`)).body as { items: FullRun[] }).items[0] as FullRun;
  const sRunsOf = async (flowId: string) =>
    ((await sCall('GET', `${FS}/runs?property=flowId==${flowId}`)).body as { items: FullRun[] }).items;
  async function deleteFlow(flowId: string): Promise<void> {
    const res = await sCall('DELETE', `${FS}/flows/${flowId}`);
    expect(res.status, res.text).toBe(204);
  }
  async function startRun(flowId: string): Promise<string> {
    const res = await sCall('POST', `${FS}/runs`, { flowId });
    expect(res.status, res.text).toBe(201);
    return ((res.body as { items: { id: string }[] }).items[0] as { id: string }).id;
  }
  /**
   * Waits until the run ended or a retry of it is scheduled. A read that reaches its next stop
   * meanwhile (a run that went on reading) is let go on, so such a run ends too and is seen.
   */
  async function endOf(id: string, stepper: Stepper): Promise<FullRun> {
    const ended = endedOrRetrying<FullRun>(s, id);
    for (;;) {
      const next = await Promise.race([ended, stepper.reached()]);
      if (typeof next !== 'number') return next;
      stepper.release();
    }
  }
  const counts = (n: number) => ({
    inputRecordCount: n,
    outputRecordCount: n - n / 10,
    failedRecordCount: n / 10,
  });
  /** A run that failed at once because its flow was deleted after `chunks` landed chunks. */
  function expectStoppedByDelete(run: FullRun, flowId: string, chunks: number): void {
    expect(run.state, JSON.stringify(run.metrics.statusSummary)).toBe('failed');
    expect(run.metrics.statusSummary).toMatchObject({
      status: 'failed',
      errors: [
        {
          code: 'FLOW-1460-400',
          message: expect.stringContaining(`flow ${flowId} was deleted: the run stops here, after ${chunks}`),
        },
      ],
      extensions: { attempts: 1 },
    });
    expect(run.metrics.statusSummary.extensions.nextAttemptAtUTC).toBeUndefined();
    expect(run.metrics.recordSummary).toEqual(counts(100 * chunks));
    expect(run.metrics.statusSummary.extensions.batchIds).toHaveLength(chunks);
  }

  it('a run whose flow is deleted between two chunks stops before landing the next one, fails, and saves no state', async () => {
    const { store } = s.server.services;
    const { flowId, stepper } = await steppedFlow(s, 'deleted between chunks', 300);
    const id = await startRun(flowId);
    expect(await stepper.reached()).toBe(100);
    expect((await store.get(READ_STATE_KIND, sScope, flowId))?.doc).toMatchObject({
      runId: id,
      state: { offset: 100 },
    });

    await deleteFlow(flowId);
    expect(await store.get(READ_STATE_KIND, sScope, flowId)).toBeUndefined();
    stepper.release();
    const run = await endOf(id, stepper);
    expectStoppedByDelete(run, flowId, 1);
    expect(await store.get(READ_STATE_KIND, sScope, flowId)).toBeUndefined();
    expect((await sRunsOf(flowId)).map((r) => r.id)).toEqual([id]);
  });

  it('a run whose flow is deleted while a chunk lands does not write its state back, and fails', async () => {
    const { services } = s.server;
    const { flowId, stepper } = await steppedFlow(s, 'deleted while landing', 300);
    const writer = services.datasets;
    const land = writer.land;
    // The flow goes while the second chunk lands, after the executor looked at it for that chunk.
    writer.land = async (request: LandRequest) => {
      if (request.origin?.flowId === flowId && request.key?.endsWith(':1')) await deleteFlow(flowId);
      return land.call(writer, request);
    };
    try {
      const id = await startRun(flowId);
      expect(await stepper.reached()).toBe(100);
      stepper.release();
      const run = await endOf(id, stepper);
      expect((await sCall('GET', `${FS}/flows/${flowId}`)).status).toBe(404);
      expectStoppedByDelete(run, flowId, 2);
      expect(await services.store.get(READ_STATE_KIND, sScope, flowId)).toBeUndefined();
    } finally {
      writer.land = land;
    }
  });

  it('a scheduler tick that read a flow before it was deleted, disabled or rescheduled saves no slot for it and starts no run', async () => {
    const { services } = s.server;
    const startTime = String(Math.floor(Date.now() / 1000));
    const minute = { startTime, frequency: 'minute', interval: '1' };
    const due = (await steppedFlow(s, 'tick: deleted when due', 0, minute)).flowId;
    const disabled = (await steppedFlow(s, 'tick: disabled when due', 0, minute)).flowId;
    const rescheduled = (await steppedFlow(s, 'tick: rescheduled when due', 0, minute)).flowId;
    const witness = (await steppedFlow(s, 'tick: witness', 0, minute)).flowId;

    // A scheduler over the server's services whose store lets the test act when the tick looks
    // up a flow's schedule: the tick has read the flow list, and saves the slot next.
    const hooks = new Map<string, () => Promise<void>>();
    const hooked = Object.create(services.store) as ResourceStore;
    hooked.get = async (kind, scope, id) => {
      const hook = kind === SCHEDULE_STATE_KIND ? hooks.get(id) : undefined;
      hooks.delete(id);
      await hook?.();
      return services.store.get(kind, scope, id);
    };
    const executor = new RunExecutor(services, {
      maxAttempts: 1,
      retryBaseMs: 20,
      concurrency: 2,
      chunkRecords: 100,
      chunkBytes: DEFAULT_CHUNK_BYTES,
    });
    const scheduler = new RunScheduler({ ...services, store: hooked }, executor, 3_600_000);
    try {
      // The first tick stores each flow's first slot (its start time, now past); none runs yet.
      expect(await scheduler.tick()).toBe(0);
      const slotOf = async (flowId: string) => services.store.get(SCHEDULE_STATE_KIND, sScope, flowId);
      const disabledSlot = await slotOf(disabled);
      expect(disabledSlot?.doc.nextRunAt).toBe(Number(startTime) * 1000);
      expect((await slotOf(due))?.doc.nextRunAt).toBe(Number(startTime) * 1000);
      // A flow this tick sees for the first time.
      const fresh = (await steppedFlow(s, 'tick: deleted when new', 0, minute)).flowId;

      hooks.set(due, () => deleteFlow(due));
      hooks.set(fresh, () => deleteFlow(fresh));
      hooks.set(disabled, async () => {
        const res = await sCall('POST', `${FS}/flows/${disabled}/action?op=disable`);
        expect(res.status, res.text).toBe(200);
      });
      const rescheduledSlot = await slotOf(rescheduled);
      hooks.set(rescheduled, async () => {
        const flow = (await sCall('GET', `${FS}/flows/${rescheduled}`)).body as { items: { etag: string }[] };
        const res = await call(s.url, 'PATCH', `${FS}/flows/${rescheduled}`, {
          headers: { ...s.headers, 'if-match': flow.items[0]?.etag as string },
          body: [{ op: 'replace', path: '/scheduleParams/interval', value: '2' }],
        });
        expect(res.status, res.text).toBe(200);
      });
      // Only the witness runs: the others were gone, disabled or rescheduled by the time their
      // slot was saved.
      expect(await scheduler.tick()).toBe(1);
      expect(hooks.size).toBe(0);
      for (const flowId of [due, fresh, disabled, rescheduled]) expect(await sRunsOf(flowId)).toEqual([]);
      expect(await slotOf(due)).toBeUndefined();
      expect(await slotOf(fresh)).toBeUndefined();
      // The disabled flow's slot stays as it was: enabled again, it runs for it. The rescheduled
      // one's too, until the next tick computes it for the new schedule.
      expect(await slotOf(disabled)).toEqual(disabledSlot);
      expect(await slotOf(rescheduled)).toEqual(rescheduledSlot);
      const [run] = await sRunsOf(witness);
      expect((await slotOf(witness))?.doc.nextRunAt).toBeGreaterThan(Number(startTime) * 1000);
      for (;;) {
        const state = (await runOf(run?.id as string)).state;
        if (state !== 'scheduled' && state !== 'inProgress') {
          expect(state).toBe('success');
          break;
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      await executor.stop();
    }
  });
});
