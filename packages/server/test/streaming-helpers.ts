import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { expect } from 'vitest';
import { call, FS, STREAMING_SPEC } from './helpers.js';

/** Streaming test fixtures: a tenant schema, a dataset, inlets and flows, made through the API. */

export const SR = '/data/foundation/schemaregistry';
export const XDM_FULL = 'application/vnd.adobe.xed-full+json;version=1';
export const DATA_LAKE_SPEC = 'c604ff05-7f1a-43c0-8e18-33bf874cb11c';
export const CUSTOMERIO_SPEC = '96479064-7b8a-4d69-b9ed-21c5683837ea';
export const GENERIC_STREAMING_FLOW_SPEC = 'e77fde5a-22a8-11ed-861d-0242ac120002';
export const HTTP_STREAMING_MAPPING_FLOW_SPEC = 'c1a19761-d2c7-4702-b9fa-fe91f0613e81';

/** A profile schema with the Customer.io tutorial's fields under `_extconndev`. */
export const EVENTS_SCHEMA = {
  type: 'object',
  title: 'Streamed events',
  description: 'Events streamed to an inlet',
  allOf: [{ $ref: 'https://ns.adobe.com/xdm/context/profile' }, { $ref: '#/definitions/events' }],
  definitions: {
    events: {
      properties: {
        _extconndev: {
          type: 'object',
          properties: {
            cio_id: { type: 'string' },
            email: { type: 'string' },
            event_id0: { type: 'string' },
            metricx: { type: 'string' },
            object_type1: { type: 'string' },
            timestampx: { type: 'integer' },
            seq: { type: 'integer' },
          },
        },
      },
    },
  },
};

/** The Customer.io tutorial's mapping set (reference §10.1 step 3). */
export const CIO_MAPPINGS = [
  ['_extconndev.cio_id', 'data.identifiers.cio_id'],
  ['_extconndev.email', 'data.identifiers.email'],
  ['_extconndev.event_id0', 'event_id'],
  ['_extconndev.metricx', 'metric'],
  ['_extconndev.object_type1', 'object_type'],
  ['_extconndev.timestampx', 'timestamp'],
].map(([destinationXdmPath, sourceAttribute]) => ({
  destinationXdmPath,
  sourceAttribute,
  identity: false,
  version: 0,
}));

export interface Api {
  url: string;
  headers: Record<string, string>;
}

export async function post(api: Api, path: string, body: unknown) {
  const res = await call(api.url, 'POST', path, { headers: api.headers, body });
  if (res.status >= 300) throw new Error(`POST ${path} → ${res.status} ${res.text}`);
  return res.body as Record<string, unknown>;
}

export async function get(api: Api, path: string) {
  const res = await call(api.url, 'GET', path, { headers: api.headers });
  if (res.status >= 300) throw new Error(`GET ${path} → ${res.status} ${res.text}`);
  return res.body as Record<string, unknown>;
}

export async function createSchemaAndDataset(api: Api, name = 'streamed') {
  const schema = await post(api, `${SR}/tenant/schemas`, { ...EVENTS_SCHEMA, title: `${name} schema` });
  const schemaId = schema.$id as string;
  const created = (await post(api, '/data/foundation/catalog/dataSets', {
    name,
    schemaRef: { id: schemaId, contentType: XDM_FULL },
  })) as unknown as string[];
  return { schemaId, datasetId: (created[0] as string).replace('@/dataSets/', '') };
}

/** An HTTP API streaming connection; its inlet id. */
export async function createInlet(api: Api, authenticationRequired = false) {
  const { id } = await post(api, `${FS}/connections`, {
    name: `inlet ${authenticationRequired ? 'authenticated' : 'open'}`,
    providerId: '521eee4d-8cbe-4906-bb48-fb6bd4450033',
    connectionSpec: { id: STREAMING_SPEC, version: '1.0' },
    auth: {
      specName: 'Streaming Connection',
      params: {
        sourceId: 'test',
        dataType: 'xdm',
        name: 'test',
        ...(authenticationRequired ? { authenticationRequired } : {}),
      },
    },
  });
  const conn = await get(api, `${FS}/connections/${id}`);
  const params = (conn.items as { auth: { params: { inletId: string; inletUrl: string } } }[])[0]?.auth
    .params;
  return {
    connectionId: id as string,
    inletId: params?.inletId as string,
    inletUrl: params?.inletUrl as string,
  };
}

async function targetAndMapping(api: Api, schemaId: string, datasetId: string) {
  const target = await post(api, `${FS}/targetConnections`, {
    name: 'lake',
    connectionSpec: { id: DATA_LAKE_SPEC, version: '1.0' },
    data: { format: 'json', schema: { id: schemaId, version: XDM_FULL } },
    params: { dataSetId: datasetId },
  });
  const mapping = await post(api, '/data/foundation/conversion/mappingSets', {
    outputSchema: { schemaRef: { id: schemaId, contentType: XDM_FULL } },
    mappings: CIO_MAPPINGS,
  });
  return { targetId: target.id as string, mappingId: mapping.id as string };
}

/** A raw-JSON flow on an HTTP API inlet, with the Customer.io mapping set. */
export async function createRawFlow(api: Api, connectionId: string, schemaId: string, datasetId: string) {
  const source = await post(api, `${FS}/sourceConnections`, {
    name: 'raw source',
    baseConnectionId: connectionId,
    connectionSpec: { id: STREAMING_SPEC, version: '1.0' },
    data: { format: 'json' },
  });
  const { targetId, mappingId } = await targetAndMapping(api, schemaId, datasetId);
  const flow = await post(api, `${FS}/flows`, {
    name: 'raw flow',
    flowSpec: { id: HTTP_STREAMING_MAPPING_FLOW_SPEC, version: '1.0' },
    sourceConnectionIds: [source.id],
    targetConnectionIds: [targetId],
    transformations: [{ name: 'Mapping', params: { mappingId, mappingVersion: 0 } }],
  });
  return flow.id as string;
}

/** The Customer.io tutorial's flow (seed 004): its id and inlet URL. */
export async function createCustomerioFlow(
  api: Api,
  schemaId: string,
  datasetId: string,
  signingKey: string,
) {
  const source = await post(api, `${FS}/sourceConnections`, {
    name: 'Streaming Source Connection for Customer.io',
    providerId: '521eee4d-8cbe-4906-bb48-fb6bd4450033',
    connectionSpec: { id: CUSTOMERIO_SPEC, version: '1.0' },
    data: { format: 'json' },
    params: { webhookSigningKey: signingKey },
  });
  const { targetId, mappingId } = await targetAndMapping(api, schemaId, datasetId);
  const flow = await post(api, `${FS}/flows`, {
    name: 'Streaming Dataflow for Customer.io',
    flowSpec: { id: GENERIC_STREAMING_FLOW_SPEC, version: '1.0' },
    sourceConnectionIds: [source.id],
    targetConnectionIds: [targetId],
    transformations: [{ name: 'Mapping', params: { mappingId, mappingVersion: 0 } }],
  });
  const got = await get(api, `${FS}/flows/${flow.id}`);
  const inletUrl = (got.items as { options: { inletUrl: string } }[])[0]?.options.inletUrl as string;
  return { flowId: flow.id as string, inletUrl, inletId: inletUrl.split('/').pop() as string };
}

/** An XDM envelope for the events schema (reference §6.2). */
export function envelope(schemaId: string, datasetId: string, entity: Record<string, unknown>) {
  return {
    header: {
      schemaRef: { id: schemaId, contentType: XDM_FULL },
      datasetId,
      source: { name: 'tests' },
    },
    body: { xdmMeta: { schemaRef: { id: schemaId, contentType: XDM_FULL } }, xdmEntity: entity },
  };
}

/** Parquet values as JSON: int64 as numbers, absent (null) fields left out. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) out[k] = plain(v);
    return out;
  }
  return value;
}

/** Every row of a dataset, read back from its Parquet files with hyparquet, and every failed record. */
export async function readDataset(dataDir: string, datasetId: string) {
  const root = join(dataDir, 'datasets', datasetId);
  const rows: Record<string, unknown>[] = [];
  const failures: Record<string, unknown>[] = [];
  if (!existsSync(root)) return { rows, failures, batches: 0 };
  let batches = 0;
  for (const batch of readdirSync(root).filter((n) => !n.startsWith('.'))) {
    batches++;
    const dataDirOf = join(root, batch, 'data');
    if (existsSync(dataDirOf)) {
      for (const file of readdirSync(dataDirOf).filter((n) => n.endsWith('.parquet'))) {
        const objects = await parquetReadObjects({ file: await asyncBufferFromFile(join(dataDirOf, file)) });
        rows.push(...(objects.map(plain) as Record<string, unknown>[]));
      }
    }
    const errors = join(root, batch, 'meta', 'row_errors.json');
    if (existsSync(errors)) {
      for (const line of readFileSync(errors, 'utf8').split('\n')) if (line) failures.push(JSON.parse(line));
    }
  }
  return { rows, failures, batches };
}

/** Polls `check` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Asserts the Catalog's batch records for a dataset add up to `records` rows and `failed` failures. */
export async function expectCatalogCounts(api: Api, datasetId: string, records: number, failed: number) {
  // Every page: the Catalog answers at most 100 batches a request.
  const batches: { recordCount: number; failedRecordCount: number }[] = [];
  for (let start = 0; ; start += 100) {
    const page = Object.values(
      await get(api, `/data/foundation/catalog/batches?dataSet=${datasetId}&limit=100&start=${start}`),
    ) as { recordCount: number; failedRecordCount: number }[];
    batches.push(...page);
    if (page.length < 100) break;
  }
  expect(batches.reduce((n, b) => n + b.recordCount, 0)).toBe(records);
  expect(batches.reduce((n, b) => n + b.failedRecordCount, 0)).toBe(failed);
}
