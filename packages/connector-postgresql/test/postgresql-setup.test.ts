import { postgresqlConnector } from '@inflow/connector-postgresql';
import { type ApiCallError, InflowValidationError, SetupRunner } from '@inflow/core';
import {
  assertSetupStepError,
  countByRoute,
  expectPlanMatchesSent,
  expectSeedRequest,
  fillPlaceholders,
  flowProblem,
  type Handler,
  HEADER_VALUES,
  leftoverPlaceholders,
  makeClient,
  PLATFORM,
  parseSeedCurls,
  type RecordingServer,
  readSeed,
  rejectionOf,
  seedResponses,
  startRecordingServer,
} from '@inflow/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const PASSWORD = 'CANARY-pg-pass-41d2';
const VALUES = {
  ...HEADER_VALUES,
  SERVER: 'pg.acme.test',
  DATABASE: 'crm',
  PORT: '5432',
  USERNAME: 'inflow_reader',
  PASSWORD,
};
/** Seed 002's pattern, filled. */
const CONNECTION_STRING = fillPlaceholders(
  'Server={SERVER};Database={DATABASE};Port={PORT};UID={USERNAME};Password={PASSWORD}',
  VALUES,
);
const INPUT = {
  name: 'Test connection for PostgreSQL',
  description: 'Test connection for PostgreSQL',
  credentials: { connectionString: CONNECTION_STRING },
};
const CONNECTION_ID = '056dd1b4-da33-42f9-add1-b4da3392f94e';
const CONNECTIONS = 'POST /data/foundation/flowservice/connections';

const [CREATED_RESPONSE] = seedResponses(readSeed('002'));

const seed002: Handler = (req) =>
  `${req.method} ${req.path}` === CONNECTIONS
    ? { status: 201, body: CREATED_RESPONSE }
    : { status: 404, body: flowProblem(404, `no route ${req.method} ${req.path}`) };

let server: RecordingServer;
let runner: SetupRunner<typeof postgresqlConnector>;
beforeEach(async () => {
  server = await startRecordingServer(seed002);
  runner = new SetupRunner(postgresqlConnector, makeClient(server));
});
afterEach(async () => {
  await server.close();
});

describe('PostgreSQL setup: fidelity to seed 002', () => {
  it('sends exactly the POST /connections of seed 002 and returns the id of the response', async () => {
    const result = await runner.apply(INPUT);

    const seed = fillPlaceholders(parseSeedCurls(readSeed('002')), VALUES);
    expect(leftoverPlaceholders(seed)).toEqual([]);
    expect(seed).toHaveLength(1);
    expect(server.requests).toHaveLength(1);
    expectSeedRequest(server.requests[0], seed[0]!);
    expect(result.outputs).toEqual({ connectionId: CONNECTION_ID });
    expect(result.sent).toEqual(['createConnection']);
  });

  it('validates the connection string before sending anything, without echoing the password', async () => {
    const bad = {
      ...INPUT,
      credentials: { connectionString: CONNECTION_STRING.replace('Port=5432', 'Port=abc') },
    };
    const error = await rejectionOf(runner.apply(bad));
    expect(InflowValidationError.isInstance(error), String(error)).toBe(true);
    expect((error as Error).message).toContain('input.credentials.connectionString');
    expect((error as Error).message).not.toContain(PASSWORD);
    expect(server.requests).toEqual([]);
  });
});

describe('PostgreSQL setup: plan()', () => {
  it('sends nothing, redacts the connection string and the token, and lists what apply() sends', async () => {
    const plan = runner.plan(INPUT);
    expect(server.requests).toEqual([]);

    expect(plan.map((s) => s.id)).toEqual(['createConnection']);
    expect(plan[0]?.produces).toEqual({ connectionId: '{CONNECTION_ID}' });
    expect(plan[0]?.request.method).toBe('POST');
    expect(new URL(plan[0]?.request.url ?? '').pathname).toBe('/data/foundation/flowservice/connections');
    expect(plan[0]?.request.body).toEqual({
      name: 'Test connection for PostgreSQL',
      description: 'Test connection for PostgreSQL',
      auth: {
        specName: 'Connection String Based Authentication',
        params: { connectionString: '[REDACTED]' },
      },
      connectionSpec: { id: '74a1c565-4e59-48d7-9d67-7c03b8a13137', version: '1.0' },
    });
    expect(plan[0]?.request.headers.Authorization).toBe('Bearer [REDACTED]');
    const text = JSON.stringify(plan);
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(PLATFORM.token);

    await runner.apply(INPUT);
    expectPlanMatchesSent(plan, server.requests, [[CONNECTION_STRING, '[REDACTED]']]);
  });
});

describe('PostgreSQL setup: resume after a failed step', () => {
  it('step 1 (createConnection) fails, then apply resumes from it', async () => {
    let failing = true;
    server.handle((req) => (failing ? { status: 500, body: flowProblem(500) } : seed002(req)));

    const error = await rejectionOf(runner.apply(INPUT));
    assertSetupStepError(error);
    expect(error.stepId).toBe('createConnection');
    expect(error.stepIndex).toBe(0);
    expect(error.state.completed).toEqual([]);
    expect(error.message).toContain('HTTP 500');
    expect(error.message).not.toContain(PASSWORD);
    expect(JSON.stringify(error.state)).not.toContain(PASSWORD);

    failing = false;
    const result = await runner.apply(INPUT, { state: JSON.parse(JSON.stringify(error.state)) });
    expect(result.sent).toEqual(['createConnection']);
    expect(result.outputs).toEqual({ connectionId: CONNECTION_ID });
    expect(countByRoute(server.requests)).toEqual({ [CONNECTIONS]: 2 });
  });

  it('does not resend a completed step', async () => {
    const first = await runner.apply(INPUT);
    const again = await runner.apply(INPUT, { state: first.state });
    expect(again.sent).toEqual([]);
    expect(again.outputs).toEqual({ connectionId: CONNECTION_ID });
    expect(server.requests).toHaveLength(1);
  });

  it('redacts the connection string from a failure whose body echoes it', async () => {
    server.handle(() => ({
      status: 400,
      body: flowProblem(400, `cannot connect with "${CONNECTION_STRING}"`),
    }));
    const error = await rejectionOf(runner.apply(INPUT));
    assertSetupStepError(error);
    expect(error.message).toContain('[REDACTED]');
    expect(error.message).not.toContain(PASSWORD);
    expect(JSON.stringify((error.cause as ApiCallError).body)).not.toContain(PASSWORD);
  });
});
