import { InflowValidationError, type JsonSchema } from '@inflow/core';
import { z } from 'zod';
import { FlowProblem, invalid } from '../errors.js';
import type { Services } from '../services.js';
import { specRef } from './connections.js';
import {
  type BuildContext,
  frozenConnectionSpec,
  type ResourceKind,
  refuseIfInFlows,
} from './resource-routes.js';

const sourceCreate = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  providerId: z.string().optional(),
  baseConnectionId: z.string().min(1).optional(),
  data: z
    .strictObject({
      format: z.string().min(1).optional(),
      schema: z.unknown().optional(),
      properties: z.record(z.string(), z.unknown()).nullable().optional(),
    })
    .optional(),
  params: z.record(z.string(), z.unknown()).optional(),
  connectionSpec: specRef,
});

function paramsSchema(doc: Record<string, unknown>, services: Services): JsonSchema | undefined {
  const specId = (doc.connectionSpec as { id?: string } | undefined)?.id;
  const spec = specId ? services.specs.connectionSpec(specId)?.sourceSpec?.spec : undefined;
  return spec ? { type: 'object', properties: { params: spec } } : undefined;
}

async function build(input: z.output<typeof sourceCreate>, { services, scope }: BuildContext) {
  const specId = input.connectionSpec.id;
  const connector = services.specs.connector(specId);
  const spec = services.specs.connectionSpec(specId);
  if (!connector || !spec)
    throw new FlowProblem(
      '1413-400',
      `The spec ID provided is invalid: no source connection spec ${specId} here`,
    );
  let inherited: Record<string, unknown> | undefined;
  if (connector.auth !== 'none') {
    if (!input.baseConnectionId) {
      throw invalid(
        'baseConnectionId',
        `is required: ${spec.name} sources read through a base connection (POST /connections first)`,
      );
    }
    const base = await services.store.get('connections', scope, input.baseConnectionId);
    if (!base)
      throw invalid('baseConnectionId', `${input.baseConnectionId} is not a connection in this sandbox`);
    const baseSpec = (base.doc.connectionSpec as { id: string; version?: string }).id;
    if (baseSpec !== specId) {
      throw invalid('baseConnectionId', `is a connection of spec ${baseSpec}, not of ${specId}`);
    }
    inherited = { baseConnection: { id: base.doc.id, connectionSpec: base.doc.connectionSpec } };
  } else if (input.baseConnectionId) {
    throw invalid('baseConnectionId', `must be absent: ${spec.name} has no base connection`);
  }
  const formats = (spec.sourceSpec?.attributes?.dataFormats as string[] | undefined) ?? [];
  if (input.data?.format && formats.length > 0 && !formats.includes(input.data.format)) {
    throw invalid('data.format', `must be one of ${formats.join(', ')} for ${spec.name}`);
  }
  const params = input.params ?? {};
  const known = new Set(
    Object.keys((spec.sourceSpec?.spec?.properties as Record<string, unknown> | undefined) ?? {}),
  );
  const unknown = Object.keys(params).filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw invalid(
      `params.${unknown[0]}`,
      `is not a param of ${spec.name}${known.size ? `: use ${[...known].join(', ')}` : ''}`,
    );
  }
  try {
    connector.parseSourceParams(params);
  } catch (error) {
    if (InflowValidationError.isInstance(error)) {
      throw invalid(error.issues[0]?.path ?? 'params', error.issues[0]?.message ?? error.message);
    }
    throw error;
  }
  return {
    name: input.name,
    ...(input.description === undefined ? {} : { description: input.description }),
    ...(input.baseConnectionId ? { baseConnectionId: input.baseConnectionId } : {}),
    data: {
      format: input.data?.format ?? formats[0] ?? null,
      schema: input.data?.schema ?? null,
      properties: input.data?.properties ?? null,
    },
    ...(input.params ? { params } : {}),
    connectionSpec: { id: specId, version: input.connectionSpec.version ?? '1.0' },
    ...(inherited ? { inheritedAttributes: inherited } : {}),
  };
}

export const sourceConnectionsKind: ResourceKind<typeof sourceCreate> = {
  kind: 'sourceConnections',
  label: 'sourceConnections',
  path: '/sourceConnections',
  tag: 'SourceConnections',
  create: sourceCreate,
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
    'inheritedAttributes',
  ],
  build,
  extras: async () => ({ state: 'enabled' }),
  secretSchema: paramsSchema,
  frozen: frozenConnectionSpec('source connection'),
  beforeDelete: refuseIfInFlows('sourceConnectionIds'),
};
