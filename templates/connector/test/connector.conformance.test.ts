import { describeSourceConnector } from '@inflow/testkit';
import { __camelId__Connector } from '../src/index.js';

const SECRET = 'CANARY-{{id}}-signing-secret-0001';

describeSourceConnector(__camelId__Connector, {
  expected: {
    id: '{{specId}}',
    name: '{{id}}-webhook',
    providerId: '521eee4d-8cbe-4906-bb48-fb6bd4450033',
  },
  sourceParams: { signingSecret: SECRET },
  setupInput: {
    dataSetId: '63ec807d3f5ce91bd2d06c65',
    schemaId: 'https://ns.adobe.com/tenant/schemas/0123456789abcdef',
    mappingId: '59c0e53a2dc84f7791ecc1b3d6e51d5e',
    signingSecret: SECRET,
  },
  setupSecrets: [SECRET],
  absent: {
    test: 'a webhook source has no credentials to test: {{displayName}} calls the inlet',
    read: 'a webhook source has no read: {{displayName}} pushes events to the inlet',
  },
});
