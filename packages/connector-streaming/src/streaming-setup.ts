import type { SetupStepV1 } from '@inflow/core';
import { z } from 'zod';
import {
  STREAMING_AUTH_SPEC_NAME,
  STREAMING_CONNECTION_SPEC_ID,
  STREAMING_PROVIDER_ID,
} from './streaming-spec.js';

export const streamingSetupInput = z.object({
  name: z.string().min(1).default('Sample streaming connection'),
  description: z.string().default('Streaming connection'),
  /** `auth.params.sourceId`; default the connection name. */
  sourceId: z.string().min(1).optional(),
  /** `auth.params.name`; default the connection name. */
  connectionName: z.string().min(1).optional(),
  /** An authenticated connection: messages must carry a bearer token (seed 001). */
  authenticationRequired: z.boolean().optional(),
});

export type StreamingSetupInput = z.input<typeof streamingSetupInput>;

/** Seed 001: create the (un)authenticated connection, then read its inlet URL. */
export const streamingSetupSteps: SetupStepV1<z.output<typeof streamingSetupInput>>[] = [
  {
    id: 'createConnection',
    title: 'Create the streaming connection',
    request: ({ api, input }) =>
      api.connections.create({
        name: input.name,
        providerId: STREAMING_PROVIDER_ID,
        description: input.description,
        connectionSpec: { id: STREAMING_CONNECTION_SPEC_ID, version: '1.0' },
        auth: {
          specName: STREAMING_AUTH_SPEC_NAME,
          params: {
            sourceId: input.sourceId ?? input.name,
            dataType: 'xdm',
            name: input.connectionName ?? input.name,
            ...(input.authenticationRequired === undefined
              ? {}
              : { authenticationRequired: input.authenticationRequired }),
          },
        },
      }),
    produces: { connectionId: 'id' },
  },
  {
    id: 'getInletUrl',
    title: 'Read the streaming endpoint URL',
    request: ({ api, outputs }) => api.connections.get(outputs.connectionId as string),
    produces: {
      inletUrl: { path: 'items[0].auth.params.inletUrl', missing: 'the connection has no inlet URL yet' },
      inletId: { path: 'items[0].auth.params.inletId', missing: 'the connection has no inlet id yet' },
    },
  },
];
