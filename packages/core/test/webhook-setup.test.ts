import {
  DATA_LAKE_CONNECTION_SPEC_ID,
  DEFAULT_SCHEMA_CONTENT_TYPE,
  defineSourceConnector,
  FlowServiceClient,
  GENERIC_STREAMING_FLOW_SPEC_ID,
  InflowError,
  type Mapping,
  type PlannedStep,
  REDACTED,
  SetupRunner,
  type SetupStepV1,
  STREAMING_PROVIDER_ID,
  secret,
  webhookSetup,
} from '@inflow/core';
import {
  expectPlanMatchesSent,
  makeClient,
  PLATFORM,
  type RecordingServer,
  route,
  startRecordingServer,
} from '@inflow/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

const SPEC_ID = '96479064-7b8a-4d69-b9ed-21c5683837ea';
const KEY = 'CANARY-webhook-signing-key-51c2';
const FS = '/data/foundation/flowservice';

/** plan() builds requests only: this endpoint is never contacted. */
const offline = new FlowServiceClient({
  endpoint: 'http://127.0.0.1:9',
  apiKey: PLATFORM.apiKey,
  orgId: PLATFORM.orgId,
  sandboxName: PLATFORM.sandboxName,
  token: PLATFORM.token,
});

interface Setup<T extends z.ZodType> {
  input: T;
  steps: readonly SetupStepV1<z.output<T>>[];
}

function connectorWith<T extends z.ZodType>(setup: Setup<T>) {
  return defineSourceConnector({
    id: 'webhook-demo',
    displayName: 'Customer.io',
    spec: {
      id: SPEC_ID,
      name: 'webhook-demo',
      providerId: STREAMING_PROVIDER_ID,
      version: '1.0',
      description: 'a webhook source',
      category: 'Streaming',
      flowSpecIds: [GENERIC_STREAMING_FLOW_SPEC_ID],
    },
    auth: 'none',
    setup,
  });
}

const plan = <T extends z.ZodType>(setup: Setup<T>, input: unknown): PlannedStep[] =>
  new SetupRunner(connectorWith(setup), offline).plan(input);

/** Everything of a plan that reaches the wire, and the outputs; titles are for people only. */
const wire = (steps: PlannedStep[]) => steps.map(({ title: _title, ...rest }) => rest);

// Customer.io's setup as it was written by hand before it used webhookSetup() (seed 004),
// kept here verbatim as the reference the helper must reproduce request for request.
const cioInput = z.object({
  dataSetId: z.string().min(1),
  schemaId: z.string().min(1),
  schemaContentType: z.string().default(DEFAULT_SCHEMA_CONTENT_TYPE),
  tenantId: z.string().regex(/^[a-z0-9]+$/),
  mappings: z
    .array(
      z.object({
        sourceAttribute: z.string().min(1),
        destinationXdmPath: z.string().min(1),
        identity: z.boolean().default(false),
        version: z.number().int().default(0),
      }),
    )
    .min(1)
    .optional(),
  webhookSigningKey: secret('The Reporting Webhook signing key from Customer.io').optional(),
  sourceConnectionName: z.string().min(1).default('Streaming Source Connection for Customer.io'),
  sourceConnectionDescription: z.string().default('Streaming Source Connection for customer.io'),
  targetConnectionName: z.string().min(1).default('Streaming Target Connection for Customer.io'),
  targetConnectionDescription: z.string().default('Streaming Target Connection for Customer.io'),
  flowName: z.string().min(1).default('Streaming Dataflow for Customer.io'),
  flowDescription: z.string().default('Streaming Dataflow for Customer.io'),
});
type CioInput = z.output<typeof cioInput>;
const cioMappings = (tenantId: string): Mapping[] =>
  [
    ['data.identifiers.cio_id', 'cio_id'],
    ['data.identifiers.email', 'email'],
    ['event_id', 'event_id0'],
    ['metric', 'metricx'],
    ['object_type', 'object_type1'],
    ['timestamp', 'timestampx'],
  ].map(([sourceAttribute, field]) => ({
    destinationXdmPath: `_${tenantId}.${field}`,
    sourceAttribute: sourceAttribute as string,
    identity: false,
    version: 0,
  }));
const handWrittenCio: SetupStepV1<CioInput>[] = [
  {
    id: 'createSourceConnection',
    title: 'Create the Customer.io source connection',
    request: ({ api, input }) =>
      api.sourceConnections.create({
        name: input.sourceConnectionName,
        providerId: STREAMING_PROVIDER_ID,
        description: input.sourceConnectionDescription,
        connectionSpec: { id: SPEC_ID, version: '1.0' },
        data: { format: 'json' },
        ...(input.webhookSigningKey ? { params: { webhookSigningKey: input.webhookSigningKey } } : {}),
      }),
    produces: { sourceConnectionId: 'id' },
  },
  {
    id: 'createTargetConnection',
    title: 'Create the data lake target connection',
    request: ({ api, input }) =>
      api.targetConnections.create({
        name: input.targetConnectionName,
        description: input.targetConnectionDescription,
        connectionSpec: { id: DATA_LAKE_CONNECTION_SPEC_ID, version: '1.0' },
        data: { format: 'json', schema: { id: input.schemaId, version: input.schemaContentType } },
        params: { dataSetId: input.dataSetId },
      }),
    produces: { targetConnectionId: 'id' },
  },
  {
    id: 'createMapping',
    title: 'Create the mapping set',
    request: ({ api, input }) =>
      api.mappingSets.create({
        outputSchema: { schemaRef: { id: input.schemaId, contentType: input.schemaContentType } },
        mappings: input.mappings ?? cioMappings(input.tenantId),
      }),
    produces: { mappingId: 'id' },
  },
  {
    id: 'createFlow',
    title: 'Create the dataflow',
    request: ({ api, input, outputs }) =>
      api.flows.create({
        name: input.flowName,
        description: input.flowDescription,
        flowSpec: { id: GENERIC_STREAMING_FLOW_SPEC_ID, version: '1.0' },
        sourceConnectionIds: [outputs.sourceConnectionId as string],
        targetConnectionIds: [outputs.targetConnectionId as string],
        transformations: [
          { name: 'Mapping', params: { mappingId: outputs.mappingId as string, mappingVersion: 0 } },
        ],
      }),
    produces: { flowId: 'id' },
  },
  {
    id: 'getInletUrl',
    title: 'Read the streaming endpoint URL',
    request: ({ api, outputs }) => api.flows.get(outputs.flowId as string),
    produces: { inletUrl: { path: 'items[0].options.inletUrl', missing: 'the flow has no inlet URL yet' } },
  },
];
const cioHelper = webhookSetup({
  input: cioInput,
  connectionSpecId: SPEC_ID,
  displayName: 'Customer.io',
  sourceParams: (input) => ({ webhookSigningKey: input.webhookSigningKey }),
  mappings: (input) => input.mappings ?? cioMappings(input.tenantId),
});

// The connector template's setup as it was written by hand before it used webhookSetup().
const templateInput = z.object({
  dataSetId: z.string().min(1),
  schemaId: z.string().min(1),
  mappingId: z.string().min(1),
  signingSecret: secret('The secret Acme signs its webhooks with').optional(),
  name: z.string().min(1).default('Acme webhooks'),
});
type TemplateInput = z.output<typeof templateInput>;
const handWrittenTemplate: SetupStepV1<TemplateInput>[] = [
  {
    id: 'createSourceConnection',
    title: 'Create the Acme source connection',
    request: ({ api, input: { name, signingSecret } }) =>
      api.sourceConnections.create({
        name,
        connectionSpec: { id: SPEC_ID, version: '1.0' },
        data: { format: 'json' },
        ...(signingSecret ? { params: { signingSecret } } : {}),
      }),
    produces: { sourceConnectionId: 'id' },
  },
  {
    id: 'createTargetConnection',
    title: 'Create the data lake target connection',
    request: ({ api, input: { name, schemaId, dataSetId } }) =>
      api.targetConnections.create({
        name,
        connectionSpec: { id: DATA_LAKE_CONNECTION_SPEC_ID, version: '1.0' },
        data: { format: 'json', schema: { id: schemaId, version: DEFAULT_SCHEMA_CONTENT_TYPE } },
        params: { dataSetId },
      }),
    produces: { targetConnectionId: 'id' },
  },
  {
    id: 'createFlow',
    title: 'Create the dataflow',
    request: ({ api, input: { name, mappingId }, outputs }) =>
      api.flows.create({
        name,
        flowSpec: { id: GENERIC_STREAMING_FLOW_SPEC_ID, version: '1.0' },
        sourceConnectionIds: [`${outputs.sourceConnectionId}`],
        targetConnectionIds: [`${outputs.targetConnectionId}`],
        transformations: [{ name: 'Mapping', params: { mappingId, mappingVersion: 0 } }],
      }),
    produces: { flowId: 'id' },
  },
  {
    id: 'getInletUrl',
    title: 'Read the inlet URL to give Acme',
    request: ({ api, outputs }) => api.flows.get(`${outputs.flowId}`),
    produces: {
      inletUrl: { path: 'items[0].options.inletUrl', missing: 'the flow has no inlet URL yet' },
    },
  },
];
const templateHelper = webhookSetup({
  input: templateInput,
  connectionSpecId: SPEC_ID,
  displayName: 'Acme',
  sourceParams: ({ signingSecret }) => ({ signingSecret }),
});

const CIO = {
  dataSetId: '63ec807d3f5ce91bd2d06c65',
  schemaId: 'https://ns.adobe.com/extconndev/schemas/945546112b746524bfd9f1264b26c2b7d8e7f5b7fadb953a',
  tenantId: 'extconndev',
};
const TEMPLATE = {
  dataSetId: '63ec807d3f5ce91bd2d06c65',
  schemaId: 'https://ns.adobe.com/tenant/schemas/0123456789abcdef',
  mappingId: '59c0e53a2dc84f7791ecc1b3d6e51d5e',
};

describe('webhookSetup: the same requests as the hand-written steps', () => {
  it("plans exactly Customer.io's hand-written requests (seed 004), signed or not, for any input", () => {
    const inputs = [
      CIO,
      { ...CIO, webhookSigningKey: KEY },
      {
        ...CIO,
        schemaContentType: 'application/vnd.adobe.xed-full+json;version=2',
        mappings: [{ sourceAttribute: 'a', destinationXdmPath: '_extconndev.a' }],
        sourceConnectionName: 'src',
        sourceConnectionDescription: '',
        targetConnectionName: 'tgt',
        targetConnectionDescription: 'a target',
        flowName: 'flow',
        flowDescription: 'a flow',
      },
    ];
    for (const input of inputs) {
      const reference = plan({ input: cioInput, steps: handWrittenCio }, input);
      const helper = plan(cioHelper, input);
      expect(wire(helper)).toStrictEqual(wire(reference));
      // Byte for byte: the same keys in the same order, so the same request bodies go out.
      expect(JSON.stringify(wire(helper))).toBe(JSON.stringify(wire(reference)));
    }
    expect(plan(cioHelper, CIO).map((s) => s.title)).toEqual([
      'Create the Customer.io source connection',
      'Create the data lake target connection',
      'Create the mapping set',
      'Create the dataflow',
      'Read the inlet URL to give Customer.io',
    ]);
  });

  it("plans the template's hand-written requests, plus the streaming providerId on the source connection", () => {
    for (const input of [TEMPLATE, { ...TEMPLATE, signingSecret: KEY, name: 'mine' }]) {
      const reference = wire(plan({ input: templateInput, steps: handWrittenTemplate }, input));
      const helper = wire(plan(templateHelper, input));
      // The one difference: the helper sends providerId on the source connection, as the
      // Flow Service's tutorial (seed 004) does; every other byte is the same.
      const [source, ...rest] = reference;
      const body = source?.request.body as Record<string, unknown>;
      const { name, ...others } = body;
      const expected = [
        {
          ...source,
          request: { ...source?.request, body: { name, providerId: STREAMING_PROVIDER_ID, ...others } },
        },
        ...rest,
      ];
      expect(JSON.stringify(helper)).toBe(JSON.stringify(expected));
    }
  });
});

describe('webhookSetup: what the steps read from the input', () => {
  it('leaves out source params that are not set, and params itself when none is', () => {
    const unsigned = plan(templateHelper, TEMPLATE);
    expect(unsigned[0]?.request.body).not.toHaveProperty('params');
    const signed = plan(templateHelper, { ...TEMPLATE, signingSecret: KEY });
    expect(signed[0]?.request.body).toHaveProperty('params', { signingSecret: REDACTED });
    expect(JSON.stringify(signed)).not.toContain(KEY);
  });

  it('uses the input mappingId without a mappings option, and creates the mapping set with one', () => {
    const existing = plan(templateHelper, TEMPLATE);
    expect(existing.map((s) => s.id)).toEqual([
      'createSourceConnection',
      'createTargetConnection',
      'createFlow',
      'getInletUrl',
    ]);
    expect(existing[2]?.request.body).toMatchObject({
      transformations: [{ name: 'Mapping', params: { mappingId: TEMPLATE.mappingId, mappingVersion: 0 } }],
    });

    const created = plan(cioHelper, CIO);
    expect(created[2]).toMatchObject({ id: 'createMapping', produces: { mappingId: '{MAPPING_ID}' } });
    expect(created[2]?.request.body).toEqual({
      outputSchema: { schemaRef: { id: CIO.schemaId, contentType: DEFAULT_SCHEMA_CONTENT_TYPE } },
      mappings: cioMappings('extconndev'),
    });
    expect(created[3]?.request.body).toMatchObject({
      transformations: [{ name: 'Mapping', params: { mappingId: '{MAPPING_ID}', mappingVersion: 0 } }],
    });
  });

  it('names each resource by its own name, else the input name, else the display name', () => {
    const bare = webhookSetup({
      input: z.object({
        dataSetId: z.string(),
        schemaId: z.string(),
        mappingId: z.string(),
        name: z.string().optional(),
      }),
      connectionSpecId: SPEC_ID,
      displayName: 'Acme',
    });
    const names = (input: object) =>
      plan(bare, { ...TEMPLATE, ...input })
        .slice(0, 3)
        .map((s) => (s.request.body as { name: string; description?: string }).name);
    expect(names({})).toEqual(['Acme source connection', 'Acme data lake connection', 'Acme dataflow']);
    expect(names({ name: 'one' })).toEqual(['one', 'one', 'one']);
    for (const step of plan(bare, TEMPLATE).slice(0, 3))
      expect(step.request.body).not.toHaveProperty('description');
  });

  it('refuses a JavaScript caller whose input has no mappingId and no mappings option, naming both fixes', () => {
    const loose = webhookSetup({
      input: z.object({ dataSetId: z.string(), schemaId: z.string(), mappingId: z.string().optional() }),
      connectionSpecId: SPEC_ID,
      displayName: 'Acme',
    } as never) as ReturnType<typeof webhookSetup>;
    let error: unknown;
    try {
      plan(loose, { dataSetId: 'd', schemaId: 's' });
    } catch (e) {
      error = e;
    }
    expect(InflowError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/no mappingId: add `mappingId`.*`mappings` option/);
  });

  it('passes defineSourceConnector (unique step ids and output names)', () => {
    expect(connectorWith(cioHelper).setup.steps.flatMap((s) => Object.keys(s.produces))).toEqual([
      'sourceConnectionId',
      'targetConnectionId',
      'mappingId',
      'flowId',
      'inletUrl',
    ]);
  });
});

describe('webhookSetup: apply', () => {
  let server: RecordingServer;
  const ids = { sourceConnectionId: 'src-1', targetConnectionId: 'tgt-2', flowId: 'flow-3' };
  const inletUrl = 'https://inlet.inflow.test/collection/abc';
  beforeEach(async () => {
    server = await startRecordingServer((req) => {
      const created = (id: string) => ({ status: 201, body: { id, etag: '"e"' } });
      if (route(req) === `POST ${FS}/sourceConnections`) return created(ids.sourceConnectionId);
      if (route(req) === `POST ${FS}/targetConnections`) return created(ids.targetConnectionId);
      if (route(req) === `POST ${FS}/flows`) return created(ids.flowId);
      if (route(req) === `GET ${FS}/flows/${ids.flowId}`) {
        return { status: 200, body: { items: [{ id: ids.flowId, options: { inletUrl } }] } };
      }
      return { status: 404, body: {} };
    });
  });
  afterEach(async () => {
    await server.close();
  });

  it('sends what it planned, threads the ids and returns the inlet URL', async () => {
    const runner = new SetupRunner(connectorWith(templateHelper), makeClient(server));
    const input = { ...TEMPLATE, signingSecret: KEY };
    const planned = runner.plan(input);
    const result = await runner.apply(input);
    expect(result.outputs).toEqual({ ...ids, inletUrl });
    expect(server.requests[0]?.body).toHaveProperty('params', { signingSecret: KEY });
    expectPlanMatchesSent(planned, server.requests, [
      [KEY, REDACTED],
      [ids.sourceConnectionId, '{SOURCE_CONNECTION_ID}'],
      [ids.targetConnectionId, '{TARGET_CONNECTION_ID}'],
      [ids.flowId, '{FLOW_ID}'],
    ]);
  });
});
