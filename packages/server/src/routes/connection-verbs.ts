import { type ExploreRequest, redact } from '@inflow/core';
import { z } from 'zod';
import { FlowProblem, invalid } from '../errors.js';
import { callOf, type RouteTable } from '../http/route.js';
import type { Services } from '../services.js';
import type { Doc } from '../store/resources.js';
import { connectionsKind, validateCredentials } from './connections.js';
import { decrypt, load, type ResourceKind } from './resource-routes.js';

const kind = connectionsKind as unknown as ResourceKind<z.ZodObject>;

/** The connection's connector and its credentials, decrypted for this call only. */
async function credentialsOf(services: Services, doc: Doc) {
  const plain = decrypt(kind, services, doc);
  const specId = (plain.connectionSpec as { id: string }).id;
  const auth = plain.auth as { specName: string; params: Record<string, unknown> };
  const connector = services.specs.connector(specId);
  if (!connector)
    throw new FlowProblem('1413-400', `no connector for spec ${specId} is installed on this server`);
  const params = Object.fromEntries(
    Object.entries(auth.params).filter(([k]) => k !== 'inletId' && k !== 'inletUrl'),
  );
  // The connector's own schema has just validated them: they are its credential type.
  return { connector, credentials: validateCredentials(services, specId, auth.specName, params) as never };
}

const OBJECT_TYPES = ['root', 'folder', 'file', 'table'] as const;

function previewCountOf(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1 || n > 10_000)
    throw invalid('previewCount', 'must be a whole number from 1 to 10000');
  return n;
}

/**
 * Runs a connector verb: a throw becomes a 400 in the service's shape, with every credential
 * value redacted from the message (the connector's own errors may quote them).
 */
async function guarded<T>(credentials: unknown, fn: () => Promise<T>, source: string): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof FlowProblem) throw error;
    const values = Object.values((credentials ?? {}) as Record<string, unknown>).filter(
      (v): v is string => typeof v === 'string',
    );
    const message = redact(error instanceof Error ? error.message : String(error), values);
    throw new FlowProblem('1100-400', `the ${source} source answered with an error: ${message}`);
  }
}

/** `GET /connections/{id}/test` and `/explore`: run the connector's verbs on the stored credentials. */
export function registerConnectionVerbs(table: RouteTable, services: Services): void {
  table.add({
    method: 'GET',
    url: '/data/foundation/flowservice/connections/:id/test',
    operationId: 'testConnection',
    summary: "Test a base connection's credentials against the source",
    tag: 'Connections',
    auth: 'platform',
    responses: { 200: { description: '{result: boolean, message, code}' } },
    handler: async (req) => {
      const stored = await load(kind, services, callOf(req), (req.params as { id: string }).id);
      const { connector, credentials } = await credentialsOf(services, stored.doc);
      if (!connector.test) {
        throw new FlowProblem(
          '1100-400',
          `Connection test is not supported by the ${connector.spec.name} connector installed here`,
        );
      }
      const test = connector.test;
      const outcome = await guarded(credentials, () => test(credentials), connector.spec.name);
      return {
        result: outcome.ok,
        message: outcome.message,
        ...(outcome.code ? { code: outcome.code } : {}),
      };
    },
  });
  table.add({
    method: 'GET',
    url: '/data/foundation/flowservice/connections/:id/explore',
    operationId: 'exploreConnection',
    summary: 'Browse a source: objectType=root|folder|file|table, object, preview=true, fileType',
    tag: 'Connections',
    auth: 'platform',
    query: z.object({
      objectType: z.string(),
      object: z.string().optional(),
      preview: z.string().optional(),
      fileType: z.string().optional(),
      columnDelimiter: z.string().optional(),
      compressionType: z.string().optional(),
      previewCount: z.string().optional(),
    }),
    responses: { 200: { description: 'A listing, or a structure with preview rows' } },
    handler: async (req) => {
      const q = req.query as Record<string, string | undefined>;
      const objectType = q.objectType?.toLowerCase();
      if (!objectType || !(OBJECT_TYPES as readonly string[]).includes(objectType)) {
        throw invalid('objectType', `must be one of ${OBJECT_TYPES.join(', ')}`);
      }
      if (objectType !== 'root' && !q.object)
        throw invalid('object', `is required for objectType=${objectType}`);
      if (q.object && (q.object.includes('\0') || /(^|\/)\.\.(\/|$)/.test(q.object))) {
        throw invalid('object', 'must not contain ".." segments or NUL');
      }
      const stored = await load(kind, services, callOf(req), (req.params as { id: string }).id);
      const { connector, credentials } = await credentialsOf(services, stored.doc);
      const request: ExploreRequest = {
        objectType: objectType as ExploreRequest['objectType'],
        ...(q.object ? { object: q.object } : {}),
        ...(q.preview === 'true' ? { preview: true } : {}),
        ...(q.fileType ? { fileType: q.fileType.toLowerCase() } : {}),
        ...(q.columnDelimiter ? { columnDelimiter: q.columnDelimiter } : {}),
        ...(q.compressionType ? { compressionType: q.compressionType.toLowerCase() } : {}),
        ...(q.previewCount ? { previewCount: previewCountOf(q.previewCount) } : {}),
      };
      const verb = request.preview ? connector.preview : connector.explore;
      if (!verb) {
        throw new FlowProblem(
          '1100-400',
          `Explore${request.preview ? ' with preview' : ''} is not supported by the ${connector.spec.name} connector installed here`,
        );
      }
      return guarded(credentials, () => verb(credentials, request), connector.spec.name);
    },
  });
}
