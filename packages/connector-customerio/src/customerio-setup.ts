import {
  DEFAULT_SCHEMA_CONTENT_TYPE,
  type Mapping,
  type SetupStepV1,
  secret,
  webhookSetup,
} from '@inflow/core';
import { z } from 'zod';
import { CUSTOMERIO_CONNECTION_SPEC_ID, CUSTOMERIO_DEFAULT_FIELDS } from './customerio-spec.js';

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
  schemaContentType: z.string().default(DEFAULT_SCHEMA_CONTENT_TYPE),
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
 * set, flow on GenericStreamingAEP, then read the flow's inlet URL: core's standard webhook steps.
 */
export const customerioSetupSteps: SetupStepV1<Input>[] = webhookSetup({
  input: customerioSetupInput,
  connectionSpecId: CUSTOMERIO_CONNECTION_SPEC_ID,
  displayName: 'Customer.io',
  sourceParams: (input) => ({ webhookSigningKey: input.webhookSigningKey }),
  mappings: (input) => input.mappings ?? defaultCustomerioMappings(input.tenantId),
}).steps;
