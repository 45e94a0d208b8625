import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomHex } from '../crypto.js';
import { bodyOf, type CallContext, callOf, type RouteTable, scopeOf } from '../http/route.js';
import type { Services } from '../services.js';
import type { Doc } from '../store/resources.js';
import {
  createTenantSchema,
  resolveSchemaFull,
  XDM_ERRORS,
  XdmProblem,
  type XdmSchemaRecord,
} from '../xdm/schema-registry.js';
import { STANDARD_CLASSES, standardClass } from '../xdm/xdm-classes.js';
import { findSchema } from './schema-lookup.js';

/** The Schema Registry's base path: requests under it answer errors in the registry's shape. */
export const SCHEMA_REGISTRY_BASE = '/data/foundation/schemaregistry';
const BASE = SCHEMA_REGISTRY_BASE;

/** Which view an `Accept` header asks for (reference §13.1): raw `xed`, or `xed-full` (resolved). */
function view(req: FastifyRequest): 'raw' | 'full' {
  const accept = String(req.headers.accept ?? '');
  const m =
    /application\/vnd\.adobe\.xed(-full)?(?:-notext)?(?:-desc)?\+json\s*;\s*version\s*=\s*(\d+)/i.exec(
      accept,
    );
  if (!m) {
    throw new XdmProblem(
      { code: 'XDM-1007-406', title: 'Accept header invalid' },
      'Accept header parameter is required: use application/vnd.adobe.xed-full+json; version=1 (resolved) or application/vnd.adobe.xed+json; version=1 (raw)',
    );
  }
  if (m[2] !== '1')
    throw new XdmProblem(
      { code: 'XDM-1012-404', title: 'Resource Not Found' },
      `version ${m[2]} of the requested resource is not found`,
    );
  return m[1] ? 'full' : 'raw';
}

const strip = ({ id: _id, ...rest }: Doc) => rest as XdmSchemaRecord;

async function tenantSchemas(services: Services, call: CallContext): Promise<XdmSchemaRecord[]> {
  const docs = await services.store.findContaining('schemas', scopeOf(call), {}, 10_000);
  return docs.map(strip);
}

/** Answers a Schema Registry problem in the registry's own shape (reference §13.1). */
export function sendRegistryProblem(reply: FastifyReply, requestId: string, problem: XdmProblem) {
  return reply.code(problem.status).type('application/problem+json').send(problem.body(requestId));
}

/**
 * Schema Registry errors carry their own shape; everything else falls through to the app's
 * handler, which words it in the registry's shape too (a path under `SCHEMA_REGISTRY_BASE`).
 */
async function registry<T>(
  req: FastifyRequest,
  reply: FastifyReply,
  fn: () => Promise<T>,
): Promise<T | FastifyReply> {
  try {
    return await fn();
  } catch (error) {
    if (XdmProblem.isInstance(error)) return sendRegistryProblem(reply, String(req.id), error);
    throw error;
  }
}

/** Enough of the Schema Registry for the tutorials: tenant schemas on the standard classes, and stats. */
export function registerSchemaRegistry(table: RouteTable, services: Services): void {
  table.add({
    method: 'POST',
    url: `${BASE}/tenant/schemas`,
    operationId: 'createSchema',
    summary: 'Create a tenant schema: one standard class in allOf, tenant fields under _{tenantId}',
    tag: 'SchemaRegistry',
    auth: 'platform',
    responses: {
      201: { description: 'The schema (raw xed view)' },
      400: { description: 'Invalid schema (XDM-…-400)' },
    },
    handler: (req, reply) =>
      registry(req, reply, async () => {
        const call = callOf(req);
        const tenantId = (await services.tenancy.tenantOf(call.orgId)) as string;
        const body = bodyOf(req);
        const title = (body as { title?: unknown }).title;
        // Tenant field groups and data types are not served yet, so refs resolve to the built-in
        // classes only; the title check is one indexed lookup.
        const sameTitle =
          typeof title === 'string'
            ? await services.store.findContaining('schemas', scopeOf(call), { title }, 1)
            : [];
        const record = createTenantSchema(body, {
          tenantId,
          orgId: call.orgId,
          sandboxId: call.sandbox.id,
          sandboxType: call.sandbox.type,
          clientId: call.clientId,
          now: services.now(),
          newHash: () => randomHex(24),
          resolveRef: () => undefined,
          titleTaken: (t) => t === title && sameTitle.length > 0,
        });
        await services.store.insert(
          'schemas',
          scopeOf(call),
          { ...record, id: record['meta:altId'] },
          '0',
          services.now(),
        );
        return reply.code(201).send(record);
      }),
  });
  table.add({
    method: 'GET',
    url: `${BASE}/tenant/schemas/:id`,
    operationId: 'getSchema',
    summary: 'Get a tenant schema by $id (URL-encoded) or meta:altId; Accept picks the view',
    tag: 'SchemaRegistry',
    auth: 'platform',
    responses: {
      200: { description: 'The schema' },
      404: { description: 'XDM-1010-404' },
      406: { description: 'Accept missing or invalid' },
    },
    handler: (req, reply) =>
      registry(req, reply, async () => {
        const call = callOf(req);
        const wanted = view(req);
        const id = (req.params as { id: string }).id;
        const found = await findSchema(services, scopeOf(call), id);
        const record = found ? strip(found) : undefined;
        if (!record)
          throw new XdmProblem(
            XDM_ERRORS.notFound,
            `The requested resource ${id} is not found in this sandbox`,
          );
        const body = wanted === 'full' ? resolveSchemaFull(record, () => undefined) : record;
        return reply
          .type(`application/vnd.adobe.xed${wanted === 'full' ? '-full' : ''}+json; version=1`)
          .send(body);
      }),
  });
  table.add({
    method: 'GET',
    url: `${BASE}/tenant/schemas`,
    operationId: 'listSchemas',
    summary: 'List tenant schemas (summaries)',
    tag: 'SchemaRegistry',
    auth: 'platform',
    responses: { 200: { description: '{results, _page}' } },
    handler: async (req) => {
      const schemas = await tenantSchemas(services, callOf(req));
      return {
        results: schemas.map((s) => ({
          $id: s.$id,
          'meta:altId': s['meta:altId'],
          version: s.version,
          title: s.title,
        })),
        _page: { orderby: 'title', next: null, count: schemas.length },
        _links: {},
      };
    },
  });
  table.add({
    method: 'GET',
    url: `${BASE}/global/classes/:id`,
    operationId: 'getClass',
    summary: 'Get a standard XDM class (profile, experienceevent)',
    tag: 'SchemaRegistry',
    auth: 'platform',
    responses: { 200: { description: 'The class' }, 404: { description: 'XDM-1010-404' } },
    handler: (req, reply) =>
      registry(req, reply, async () => {
        view(req);
        const id = (req.params as { id: string }).id;
        const found = standardClass(id);
        if (!found)
          throw new XdmProblem(
            XDM_ERRORS.notFound,
            `The requested class ${id} is not found: use ${[...STANDARD_CLASSES.keys()].join(' or ')}`,
          );
        return found;
      }),
  });
  table.add({
    method: 'GET',
    url: `${BASE}/stats`,
    operationId: 'getStats',
    summary: "The org's tenant id and resource counts",
    tag: 'SchemaRegistry',
    auth: 'platform',
    responses: { 200: { description: '{imsOrg, tenantId, counts}' } },
    handler: async (req) => {
      const call = callOf(req);
      const schemas = await tenantSchemas(services, call);
      return {
        imsOrg: call.orgId,
        tenantId: await services.tenancy.tenantOf(call.orgId),
        counts: { schemas: schemas.length, mixins: 0, datatypes: 0, classes: 0, unions: 0 },
        recentlyCreatedResources: [],
        recentlyUpdatedResources: [],
        classUsage: {},
      };
    },
  });
}
