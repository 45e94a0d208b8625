import {
  defineSourceConnector,
  FlowServiceClient,
  InflowError,
  placeholder,
  REDACTED,
  SetupRunner,
  type SetupState,
  SetupStepError,
  secret,
} from '@inflow/core';
import { type RecordingServer, type Reply, startRecordingServer } from '@inflow/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

const CANARY = 'CANARY-pw-0a9f33e1';
const SPEC_ID = '11111111-2222-4333-8444-555555555555';
const input = z.object({ name: z.string(), password: secret(), dataSetId: z.string() });

const connector = defineSourceConnector({
  id: 'demo',
  displayName: 'Demo',
  spec: {
    id: SPEC_ID,
    name: 'demo',
    providerId: SPEC_ID,
    version: '1.0',
    description: 'demo',
    category: 'Demo',
  },
  auth: [{ name: 'Basic', type: 'BasicAuthentication', schema: z.object({ password: secret() }) }],
  setup: {
    input,
    steps: [
      {
        id: 'lookup',
        title: 'Look up the spec',
        request: ({ api }) => api.connectionSpecs.list({ property: 'name=="demo"' }),
        produces: { specId: { path: 'items[0].id', missing: 'no demo spec here' } },
      },
      {
        id: 'connection',
        title: 'Create the connection',
        request: ({ api, input, outputs }) =>
          api.connections.create({
            name: input.name,
            auth: { specName: 'Basic', params: { password: input.password } },
            connectionSpec: { id: outputs.specId as string, version: '1.0' },
          }),
        produces: { connectionId: 'id' },
      },
      {
        id: 'source',
        title: 'Create the source connection',
        request: ({ api, input, outputs }) =>
          api.sourceConnections.create({
            name: `${input.name} source`,
            baseConnectionId: outputs.connectionId as string,
            connectionSpec: { id: outputs.specId as string },
          }),
        produces: { sourceConnectionId: 'id' },
      },
      {
        id: 'inlet',
        title: 'Read the inlet',
        request: ({ api, outputs }) => api.connections.get(outputs.connectionId as string),
        produces: { inletUrl: 'items[0].auth.params.inletUrl' },
      },
    ],
  },
});

const GOOD = { name: 'demo conn', password: CANARY, dataSetId: 'ds1' };
let server: RecordingServer;
let failAt: number | undefined;

function answer(path: string, method: string): Reply {
  if (path.endsWith('/connectionSpecs')) return { status: 200, body: { items: [{ id: SPEC_ID }] } };
  if (method === 'POST' && path.endsWith('/connections'))
    return { status: 201, body: { id: 'conn-1', etag: '"e1"' } };
  if (method === 'POST' && path.endsWith('/sourceConnections'))
    return { status: 201, body: { id: 'src-1', etag: '"e2"' } };
  if (path.endsWith('/connections/conn-1')) {
    return {
      status: 200,
      body: { items: [{ id: 'conn-1', auth: { params: { inletUrl: 'http://inlet/abc' } } }] },
    };
  }
  return { status: 404 };
}

beforeEach(async () => {
  failAt = undefined;
  server = await startRecordingServer((req) => {
    const index = server.requests.length - 1;
    if (failAt !== undefined && index === failAt) {
      return {
        status: 500,
        body: {
          type: 'https://ns.adobe.com/aep/errors/FLOW-1102-500',
          title: 'Internal Error',
          status: 500,
          report: { 'detailed-message': `boom (you sent ${req.rawBody})`, 'request-id': 'r1' },
        },
      };
    }
    return answer(req.path, req.method);
  });
});
afterEach(async () => {
  await server.close();
});

const client = () =>
  new FlowServiceClient({
    endpoint: server.url,
    apiKey: 'k',
    orgId: 'O@AdobeOrg',
    sandboxName: 'prod',
    token: 'CANARY-token-77aa',
  });

describe('SetupRunner.plan', () => {
  it('lists the exact requests with placeholders for later outputs, sends nothing, shows no secret', () => {
    const plan = new SetupRunner(connector, client()).plan(GOOD);
    expect(server.requests).toHaveLength(0);
    expect(plan.map((s) => [s.id, s.request.method, s.request.url.replace(server.url, '')])).toEqual([
      ['lookup', 'GET', '/data/foundation/flowservice/connectionSpecs?property=name%3D%3D%22demo%22'],
      ['connection', 'POST', '/data/foundation/flowservice/connections'],
      ['source', 'POST', '/data/foundation/flowservice/sourceConnections'],
      ['inlet', 'GET', '/data/foundation/flowservice/connections/%7BCONNECTION_ID%7D'],
    ]);
    expect(plan[1]?.request.body).toEqual({
      name: 'demo conn',
      auth: { specName: 'Basic', params: { password: REDACTED } },
      connectionSpec: { id: '{SPEC_ID}', version: '1.0' },
    });
    expect(plan[1]?.request.headers).toMatchObject({
      Authorization: `Bearer ${REDACTED}`,
      'x-api-key': 'k',
      'Content-Type': 'application/json',
    });
    expect(plan[2]?.produces).toEqual({ sourceConnectionId: '{SOURCE_CONNECTION_ID}' });
    const text = JSON.stringify(plan);
    expect(text).not.toContain(CANARY);
    expect(text).not.toContain('CANARY-token-77aa');
  });

  it('rejects bad input naming the field, without the secret', () => {
    expect(() => new SetupRunner(connector, client()).plan({ password: CANARY })).toThrow(
      /invalid setup input for Demo: input.name is required; input.dataSetId is required/,
    );
    try {
      new SetupRunner(connector, client()).plan({ name: 1, password: CANARY });
    } catch (e) {
      expect((e as Error).message).not.toContain(CANARY);
    }
  });

  it('placeholder() follows the docs style', () => {
    expect(placeholder('connectionId')).toBe('{CONNECTION_ID}');
    expect(placeholder('inletUrl')).toBe('{INLET_URL}');
  });
});

describe('SetupRunner.apply', () => {
  it('sends the steps in order and returns every output', async () => {
    const states: SetupState[] = [];
    const result = await new SetupRunner(connector, client()).apply(GOOD, {
      onState: (s) => void states.push(s),
    });
    expect(result.outputs).toEqual({
      specId: SPEC_ID,
      connectionId: 'conn-1',
      sourceConnectionId: 'src-1',
      inletUrl: 'http://inlet/abc',
    });
    expect(result.sent).toEqual(['lookup', 'connection', 'source', 'inlet']);
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /data/foundation/flowservice/connectionSpecs',
      'POST /data/foundation/flowservice/connections',
      'POST /data/foundation/flowservice/sourceConnections',
      'GET /data/foundation/flowservice/connections/conn-1',
    ]);
    expect(server.requests[1]?.body).toMatchObject({
      auth: { params: { password: CANARY } },
      connectionSpec: { id: SPEC_ID },
    });
    expect(states.map((s) => s.completed.length)).toEqual([1, 2, 3, 4]);
    expect(JSON.stringify(states)).not.toContain(CANARY);
  });

  for (const k of [0, 1, 2, 3]) {
    it(`resumes after a failure at step ${k + 1} without sending the earlier steps again`, async () => {
      failAt = k;
      const runner = new SetupRunner(connector, client());
      const err = (await runner.apply(GOOD).catch((e: unknown) => e)) as SetupStepError;
      expect(SetupStepError.isInstance(err)).toBe(true);
      expect(err.stepIndex).toBe(k);
      expect(err.stepId).toBe(connector.setup.steps[k]?.id);
      expect(err.state.completed.map((c) => c.step)).toEqual(
        connector.setup.steps.slice(0, k).map((s) => s.id),
      );
      expect(err.message).toMatch(/failed: .*HTTP 500 \(1102-500 Internal Error\)/);
      expect(JSON.stringify([err.message, err.stack, (err.cause as Error).message, err.state])).not.toContain(
        CANARY,
      );

      failAt = undefined;
      const sentBefore = server.requests.length;
      const state = JSON.parse(JSON.stringify(err.state)) as SetupState;
      const plan = runner.plan(GOOD, { state });
      expect(plan.map((s) => s.done)).toEqual([0, 1, 2, 3].map((i) => i < k));
      const result = await runner.apply(GOOD, { state });
      expect(result.sent).toEqual(connector.setup.steps.slice(k).map((s) => s.id));
      expect(server.requests.length - sentBefore).toBe(4 - k);
      expect(result.outputs).toEqual({
        specId: SPEC_ID,
        connectionId: 'conn-1',
        sourceConnectionId: 'src-1',
        inletUrl: 'http://inlet/abc',
      });
    });
  }

  it('says which output is missing and why', async () => {
    server.handle(() => ({ status: 200, body: { items: [] } }));
    const err = (await new SetupRunner(connector, client())
      .apply(GOOD)
      .catch((e: unknown) => e)) as SetupStepError;
    expect(err.message).toMatch(
      /setup step 1 "lookup" \(Look up the spec\) failed: the response has no items\[0\]\.id: no demo spec here/,
    );
  });

  it('refuses a saved state made with other input or for another connector', async () => {
    failAt = 2;
    const err = (await new SetupRunner(connector, client())
      .apply(GOOD)
      .catch((e: unknown) => e)) as SetupStepError;
    const runner = new SetupRunner(connector, client());
    await expect(runner.apply({ ...GOOD, name: 'other' }, { state: err.state })).rejects.toThrow(
      /made with different input/,
    );
    await expect(runner.apply(GOOD, { state: { ...err.state, connector: 's3' } })).rejects.toThrow(
      InflowError,
    );
    // A different password alone is not detectable (secrets stay out of the digest) but the ids are.
    await expect(
      runner.apply(GOOD, { state: { ...err.state, completed: [{ step: 'x', outputs: {} }] } }),
    ).rejects.toThrow(/does not match the steps/);
  });
});
