import { z } from 'zod';
import { randomHex } from '../crypto.js';
import { FlowProblem, invalid, notFound } from '../errors.js';
import { bodyOf, callOf, pageParam, parse, type RouteTable, scopeOf } from '../http/route.js';
import type { Services } from '../services.js';
import { isSafeText } from '../store/list-query.js';
import { type CatalogQuery, parseCatalogFilter, projectOne, runCatalogList } from './catalog-filters.js';
import { findSchema } from './schema-lookup.js';

const BASE = '/data/foundation/catalog/dataSets';

const oneOrMany = z.union([z.string(), z.array(z.string())]);

/** `?properties=` of a single-object GET. */
const catalogGet = z.object({
  properties: z
    .string()
    .optional()
    .describe('Top-level fields to return, comma separated (e.g. name,schemaRef); missing ones are left out'),
});

/**
 * The Catalog's listing query (reference §13.2, filters in catalog-filters.ts): paging, ordering,
 * projection and filters. Any other parameter is a simple filter on that top-level field.
 */
const catalogPage = z.object({
  start: z.string().optional().describe('Zero-based offset (default 0)'),
  limit: z.string().optional().describe('Objects per page, 1 to 100 (default 20); fewer means the last page'),
  orderBy: z.string().optional().describe('[asc:|desc:]field, e.g. desc:created (default asc:created)'),
  properties: catalogGet.shape.properties,
  property: oneOrMany
    .optional()
    .describe(
      'Repeatable, all must hold: name (exists), !name (absent), name~regex (PostgreSQL regex on strings), name==v, name!=v, name<v, name<=v, name>v, name>=v (numbers numerically, dotted versions part by part, other strings by code point)',
    ),
  tags: oneOrMany
    .optional()
    .describe(
      'tagName:value[,tagName2:value2] (all must hold); * in a value is a wildcard, tagName:* means the tag is set',
    ),
  createdAfter: z.string().optional().describe('Created at or after this time (epoch ms)'),
  createdBefore: z.string().optional().describe('Created at or before this time (epoch ms)'),
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
export function catalogOrder(kind: 'dataSets' | 'batches', orderBy: string | string[] | undefined): string {
  const fields = ORDERABLE[kind] ?? {};
  // Given twice (an array), it matches nothing and is refused like any bad value.
  const text = Array.isArray(orderBy) ? '' : (orderBy ?? 'asc:created');
  const match = /^(?:(asc|desc):)?([A-Za-z]+)$/.exec(text);
  const column = match?.[2] ? fields[match[2]] : undefined;
  if (!match || !column) {
    throw invalid(
      'orderBy',
      `must be [asc:|desc:]field with field one of ${Object.keys(fields).join(', ')} (e.g. desc:created)`,
    );
  }
  const dir = match[1] === 'desc' ? 'desc' : 'asc';
  // The columns are never null, and `nulls last` on them would keep the planner from reading
  // `resources_scope_created` backwards for desc:created: it would sort the whole scope for a
  // page of 20 (decision 0012, addendum "Catalog listings and their plans").
  if (column === 'created_at') return `created_at ${dir}, id ${dir}`;
  if (column === 'id') return `id ${dir}`;
  return `${column} ${dir} nulls last, created_at ${dir}, id ${dir}`;
}

/** `start` and `limit` of a Catalog listing, or a 400 naming the bad one. */
function pageOf(q: { start?: unknown; limit?: unknown }): { start: number; limit: number } {
  return {
    limit: pageParam(q.limit, 'limit', 20, 100),
    start: pageParam(q.start, 'start', 0, 1_000_000_000),
  };
}

/** How many datasets one `GET /lastBatches` may name (a Catalog page holds at most 100 objects). */
const LAST_BATCHES_MAX_IDS = 100;

/** A dataset id as `GET /lastBatches` takes it (Inflow's are 24 hex digits, the Catalog's style). */
const DATASET_ID = /^[A-Za-z0-9_-]{1,64}$/;

const LAST_BATCHES_PARAMS = ['dataSetId', 'properties'];

const lastBatchesQuery = z.object({
  dataSetId: z
    .string()
    .describe(
      `Dataset ids, comma separated (at most ${LAST_BATCHES_MAX_IDS}); ids that are not datasets in this sandbox, and datasets without a batch, are left out of the answer`,
    ),
  properties: catalogGet.shape.properties,
});

/**
 * The dataset ids of `GET /lastBatches?dataSetId=a,b` (repeated parameters add up), without
 * repeats, in the order given; or a 400 naming what is wrong. Only `dataSetId` and `properties`
 * are taken: the Catalog's filters and paging of this endpoint are not built, and ignoring one
 * would answer a different question than the one asked.
 */
function lastBatchesIds(query: CatalogQuery): string[] {
  for (const param of Object.keys(query)) {
    if (!isSafeText(param)) {
      throw invalid('query', 'holds a parameter name with a NUL character or a lone surrogate');
    }
    if (!LAST_BATCHES_PARAMS.includes(param)) {
      throw invalid(
        param.length > 64 ? `${param.slice(0, 61)}…` : param,
        'is not a parameter of GET /lastBatches in Inflow, which takes dataSetId=id[,id…] and properties=a,b',
      );
    }
  }
  const raw = query.dataSetId;
  const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  if (values.length === 0 || values.every((v) => v === '')) {
    throw invalid(
      'dataSetId',
      `is required: the datasets to answer for, as one id or a comma list of up to ${LAST_BATCHES_MAX_IDS} (dataSetId=id1,id2)`,
    );
  }
  const ids = new Set<string>();
  for (const value of values) {
    for (const id of value.split(',')) {
      if (!DATASET_ID.test(id)) {
        const shown =
          id === '' ? 'an empty id' : `the id ${JSON.stringify(id.length > 64 ? `${id.slice(0, 61)}…` : id)}`;
        throw invalid(
          'dataSetId',
          `holds ${shown}: each id is 1 to 64 letters, digits, - or _, separated by commas`,
        );
      }
      ids.add(id);
      if (ids.size > LAST_BATCHES_MAX_IDS) {
        throw invalid(
          'dataSetId',
          `names more than ${LAST_BATCHES_MAX_IDS} datasets: ask in several requests`,
        );
      }
    }
  }
  return [...ids];
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
    query: catalogGet,
    responses: {
      200: { description: '{ "<id>": dataset }' },
      400: { description: 'Bad properties' },
      404: { description: 'Not found' },
    },
    handler: async (req) => {
      const call = callOf(req);
      const id = (req.params as { id: string }).id;
      const stored = await services.store.get('dataSets', scopeOf(call), id);
      if (!stored) throw notFound('dataSets', id);
      return { [id]: projectOne(stored.doc, req.query as CatalogQuery) };
    },
  });
  table.add({
    method: 'GET',
    url: BASE,
    operationId: 'listDataSets',
    summary:
      'List datasets keyed by id: start (offset), limit (default 20, max 100), orderBy ([asc:|desc:]created, …), properties=a,b, property= expressions, tags=, createdAfter/createdBefore (ms), and field=a,b / field=!a,b on any other top-level field',
    tag: 'Catalog',
    auth: 'platform',
    query: catalogPage.extend({
      name: z
        .string()
        .optional()
        .describe('Simple filter: name=a,b (any of) or name=!a,b (none of); * is a wildcard'),
      state: z.string().optional().describe('Simple filter, e.g. state=DRAFT'),
    }),
    responses: {
      200: { description: '{ "<id>": dataset, … }' },
      400: { description: 'Bad limit, start, orderBy, properties or filter' },
    },
    handler: async (req) => {
      const call = callOf(req);
      const q = req.query as CatalogQuery;
      const { start, limit } = pageOf(q);
      const order = catalogOrder('dataSets', q.orderBy);
      const filter = parseCatalogFilter('dataSets', q);
      const rows = await runCatalogList(services.store.db, 'dataSets', scopeOf(call), filter, order, {
        start,
        limit,
      });
      // Object keys keep insertion order (dataset ids are never integer-like), so the order holds in JSON.
      return Object.fromEntries(rows);
    },
  });
  table.add({
    method: 'GET',
    url: '/data/foundation/catalog/batches',
    operationId: 'listBatches',
    summary:
      'List batches keyed by batch id: dataSet=id, batch=id, status=…, recordCount=… (any top-level field=a,b or field=!a,b), property= expressions, tags=, createdAfter/createdBefore (ms), properties=a,b, start (offset), limit (default 20, max 100), orderBy (e.g. desc:created); fewer than limit means the last page',
    tag: 'Catalog',
    auth: 'platform',
    query: catalogPage.extend({
      dataSet: z.string().optional().describe('Batches of these datasets: id[,id…] or !id[,id…]'),
      batch: z.string().optional().describe('These batch ids: id[,id…] or !id[,id…]'),
      status: z.string().optional().describe('Simple filter, e.g. status=failed or status=!success'),
      recordCount: z
        .string()
        .optional()
        .describe('Simple filter (numeric equality); ranges: property=recordCount>N'),
      failedRecordCount: z.string().optional().describe('Simple filter (numeric equality)'),
      externalId: z.string().optional().describe('Simple filter'),
    }),
    responses: {
      200: { description: '{ "<batchId>": batch, … }' },
      400: { description: 'Bad limit, start, orderBy, dataSet, properties or filter' },
    },
    handler: async (req) => {
      const call = callOf(req);
      const scope = scopeOf(call);
      const q = req.query as CatalogQuery;
      const { start, limit } = pageOf(q);
      const order = catalogOrder('batches', q.orderBy);
      const filter = parseCatalogFilter('batches', q);
      for (const dataSet of filter.dataSets) {
        if (!(await services.store.get('dataSets', scope, dataSet))) {
          throw new FlowProblem('1460-400', `dataSet ${dataSet} is not a dataset in this sandbox`, {
            field: 'dataSet',
          });
        }
      }
      const rows = await runCatalogList(services.store.db, 'batches', scope, filter, order, { start, limit });
      // Object keys keep insertion order (batch ids are never integer-like), so the order holds in JSON.
      return Object.fromEntries(rows);
    },
  });
  table.add({
    method: 'GET',
    url: '/data/foundation/catalog/lastBatches',
    operationId: 'listLastBatches',
    summary:
      "The last batch of each named dataset, keyed by dataset id: lastBatchId, lastBatchStatus, lastSuccessfulBatchId, lastFailedBatchId (when there is one), imsOrg, sandboxId, and the last batch's created and updated (ms); read from the batches themselves",
    tag: 'Catalog',
    auth: 'platform',
    query: lastBatchesQuery,
    responses: {
      200: { description: '{ "<dataSetId>": { lastBatchId, lastBatchStatus, … }, … }' },
      400: {
        description:
          'dataSetId missing, malformed or naming too many datasets; bad properties; another parameter',
      },
    },
    handler: async (req) => {
      const call = callOf(req);
      const q = req.query as CatalogQuery;
      const ids = lastBatchesIds(q);
      // Checked before the query runs, so a bad properties= is a 400 whatever the datasets hold.
      if (q.properties !== undefined) projectOne({}, q);
      const found = await services.store.lastBatches(scopeOf(call), ids);
      // Object keys keep insertion order (dataset ids are never integer-like), so the order of
      // dataSetId holds in JSON.
      return Object.fromEntries(
        found.map((f) => {
          const entry = {
            lastBatchId: f.lastBatchId,
            lastBatchStatus: f.lastBatchStatus,
            ...(f.lastSuccessfulBatchId === undefined
              ? {}
              : { lastSuccessfulBatchId: f.lastSuccessfulBatchId }),
            ...(f.lastFailedBatchId === undefined ? {} : { lastFailedBatchId: f.lastFailedBatchId }),
            imsOrg: call.orgId,
            sandboxId: call.sandbox.id,
            created: f.created,
            updated: f.updated,
          };
          return [f.dataSetId, projectOne(entry, q)];
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
    query: catalogGet,
    responses: {
      200: { description: '{ "<batchId>": batch }' },
      400: { description: 'Bad properties' },
      404: { description: 'Not found' },
    },
    handler: async (req) => {
      const call = callOf(req);
      const id = (req.params as { id: string }).id;
      const stored = await services.store.get('batches', scopeOf(call), id);
      if (!stored) throw notFound('batches', id);
      return { [id]: projectOne(stored.doc, req.query as CatalogQuery) };
    },
  });
}
