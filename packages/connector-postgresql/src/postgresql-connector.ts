import { defineSourceConnector } from '@inflow/core';
import { testConnection } from './postgresql-client.js';
import { postgresqlCredentials, postgresqlSourceParams } from './postgresql-credentials.js';
import { exploreSource, previewTable } from './postgresql-explore.js';
import { readTable } from './postgresql-read.js';
import { postgresqlSetupInput, postgresqlSetupSteps } from './postgresql-setup.js';
import {
  DATABASE_FLOW_SPEC_ID,
  POSTGRESQL_AUTH_SPEC_NAME,
  POSTGRESQL_CONNECTION_SPEC_ID,
  POSTGRESQL_CONNECTION_SPEC_NAME,
  POSTGRESQL_PROVIDER_ID,
} from './postgresql-spec.js';

/** The PostgreSQL source: `postgresql`, `74a1c565-…`. */
export const postgresqlConnector = defineSourceConnector({
  id: 'postgresql',
  displayName: 'PostgreSQL',
  spec: {
    id: POSTGRESQL_CONNECTION_SPEC_ID,
    name: POSTGRESQL_CONNECTION_SPEC_NAME,
    providerId: POSTGRESQL_PROVIDER_ID,
    version: '1.0',
    description: 'PostgreSQL tables, read in full or incrementally by a cursor column',
    category: 'Database',
    attributes: { isBeta: true },
    explore: { name: 'Tabular', type: 'Tabular' },
    dataFormats: ['tabular'],
    flowSpecIds: [DATABASE_FLOW_SPEC_ID],
  },
  auth: [{ name: POSTGRESQL_AUTH_SPEC_NAME, type: 'ConnectionStringBased', schema: postgresqlCredentials }],
  sourceParams: postgresqlSourceParams,
  setup: { input: postgresqlSetupInput, steps: postgresqlSetupSteps },
  test: testConnection,
  explore: exploreSource,
  preview: previewTable,
  read: readTable,
});
