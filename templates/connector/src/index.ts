import { createHmac, timingSafeEqual } from 'node:crypto';
import { defineSourceConnector, type InletResult, secret } from '@inflow/core';
import { z } from 'zod';

/** Fixed by the Flow Service: the streaming provider, GenericStreamingAEP and the data lake. */
const STREAMING_PROVIDER_ID = '521eee4d-8cbe-4906-bb48-fb6bd4450033';
const GENERIC_STREAMING_FLOW_SPEC_ID = 'e77fde5a-22a8-11ed-861d-0242ac120002';
const DATA_LAKE_SPEC_ID = 'c604ff05-7f1a-43c0-8e18-33bf874cb11c';
const XDM_FULL = 'application/vnd.adobe.xed-full+json;version=1';

const signingSecret = secret('The secret {{displayName}} signs its webhooks with');
const refuse = (status: 400 | 401, message: string): InletResult => ({ ok: false, status, message });

/** {{displayName}} webhooks: each POST to the flow's inlet is one event (or an array of them). */
export const __camelId__Connector = defineSourceConnector({
  id: '{{id}}',
  displayName: '{{displayName}}',
  spec: {
    id: '{{specId}}',
    name: '{{id}}-webhook',
    providerId: STREAMING_PROVIDER_ID,
    version: '1.0',
    description: '{{displayName}} webhook events, streamed to an inlet',
    category: 'Streaming',
    dataFormats: ['json'],
    flowSpecIds: [GENERIC_STREAMING_FLOW_SPEC_ID],
  },
  auth: 'none',
  sourceParams: z.object({ signingSecret: signingSecret.optional() }),
  setup: {
    input: z.object({
      dataSetId: z.string().min(1),
      schemaId: z.string().min(1),
      /** The Data Prep mapping set that turns {{displayName}} events into XDM. */
      mappingId: z.string().min(1),
      signingSecret: signingSecret.optional(),
      name: z.string().min(1).default('{{displayName}} webhooks'),
    }),
    // The tutorial of every webhook source: source connection, target connection, flow, inlet URL.
    steps: [
      {
        id: 'createSourceConnection',
        title: 'Create the {{displayName}} source connection',
        request: ({ api, input: { name, signingSecret } }) =>
          api.sourceConnections.create({
            name,
            connectionSpec: { id: '{{specId}}', version: '1.0' },
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
            connectionSpec: { id: DATA_LAKE_SPEC_ID, version: '1.0' },
            data: { format: 'json', schema: { id: schemaId, version: XDM_FULL } },
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
        title: 'Read the inlet URL to give {{displayName}}',
        request: ({ api, outputs }) => api.flows.get(`${outputs.flowId}`),
        produces: {
          inletUrl: { path: 'items[0].options.inletUrl', missing: 'the flow has no inlet URL yet' },
        },
      },
    ],
  },
  /** With a signing secret, `X-Signature` must be the hex HMAC-SHA256 of the raw body. */
  async inlet({ headers, rawBody, params }) {
    if (params.signingSecret) {
      const given = Buffer.from(headers['x-signature'] ?? '', 'hex');
      const expected = createHmac('sha256', params.signingSecret).update(rawBody).digest();
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return refuse(401, 'the X-Signature header is missing or does not match: check signingSecret');
      }
    }
    let body: unknown;
    try {
      body = JSON.parse(rawBody.toString('utf8'));
    } catch (error) {
      return refuse(400, `the body is not JSON: ${(error as Error).message}`);
    }
    const events = Array.isArray(body) ? body : [body];
    if (!events.every((e) => e !== null && typeof e === 'object' && !Array.isArray(e))) {
      return refuse(400, 'the body must be one event object or an array of them');
    }
    return { ok: true, records: events as Record<string, unknown>[] };
  },
});
