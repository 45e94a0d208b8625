import { z } from 'zod';
import { FlowProblem, invalid } from '../errors.js';
import { DATA_LAKE_SPEC_ID } from '../specs/registry.js';
import { specRef } from './connections.js';
import {
  type BuildContext,
  frozenConnectionSpec,
  type ResourceKind,
  refuseIfInFlows,
} from './resource-routes.js';

const targetCreate = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  baseConnectionId: z.string().optional(),
  data: z
    .strictObject({
      format: z.string().min(1).optional(),
      schema: z
        .strictObject({ id: z.string().min(1), version: z.string().min(1).optional() })
        .nullable()
        .optional(),
      properties: z.record(z.string(), z.unknown()).nullable().optional(),
    })
    .optional(),
  params: z.strictObject({ dataSetId: z.string().min(1) }),
  connectionSpec: specRef,
});

async function build(input: z.output<typeof targetCreate>, { services, scope }: BuildContext) {
  if (input.connectionSpec.id !== DATA_LAKE_SPEC_ID) {
    throw new FlowProblem(
      '1413-400',
      `The spec ID provided is invalid: the target of a source flow is the data lake (${DATA_LAKE_SPEC_ID})`,
      { field: 'connectionSpec.id' },
    );
  }
  const dataSet = await services.store.get('dataSets', scope, input.params.dataSetId);
  if (!dataSet) {
    throw invalid(
      'params.dataSetId',
      `${input.params.dataSetId} is not a dataset in this sandbox (create it with POST /data/foundation/catalog/dataSets)`,
    );
  }
  const schemaId = input.data?.schema?.id;
  const dataSetSchema = (dataSet.doc.schemaRef as { id?: string } | undefined)?.id;
  if (schemaId && dataSetSchema && schemaId !== dataSetSchema) {
    throw new FlowProblem(
      '1425-400',
      `data.schema.id ${schemaId} is not the schema of dataset ${input.params.dataSetId} (${dataSetSchema})`,
      {
        field: 'data.schema.id',
      },
    );
  }
  return {
    name: input.name,
    ...(input.description === undefined ? {} : { description: input.description }),
    data: {
      format: input.data?.format ?? 'parquet_xdm',
      schema:
        input.data?.schema ??
        (dataSetSchema
          ? { id: dataSetSchema, version: 'application/vnd.adobe.xed-full+json;version=1' }
          : null),
      properties: input.data?.properties ?? null,
    },
    params: { dataSetId: input.params.dataSetId },
    connectionSpec: { id: DATA_LAKE_SPEC_ID, version: input.connectionSpec.version ?? '1.0' },
  };
}

export const targetConnectionsKind: ResourceKind<typeof targetCreate> = {
  kind: 'targetConnections',
  label: 'targetConnections',
  path: '/targetConnections',
  tag: 'TargetConnections',
  create: targetCreate,
  listFields: [
    'id',
    'name',
    'description',
    'baseConnectionId',
    'connectionSpec',
    'state',
    'data',
    'params',
    'createdAt',
    'updatedAt',
  ],
  build,
  extras: async () => ({ state: 'enabled' }),
  frozen: frozenConnectionSpec('target connection'),
  beforeDelete: refuseIfInFlows('targetConnectionIds'),
};
