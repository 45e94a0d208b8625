import { streamingConnector } from '@inflow/connector-streaming';
import { describeSourceConnector } from '@inflow/testkit';

describeSourceConnector(streamingConnector, {
  expected: {
    id: 'bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb',
    name: 'http-api',
    providerId: '521eee4d-8cbe-4906-bb48-fb6bd4450033',
  },
  // The auth params describe the inlet; there is no secret in them.
  credentials: {
    'Streaming Connection': {
      sourceId: 'crm-events',
      dataType: 'xdm',
      name: 'CRM events',
      authenticationRequired: true,
    },
  },
  setupInput: {
    name: 'Sample streaming connection',
    description: 'Sample description',
    sourceId: 'Sample connection',
    connectionName: 'Sample connection',
    authenticationRequired: true,
  },
  setupSecrets: [],
  absent: {
    test: 'nothing to test: the service creates the inlet, and there are no source credentials to check',
    read: 'streaming has no read: data arrives at its inlet, pushed by the sender',
  },
});
