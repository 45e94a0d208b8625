import { streamingConnector } from '@inflow/connector-streaming';
import { SetupRunner } from '@inflow/core';
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
  route,
  type SeedRequest,
  seedResponses,
  startRecordingServer,
} from '@inflow/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/** Seed 001's names: its body says "Sample description" and auth.params "Sample connection". */
const INPUT = {
  name: 'Sample streaming connection',
  description: 'Sample description',
  sourceId: 'Sample connection',
  connectionName: 'Sample connection',
};
const CONNECTION_ID = '77a05521-91d6-451c-a055-2191d6851c34';
const INLET_ID = 'f00dfeed0123456789abcdef0123456789abcdef0123456789abcdef01234567';
const INLET_URL = `https://inlet.inflow.test/collection/${INLET_ID}`;
const STEPS = ['createConnection', 'getInletUrl'];
const CONNECTIONS = '/data/foundation/flowservice/connections';
const STEP_ROUTES = [`POST ${CONNECTIONS}`, `GET ${CONNECTIONS}/${CONNECTION_ID}`];

type ConnectionList = { items: { auth: { params: Record<string, unknown> } }[] };
const [CREATED_RESPONSE, , GET_RESPONSE] = seedResponses(readSeed('001')) as [
  { id: string },
  unknown,
  ConnectionList,
];

/** Seed 001's GET response, with the inlet we chose. */
function connectionWithInlet(): ConnectionList {
  const body = structuredClone(GET_RESPONSE);
  Object.assign(body.items[0]!.auth.params, { inletUrl: INLET_URL, inletId: INLET_ID });
  return body;
}

/** Seed 001's GET response as the service answers before the inlet exists. */
function connectionWithoutInlet(): ConnectionList {
  const body = structuredClone(GET_RESPONSE);
  const item = body.items[0]!;
  item.auth.params = Object.fromEntries(
    Object.entries(item.auth.params).filter(([k]) => !k.startsWith('inlet')),
  );
  return body;
}

const seed001: Handler = (req) => {
  if (route(req) === STEP_ROUTES[0]) return { status: 201, body: CREATED_RESPONSE };
  if (route(req) === STEP_ROUTES[1]) return { status: 200, body: connectionWithInlet() };
  return { status: 404, body: flowProblem(404, `no route ${route(req)}`) };
};

/** Seed 001's three requests: [unauthenticated POST, authenticated POST, GET /connections/{id}]. */
function seedRequests(): SeedRequest[] {
  const seed = fillPlaceholders(parseSeedCurls(readSeed('001')), { ...HEADER_VALUES, CONNECTION_ID });
  expect(leftoverPlaceholders(seed)).toEqual([]);
  expect(seed.map((s) => s.method)).toEqual(['POST', 'POST', 'GET']);
  return seed;
}

let server: RecordingServer;
let runner: SetupRunner<typeof streamingConnector>;
beforeEach(async () => {
  server = await startRecordingServer(seed001);
  runner = new SetupRunner(streamingConnector, makeClient(server));
});
afterEach(async () => {
  await server.close();
});

describe('streaming setup: fidelity to seed 001', () => {
  it('unauthenticated: sends the first POST of seed 001, then its GET, and returns the inlet', async () => {
    const result = await runner.apply(INPUT);

    const [unauthenticated, , get] = seedRequests();
    expect(server.requests).toHaveLength(2);
    expectSeedRequest(server.requests[0], unauthenticated!);
    expectSeedRequest(server.requests[1], get!);
    expect(server.requests[0]?.body).not.toHaveProperty('auth.params.authenticationRequired');

    expect(result.outputs).toEqual({ connectionId: CONNECTION_ID, inletUrl: INLET_URL, inletId: INLET_ID });
    expect(result.sent).toEqual(STEPS);
  });

  it('authenticated: sends the second POST of seed 001, then its GET', async () => {
    const result = await runner.apply({ ...INPUT, authenticationRequired: true });

    const [, authenticated, get] = seedRequests();
    expect(server.requests).toHaveLength(2);
    expectSeedRequest(server.requests[0], authenticated!);
    expectSeedRequest(server.requests[1], get!);
    expect(server.requests[0]?.body).toHaveProperty('auth.params.authenticationRequired', true);
    expect(result.outputs).toEqual({ connectionId: CONNECTION_ID, inletUrl: INLET_URL, inletId: INLET_ID });
  });

  it('defaults auth.params sourceId and name to the connection name', async () => {
    await runner.apply({ name: 'Orders' });
    expect(server.requests[0]?.body).toMatchObject({
      name: 'Orders',
      auth: {
        specName: 'Streaming Connection',
        params: { sourceId: 'Orders', dataType: 'xdm', name: 'Orders' },
      },
    });
  });

  it('reads the inlet of the connection the POST created', async () => {
    const otherId = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    server.handle((req) => {
      if (req.method === 'POST') return { status: 201, body: { id: otherId, etag: '"1"' } };
      if (req.path === `${CONNECTIONS}/${otherId}`) return { status: 200, body: connectionWithInlet() };
      return { status: 404, body: flowProblem(404) };
    });
    const result = await runner.apply(INPUT);
    expect(server.requests.map(route)).toEqual([`POST ${CONNECTIONS}`, `GET ${CONNECTIONS}/${otherId}`]);
    expect(result.outputs.connectionId).toBe(otherId);
  });

  it('fails the inlet step when the connection has no inlet URL yet', async () => {
    server.handle((req) =>
      req.method === 'GET' ? { status: 200, body: connectionWithoutInlet() } : seed001(req),
    );
    const error = await rejectionOf(runner.apply(INPUT));
    assertSetupStepError(error);
    expect(error.stepId).toBe('getInletUrl');
    expect(error.message).toContain('no inlet URL');
    expect(error.state.completed).toEqual([
      { step: 'createConnection', outputs: { connectionId: CONNECTION_ID } },
    ]);
  });
});

describe('streaming setup: plan()', () => {
  it('sends nothing, hides the token, and lists what apply() sends with {CONNECTION_ID}', async () => {
    const input = { ...INPUT, authenticationRequired: true };
    const plan = runner.plan(input);
    expect(server.requests).toEqual([]);

    expect(plan.map((s) => s.id)).toEqual(STEPS);
    expect(plan.map((s) => s.produces)).toEqual([
      { connectionId: '{CONNECTION_ID}' },
      { inletUrl: '{INLET_URL}', inletId: '{INLET_ID}' },
    ]);
    expect(plan[1]?.request.method).toBe('GET');
    expect(decodeURIComponent(new URL(plan[1]?.request.url ?? '').pathname)).toBe(
      `${CONNECTIONS}/{CONNECTION_ID}`,
    );
    for (const step of plan) expect(step.request.headers.Authorization).toBe('Bearer [REDACTED]');
    expect(JSON.stringify(plan)).not.toContain(PLATFORM.token);

    await runner.apply(input);
    expectPlanMatchesSent(plan, server.requests, [[CONNECTION_ID, '{CONNECTION_ID}']]);
  });
});

describe('streaming setup: resume after a failed step', () => {
  for (const [k, id] of STEPS.entries()) {
    it(`step ${k + 1} (${id}) fails, then apply resumes from it`, async () => {
      let failing = true;
      server.handle((req) =>
        failing && route(req) === STEP_ROUTES[k] ? { status: 500, body: flowProblem(500) } : seed001(req),
      );

      const error = await rejectionOf(runner.apply(INPUT));
      assertSetupStepError(error);
      expect(error.stepId).toBe(id);
      expect(error.stepIndex).toBe(k);
      expect(error.state.completed.map((c) => c.step)).toEqual(STEPS.slice(0, k));
      expect(error.message).toContain('HTTP 500');

      failing = false;
      const result = await runner.apply(INPUT, { state: JSON.parse(JSON.stringify(error.state)) });
      expect(result.sent).toEqual(STEPS.slice(k));
      expect(result.outputs).toEqual({ connectionId: CONNECTION_ID, inletUrl: INLET_URL, inletId: INLET_ID });
      expect(countByRoute(server.requests)).toEqual(
        Object.fromEntries(STEP_ROUTES.map((r, i) => [r, i === k ? 2 : 1])),
      );
    });
  }
});
