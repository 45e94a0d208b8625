import { randomBytes, randomUUID } from 'node:crypto';
import { fillPlaceholders, parseSeedCurls, readSeed, sqlAs, type TestPostgres } from '@inflow/testkit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { READ_STATE_KIND } from '../src/runs/executor.js';
import { SCHEDULE_STATE_KIND } from '../src/runs/scheduler.js';
import type { Scope } from '../src/store/resources.js';
import { createDataset, TENANT } from './datasets-fixtures.js';
import { call, FS, startTestServer, type TestServer } from './helpers.js';

const PG: TestPostgres = inject('postgres');
const T = `_${TENANT}`;
const POSTGRESQL_SPEC = '74a1c565-4e59-48d7-9d67-7c03b8a13137';
const DATABASE_FLOW_SPEC = '14518937-270c-4525-bdec-c2ba7cce3860';
const DATA_LAKE_SPEC = 'c604ff05-7f1a-43c0-8e18-33bf874cb11c';

let t: TestServer;
let connectionId: string;
let scope: Scope;
const sql = sqlAs(PG);

const post = async (path: string, body: unknown) => {
  const res = await call(t.url, 'POST', path, { headers: t.headers, body });
  expect(res.status, res.text).toBeLessThan(300);
  return res.body as Record<string, unknown>;
};
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
  const source = await post(`${FS}/sourceConnections`, {
    name: `table ${table}`,
    baseConnectionId: connectionId,
    data: { format: 'tabular' },
    params: { tableName: table },
    connectionSpec: { id: POSTGRESQL_SPEC, version: '1.0' },
  });
  const target = await post(`${FS}/targetConnections`, {
    name: 'lake',
    data: { schema: { id: schemaId, version: '1' } },
    params: { dataSetId },
    connectionSpec: { id: DATA_LAKE_SPEC, version: '1.0' },
  });
  const mapping = await post('/data/foundation/conversion/mappingSets', {
    outputSchema: {
      schemaRef: { id: schemaId, contentType: 'application/vnd.adobe.xed-full+json;version=1' },
    },
    mappings: [
      { sourceType: 'ATTRIBUTE', source: 'code', destination: '_id' },
      { sourceType: 'ATTRIBUTE', source: 'id', destination: `${T}.memberId` },
    ],
  });
  const flow = await post(`${FS}/flows`, {
    name: `Database dataflow for ${table}`,
    flowSpec: { id: DATABASE_FLOW_SPEC, version: '1.0' },
    sourceConnectionIds: [source.id],
    targetConnectionIds: [target.id],
    transformations: [
      { name: 'Copy', params: { deltaColumn: { name: 'updated_at' } } },
      { name: 'Mapping', params: { mappingId: mapping.id, mappingVersion: 0 } },
    ],
    scheduleParams: {
      startTime: String(Math.floor(Date.now() / 1000)),
      frequency: 'minute',
      interval: '1',
    },
  });
  return flow.id as string;
}

beforeAll(async () => {
  t = await startTestServer({
    bootstrap: { clientSecret: 'flows-delete-secret', tenantId: TENANT },
    runs: { minScheduleIntervalSeconds: 60, retryBaseMs: 20, maxAttempts: 2, tickMs: 50 },
  });
  scope = { orgId: t.orgId, sandbox: 'prod' };
  const [seed] = parseSeedCurls(readSeed('002'));
  const body = fillPlaceholders(seed?.body, {
    SERVER: PG.host,
    DATABASE: PG.database,
    PORT: String(PG.port),
    USERNAME: PG.user,
    PASSWORD: `"${PG.password.replaceAll('"', '""')}"`,
  });
  connectionId = (await post(`${FS}/connections`, body)).id as string;
});
afterAll(async () => {
  await t?.close();
});

describe('deleting a scheduled flow', () => {
  it('removes its read state and schedule, and the scheduler never runs it again', async () => {
    const table = `members_${randomBytes(4).toString('hex')}`;
    await sql(
      `create table ${table} (id int primary key, code text not null, updated_at timestamptz not null)`,
    );
    await sql(
      `insert into ${table} values (1, 'm-1', '2024-01-01T01:00:00Z'), (2, 'm-2', '2024-01-01T02:00:00Z')`,
    );
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
