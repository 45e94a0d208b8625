import type { SetupStepV1 } from '@inflow/core';
import { z } from 'zod';
import { s3Credentials } from './s3-credentials.js';
import { S3_AUTH_SPEC_NAME, S3_CONNECTION_SPEC_NAME } from './s3-spec.js';

/** What the S3 tutorial needs from the user: a name, a description and the key pair. */
export const s3SetupInput = z.object({
  name: z.string().min(1).default('S3 Base Connection'),
  description: z.string().default('Base connection for an Amazon S3 account'),
  credentials: s3Credentials,
});

export type S3SetupInput = z.input<typeof s3SetupInput>;

/** Seed 000: look up the amazon-s3 connection spec, then create the base connection with it. */
export const s3SetupSteps: SetupStepV1<z.output<typeof s3SetupInput>>[] = [
  {
    id: 'lookupSpec',
    title: 'Look up the amazon-s3 connection spec',
    request: ({ api }) => api.connectionSpecs.list({ property: `name=="${S3_CONNECTION_SPEC_NAME}"` }),
    produces: {
      connectionSpecId: {
        path: 'items[0].id',
        missing: `the service has no "${S3_CONNECTION_SPEC_NAME}" connection spec (on Inflow: install @inflow/connector-s3 beside the server)`,
      },
    },
  },
  {
    id: 'createConnection',
    title: 'Create the S3 base connection',
    request: ({ api, input, outputs }) =>
      api.connections.create({
        name: input.name,
        description: input.description,
        auth: { specName: S3_AUTH_SPEC_NAME, params: input.credentials },
        connectionSpec: { id: outputs.connectionSpecId as string, version: '1.0' },
      }),
    produces: { connectionId: 'id' },
  },
];
