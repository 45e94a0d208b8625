import {
  type AnySourceConnector,
  InflowValidationError,
  type InletRequest,
  type InletResult,
} from '@inflow/core';
import type { z } from 'zod';
import { STREAMING_SPEC_ID } from '../routes/connections.js';
import { decrypt, type ResourceKind } from '../routes/resource-routes.js';
import { sourceConnectionsKind } from '../routes/source-connections.js';
import type { Services } from '../services.js';
import type { Doc, Scope } from '../store/resources.js';

/**
 * Inlet lookups for the collection routes. An inlet is addressed by id alone (no Platform
 * headers), so it is found across every org and sandbox. Lookups are cached for a moment: at
 * thousands of requests a second the metadata store must not be asked each time, and a flow
 * created, changed or deleted is seen within `CACHE_MS`. A hit is returned as the value itself,
 * not a promise, so the request path does not pay a microtask per lookup.
 */
export const CACHE_MS = 2000;

/** An inlet: an HTTP API streaming connection's, or a webhook flow's own. */
export interface Inlet {
  inletId: string;
  scope: Scope;
  /** The HTTP API streaming connection that owns it (`auth.params.inletId`). */
  connectionId?: string;
  /** A webhook source flow that owns it (`options.inletUrl`). */
  flowId?: string;
  authenticationRequired: boolean;
}

/** A flow as the inlet sees it: where its messages come from, and the connector inlet verb if any. */
export interface InletFlow {
  flowId: string;
  state: string;
  /** Base connection ids of its source connections. */
  baseConnectionIds: string[];
  sourceConnection: Doc | undefined;
  connector: AnySourceConnector | undefined;
}

export const INLET_ID = /^[0-9a-f]{64}$/i;

/**
 * A flow's source connection whose stored params (or secrets) the server can no longer read: the
 * server's state, not the request, is wrong, so the inlet answers 409 naming the connection.
 */
export class StoredParamsError extends Error {
  constructor(
    readonly flowId: string,
    readonly sourceConnectionId: string,
    message: string,
  ) {
    super(message);
    this.name = 'StoredParamsError';
  }
}

/** An inlet id that more than one resource claims: refused rather than picked at random. */
export class AmbiguousInletError extends Error {
  constructor(inletId: string, owners: string[]) {
    super(`inlet ${inletId} is claimed by ${owners.join(', ')}`);
    this.name = 'AmbiguousInletError';
  }
}

/** A value now (a cache hit: no promise, no microtask) or later (a miss). */
export type MaybePromise<T> = T | Promise<T>;

class TtlCache<V> {
  private readonly map = new Map<string, { value: V; expires: number }>();
  /** Loads in progress: concurrent misses of one key share a single lookup. */
  private readonly pending = new Map<string, Promise<V>>();
  constructor(
    private readonly ttl: number,
    private readonly now: () => number,
  ) {}

  get(key: string, load: () => Promise<V>): MaybePromise<V> {
    const hit = this.map.get(key);
    if (hit && hit.expires > this.now()) return hit.value;
    let loading = this.pending.get(key);
    if (!loading) {
      loading = load().then(
        (value) => {
          this.pending.delete(key);
          if (this.map.size > 10_000) this.map.clear();
          this.map.set(key, { value, expires: this.now() + this.ttl });
          return value;
        },
        (error: unknown) => {
          this.pending.delete(key);
          throw error;
        },
      );
      this.pending.set(key, loading);
    }
    return loading;
  }
}

export class InletDirectory {
  private readonly inlets: TtlCache<Inlet | undefined>;
  private readonly flows: TtlCache<InletFlow | undefined>;
  private readonly datasets: TtlCache<Doc | undefined>;

  constructor(private readonly services: Services) {
    const clock = () => Date.now();
    this.inlets = new TtlCache(CACHE_MS, clock);
    this.flows = new TtlCache(CACHE_MS, clock);
    this.datasets = new TtlCache(CACHE_MS, clock);
  }

  /**
   * The inlet with this id, in whichever org and sandbox it lives. Inlet ids are made by the
   * server (256 random bits) and only ever matched exactly, on fields no client can write: an HTTP
   * API streaming connection's `auth.params.inletId` (the connection build overwrites whatever was
   * sent), or a webhook flow's `options.inletUrl` (the flow build overwrites it on every create and
   * PATCH, and only streaming flows with no base connection own one). A second owner of one id
   * (impossible unless the store was edited) is refused, never picked from.
   */
  inlet(inletId: string): MaybePromise<Inlet | undefined> {
    return this.inlets.get(inletId, async () => {
      const db = this.services.store.db;
      const connections = await db.query<{
        id: string;
        org_id: string;
        sandbox: string;
        required: boolean | null;
      }>(
        `select id, org_id, sandbox, (doc->'auth'->'params'->'authenticationRequired') = 'true'::jsonb as required
         from resources where kind = 'connections' and doc @> $1::jsonb order by org_id, sandbox, id limit 2`,
        [JSON.stringify({ connectionSpec: { id: STREAMING_SPEC_ID }, auth: { params: { inletId } } })],
      );
      const streamingSpecs = this.services.specs.flowSpecs
        .filter((s) => (s.attributes as { frequency?: string } | undefined)?.frequency === 'streaming')
        .map((s) => s.id);
      // Webhook flows carry only the URL; the id is its last segment, compared exactly (the base
      // URL may have changed since).
      const flows = await db.query<{ id: string; org_id: string; sandbox: string }>(
        `select id, org_id, sandbox from resources
         where kind = 'flows' and doc->'flowSpec'->>'id' in (select jsonb_array_elements_text($1::jsonb))
           and doc->'inheritedAttributes'->'sourceConnections'->0->'baseConnection' is null
           and right(doc->'options'->>'inletUrl', $2) = $3
         order by org_id, sandbox, id limit 2`,
        [JSON.stringify(streamingSpecs), inletId.length + 12, `/collection/${inletId}`],
      );
      const owners = [
        ...connections.rows.map((r) => `connection ${r.id} (${r.org_id}/${r.sandbox})`),
        ...flows.rows.map((r) => `flow ${r.id} (${r.org_id}/${r.sandbox})`),
      ];
      if (owners.length > 1) throw new AmbiguousInletError(inletId, owners);
      const connection = connections.rows[0];
      if (connection) {
        return {
          inletId,
          scope: { orgId: connection.org_id, sandbox: connection.sandbox },
          connectionId: connection.id,
          authenticationRequired: connection.required === true,
        };
      }
      const flow = flows.rows[0];
      if (!flow) return undefined;
      return {
        inletId,
        scope: { orgId: flow.org_id, sandbox: flow.sandbox },
        flowId: flow.id,
        authenticationRequired: false,
      };
    });
  }

  /** A flow of the inlet's scope, with its source connection and connector. */
  flow(scope: Scope, flowId: string): MaybePromise<InletFlow | undefined> {
    return this.flows.get(`${scope.orgId}\0${scope.sandbox}\0${flowId}`, async () => {
      const stored = await this.services.store.get('flows', scope, flowId);
      if (!stored) return undefined;
      const doc = stored.doc;
      const sources =
        (doc.inheritedAttributes as { sourceConnections?: { id: string; baseConnection?: { id: string } }[] })
          ?.sourceConnections ?? [];
      const first = sources[0];
      const sourceConnection = first
        ? (await this.services.store.get('sourceConnections', scope, first.id))?.doc
        : undefined;
      const specId = (sourceConnection?.connectionSpec as { id?: string } | undefined)?.id;
      return {
        flowId,
        state: String(doc.state ?? 'enabled'),
        baseConnectionIds: sources.flatMap((s) => (s.baseConnection ? [s.baseConnection.id] : [])),
        sourceConnection,
        connector: specId ? this.services.specs.connector(specId) : undefined,
      };
    });
  }

  /** A dataset of the inlet's scope. */
  dataset(scope: Scope, datasetId: string): MaybePromise<Doc | undefined> {
    return this.datasets.get(`${scope.orgId}\0${scope.sandbox}\0${datasetId}`, async () => {
      return (await this.services.store.get('dataSets', scope, datasetId))?.doc;
    });
  }

  /**
   * Runs the connector's `inlet` verb with the source connection's params, decrypted for this call
   * only (they are never cached in plain text).
   */
  async runConnectorInlet(
    flow: InletFlow,
    request: Omit<InletRequest<unknown>, 'params'>,
  ): Promise<InletResult | undefined> {
    const connector = flow.connector;
    const source = flow.sourceConnection;
    if (!connector?.inlet || !source) return undefined;
    let plain: Doc;
    try {
      plain = decrypt(sourceConnectionsKind as unknown as ResourceKind<z.ZodObject>, this.services, source);
    } catch {
      throw new StoredParamsError(
        flow.flowId,
        source.id,
        `the stored secrets of source connection ${source.id} cannot be decrypted with this server's key`,
      );
    }
    let params: unknown;
    try {
      params = connector.parseSourceParams((plain.params as Record<string, unknown> | undefined) ?? {});
    } catch (error) {
      const issue = InflowValidationError.isInstance(error) ? error.issues[0] : undefined;
      const why = issue ? `${issue.path}: ${issue.message}` : (error as Error).message;
      throw new StoredParamsError(
        flow.flowId,
        source.id,
        `the params of source connection ${source.id} no longer parse (${why})`,
      );
    }
    const inlet = connector.inlet as (r: InletRequest<unknown>) => Promise<InletResult>;
    return inlet({ ...request, params });
  }
}
