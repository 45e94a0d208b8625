import { z } from 'zod';
import { randomHex } from '../crypto.js';
import { FlowProblem, invalid, notFound } from '../errors.js';
import { bodyOf, callOf, pageParam, parse, type RouteTable, scopeOf } from '../http/route.js';
import type { Services } from '../services.js';
import { findSchema } from './schema-lookup.js';

const BASE = '/data/foundation/catalog/dataSets';

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
    summary: 'List datasets: start (offset) and limit (default 20, max 100), keyed by id',
    tag: 'Catalog',
    auth: 'platform',
    query: z.object({ start: z.string().optional(), limit: z.string().optional() }),
    responses: { 200: { description: '{ "<id>": dataset, … }' } },
    handler: async (req) => {
      const call = callOf(req);
      const q = req.query as { start?: string; limit?: string };
      const limit = pageParam(q.limit, 'limit', 20, 100);
      const start = pageParam(q.start, 'start', 0, 1_000_000_000);
      const rows = await services.store.db.query<{ body: string }>(
        `select coalesce(body, doc::text) as body from resources where kind = 'dataSets' and org_id = $1 and sandbox = $2
         order by created_at, id limit $3 offset $4`,
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
    summary: 'List batches (?dataSet=id): keyed by batch id',
    tag: 'Catalog',
    auth: 'platform',
    query: z.object({ dataSet: z.string().optional() }),
    responses: { 200: { description: '{ "<batchId>": batch, … }' } },
    handler: async (req) => {
      const call = callOf(req);
      const dataSet = (req.query as { dataSet?: string }).dataSet;
      const match = dataSet ? { relatedObjects: [{ type: 'dataSet', id: dataSet }] } : {};
      const docs = await services.store.findContaining('batches', scopeOf(call), match, 100);
      if (dataSet && !(await services.store.get('dataSets', scopeOf(call), dataSet))) {
        throw new FlowProblem('1460-400', `dataSet ${dataSet} is not a dataset in this sandbox`, {
          field: 'dataSet',
        });
      }
      return Object.fromEntries(docs.map(({ id, ...rest }) => [id, rest]));
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
