import { z } from 'zod';
import { randomHex } from '../crypto.js';
import { FlowProblem, invalid, notFound } from '../errors.js';
import { bodyOf, callOf, pageParam, parse, type RouteTable, scopeOf } from '../http/route.js';
import type { Services } from '../services.js';
import { findSchema } from './schema-lookup.js';

const BASE = '/data/foundation/catalog/dataSets';

/** The Catalog's listing query (reference §13.2): `start` offset, `limit` (default 20, max 100), `orderBy`. */
const catalogPage = z.object({
  start: z.string().optional(),
  limit: z.string().optional(),
  orderBy: z.string().optional(),
});

/** What `orderBy` may name, per collection: the SQL each sorts by (top-level numbers and strings). */
const ORDERABLE: Record<string, Record<string, string>> = {
  dataSets: { created: 'created_at', updated: "(doc->>'updated')::numeric", name: "doc->>'name'", id: 'id' },
  batches: {
    created: 'created_at',
    updated: "(doc->>'updated')::numeric",
    started: "(doc->>'started')::numeric",
    completed: "(doc->>'completed')::numeric",
    recordCount: "(doc->>'recordCount')::numeric",
    failedRecordCount: "(doc->>'failedRecordCount')::numeric",
    size: "(doc->>'size')::numeric",
    status: "doc->>'status'",
    id: 'id',
  },
};

/**
 * `ORDER BY` for a Catalog listing: `orderBy=[asc:|desc:]field` (ascending by default), ties
 * broken by creation then id in the same direction, so paging with `start` never repeats or skips.
 */
export function catalogOrder(kind: 'dataSets' | 'batches', orderBy: string | undefined): string {
  const fields = ORDERABLE[kind] ?? {};
  const match = /^(?:(asc|desc):)?([A-Za-z]+)$/.exec(orderBy ?? 'asc:created');
  const column = match?.[2] ? fields[match[2]] : undefined;
  if (!match || !column) {
    throw invalid(
      'orderBy',
      `must be [asc:|desc:]field with field one of ${Object.keys(fields).join(', ')} (e.g. desc:created)`,
    );
  }
  const dir = match[1] === 'desc' ? 'desc' : 'asc';
  return `${column} ${dir} nulls last, created_at ${dir}, id ${dir}`;
}

/** `start` and `limit` of a Catalog listing, or a 400 naming the bad one. */
function pageOf(q: { start?: string; limit?: string }): { start: number; limit: number } {
  return {
    limit: pageParam(q.limit, 'limit', 20, 100),
    start: pageParam(q.start, 'start', 0, 1_000_000_000),
  };
}

const dataSetCreate = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  schemaRef: z.strictObject({ id: z.string().min(1), contentType: z.string().min(1) }),
  fileDescription: z.record(z.string(), z.unknown()).optional(),
  tags: z.record(z.string(), z.array(z.string())).optional(),
  enableErrorDiagnostics: z.boolean().optional(),
});

/** Catalog datasets (reference §13.2): create → 201 ["@/dataSets/{id}"], get and list keyed by id. */
export function registerCatalog(table: RouteTable, services: Services): void {
  table.add({
    method: 'POST',
    url: BASE,
    operationId: 'createDataSet',
    summary: 'Create a dataset for a tenant schema',
    tag: 'Catalog',
    auth: 'platform',
    body: dataSetCreate,
    query: z.object({ requestDataSource: z.string().optional() }),
    responses: {
      201: { description: '["@/dataSets/{id}"]', schema: z.array(z.string()) },
      400: { description: 'Invalid dataset' },
    },
    handler: async (req, reply) => {
      const call = callOf(req);
      const scope = scopeOf(call);
      const input = parse(dataSetCreate, bodyOf(req));
      const schema = await findSchema(services, scope, input.schemaRef.id);
      if (!schema) {
        throw invalid(
          'schemaRef.id',
          `${input.schemaRef.id} is not a schema in this sandbox (create it with POST /data/foundation/schemaregistry/tenant/schemas)`,
        );
      }
      const now = services.now();
      const id = randomHex(12);
      const doc = {
        id,
        name: input.name,
        ...(input.description === undefined ? {} : { description: input.description }),
        state: 'DRAFT',
        imsOrg: call.orgId,
        sandboxId: call.sandbox.id,
        version: '1.0.0',
        created: now,
        updated: now,
        createdClient: call.clientId,
        createdUser: call.clientId,
        updatedUser: call.clientId,
        enableErrorDiagnostics: input.enableErrorDiagnostics ?? false,
        tags: input.tags ?? {},
        schemaRef: { id: schema.$id as string, contentType: input.schemaRef.contentType },
        fileDescription: {
          persisted: true,
          containerFormat: 'parquet',
          format: 'parquet',
          ...input.fileDescription,
        },
        files: `@/dataSetFiles?dataSetId=${id}`,
      };
      await services.store.insert('dataSets', scope, doc, '0', now);
      reply.header('location', `${BASE}/${id}`);
      return reply.code(201).send([`@/dataSets/${id}`]);
    },
  });
  table.add({
    method: 'GET',
    url: `${BASE}/:id`,
    operationId: 'getDataSet',
    summary: 'Get a dataset: an object keyed by its id',
    tag: 'Catalog',
    auth: 'platform',
    responses: { 200: { description: '{ "<id>": dataset }' }, 404: { description: 'Not found' } },
    handler: async (req) => {
      const call = callOf(req);
      const id = (req.params as { id: string }).id;
      const stored = await services.store.get('dataSets', scopeOf(call), id);
      if (!stored) throw notFound('dataSets', id);
      const { id: _id, ...rest } = stored.doc;
      return { [id]: rest };
    },
  });
  table.add({
    method: 'GET',
    url: BASE,
    operationId: 'listDataSets',
    summary:
      'List datasets: start (offset), limit (default 20, max 100) and orderBy ([asc:|desc:]created, …), keyed by id',
    tag: 'Catalog',
    auth: 'platform',
    query: catalogPage,
    responses: { 200: { description: '{ "<id>": dataset, … }' } },
    handler: async (req) => {
      const call = callOf(req);
      const q = req.query as z.infer<typeof catalogPage>;
      const { start, limit } = pageOf(q);
      const order = catalogOrder('dataSets', q.orderBy);
      const rows = await services.store.db.query<{ body: string }>(
        `select coalesce(body, doc::text) as body from resources where kind = 'dataSets' and org_id = $1 and sandbox = $2
         order by ${order} limit $3 offset $4`,
        [call.orgId, call.sandbox.name, limit, start],
      );
      const out: Record<string, unknown> = {};
      for (const row of rows.rows) {
        const { id, ...rest } = JSON.parse(row.body) as { id: string };
        out[id] = rest;
      }
      return out;
    },
  });
  table.add({
    method: 'GET',
    url: '/data/foundation/catalog/batches',
    operationId: 'listBatches',
    summary:
      'List batches (?dataSet=id): start (offset), limit (default 20, max 100) and orderBy (e.g. desc:created), keyed by batch id; fewer than limit means the last page',
    tag: 'Catalog',
    auth: 'platform',
    query: catalogPage.extend({ dataSet: z.string().optional() }),
    responses: {
      200: { description: '{ "<batchId>": batch, … }' },
      400: { description: 'Bad limit, start, orderBy or dataSet' },
    },
    handler: async (req) => {
      const call = callOf(req);
      const scope = scopeOf(call);
      const q = req.query as z.infer<typeof catalogPage> & { dataSet?: string };
      const { start, limit } = pageOf(q);
      const order = catalogOrder('batches', q.orderBy);
      const dataSet = q.dataSet;
      if (dataSet !== undefined && !(await services.store.get('dataSets', scope, dataSet))) {
        throw new FlowProblem('1460-400', `dataSet ${dataSet} is not a dataset in this sandbox`, {
          field: 'dataSet',
        });
      }
      const match = dataSet ? { relatedObjects: [{ type: 'dataSet', id: dataSet }] } : {};
      const rows = await services.store.db.query<{ body: string }>(
        `select coalesce(body, doc::text) as body from resources
         where kind = 'batches' and org_id = $1 and sandbox = $2 and doc @> $3::jsonb
         order by ${order} limit $4 offset $5`,
        [scope.orgId, scope.sandbox, JSON.stringify(match), limit, start],
      );
      // Object keys keep insertion order (batch ids are never integer-like), so the order holds in JSON.
      return Object.fromEntries(
        rows.rows.map((row) => {
          const { id, ...rest } = JSON.parse(row.body) as { id: string };
          return [id, rest];
        }),
      );
    },
  });
  table.add({
    method: 'GET',
    url: '/data/foundation/catalog/batches/:id',
    operationId: 'getBatch',
    summary: 'Get a batch: an object keyed by its id',
    tag: 'Catalog',
    auth: 'platform',
    responses: { 200: { description: '{ "<batchId>": batch }' }, 404: { description: 'Not found' } },
    handler: async (req) => {
      const call = callOf(req);
      const id = (req.params as { id: string }).id;
      const stored = await services.store.get('batches', scopeOf(call), id);
      if (!stored) throw notFound('batches', id);
      const { id: _id, ...rest } = stored.doc;
      return { [id]: rest };
    },
  });
}
