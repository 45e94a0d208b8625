import { InflowValidationError, type JsonSchema } from '@inflow/core';
import { z } from 'zod';
import { randomHex } from '../crypto.js';
import { FlowProblem, invalid } from '../errors.js';
import type { Services } from '../services.js';
import { type BuildContext, frozenConnectionSpec, type ResourceKind } from './resource-routes.js';

export const STREAMING_SPEC_ID = 'bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb';
/** Auth params the service writes itself on streaming connections. */
const INLET_FIELDS = ['inletId', 'inletUrl'] as const;

export const specRef = z.strictObject({
  id: z.string().min(1),
  version: z.string().min(1).optional(),
});

const connectionCreate = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  /** Sent by the streaming tutorial; accepted and not stored (reference §3.3). */
  providerId: z.string().optional(),
  auth: z.strictObject({ specName: z.string().min(1), params: z.record(z.string(), z.unknown()) }),
  connectionSpec: specRef,
});

/** The auth spec JSON that marks a connection's secrets. */
function authSchema(doc: Record<string, unknown>, services: Services): JsonSchema | undefined {
  const specId = (doc.connectionSpec as { id?: string } | undefined)?.id;
  const specName = (doc.auth as { specName?: string } | undefined)?.specName;
  const auth = specId
    ? services.specs.connectionSpec(specId)?.authSpec?.find((a) => a.name === specName)
    : undefined;
  return auth
    ? { type: 'object', properties: { auth: { type: 'object', properties: { params: auth.spec } } } }
    : undefined;
}

/** Refuses auth params the spec does not name (typos, or server-owned fields). */
function refuseUnknown(params: Record<string, unknown>, spec: JsonSchema): void {
  const known = new Set(Object.keys((spec.properties as Record<string, unknown> | undefined) ?? {}));
  const unknown = Object.keys(params).filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw new FlowProblem(
      '1460-400',
      `auth.params has unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: the spec allows ${[...known].join(', ')}`,
      { field: `auth.params.${unknown[0]}` },
    );
  }
}

/** Validates `auth.params` with the connector's own schema; the 400 names the field. */
export function validateCredentials(
  services: Services,
  specId: string,
  specName: string,
  params: Record<string, unknown>,
): unknown {
  const connector = services.specs.connector(specId);
  const spec = services.specs.connectionSpec(specId);
  if (!connector || !spec)
    throw new FlowProblem('1413-400', `The spec ID provided is invalid: no connection spec ${specId} here`);
  if (connector.auth === 'none') {
    throw new FlowProblem(
      '1460-400',
      `${spec.name} has no base connection: create a source connection directly (POST /sourceConnections)`,
      { field: 'connectionSpec.id' },
    );
  }
  const authSpec = spec.authSpec?.find((a) => a.name === specName);
  if (!authSpec) {
    const names = (spec.authSpec ?? []).map((a) => `'${a.name}'`).join(', ');
    throw new FlowProblem(
      '1415-400',
      `The auth spec '${specName}' could not be found for the connection spec ID ${specId}: use ${names}`,
      { field: 'auth.specName' },
    );
  }
  refuseUnknown(params, authSpec.spec);
  try {
    return connector.parseCredentials(specName, params);
  } catch (error) {
    if (InflowValidationError.isInstance(error)) {
      const first = error.issues[0];
      throw invalid(first?.path ?? 'auth.params', first?.message ?? error.message);
    }
    throw error;
  }
}

async function build(
  input: z.output<typeof connectionCreate>,
  ctx: BuildContext,
): Promise<Record<string, unknown>> {
  const { services, existing } = ctx;
  const specId = input.connectionSpec.id;
  const params = { ...input.auth.params };
  const streaming = specId === STREAMING_SPEC_ID;
  if (streaming && existing) for (const f of INLET_FIELDS) delete params[f];
  validateCredentials(services, specId, input.auth.specName, params);
  if (streaming) {
    const previous = (existing?.auth as { params?: Record<string, unknown> } | undefined)?.params;
    const inletId = (previous?.inletId as string | undefined) ?? randomHex(32);
    Object.assign(params, {
      sourceId: params.sourceId ?? input.name,
      name: params.name ?? input.name,
      authenticationRequired: params.authenticationRequired ?? false,
      inletId,
      inletUrl: `${services.publicUrl()}/collection/${inletId}`,
    });
  }
  return {
    name: input.name,
    ...(input.description === undefined ? {} : { description: input.description }),
    connectionSpec: { id: specId, version: input.connectionSpec.version ?? '1.0' },
    auth: { specName: input.auth.specName, params },
  };
}

export const connectionsKind: ResourceKind<typeof connectionCreate> = {
  kind: 'connections',
  label: 'connections',
  path: '/connections',
  tag: 'Connections',
  create: connectionCreate,
  listFields: [
    'id',
    'name',
    'description',
    'connectionSpec',
    'state',
    'createdAt',
    'updatedAt',
    'createdBy',
    'createdClient',
    'sandboxName',
    'imsOrgId',
  ],
  build,
  extras: async () => ({ state: 'enabled' }),
  secretSchema: authSchema,
  frozen: frozenConnectionSpec('connection'),
  async beforeDelete(doc, { services, scope }) {
    const flow = await services.store.flowUsingBaseConnection(scope, doc.id);
    if (flow) {
      throw new FlowProblem(
        '1418-400',
        `base connection ${doc.id} cannot be deleted because it is being used in one or more flows (${flow}): delete the flows first`,
      );
    }
  },
};
