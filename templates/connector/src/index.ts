import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  defineSourceConnector,
  GENERIC_STREAMING_FLOW_SPEC_ID,
  type InletResult,
  STREAMING_PROVIDER_ID,
  secret,
  webhookSetup,
} from '@inflow/core';
import { z } from 'zod';

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
  // The tutorial of every webhook source: source connection, target connection, flow, inlet URL.
  setup: webhookSetup({
    input: z.object({
      dataSetId: z.string().min(1),
      schemaId: z.string().min(1),
      /** The Data Prep mapping set that turns {{displayName}} events into XDM. */
      mappingId: z.string().min(1),
      signingSecret: signingSecret.optional(),
      name: z.string().min(1).default('{{displayName}} webhooks'),
    }),
    connectionSpecId: '{{specId}}',
    displayName: '{{displayName}}',
    sourceParams: ({ signingSecret }) => ({ signingSecret }),
  }),
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
