import { type Mapping, type SetupStepV1, secret } from '@inflow/core';
import { z } from 'zod';
import {
  CUSTOMERIO_CONNECTION_SPEC_ID,
  CUSTOMERIO_DEFAULT_FIELDS,
  CUSTOMERIO_PROVIDER_ID,
  DATA_LAKE_CONNECTION_SPEC_ID,
  GENERIC_STREAMING_FLOW_SPEC_ID,
} from './customerio-spec.js';

const XDM_FULL = 'application/vnd.adobe.xed-full+json;version=1';

const legacyMapping = z.object({
  sourceAttribute: z.string().min(1),
  destinationXdmPath: z.string().min(1),
  identity: z.boolean().default(false),
  version: z.number().int().default(0),
});

export const customerioSetupInput = z.object({
  /** The target dataset (Catalog id) the events land in. */
  dataSetId: z.string().min(1),
  /** The target XDM schema's `$id`, e.g. `https://ns.adobe.com/{TENANT_ID}/schemas/945546…`. */
  schemaId: z.string().min(1),
  schemaContentType: z.string().default(XDM_FULL),
  /** The org's tenant id (no underscore); the default mapping writes under `_{tenantId}`. */
  tenantId: z.string().regex(/^[a-z0-9]+$/, 'must be the tenant id without its underscore, e.g. extconndev'),
  /** Defaults to the tutorial's mapping of cio_id, email, event_id, metric, object_type, timestamp. */
  mappings: z.array(legacyMapping).min(1).optional(),
  webhookSigningKey: secret('The Reporting Webhook signing key from Customer.io').optional(),
  sourceConnectionName: z.string().min(1).default('Streaming Source Connection for Customer.io'),
  sourceConnectionDescription: z.string().default('Streaming Source Connection for customer.io'),
  targetConnectionName: z.string().min(1).default('Streaming Target Connection for Customer.io'),
  targetConnectionDescription: z.string().default('Streaming Target Connection for Customer.io'),
  flowName: z.string().min(1).default('Streaming Dataflow for Customer.io'),
  flowDescription: z.string().default('Streaming Dataflow for Customer.io'),
});

export type CustomerioSetupInput = z.input<typeof customerioSetupInput>;
type Input = z.output<typeof customerioSetupInput>;

/** The tutorial's mapping for a tenant: each webhook field to `_{tenantId}.<field>`. */
export function defaultCustomerioMappings(tenantId: string): Mapping[] {
  return CUSTOMERIO_DEFAULT_FIELDS.map(([sourceAttribute, field]) => ({
    destinationXdmPath: `_${tenantId}.${field}`,
    sourceAttribute,
    identity: false,
    version: 0,
  }));
}

/**
 * Seed 004: source connection (no base connection), target connection to the dataset, mapping
 * set, flow on GenericStreamingAEP, then read the flow's inlet URL.
 */
export const customerioSetupSteps: SetupStepV1<Input>[] = [
  {
    id: 'createSourceConnection',
    title: 'Create the Customer.io source connection',
    request: ({ api, input }) =>
      api.sourceConnections.create({
        name: input.sourceConnectionName,
        providerId: CUSTOMERIO_PROVIDER_ID,
        description: input.sourceConnectionDescription,
        connectionSpec: { id: CUSTOMERIO_CONNECTION_SPEC_ID, version: '1.0' },
        data: { format: 'json' },
        ...(input.webhookSigningKey ? { params: { webhookSigningKey: input.webhookSigningKey } } : {}),
      }),
    produces: { sourceConnectionId: 'id' },
  },
  {
    id: 'createTargetConnection',
    title: 'Create the data lake target connection',
    request: ({ api, input }) =>
      api.targetConnections.create({
        name: input.targetConnectionName,
        description: input.targetConnectionDescription,
        connectionSpec: { id: DATA_LAKE_CONNECTION_SPEC_ID, version: '1.0' },
        data: { format: 'json', schema: { id: input.schemaId, version: input.schemaContentType } },
        params: { dataSetId: input.dataSetId },
      }),
    produces: { targetConnectionId: 'id' },
  },
  {
    id: 'createMapping',
    title: 'Create the mapping set',
    request: ({ api, input }) =>
      api.mappingSets.create({
        outputSchema: { schemaRef: { id: input.schemaId, contentType: input.schemaContentType } },
        mappings: input.mappings ?? defaultCustomerioMappings(input.tenantId),
      }),
    produces: { mappingId: 'id' },
  },
  {
    id: 'createFlow',
    title: 'Create the dataflow',
    request: ({ api, input, outputs }) =>
      api.flows.create({
        name: input.flowName,
        description: input.flowDescription,
        flowSpec: { id: GENERIC_STREAMING_FLOW_SPEC_ID, version: '1.0' },
        sourceConnectionIds: [outputs.sourceConnectionId as string],
        targetConnectionIds: [outputs.targetConnectionId as string],
        transformations: [
          { name: 'Mapping', params: { mappingId: outputs.mappingId as string, mappingVersion: 0 } },
        ],
      }),
    produces: { flowId: 'id' },
  },
  {
    id: 'getInletUrl',
    title: 'Read the streaming endpoint URL',
    request: ({ api, outputs }) => api.flows.get(outputs.flowId as string),
    produces: { inletUrl: { path: 'items[0].options.inletUrl', missing: 'the flow has no inlet URL yet' } },
  },
];
