import type { z } from 'zod';
import type { Mapping } from '../client/types.js';
import { InflowError } from '../errors/inflow-error.js';
import { DEFAULT_SCHEMA_CONTENT_TYPE } from '../mapping/mapping-set.js';
import type { SetupStepV1 } from './setup-step.js';

/** The provider of every streaming source (webhooks, the HTTP API), fixed by the Flow Service. */
export const STREAMING_PROVIDER_ID = '521eee4d-8cbe-4906-bb48-fb6bd4450033';
/** GenericStreamingAEP: the flow spec that carries a webhook source's events to the data lake. */
export const GENERIC_STREAMING_FLOW_SPEC_ID = 'e77fde5a-22a8-11ed-861d-0242ac120002';
/** The data lake target connection spec: a dataset of an XDM schema. */
export const DATA_LAKE_CONNECTION_SPEC_ID = 'c604ff05-7f1a-43c0-8e18-33bf874cb11c';

/**
 * The setup input fields the standard webhook steps read. A connector's setup input schema
 * declares the ones it offers (its own fields, such as a signing secret, go through
 * `sourceParams`).
 */
export interface WebhookSetupFields {
  /** The target dataset (Catalog id) the events land in. */
  dataSetId: string;
  /** The target XDM schema's `$id`. */
  schemaId: string;
  /** The schema's content type; default `application/vnd.adobe.xed-full+json;version=1`. */
  schemaContentType?: string;
  /**
   * An existing mapping set for the flow. Read only when the steps have no `mappings` option
   * (then it is required: the flow needs a mapping set).
   */
  mappingId?: string;
  /** The name of all three resources, when no per-resource name is given. */
  name?: string;
  sourceConnectionName?: string;
  sourceConnectionDescription?: string;
  targetConnectionName?: string;
  targetConnectionDescription?: string;
  flowName?: string;
  flowDescription?: string;
}

/** What the standard webhook setup of one connector differs in. */
export interface WebhookSetupOptions<TSchema extends z.ZodType<WebhookSetupFields, unknown>> {
  /**
   * The setup input schema: the `WebhookSetupFields` it offers (`dataSetId` and `schemaId` at
   * least, and `mappingId` unless `mappings` is given), plus the connector's own fields.
   */
  input: TSchema;
  /** The connector's connection spec id (`spec.id`): the source connection's `connectionSpec.id`. */
  connectionSpecId: string;
  /** The source's name for people, in step titles (`Create the Acme source connection`). */
  displayName: string;
  /**
   * The source connection's `params` (the connector's `sourceParams`, e.g. a signing secret) from
   * the input. Entries that are `undefined` are left out, and `params` itself when none is left.
   */
  sourceParams?: (input: z.output<TSchema>) => Record<string, unknown>;
  /**
   * The mappings of a mapping set to create for the flow (a `createMapping` step, output
   * `mappingId`), onto `schemaId`. Without it, the flow uses the input's `mappingId`.
   */
  mappings?: (input: z.output<TSchema>) => Mapping[];
}

function mappingIdOf(input: WebhookSetupFields, outputs: Readonly<Record<string, string>>, created: boolean) {
  if (created) return `${outputs.mappingId}`;
  if (input.mappingId) return input.mappingId;
  // Only a setup input schema without `mappingId` (or a JavaScript caller) gets here.
  throw new InflowError(
    'the setup input has no mappingId: add `mappingId` to the setup input, or give webhookSetup() a `mappings` option to create the mapping set',
  );
}

/**
 * A webhook source's `setup` (its input schema and steps), as in the Flow Service's tutorial for
 * streaming sources without a base connection (Customer.io, seed 004): create the source
 * connection, create the data lake target connection, create the mapping set (only with
 * `mappings`), create the GenericStreamingAEP flow, then read the flow's inlet URL. Outputs:
 * `sourceConnectionId`, `targetConnectionId`, (`mappingId`), `flowId`, `inletUrl`.
 *
 * Names: `sourceConnectionName`, `targetConnectionName` and `flowName` from the input, else its
 * `name`, else one made from `displayName`. Descriptions are sent only when the input has them.
 * The overloads make the input schema offer `mappingId` when there is no `mappings` option.
 *
 * It takes the input schema (rather than returning steps alone) so that TypeScript infers the
 * input type for `sourceParams` and `mappings` inside `defineSourceConnector({...})`, where the
 * steps of a separate generic call would be typed by the bare `WebhookSetupFields`.
 */
export function webhookSetup<TSchema extends z.ZodType<WebhookSetupFields & { mappingId: string }, unknown>>(
  options: WebhookSetupOptions<TSchema> & { mappings?: undefined },
): { input: TSchema; steps: SetupStepV1<z.output<TSchema>>[] };
export function webhookSetup<TSchema extends z.ZodType<WebhookSetupFields, unknown>>(
  options: WebhookSetupOptions<TSchema> & { mappings: NonNullable<WebhookSetupOptions<TSchema>['mappings']> },
): { input: TSchema; steps: SetupStepV1<z.output<TSchema>>[] };
export function webhookSetup<TSchema extends z.ZodType<WebhookSetupFields, unknown>>(
  options: WebhookSetupOptions<TSchema>,
): { input: TSchema; steps: SetupStepV1<z.output<TSchema>>[] } {
  type TInput = z.output<TSchema>;
  const { input: schema, connectionSpecId, displayName, sourceParams, mappings } = options;
  const described = (name: string, description: string | undefined) =>
    description === undefined ? { name } : { name, description };
  const contentType = (input: TInput) => input.schemaContentType ?? DEFAULT_SCHEMA_CONTENT_TYPE;

  const steps: SetupStepV1<TInput>[] = [
    {
      id: 'createSourceConnection',
      title: `Create the ${displayName} source connection`,
      request: ({ api, input }) => {
        const params = Object.fromEntries(
          Object.entries(sourceParams?.(input) ?? {}).filter(([, value]) => value !== undefined),
        );
        return api.sourceConnections.create({
          name: input.sourceConnectionName ?? input.name ?? `${displayName} source connection`,
          providerId: STREAMING_PROVIDER_ID,
          ...(input.sourceConnectionDescription === undefined
            ? {}
            : { description: input.sourceConnectionDescription }),
          connectionSpec: { id: connectionSpecId, version: '1.0' },
          data: { format: 'json' },
          ...(Object.keys(params).length > 0 ? { params } : {}),
        });
      },
      produces: { sourceConnectionId: 'id' },
    },
    {
      id: 'createTargetConnection',
      title: 'Create the data lake target connection',
      request: ({ api, input }) =>
        api.targetConnections.create({
          ...described(
            input.targetConnectionName ?? input.name ?? `${displayName} data lake connection`,
            input.targetConnectionDescription,
          ),
          connectionSpec: { id: DATA_LAKE_CONNECTION_SPEC_ID, version: '1.0' },
          data: { format: 'json', schema: { id: input.schemaId, version: contentType(input) } },
          params: { dataSetId: input.dataSetId },
        }),
      produces: { targetConnectionId: 'id' },
    },
  ];
  if (mappings) {
    steps.push({
      id: 'createMapping',
      title: 'Create the mapping set',
      request: ({ api, input }) =>
        api.mappingSets.create({
          outputSchema: { schemaRef: { id: input.schemaId, contentType: contentType(input) } },
          mappings: mappings(input),
        }),
      produces: { mappingId: 'id' },
    });
  }
  steps.push(
    {
      id: 'createFlow',
      title: 'Create the dataflow',
      request: ({ api, input, outputs }) =>
        api.flows.create({
          ...described(input.flowName ?? input.name ?? `${displayName} dataflow`, input.flowDescription),
          flowSpec: { id: GENERIC_STREAMING_FLOW_SPEC_ID, version: '1.0' },
          sourceConnectionIds: [`${outputs.sourceConnectionId}`],
          targetConnectionIds: [`${outputs.targetConnectionId}`],
          transformations: [
            {
              name: 'Mapping',
              params: { mappingId: mappingIdOf(input, outputs, mappings !== undefined), mappingVersion: 0 },
            },
          ],
        }),
      produces: { flowId: 'id' },
    },
    {
      id: 'getInletUrl',
      title: `Read the inlet URL to give ${displayName}`,
      request: ({ api, outputs }) => api.flows.get(`${outputs.flowId}`),
      produces: {
        inletUrl: { path: 'items[0].options.inletUrl', missing: 'the flow has no inlet URL yet' },
      },
    },
  );
  return { input: schema, steps };
}
