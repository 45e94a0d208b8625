import { InflowError } from '../errors/inflow-error.js';
import { type ListResponse, paginate } from '../http/paginate.js';
import { type ApiRequest, PlatformTransport, type PlatformTransportOptions } from '../http/transport.js';
import { flowServiceRequests as R } from './requests.js';
import type {
  Connection,
  ConnectionSpec,
  CreateConnectionBody,
  CreateDataSetBody,
  CreateFlowBody,
  CreateMappingSetBody,
  CreateRunBody,
  CreateSchemaBody,
  CreateSourceConnectionBody,
  CreateTargetConnectionBody,
  DataSet,
  Flow,
  FlowSpec,
  IdEtag,
  JsonPatchOperation,
  ListQuery,
  MappingSet,
  MappingSetCreated,
  Run,
  SourceConnection,
  TargetConnection,
  XdmSchema,
} from './types.js';

export type FlowServiceClientOptions = PlatformTransportOptions;

/** `GET /connections/{id}/test`: `result` plus, from Inflow's server, the connector's reason. */
export interface TestConnectionResult {
  result: boolean;
  message?: string;
  [key: string]: unknown;
}

function firstItem<T>(body: ListResponse<T> | undefined, what: string, id: string): T {
  const item = body?.items?.[0];
  if (!item)
    throw new InflowError(`the service answered without ${what} ${id}: verify the id, org and sandbox`);
  return item;
}

/**
 * A typed client for the Flow Service and the Platform APIs the source tutorials use (Data Prep,
 * Catalog, Schema Registry). Talks to Adobe's API or to Inflow's server alike.
 */
export class FlowServiceClient {
  readonly transport: PlatformTransport;

  constructor(options: FlowServiceClientOptions | PlatformTransport) {
    this.transport = options instanceof PlatformTransport ? options : new PlatformTransport(options);
  }

  /** Sends any request (for example one a setup step built) and returns the body. */
  async send<T = unknown>(req: ApiRequest): Promise<T> {
    return (await this.transport.send<T>(req)).body;
  }

  private async all<T>(req: ApiRequest): Promise<T[]> {
    const out: T[] = [];
    for await (const item of paginate<T>(this.transport, req)) out.push(item);
    return out;
  }

  private crud<T, TCreate>(
    r: {
      list(q?: ListQuery): ApiRequest;
      count(q?: ListQuery): ApiRequest;
      get(id: string): ApiRequest;
      create(body: TCreate): ApiRequest;
      patch(id: string, ops: readonly JsonPatchOperation[], ifMatch: string): ApiRequest;
      delete(id: string): ApiRequest;
    },
    what: string,
  ) {
    return {
      /** Every item matching the query, across all pages. */
      list: (q?: ListQuery): Promise<T[]> => this.all<T>(r.list(q)),
      /** Items one at a time, fetching pages as needed. */
      iterate: (q?: ListQuery): AsyncGenerator<T> => paginate<T>(this.transport, r.list(q)),
      /** One page, with the continuation token of the next (absent on the last page). */
      page: async (q?: ListQuery): Promise<{ items: T[]; continuationToken?: string }> => {
        const body = await this.send<ListResponse<T>>(r.list(q));
        const href = body?._links?.next?.href;
        const token = href ? new URL(href, 'http://x').searchParams.get('continuationToken') : null;
        return { items: body?.items ?? [], ...(token ? { continuationToken: token } : {}) };
      },
      count: async (q?: Pick<ListQuery, 'property'>): Promise<number> =>
        (await this.send<{ count: number }>(r.count(q))).count,
      get: async (id: string): Promise<T> => firstItem(await this.send<ListResponse<T>>(r.get(id)), what, id),
      create: (body: TCreate): Promise<IdEtag> => this.send<IdEtag>(r.create(body)),
      /** JSON Patch with the resource's current etag in `If-Match`. */
      patch: (id: string, ops: readonly JsonPatchOperation[], opts: { ifMatch: string }): Promise<IdEtag> =>
        this.send<IdEtag>(r.patch(id, ops, opts.ifMatch)),
      delete: async (id: string): Promise<void> => {
        await this.send(r.delete(id));
      },
    };
  }

  readonly connectionSpecs = {
    list: (q?: Pick<ListQuery, 'property'>): Promise<ConnectionSpec[]> => this.all(R.connectionSpecs.list(q)),
    get: async (id: string): Promise<ConnectionSpec> =>
      firstItem(
        await this.send<ListResponse<ConnectionSpec>>(R.connectionSpecs.get(id)),
        'connection spec',
        id,
      ),
  };

  readonly flowSpecs = {
    list: (q?: Pick<ListQuery, 'property'>): Promise<FlowSpec[]> => this.all(R.flowSpecs.list(q)),
    get: async (id: string): Promise<FlowSpec> =>
      firstItem(await this.send<ListResponse<FlowSpec>>(R.flowSpecs.get(id)), 'flow spec', id),
  };

  readonly connections = {
    ...this.crud<Connection, CreateConnectionBody>(R.connections, 'connection'),
    test: (id: string): Promise<TestConnectionResult> => this.send(R.connections.test(id)),
    explore: (
      id: string,
      query: Record<string, string | number | boolean | undefined> = {},
    ): Promise<unknown> => this.send(R.connections.explore(id, query)),
  };

  readonly sourceConnections = this.crud<SourceConnection, CreateSourceConnectionBody>(
    R.sourceConnections,
    'source connection',
  );

  readonly targetConnections = this.crud<TargetConnection, CreateTargetConnectionBody>(
    R.targetConnections,
    'target connection',
  );

  readonly flows = {
    ...this.crud<Flow, CreateFlowBody>(R.flows, 'flow'),
    /** `enable` or `disable` a flow. */
    action: (id: string, op: 'enable' | 'disable', opts: { ifMatch?: string } = {}): Promise<IdEtag> =>
      this.send(R.flows.action(id, op, opts.ifMatch)),
  };

  readonly runs = {
    list: (q?: ListQuery): Promise<Run[]> => this.all(R.runs.list(q)),
    iterate: (q?: ListQuery): AsyncGenerator<Run> => paginate<Run>(this.transport, R.runs.list(q)),
    get: async (id: string): Promise<Run> =>
      firstItem(await this.send<ListResponse<Run>>(R.runs.get(id)), 'run', id),
    /** Starts an on-demand run. The docs show both `{items:[{id, etag}]}` and a bare run; both are accepted. */
    create: async (body: CreateRunBody): Promise<IdEtag> => {
      const res = await this.send<ListResponse<IdEtag> & Partial<IdEtag>>(R.runs.create(body));
      const item = res?.items?.[0] ?? res;
      if (!item?.id) throw new InflowError('the service created a run but answered without its id');
      return { id: item.id, etag: item.etag ?? '' };
    },
  };

  readonly mappingSets = {
    /** Data Prep answers 200 with `{id, version, createdDate, …}`. */
    create: (body: CreateMappingSetBody): Promise<MappingSetCreated> => this.send(R.mappingSets.create(body)),
    get: (id: string, opts: { version?: number } = {}): Promise<MappingSet> =>
      this.send(R.mappingSets.get(id, opts.version)),
    list: async (q?: { start?: number; limit?: number }): Promise<MappingSet[]> =>
      (await this.send<{ data?: MappingSet[] }>(R.mappingSets.list(q)))?.data ?? [],
  };

  readonly catalog = {
    dataSets: {
      /** Catalog answers 201 `["@/dataSets/{id}"]`; this returns the id. */
      create: async (body: CreateDataSetBody): Promise<{ id: string }> => {
        const res = await this.send<string[]>(R.dataSets.create(body));
        const ref = Array.isArray(res) ? res[0] : undefined;
        const id = ref?.replace(/^@\/dataSets\//, '');
        if (!id) throw new InflowError('Catalog created a dataset but answered without "@/dataSets/{id}"');
        return { id };
      },
      /** Catalog answers an object keyed by id; this returns the dataset with its id. */
      get: async (id: string): Promise<DataSet> => {
        const res = await this.send<Record<string, Omit<DataSet, 'id'>>>(R.dataSets.get(id));
        const found = res?.[id];
        if (!found)
          throw new InflowError(`Catalog answered without dataset ${id}: verify the id, org and sandbox`);
        return { ...found, id };
      },
      list: async (q?: { start?: number; limit?: number }): Promise<DataSet[]> => {
        const res = await this.send<Record<string, Omit<DataSet, 'id'>>>(R.dataSets.list(q));
        return Object.entries(res ?? {}).map(([id, d]) => ({ ...d, id }));
      },
    },
  };

  readonly schemaRegistry = {
    schemas: {
      create: (body: CreateSchemaBody): Promise<XdmSchema> => this.send(R.schemas.create(body)),
      get: (id: string): Promise<XdmSchema> => this.send(R.schemas.get(id)),
    },
    /** `GET /stats`: the org's `tenantId` (field paths live under `_{tenantId}`). */
    stats: (): Promise<{ tenantId: string; imsOrg?: string } & Record<string, unknown>> =>
      this.send(R.schemas.stats()),
  };
}
