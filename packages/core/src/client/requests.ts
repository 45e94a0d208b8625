import type { ApiRequest, QueryValue, ServiceName } from '../http/transport.js';
import type {
  CreateConnectionBody,
  CreateDataSetBody,
  CreateFlowBody,
  CreateMappingSetBody,
  CreateRunBody,
  CreateSchemaBody,
  CreateSourceConnectionBody,
  CreateTargetConnectionBody,
  JsonPatchOperation,
  ListQuery,
} from './types.js';

const seg = (id: string): string => encodeURIComponent(id);

function listQuery(q: ListQuery = {}): Record<string, QueryValue> {
  return { property: q.property, orderby: q.orderby, limit: q.limit, continuationToken: q.continuationToken };
}

/** Request builders for one Flow Service collection (`/connections`, `/flows`, …). */
function collection<TCreate>(service: ServiceName, path: string) {
  return {
    list: (q?: ListQuery): ApiRequest => ({ method: 'GET', service, path, query: listQuery(q) }),
    count: (q?: Omit<ListQuery, 'limit' | 'continuationToken'>): ApiRequest => ({
      method: 'GET',
      service,
      path,
      query: { property: q?.property, count: true },
    }),
    get: (id: string): ApiRequest => ({ method: 'GET', service, path: `${path}/${seg(id)}` }),
    create: (body: TCreate): ApiRequest => ({ method: 'POST', service, path, body }),
    /** JSON Patch; `ifMatch` is the resource's current etag (required by the service). */
    patch: (id: string, ops: readonly JsonPatchOperation[], ifMatch: string): ApiRequest => ({
      method: 'PATCH',
      service,
      path: `${path}/${seg(id)}`,
      body: ops,
      ifMatch,
    }),
    delete: (id: string): ApiRequest => ({ method: 'DELETE', service, path: `${path}/${seg(id)}` }),
  };
}

/**
 * Every request the typed client can send, as data. Setup steps build their requests with these,
 * which is what lets `plan()` print exactly what `apply()` would send.
 */
export const flowServiceRequests = {
  connectionSpecs: {
    list: (q?: Pick<ListQuery, 'property'>): ApiRequest => ({
      method: 'GET',
      service: 'flowservice',
      path: '/connectionSpecs',
      query: { property: q?.property },
    }),
    get: (id: string): ApiRequest => ({
      method: 'GET',
      service: 'flowservice',
      path: `/connectionSpecs/${seg(id)}`,
    }),
  },
  flowSpecs: {
    list: (q?: Pick<ListQuery, 'property'>): ApiRequest => ({
      method: 'GET',
      service: 'flowservice',
      path: '/flowSpecs',
      query: { property: q?.property },
    }),
    get: (id: string): ApiRequest => ({
      method: 'GET',
      service: 'flowservice',
      path: `/flowSpecs/${seg(id)}`,
    }),
  },
  connections: {
    ...collection<CreateConnectionBody>('flowservice', '/connections'),
    test: (id: string): ApiRequest => ({
      method: 'GET',
      service: 'flowservice',
      path: `/connections/${seg(id)}/test`,
    }),
    explore: (id: string, query: Record<string, QueryValue> = {}): ApiRequest => ({
      method: 'GET',
      service: 'flowservice',
      path: `/connections/${seg(id)}/explore`,
      query,
    }),
  },
  sourceConnections: collection<CreateSourceConnectionBody>('flowservice', '/sourceConnections'),
  targetConnections: collection<CreateTargetConnectionBody>('flowservice', '/targetConnections'),
  flows: {
    ...collection<CreateFlowBody>('flowservice', '/flows'),
    /** `POST /flows/{id}/action?op=enable|disable`. */
    action: (id: string, op: 'enable' | 'disable', ifMatch?: string): ApiRequest => ({
      method: 'POST',
      service: 'flowservice',
      path: `/flows/${seg(id)}/action`,
      query: { op },
      ...(ifMatch === undefined ? {} : { ifMatch }),
    }),
  },
  runs: {
    list: (q?: ListQuery): ApiRequest => ({
      method: 'GET',
      service: 'flowservice',
      path: '/runs',
      query: listQuery(q),
    }),
    get: (id: string): ApiRequest => ({ method: 'GET', service: 'flowservice', path: `/runs/${seg(id)}` }),
    create: (body: CreateRunBody): ApiRequest => ({
      method: 'POST',
      service: 'flowservice',
      path: '/runs',
      body,
    }),
  },
  mappingSets: {
    create: (body: CreateMappingSetBody): ApiRequest => ({
      method: 'POST',
      service: 'conversion',
      path: '/mappingSets',
      body,
    }),
    get: (id: string, version?: number): ApiRequest => ({
      method: 'GET',
      service: 'conversion',
      path: `/mappingSets/${seg(id)}`,
      query: { version },
    }),
    list: (q: { start?: number; limit?: number } = {}): ApiRequest => ({
      method: 'GET',
      service: 'conversion',
      path: '/mappingSets',
      query: { start: q.start ?? 0, limit: q.limit ?? 10 },
    }),
  },
  dataSets: {
    create: (body: CreateDataSetBody): ApiRequest => ({
      method: 'POST',
      service: 'catalog',
      path: '/dataSets',
      body,
    }),
    get: (id: string): ApiRequest => ({ method: 'GET', service: 'catalog', path: `/dataSets/${seg(id)}` }),
    list: (q: { start?: number; limit?: number } = {}): ApiRequest => ({
      method: 'GET',
      service: 'catalog',
      path: '/dataSets',
      query: { start: q.start, limit: q.limit },
    }),
  },
  schemas: {
    create: (body: CreateSchemaBody): ApiRequest => ({
      method: 'POST',
      service: 'schemaregistry',
      path: '/tenant/schemas',
      body,
    }),
    /** `id` is the `$id` URL or the `meta:altId`; the full (resolved) form is asked for. */
    get: (id: string): ApiRequest => ({
      method: 'GET',
      service: 'schemaregistry',
      path: `/tenant/schemas/${seg(id)}`,
      headers: { Accept: 'application/vnd.adobe.xed-full+json; version=1' },
    }),
    stats: (): ApiRequest => ({
      method: 'GET',
      service: 'schemaregistry',
      path: '/stats',
      headers: { Accept: 'application/json' },
    }),
  },
} as const;

export type FlowServiceRequests = typeof flowServiceRequests;
