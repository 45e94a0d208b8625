import {
  compileMappingSet,
  InflowValidationError,
  MappingExpressionError,
  normalizeMappingSet,
} from '@inflow/core';
import { z } from 'zod';
import { randomHex } from '../crypto.js';
import { FlowProblem, invalid, notFound } from '../errors.js';
import { bodyOf, callOf, pageParam, parse, type RouteTable, scopeOf } from '../http/route.js';
import type { Services } from '../services.js';
import { findSchema } from './schema-lookup.js';

const BASE = '/data/foundation/conversion/mappingSets';

/** The most records one preview maps: it answers in one response. */
const PREVIEW_MAX_RECORDS = 1000;

const previewBody = z.object({
  data: z
    .array(z.record(z.string(), z.unknown(), { error: 'must be a JSON object' }), {
      error: 'must be an array of JSON objects',
    })
    .max(PREVIEW_MAX_RECORDS, `must have at most ${PREVIEW_MAX_RECORDS} records`),
  mappingSet: z.record(z.string(), z.unknown(), { error: 'must be a mapping set object' }),
});

const previewResult = z.array(
  z.object({
    data: z.record(z.string(), z.unknown()),
    errors: z
      .array(z.object({ path: z.string(), reason: z.string(), mapping: z.number().optional() }))
      .nullable(),
  }),
);

const created = z.object({
  id: z.string(),
  version: z.number(),
  createdDate: z.number(),
  modifiedDate: z.number(),
  createdBy: z.string(),
  modifiedBy: z.string(),
});

/** Data Prep mapping sets (reference §7): create (200), get, list with start/limit, preview. */
export function registerMappingSets(table: RouteTable, services: Services): void {
  table.add({
    method: 'POST',
    url: `${BASE}/preview`,
    operationId: 'previewMappingSet',
    summary: 'Map sample records with a mapping set (either dialect) without storing anything',
    tag: 'MappingSets',
    auth: 'platform',
    body: previewBody,
    responses: {
      200: { description: 'One {data, errors} per record, in order', schema: previewResult },
      400: { description: 'Invalid body or mapping set' },
    },
    handler: async (req) => {
      callOf(req);
      const body = parse(previewBody, bodyOf(req));
      let map: ReturnType<typeof compileMappingSet>;
      try {
        // compileMappingSet sends the body through normalizeMappingSet, exactly as create does
        // (so preview refuses what create refuses), and compiles only expressions it parsed from
        // the text: an `expression` tree in the body is ignored (it once let a body add code).
        map = compileMappingSet(body.mappingSet, { name: 'preview' });
      } catch (error) {
        if (MappingExpressionError.isInstance(error) && error.mapping !== undefined) {
          throw new FlowProblem('1460-400', `mappingSet.${error.message}`, {
            field: `mappingSet.mappings.${error.mapping}`,
            line: error.line,
            column: error.column,
          });
        }
        if (InflowValidationError.isInstance(error)) {
          const first = error.issues[0];
          throw new FlowProblem(
            '1460-400',
            first ? `mappingSet.${first.path}: ${first.message}` : error.message,
            { field: first ? `mappingSet.${first.path}` : 'mappingSet', issues: error.issues },
          );
        }
        throw error;
      }
      return body.data.map((record) => {
        const result = map(record);
        return result.ok
          ? { data: result.value, errors: null }
          : { data: result.value ?? {}, errors: result.errors };
      });
    },
  });
  table.add({
    method: 'POST',
    url: BASE,
    operationId: 'createMappingSet',
    summary: 'Create a mapping set (both request dialects)',
    tag: 'MappingSets',
    auth: 'platform',
    responses: {
      200: { description: 'The created mapping set', schema: created },
      400: { description: 'Invalid mapping set' },
    },
    handler: async (req) => {
      const call = callOf(req);
      const scope = scopeOf(call);
      let normalized: ReturnType<typeof normalizeMappingSet>;
      try {
        normalized = normalizeMappingSet(bodyOf(req));
      } catch (error) {
        if (InflowValidationError.isInstance(error)) {
          const first = error.issues[0];
          throw new FlowProblem('1460-400', first ? `${first.path}: ${first.message}` : error.message, {
            field: first?.path,
            issues: error.issues,
          });
        }
        throw error;
      }
      const schemaId = normalized.outputSchema.schemaRef.id;
      if (!(await findSchema(services, scope, schemaId))) {
        throw invalid(
          'outputSchema.schemaRef.id',
          `${schemaId} is not a schema in this sandbox (create it with POST /data/foundation/schemaregistry/tenant/schemas)`,
        );
      }
      const now = services.now();
      const id = randomHex(16);
      const doc = {
        id,
        version: 0,
        createdDate: now,
        modifiedDate: now,
        createdBy: call.clientId,
        modifiedBy: call.clientId,
        status: 'PUBLISHED',
        supportVersion: '1.1',
        outputSchema: normalized.outputSchema,
        xdmSchema: schemaId,
        xdmVersion: '1.0',
        mappings: normalized.mappings.map(({ expression: _ast, ...m }, i) => ({
          id: randomHex(16),
          ...m,
          version: 0,
          createdDate: now,
          modifiedDate: now,
          position: i,
        })),
      };
      await services.store.insert('mappingSets', scope, doc, '0', now);
      const { version, createdDate, modifiedDate, createdBy, modifiedBy } = doc;
      return { id, version, createdDate, modifiedDate, createdBy, modifiedBy };
    },
  });
  table.add({
    method: 'GET',
    url: `${BASE}/:id`,
    operationId: 'getMappingSet',
    summary: 'Get a mapping set (optionally ?version=N)',
    tag: 'MappingSets',
    auth: 'platform',
    responses: { 200: { description: 'The mapping set' }, 404: { description: 'Not found' } },
    handler: async (req) => {
      const call = callOf(req);
      const id = (req.params as { id: string }).id;
      const stored = await services.store.get('mappingSets', scopeOf(call), id);
      if (!stored) throw notFound('mappingSets', id);
      const version = (req.query as { version?: string }).version;
      if (version !== undefined && Number(version) !== stored.doc.version) {
        throw new FlowProblem(
          '1412-400',
          `Invalid Mapping Version in request: mapping set ${id} has version ${String(stored.doc.version)}`,
        );
      }
      return stored.doc;
    },
  });
  table.add({
    method: 'GET',
    url: BASE,
    operationId: 'listMappingSets',
    summary: 'List mapping sets: start (offset, default 0) and limit (default 10, max 100)',
    tag: 'MappingSets',
    auth: 'platform',
    query: z.object({ start: z.string().optional(), limit: z.string().optional() }),
    responses: { 200: { description: '{data, _page}' } },
    handler: async (req) => {
      const call = callOf(req);
      const q = req.query as Record<string, unknown>;
      const start = pageParam(q.start, 'start', 0, 1_000_000_000);
      const limit = pageParam(q.limit, 'limit', 10, 100);
      const scope = [call.orgId, call.sandbox.name];
      const rows = await services.store.db.query<{ body: string }>(
        `select coalesce(body, doc::text) as body from resources where kind = 'mappingSets' and org_id = $1 and sandbox = $2
         order by created_at desc, id desc limit $3 offset $4`,
        [...scope, limit, start],
      );
      const total = await services.store.db.query<{ n: number }>(
        "select count(*)::int as n from resources where kind = 'mappingSets' and org_id = $1 and sandbox = $2",
        scope,
      );
      return {
        data: rows.rows.map((r) => JSON.parse(r.body)),
        _page: { count: total.rows[0]?.n ?? 0, limit },
      };
    },
  });
}
