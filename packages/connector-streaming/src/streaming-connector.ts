import { defineSourceConnector } from '@inflow/core';
import { streamingAuthParams } from './streaming-credentials.js';
import { streamingSetupInput, streamingSetupSteps } from './streaming-setup.js';
import {
  HTTP_API_FLOW_SPEC_ID,
  HTTP_API_XDM_FLOW_SPEC_ID,
  STREAMING_AUTH_SPEC_NAME,
  STREAMING_CONNECTION_SPEC_ID,
  STREAMING_CONNECTION_SPEC_NAME,
  STREAMING_PROVIDER_ID,
} from './streaming-spec.js';

/** The HTTP API streaming source: `bc7b00d6-…`; the service gives each connection an inlet. */
export const streamingConnector = defineSourceConnector({
  id: 'streaming',
  displayName: 'HTTP API streaming',
  spec: {
    id: STREAMING_CONNECTION_SPEC_ID,
    name: STREAMING_CONNECTION_SPEC_NAME,
    providerId: STREAMING_PROVIDER_ID,
    version: '1.0',
    description: 'XDM messages streamed to an HTTP inlet, one at a time or in batches',
    category: 'Streaming',
    explore: { name: 'StreamingConnection', type: 'StreamingConnection' },
    dataFormats: ['json'],
    flowSpecIds: [HTTP_API_FLOW_SPEC_ID, HTTP_API_XDM_FLOW_SPEC_ID],
  },
  auth: [{ name: STREAMING_AUTH_SPEC_NAME, type: 'StreamingConnection', schema: streamingAuthParams }],
  setup: { input: streamingSetupInput, steps: streamingSetupSteps },
});
