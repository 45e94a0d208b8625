import { randomUUID } from 'node:crypto';
import type { JsonSchema } from '@inflow/core';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { newEtag } from '../crypto.js';
import { FlowProblem, notFound } from '../errors.js';
import { bodyOf, type CallContext, callOf, parse, type RouteTable, scopeOf } from '../http/route.js';
import { applyPatch, type PatchOp, parsePatch, pointerSegments } from '../json-patch.js';
import { mapSecrets, mask, schemaAt } from '../secret-fields.js';
import type { Services } from '../services.js';
import { listResources } from '../store/list-query.js';
import type { Doc, Scope } from '../store/resources.js';

/** Fields the service owns; a create may not send them and a PATCH may not change them. */
export const SERVER_FIELDS = [
  'id',
  'createdAt',
  'updatedAt',
  'createdBy',
  'updatedBy',
  'createdClient',
  'updatedClient',
  'sandboxId',
  'sandboxName',
  'imsOrgId',
  'version',
  'etag',
  'state',
  'lastOperation',
  'lastRunDetails',
  'inheritedAttributes',
  'providerRefId',
  'runs',
] as const;

/**
 * Server fields the run engine writes without changing the etag, so that a client's If-Match
 * still holds after a run. A client write (PATCH, a flow's action) never stores them from the
 * copy it read: its replace takes them from the row as it is at write time.
 */
export const RUN_FIELDS = ['lastRunDetails'] as const;

export interface BuildContext {
  services: Services;
  call: CallContext;
  scope: Scope;
  /** The stored document (secrets decrypted) when this build validates a PATCH. */
  existing?: Doc;
}

/** One Flow Service collection: how to validate, build, protect and list its documents. */
export interface ResourceKind<TCreate extends z.ZodObject> {
  kind: string;
  /** The name in not-found messages: `connections`, `flows`, … */
  label: string;
  path: string;
  tag: string;
  create: TCreate;
  /** Fields that filters may name (secret-bearing objects such as `auth` are left out). */
  listFields: readonly string[];
  /**
   * Validates what a client sent (a create body, or the client-owned fields of a patched document)
   * and returns the client-owned part of the document, plaintext secrets included.
   */
  build(input: z.output<TCreate>, ctx: BuildContext): Promise<Record<string, unknown>>;
  /** Server-owned extras of a new document (`state`, `inheritedAttributes`, …), after `build`. */
  extras?(built: Record<string, unknown>, ctx: BuildContext): Promise<Record<string, unknown>>;
  /** The JSON Schema that marks this document's secrets (`format: "password"`), if any. */
  secretSchema?(doc: Record<string, unknown>, services: Services): JsonSchema | undefined;
  /** Refuses a PATCH of client-owned fields that may never change, e.g. `connectionSpec`. */
  frozen?: readonly { field: string; code: string; message: string }[];
  beforeDelete?(doc: Doc, ctx: BuildContext): Promise<void>;
}

/** What lists may be ordered by: scalar fields only. */
const SORTABLE = ['id', 'name', 'description', 'state', 'createdAt', 'updatedAt'];

/** The connection spec of a connection-like resource never changes (1414). */
export function frozenConnectionSpec(what: string): ResourceKind<z.ZodObject>['frozen'] {
  return [
    {
      field: 'connectionSpec',
      code: '1414-400',
      message: `The connection spec of a ${what} cannot be updated`,
    },
  ];
}

/** Refuses to delete a source or target connection that a flow lists (1447). */
export function refuseIfInFlows(
  field: 'sourceConnectionIds' | 'targetConnectionIds',
): ResourceKind<z.ZodObject>['beforeDelete'] {
  return async (doc, { services, scope }) => {
    const [flow] = await services.store.findContaining('flows', scope, { [field]: [doc.id] }, 1);
    if (flow) {
      throw new FlowProblem(
        '1447-400',
        `Found active flows containing id ${doc.id} (${flow.id}): delete the flows first`,
      );
    }
  };
}

/** Strips surrounding quotes and a weak prefix: `If-Match` is accepted quoted or not. */
export function bareEtag(value: string): string {
  return value
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1')
    .replace(/^\\"(.*)\\"$/, '$1');
}

export const quoted = (etag: string) => `"${etag}"`;

function auditFields(call: CallContext, now: number): Record<string, unknown> {
  return {
    createdAt: now,
    updatedAt: now,
    createdBy: call.clientId,
    updatedBy: call.clientId,
    createdClient: call.clientId,
    updatedClient: call.clientId,
    sandboxId: call.sandbox.id,
    sandboxName: call.sandbox.name,
    imsOrgId: call.orgId,
  };
}

function encrypt<T>(kind: ResourceKind<z.ZodObject>, services: Services, doc: T): T {
  return mapSecrets(kind.secretSchema?.(doc as Record<string, unknown>, services), doc, (s) =>
    services.box.encrypt(s),
  ) as T;
}

export function decrypt<T>(kind: ResourceKind<z.ZodObject>, services: Services, doc: T): T {
  return mapSecrets(kind.secretSchema?.(doc as Record<string, unknown>, services), doc, (s) =>
    services.box.decrypt(s),
  ) as T;
}

/** A stored document as the API serves it: secrets masked. */
export function serve(kind: ResourceKind<z.ZodObject>, services: Services, doc: Doc): Doc {
  return mask(kind.secretSchema?.(doc, services), doc) as Doc;
}

/** The client-owned fields of a document: what a PATCH re-validates like a create. */
function clientFields(doc: Record<string, unknown>, schema: z.ZodObject): Record<string, unknown> {
  const shape = Object.keys(schema.shape);
  const unknown = Object.keys(doc).filter(
    (k) => !shape.includes(k) && !(SERVER_FIELDS as readonly string[]).includes(k),
  );
  if (unknown.length > 0) {
    throw new FlowProblem(
      '1460-400',
      `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: remove it from the patch`,
      {
        field: unknown[0],
      },
    );
  }
  return Object.fromEntries(Object.entries(doc).filter(([k]) => shape.includes(k)));
}

/** Reads a stored resource of the caller's org and sandbox, or throws the 404. */
export async function load(
  kind: ResourceKind<z.ZodObject>,
  services: Services,
  call: CallContext,
  id: string,
) {
  const stored = await services.store.get(kind.kind, scopeOf(call), id);
  if (!stored) throw notFound(kind.label, id);
  return stored;
}

const idParam = (req: FastifyRequest) => (req.params as { id: string }).id;

const idEtag = z.object({ id: z.string(), etag: z.string() });

/** Registers create, get, list, PATCH and DELETE of one collection. */
export function registerResource<T extends z.ZodObject>(
  table: RouteTable,
  services: Services,
  kind: ResourceKind<T>,
): void {
  const base = `/data/foundation/flowservice${kind.path}`;
  const anyKind = kind as unknown as ResourceKind<z.ZodObject>;

  table.add({
    method: 'POST',
    url: base,
    operationId: `create${kind.tag}`,
    summary: `Create a ${kind.label} resource`,
    tag: kind.tag,
    auth: 'platform',
    body: kind.create,
    responses: { 201: { description: 'Created', schema: idEtag }, 400: { description: 'Invalid request' } },
    handler: async (req, reply) => {
      const call = callOf(req);
      const raw = bodyOf(req);
      if (typeof raw === 'object' && raw !== null && 'state' in raw) {
        throw new FlowProblem(
          '1410-400',
          '`State` is not allowed in the create request: use the action endpoint',
        );
      }
      const input = parse(kind.create, raw);
      const ctx: BuildContext = { services, call, scope: scopeOf(call) };
      const built = await kind.build(input, ctx);
      const now = services.now();
      const id = randomUUID();
      const etag = newEtag(now);
      const extras = kind.extras ? await kind.extras({ ...built, id }, ctx) : {};
      const doc: Doc = {
        id,
        ...auditFields(call, now),
        ...built,
        ...extras,
        version: quoted(etag),
        etag: quoted(etag),
      };
      await services.store.insert(kind.kind, ctx.scope, encrypt(anyKind, services, doc), etag, now);
      reply.header('location', `${base}/${id}`);
      return reply.code(201).send({ id, etag: quoted(etag) });
    },
  });

  table.add({
    method: 'GET',
    url: `${base}/:id`,
    operationId: `get${kind.tag}`,
    summary: `Get a ${kind.label} resource by id (wrapped in items)`,
    tag: kind.tag,
    auth: 'platform',
    responses: {
      200: { description: 'The resource, as {items: [resource]}' },
      404: { description: 'Not found' },
    },
    handler: async (req) => {
      const stored = await load(anyKind, services, callOf(req), idParam(req));
      return { items: [serve(anyKind, services, stored.doc)] };
    },
  });

  table.add({
    method: 'GET',
    url: base,
    operationId: `list${kind.tag}`,
    summary: `List ${kind.label} resources (property filters, orderby, limit, continuationToken, count)`,
    tag: kind.tag,
    auth: 'platform',
    query: z.object({
      property: z.union([z.string(), z.array(z.string())]).optional(),
      orderby: z.string().optional(),
      limit: z.string().optional(),
      continuationToken: z.string().optional(),
      count: z.string().optional(),
    }),
    responses: { 200: { description: '{items, _links} or {count}' }, 400: { description: 'Invalid filter' } },
    handler: async (req) => {
      const call = callOf(req);
      const result = await listResources(
        services.store.db,
        { kind: kind.kind, basePath: kind.path, fields: kind.listFields, sortable: SORTABLE },
        scopeOf(call),
        req.query as Record<string, string | string[] | undefined>,
      );
      if ('count' in result) return result;
      return { ...result, items: result.items.map((d) => serve(anyKind, services, d as Doc)) };
    },
  });

  table.add({
    method: 'PATCH',
    url: `${base}/:id`,
    operationId: `patch${kind.tag}`,
    summary: `Update a ${kind.label} resource with JSON Patch (If-Match required)`,
    tag: kind.tag,
    auth: 'platform',
    body: z.array(
      z.object({ op: z.enum(['add', 'replace', 'remove']), path: z.string(), value: z.unknown().optional() }),
    ),
    responses: {
      200: { description: 'Updated', schema: idEtag },
      400: { description: 'Invalid patch, or If-Match missing (1403)' },
      412: { description: 'Stale etag (1404)' },
    },
    handler: async (req) => {
      const call = callOf(req);
      const ifMatch = req.headers['if-match'];
      if (typeof ifMatch !== 'string' || ifMatch.trim() === '') {
        throw new FlowProblem(
          '1403-400',
          "The header 'If-Match' is missing in the request: GET the resource and send its etag",
        );
      }
      const ops = parsePatch(bodyOf(req));
      const stored = await load(anyKind, services, call, idParam(req));
      const expected = bareEtag(ifMatch);
      if (expected !== stored.etag) {
        throw staleEtag(expected, stored.etag);
      }
      for (const op of ops) {
        const top = op.path.split('/')[1] ?? '';
        if ((SERVER_FIELDS as readonly string[]).includes(top)) {
          throw new FlowProblem(
            '1460-400',
            `${top} cannot be updated${top === 'state' ? ': use POST …/action?op=enable|disable' : ''}`,
            {
              field: top,
            },
          );
        }
      }
      const current = decrypt(anyKind, services, stored.doc);
      const patched = applyPatch(current, ops);
      for (const rule of kind.frozen ?? []) {
        if (JSON.stringify(patched[rule.field]) !== JSON.stringify(current[rule.field])) {
          throw new FlowProblem(rule.code, rule.message, { field: rule.field });
        }
      }
      const ctx: BuildContext = { services, call, scope: scopeOf(call), existing: current };
      const input = parse(kind.create, clientFields(patched, kind.create));
      const built = await kind.build(input, ctx);
      const now = services.now();
      const etag = newEtag(now);
      const secrets = kind.secretSchema?.(patched, services);
      const doc: Doc = {
        ...Object.fromEntries(
          Object.entries(current).filter(([k]) => (SERVER_FIELDS as readonly string[]).includes(k)),
        ),
        ...built,
        id: stored.doc.id,
        updatedAt: now,
        updatedBy: call.clientId,
        updatedClient: call.clientId,
        lastOperation: {
          started: now,
          updated: now,
          operation: 'update',
          ops: ops.map((op) => redactOp(op, secrets)),
        },
        version: quoted(etag),
        etag: quoted(etag),
      };
      const result = await services.store.replace(
        kind.kind,
        ctx.scope,
        encrypt(anyKind, services, doc),
        stored.etag,
        etag,
        now,
        RUN_FIELDS,
      );
      if (result === 'missing') throw notFound(kind.label, stored.doc.id);
      if (result === 'stale') {
        const latest = await services.store.get(kind.kind, ctx.scope, stored.doc.id);
        throw staleEtag(expected, latest?.etag ?? '');
      }
      return { id: doc.id, etag: quoted(etag) };
    },
  });

  table.add({
    method: 'DELETE',
    url: `${base}/:id`,
    operationId: `delete${kind.tag}`,
    summary: `Delete a ${kind.label} resource`,
    tag: kind.tag,
    auth: 'platform',
    responses: { 204: { description: 'Deleted' }, 404: { description: 'Not found' } },
    handler: async (req, reply) => {
      const call = callOf(req);
      const stored = await load(anyKind, services, call, idParam(req));
      await kind.beforeDelete?.(stored.doc, { services, call, scope: scopeOf(call) });
      await services.store.delete(kind.kind, scopeOf(call), stored.doc.id);
      return reply.code(204).send();
    },
  });
}

function staleEtag(given: string, current: string): FlowProblem {
  return new FlowProblem(
    '1404-412',
    `The supplied version '"${given}"' does not match the current version on entity '"${current}"': GET the resource and retry with its etag`,
  );
}

/**
 * A PATCH operation as echoed in `lastOperation.ops`: its value masked by the secret schema at
 * the op's own path (not by what the patched document ends up holding, which a later op of the
 * same patch may have removed).
 */
function redactOp(op: PatchOp, secrets: JsonSchema | undefined): PatchOp {
  if (!('value' in op) || !secrets) return op;
  const node = schemaAt(secrets, pointerSegments(op.path));
  return node ? { ...op, value: mask(node, op.value) } : op;
}
