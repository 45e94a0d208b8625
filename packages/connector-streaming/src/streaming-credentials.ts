import { z } from 'zod';

/**
 * A streaming connection's `auth.params` (seed 001). Not credentials in the usual sense: they
 * describe the inlet. `sourceId` and `name` default to the connection's name on the service
 * (reference §3.3), so only `dataType` is required.
 */
export const streamingAuthParams = z
  .object({
    sourceId: z
      .string()
      .min(1)
      .optional()
      .describe('The id of the streaming connection; default the connection name'),
    dataType: z
      .literal('xdm', { error: 'must be "xdm"' })
      .describe('The data type of the streaming connection: xdm'),
    name: z
      .string()
      .min(1)
      .optional()
      .describe('The name of the streaming connection; default the connection name'),
    authenticationRequired: z
      .boolean()
      .optional()
      .describe('Require an Authorization bearer token on every message sent to the inlet; default false'),
  })
  .describe('defines auth params required for a streaming connection');

export type StreamingAuthParams = z.output<typeof streamingAuthParams>;
