import { defineSourceConnector } from '@inflow/core';
import { customerioInlet } from './customerio-inlet.js';
import { customerioSourceParams } from './customerio-params.js';
import { customerioSetupInput, customerioSetupSteps } from './customerio-setup.js';
import {
  CUSTOMERIO_CONNECTION_SPEC_ID,
  CUSTOMERIO_CONNECTION_SPEC_NAME,
  CUSTOMERIO_PROVIDER_ID,
  GENERIC_STREAMING_FLOW_SPEC_ID,
} from './customerio-spec.js';

/** The Customer.io webhook source: `96479064-…`; no base connection. */
export const customerioConnector = defineSourceConnector({
  id: 'customerio',
  displayName: 'Customer.io',
  spec: {
    id: CUSTOMERIO_CONNECTION_SPEC_ID,
    name: CUSTOMERIO_CONNECTION_SPEC_NAME,
    providerId: CUSTOMERIO_PROVIDER_ID,
    version: '1.0',
    type: 'generic-streaming',
    description: 'Customer.io Reporting Webhook events, signed and streamed to an inlet',
    category: 'MarketingAutomation',
    attributes: { isBeta: true },
    explore: { name: 'StreamingConnection', type: 'StreamingConnection' },
    dataFormats: ['json'],
    flowSpecIds: [GENERIC_STREAMING_FLOW_SPEC_ID],
  },
  auth: 'none',
  sourceParams: customerioSourceParams,
  setup: { input: customerioSetupInput, steps: customerioSetupSteps },
  inlet: customerioInlet,
});
