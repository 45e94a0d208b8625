import type { SetupStepV1 } from '@inflow/core';
import { z } from 'zod';
import { postgresqlCredentials } from './postgresql-credentials.js';
import { POSTGRESQL_AUTH_SPEC_NAME, POSTGRESQL_CONNECTION_SPEC_ID } from './postgresql-spec.js';

export const postgresqlSetupInput = z.object({
  name: z.string().min(1).default('Connection for PostgreSQL'),
  description: z.string().default('Base connection for a PostgreSQL database'),
  credentials: postgresqlCredentials,
});

export type PostgresqlSetupInput = z.input<typeof postgresqlSetupInput>;

/** Seed 002: create the base connection with the fixed spec id. */
export const postgresqlSetupSteps: SetupStepV1<z.output<typeof postgresqlSetupInput>>[] = [
  {
    id: 'createConnection',
    title: 'Create the PostgreSQL base connection',
    request: ({ api, input }) =>
      api.connections.create({
        name: input.name,
        description: input.description,
        auth: { specName: POSTGRESQL_AUTH_SPEC_NAME, params: input.credentials },
        connectionSpec: { id: POSTGRESQL_CONNECTION_SPEC_ID, version: '1.0' },
      }),
    produces: { connectionId: 'id' },
  },
];
