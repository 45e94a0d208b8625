import { customerioConnector } from '@inflow/connector-customerio';
import { InflowValidationError, SetupRunner } from '@inflow/core';
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

const SIGNING_KEY = 'CANARY-cio-signing-key-3e8b50';
/** Seed 004's dataset, schema and tenant; every other field keeps its default (seed 004's names). */
const INPUT = {
  dataSetId: '63ec807d3f5ce91bd2d06c65',
  schemaId: 'https://ns.adobe.com/extconndev/schemas/945546112b746524bfd9f1264b26c2b7d8e7f5b7fadb953a',
  tenantId: 'extconndev',
};
const SIGNED_INPUT = { ...INPUT, webhookSigningKey: SIGNING_KEY };

const IDS = {
  sourceConnectionId: '133bb51f-f310-4b4a-b8b2-731aef1e223c',
  targetConnectionId: 'da8b75ad-f6ee-4991-95df-291e62936e98',
  mappingId: '59c0e53a2dc84f7791ecc1b3d6e51d5e',
  flowId: '4982698b-e6b3-48c2-8dcf-040e20121fd2',
};
const INLET_URL = 'https://inlet.inflow.test/collection/c0ffee00c0ffee00c0ffee00c0ffee00';
const OUTPUTS = { ...IDS, inletUrl: INLET_URL };

const STEPS = [
  'createSourceConnection',
  'createTargetConnection',
  'createMapping',
  'createFlow',
  'getInletUrl',
];
const FS = '/data/foundation/flowservice';
const STEP_ROUTES = [
  `POST ${FS}/sourceConnections`,
  `POST ${FS}/targetConnections`,
  'POST /data/foundation/conversion/mappingSets',
  `POST ${FS}/flows`,
  `GET ${FS}/flows/${IDS.flowId}`,
];

type FlowList = { items: { options: Record<string, unknown> }[] };
/** Seed 004's five documented responses, one per step. */
const RESPONSES = seedResponses(readSeed('004'));

/** Seed 004's GET /flows/{id} response, with the inlet we chose. */
function flowWithInlet(): FlowList {
  const body = structuredClone(RESPONSES[4] as FlowList);
  body.items[0]!.options.inletUrl = INLET_URL;
  return body;
}

/** Answers each of seed 004's requests with its documented response (the mapping set with 200). */
const seed004: Handler = (req) => {
  const k = STEP_ROUTES.indexOf(route(req));
  if (k === 4) return { status: 200, body: flowWithInlet() };
  if (k === 2) return { status: 200, body: RESPONSES[2] };
  if (k >= 0) return { status: 201, body: RESPONSES[k] };
  return { status: 404, body: flowProblem(404, `no route ${route(req)}`) };
};

function seedRequests(): SeedRequest[] {
  const seed = fillPlaceholders(parseSeedCurls(readSeed('004')), {
    ...HEADER_VALUES,
    TENANT_ID: 'extconndev',
  });
  expect(leftoverPlaceholders(seed)).toEqual([]);
  return seed;
}

let server: RecordingServer;
let runner: SetupRunner<typeof customerioConnector>;
beforeEach(async () => {
  server = await startRecordingServer(seed004);
  runner = new SetupRunner(customerioConnector, makeClient(server));
});
afterEach(async () => {
  await server.close();
});

describe('Customer.io setup: fidelity to seed 004', () => {
  it('sends exactly the five requests of seed 004, in order, and returns every id and the inlet', async () => {
    expect(RESPONSES).toHaveLength(5);
    const result = await runner.apply(INPUT);

    const seed = seedRequests();
    expect(seed.map(route)).toEqual(STEP_ROUTES);
    expect(server.requests.map(route)).toEqual(STEP_ROUTES);
    seed.forEach((expected, i) => {
      if (i === 3) {
        // Doc bug in seed 004: its POST /flows curl has no Authorization header. The service
        // requires it, so the client sends it anyway; everything else is the seed's.
        expect(expected.headers).not.toHaveProperty('authorization');
        expectSeedRequest(server.requests[i], expected, ['authorization']);
        expect(server.requests[i]?.headers.authorization).toBe(`Bearer ${PLATFORM.token}`);
      } else {
        expectSeedRequest(server.requests[i], expected);
      }
    });

    expect(result.outputs).toEqual(OUTPUTS);
    expect(result.sent).toEqual(STEPS);
  });

  it('threads the ids the service returns into the flow and the inlet lookup', async () => {
    const other = {
      sourceConnectionId: 'src-1',
      targetConnectionId: 'tgt-2',
      mappingId: 'map-3',
      flowId: 'flow-4',
    };
    server.handle((req) => {
      const created = { etag: '"e"', version: 0, createdDate: 1, modifiedDate: 1 };
      if (req.path.endsWith('/sourceConnections'))
        return { status: 201, body: { id: other.sourceConnectionId, ...created } };
      if (req.path.endsWith('/targetConnections'))
        return { status: 201, body: { id: other.targetConnectionId, ...created } };
      if (req.path.endsWith('/mappingSets'))
        return { status: 200, body: { id: other.mappingId, ...created } };
      if (req.method === 'POST' && req.path.endsWith('/flows'))
        return { status: 201, body: { id: other.flowId, ...created } };
      if (req.path === `${FS}/flows/${other.flowId}`) return { status: 200, body: flowWithInlet() };
      return { status: 404, body: flowProblem(404) };
    });

    const result = await runner.apply(INPUT);
    expect(server.requests[3]?.body).toMatchObject({
      sourceConnectionIds: [other.sourceConnectionId],
      targetConnectionIds: [other.targetConnectionId],
      transformations: [{ name: 'Mapping', params: { mappingId: other.mappingId, mappingVersion: 0 } }],
    });
    expect(route(server.requests[4]!)).toBe(`GET ${FS}/flows/${other.flowId}`);
    expect(result.outputs).toEqual({ ...other, inletUrl: INLET_URL });
  });

  it('sends the signing key as the source connection params, when there is one', async () => {
    await runner.apply(SIGNED_INPUT);
    const [expected] = seedRequests();
    expect(server.requests[0]?.body).toEqual({
      ...(expected?.body as object),
      params: { webhookSigningKey: SIGNING_KEY },
    });
  });

  it('validates the input before sending anything, without echoing the signing key', async () => {
    const error = await rejectionOf(runner.apply({ ...SIGNED_INPUT, tenantId: '_extconndev' }));
    expect(InflowValidationError.isInstance(error), String(error)).toBe(true);
    expect((error as Error).message).toContain('input.tenantId');
    expect((error as Error).message).not.toContain(SIGNING_KEY);
    expect(server.requests).toEqual([]);
  });
});

describe('Customer.io setup: plan()', () => {
  it('sends nothing, redacts the signing key and the token, and lists what apply() sends', async () => {
    const plan = runner.plan(SIGNED_INPUT);
    expect(server.requests).toEqual([]);

    expect(plan.map((s) => s.id)).toEqual(STEPS);
    expect(
      plan.map((s) => `${s.request.method} ${decodeURIComponent(new URL(s.request.url).pathname)}`),
    ).toEqual([...STEP_ROUTES.slice(0, 4), `GET ${FS}/flows/{FLOW_ID}`]);
    expect(plan[0]?.request.body).toHaveProperty('params.webhookSigningKey', '[REDACTED]');
    expect(plan[3]?.request.body).toMatchObject({
      sourceConnectionIds: ['{SOURCE_CONNECTION_ID}'],
      targetConnectionIds: ['{TARGET_CONNECTION_ID}'],
      transformations: [{ name: 'Mapping', params: { mappingId: '{MAPPING_ID}', mappingVersion: 0 } }],
    });
    for (const step of plan) expect(step.request.headers.Authorization).toBe('Bearer [REDACTED]');
    const text = JSON.stringify(plan);
    expect(text).not.toContain(SIGNING_KEY);
    expect(text).not.toContain(PLATFORM.token);

    await runner.apply(SIGNED_INPUT);
    expectPlanMatchesSent(plan, server.requests, [
      [SIGNING_KEY, '[REDACTED]'],
      [IDS.sourceConnectionId, '{SOURCE_CONNECTION_ID}'],
      [IDS.targetConnectionId, '{TARGET_CONNECTION_ID}'],
      [IDS.mappingId, '{MAPPING_ID}'],
      [IDS.flowId, '{FLOW_ID}'],
    ]);
  });
});

describe('Customer.io setup: resume after a failed step', () => {
  for (const [k, id] of STEPS.entries()) {
    it(`step ${k + 1} (${id}) fails, then apply resumes from it`, async () => {
      let failing = true;
      server.handle((req) =>
        failing && route(req) === STEP_ROUTES[k] ? { status: 500, body: flowProblem(500) } : seed004(req),
      );

      const error = await rejectionOf(runner.apply(SIGNED_INPUT));
      assertSetupStepError(error);
      expect(error.stepId).toBe(id);
      expect(error.stepIndex).toBe(k);
      expect(error.state.completed.map((c) => c.step)).toEqual(STEPS.slice(0, k));
      expect(error.message).toContain('HTTP 500');
      expect(error.message).not.toContain(SIGNING_KEY);
      expect(JSON.stringify(error.state)).not.toContain(SIGNING_KEY);
      expect(server.requests.map(route)).toEqual(STEP_ROUTES.slice(0, k + 1));

      failing = false;
      const result = await runner.apply(SIGNED_INPUT, { state: JSON.parse(JSON.stringify(error.state)) });
      expect(result.sent).toEqual(STEPS.slice(k));
      expect(result.outputs).toEqual(OUTPUTS);
      // Steps before k went out once; step k twice (the failure and the retry).
      expect(countByRoute(server.requests)).toEqual(
        Object.fromEntries(STEP_ROUTES.map((r, i) => [r, i === k ? 2 : 1])),
      );
    });
  }

  it('redacts the signing key from a failure whose body echoes it', async () => {
    server.handle((req) =>
      route(req) === STEP_ROUTES[0]
        ? { status: 400, body: flowProblem(400, `bad webhookSigningKey ${SIGNING_KEY}`) }
        : seed004(req),
    );
    const error = await rejectionOf(runner.apply(SIGNED_INPUT));
    assertSetupStepError(error);
    expect(error.stepId).toBe('createSourceConnection');
    expect(error.message).toContain('[REDACTED]');
    expect(error.message).not.toContain(SIGNING_KEY);
  });
});
