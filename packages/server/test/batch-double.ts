import type { ConnectionSpecDefinition, SetupContext } from '@inflow/core';
import { z } from 'zod';

export const CLOUD_STORAGE_FLOW_SPEC = '9753525b-82c7-4dce-8a9b-5ccfce2b9876';

/**
 * What the batch-source test doubles share, spread into `defineSourceConnector` beside their own
 * `id`, `sourceParams` and `read`: a cloud-storage spec (`<id>-test-double`) with no base
 * connection, and a setup whose one step creates a source connection named `setupName` with
 * `setupParams`.
 */
export function batchDouble(opts: {
  id: string;
  specId: string;
  description: string;
  dataFormats: string[];
  setupName: string;
  setupParams: Record<string, unknown>;
}) {
  const spec: ConnectionSpecDefinition = {
    id: opts.specId,
    name: `${opts.id}-test-double`,
    providerId: '0ed90a81-07f4-4586-8190-b40eccef1c5a',
    version: '1.0',
    description: opts.description,
    category: 'CloudStorage',
    dataFormats: opts.dataFormats,
    flowSpecIds: [CLOUD_STORAGE_FLOW_SPEC],
  };
  return {
    spec,
    auth: 'none' as const,
    setup: {
      input: z.object({}),
      steps: [
        {
          id: 'createSourceConnection',
          title: 'Create the source connection',
          request: ({ api }: SetupContext<unknown>) =>
            api.sourceConnections.create({
              name: opts.setupName,
              connectionSpec: { id: opts.specId, version: '1.0' },
              data: { format: 'json' },
              params: opts.setupParams,
            }),
          produces: { sourceConnectionId: 'id' },
        },
      ],
    },
  };
}
