import { s3Connector } from '@inflow/connector-s3';
import { ApiCallError, InflowError, SetupRunner } from '@inflow/core';
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
  type SeedRequest,
  seedResponses,
  startRecordingServer,
} from '@inflow/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const SECRET = 'CANARY-s3-secret-7f3a9c';
const ACCESS_KEY = 'AKIAIOSFODNN7EXAMPLE';
/** No name or description: the defaults are seed 000's. */
const INPUT = { credentials: { s3AccessKey: ACCESS_KEY, s3SecretKey: SECRET } };

const SPEC_ID = 'ecadc60c-7455-4d87-84dc-2a0e293d997b';
const CONNECTION_ID = '4cb0c374-d3bb-4557-b139-5712880adc55';
const STEPS = ['lookupSpec', 'createConnection'];
const SPECS_PATH = '/data/foundation/flowservice/connectionSpecs';
const CONNECTIONS_PATH = '/data/foundation/flowservice/connections';

const [SPEC_RESPONSE, CREATED_RESPONSE] = seedResponses(readSeed('000')) as [
  { items: { authSpec: { spec: { required: string[]; properties: Record<string, unknown> } }[] }[] },
  { id: string; etag: string },
];

/** Answers seed 000's two requests with seed 000's two responses. */
const seed000: Handler = (req) => {
  if (req.method === 'GET' && req.path === SPECS_PATH) return { status: 200, body: SPEC_RESPONSE };
  if (req.method === 'POST' && req.path === CONNECTIONS_PATH) return { status: 201, body: CREATED_RESPONSE };
  return { status: 404, body: flowProblem(404, `no route ${req.method} ${req.path}`) };
};

/** The seed's requests with every placeholder filled. */
function seedRequests(seed: string): SeedRequest[] {
  return fillPlaceholders(parseSeedCurls(readSeed(seed)), {
    ...HEADER_VALUES,
    S3_ACCESS_KEY: ACCESS_KEY,
    S3_SECRET_KEY: SECRET,
  });
}

let server: RecordingServer;
let runner: SetupRunner<typeof s3Connector>;
beforeEach(async () => {
  server = await startRecordingServer(seed000);
  runner = new SetupRunner(s3Connector, makeClient(server));
});
afterEach(async () => {
  await server.close();
});

describe('S3 setup: fidelity to seed 000 (Korean) and seed 003 (Dutch)', () => {
  it('sends exactly the two requests of seed 000, in order, and returns the ids of the responses', async () => {
    const result = await runner.apply(INPUT);

    const seed = seedRequests('000');
    expect(leftoverPlaceholders(seed)).toEqual([]);
    expect(seed).toHaveLength(2);
    // Seed 000's POST is written with http:// and its GET with https://: only the host differs here.
    expect(server.requests).toHaveLength(seed.length);
    seed.forEach((expected, i) => {
      expectSeedRequest(server.requests[i], expected);
    });
    expect(server.requests[0]?.query).toEqual({ property: ['name=="amazon-s3"'] });

    expect(result.outputs).toEqual({ connectionSpecId: SPEC_ID, connectionId: CONNECTION_ID });
    expect(result.sent).toEqual(STEPS);
    expect(result.state.completed.map((c) => c.step)).toEqual(STEPS);
  });

  it('our connection spec requires s3AccessKey and s3SecretKey, where seed 000 has a typo', () => {
    const served = SPEC_RESPONSE.items[0]?.authSpec[0]?.spec;
    // Doc bug in seed 000: its spec response says required ["accessKeyId", "secretAccessKey"], names
    // its own properties do not have. The real service requires s3AccessKey and s3SecretKey.
    expect(served?.required).toEqual(['accessKeyId', 'secretAccessKey']);
    expect(Object.keys(served?.properties ?? {})).toEqual(['s3AccessKey', 's3SecretKey']);

    const ours = s3Connector.connectionSpec.authSpec?.[0]?.spec;
    expect(ours?.required).toEqual(['s3AccessKey', 's3SecretKey']);
    // Everything else the seed documents about the auth spec holds.
    expect(ours).toMatchObject({ ...served, required: ['s3AccessKey', 's3SecretKey'] });
  });

  it('sends the POST body of seed 003 when given its name and description', async () => {
    const result = await runner.apply({
      ...INPUT,
      name: 'S3 Connection',
      description: 'Connection for an Amazon S3 account',
    });

    const [post] = seedRequests('003');
    expect(post?.method).toBe('POST');
    expect(server.requests.map((r) => r.method)).toEqual(['GET', 'POST']);
    expectSeedRequest(server.requests[1], post as SeedRequest);
    expect(result.outputs.connectionId).toBe(CONNECTION_ID);
  });

  it('creates the connection with the spec id the lookup returned, not a built-in one', async () => {
    const otherSpecId = '11111111-2222-4333-8444-555555555555';
    server.handle((req) =>
      req.method === 'GET'
        ? { status: 200, body: { items: [{ id: otherSpecId, name: 'amazon-s3' }] } }
        : seed000(req),
    );
    const result = await runner.apply(INPUT);
    expect(server.requests[1]?.body).toMatchObject({ connectionSpec: { id: otherSpecId, version: '1.0' } });
    expect(result.outputs.connectionSpecId).toBe(otherSpecId);
  });

  it('stops with a clear error when the service has no amazon-s3 spec, and creates nothing', async () => {
    server.handle((req) => (req.method === 'GET' ? { status: 200, body: { items: [] } } : seed000(req)));
    const error = await rejectionOf(runner.apply(INPUT));
    assertSetupStepError(error);
    expect(error.stepId).toBe('lookupSpec');
    expect(error.message).toContain('the service has no "amazon-s3" connection spec');
    expect(server.requests.map((r) => r.method)).toEqual(['GET']);
  });
});

describe('S3 setup: plan()', () => {
  it('sends nothing, redacts the secret and the token, and lists what apply() then sends', async () => {
    const plan = runner.plan(INPUT);
    expect(server.requests).toEqual([]);

    expect(plan.map((s) => s.id)).toEqual(STEPS);
    expect(plan.map((s) => s.done)).toEqual([false, false]);
    expect(plan.map((s) => s.produces)).toEqual([
      { connectionSpecId: '{CONNECTION_SPEC_ID}' },
      { connectionId: '{CONNECTION_ID}' },
    ]);
    expect(plan[1]?.request.body).toEqual({
      name: 'S3 Base Connection',
      description: 'Base connection for an Amazon S3 account',
      auth: { specName: 'Access Key', params: { s3AccessKey: ACCESS_KEY, s3SecretKey: '[REDACTED]' } },
      connectionSpec: { id: '{CONNECTION_SPEC_ID}', version: '1.0' },
    });
    for (const step of plan) expect(step.request.headers.Authorization).toBe('Bearer [REDACTED]');
    const text = JSON.stringify(plan);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(PLATFORM.token);

    await runner.apply(INPUT);
    expectPlanMatchesSent(plan, server.requests, [
      [SECRET, '[REDACTED]'],
      [SPEC_ID, '{CONNECTION_SPEC_ID}'],
    ]);
  });
});

describe('S3 setup: resume after a failed step', () => {
  const stepRoutes = [`GET ${SPECS_PATH}`, `POST ${CONNECTIONS_PATH}`];

  for (const [k, id] of STEPS.entries()) {
    it(`step ${k + 1} (${id}) fails, then apply resumes from it`, async () => {
      let failing = true;
      server.handle((req) =>
        failing && `${req.method} ${req.path}` === stepRoutes[k]
          ? { status: 500, body: flowProblem(500) }
          : seed000(req),
      );

      const error = await rejectionOf(runner.apply(INPUT));
      assertSetupStepError(error);
      expect(error.stepId).toBe(id);
      expect(error.stepIndex).toBe(k);
      expect(error.state.completed.map((c) => c.step)).toEqual(STEPS.slice(0, k));
      expect(error.message).toContain('HTTP 500');
      expect(error.message).toContain('boom');
      expect(error.message).not.toContain(SECRET);
      expect(JSON.stringify(error.state)).not.toContain(SECRET);

      failing = false;
      // The state goes through JSON, as it would through a state file.
      const result = await runner.apply(INPUT, { state: JSON.parse(JSON.stringify(error.state)) });
      expect(result.sent).toEqual(STEPS.slice(k));
      expect(result.outputs).toEqual({ connectionSpecId: SPEC_ID, connectionId: CONNECTION_ID });
      // Steps before k went out once; step k twice (the failure and the retry).
      expect(countByRoute(server.requests)).toEqual(
        Object.fromEntries(stepRoutes.map((r, i) => [r, i === k ? 2 : 1])),
      );
    });
  }

  it('redacts the secret from a failure whose body echoes it', async () => {
    server.handle((req) =>
      req.method === 'POST'
        ? { status: 400, body: flowProblem(400, `bad s3SecretKey "${SECRET}"`) }
        : seed000(req),
    );
    const error = await rejectionOf(runner.apply(INPUT));
    assertSetupStepError(error);
    expect(error.stepId).toBe('createConnection');
    expect(error.message).toContain('[REDACTED]');
    expect(error.message).not.toContain(SECRET);
    expect(ApiCallError.isInstance(error.cause)).toBe(true);
    expect(JSON.stringify((error.cause as ApiCallError).body)).not.toContain(SECRET);
    expect(JSON.stringify(error.state)).not.toContain(SECRET);
  });

  it('refuses a saved state made with different input, and sends nothing', async () => {
    server.handle((req) => (req.method === 'POST' ? { status: 500, body: flowProblem(500) } : seed000(req)));
    const error = await rejectionOf(runner.apply(INPUT));
    assertSetupStepError(error);
    const sentBefore = server.requests.length;

    const refused = await rejectionOf(
      runner.apply({ ...INPUT, name: 'Another name' }, { state: error.state }),
    );
    expect(InflowError.isInstance(refused)).toBe(true);
    expect((refused as Error).message).toContain('different input');
    expect(server.requests).toHaveLength(sentBefore);
  });
});
