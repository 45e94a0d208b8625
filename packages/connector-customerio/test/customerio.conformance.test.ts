import { customerioConnector } from '@inflow/connector-customerio';
import { describeSourceConnector } from '@inflow/testkit';

const SIGNING_KEY = 'CANARY-cio-conf-signing-key-71b2f0';

describeSourceConnector(customerioConnector, {
  expected: {
    id: '96479064-7b8a-4d69-b9ed-21c5683837ea',
    name: 'customerio-webhook',
    providerId: '521eee4d-8cbe-4906-bb48-fb6bd4450033',
  },
  // No base connection (auth 'none'): the signing key is a source connection param.
  sourceParams: { webhookSigningKey: SIGNING_KEY },
  setupInput: {
    dataSetId: '63ec807d3f5ce91bd2d06c65',
    schemaId: 'https://ns.adobe.com/extconndev/schemas/945546112b746524bfd9f1264b26c2b7d8e7f5b7fadb953a',
    tenantId: 'extconndev',
    webhookSigningKey: SIGNING_KEY,
  },
  setupSecrets: [SIGNING_KEY],
  absent: {
    test: 'no credentials to test: auth is none, and Customer.io calls the inlet rather than being called',
    read: 'a webhook source has no read: Customer.io pushes events to its inlet',
  },
});
