import type { AnySourceConnector, InletRequest, InletResult } from '@inflow/core';
import type { z } from 'zod';
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

  /** The inlet with this id, in whichever org and sandbox it lives. */
  inlet(inletId: string): MaybePromise<Inlet | undefined> {
    return this.inlets.get(inletId, async () => {
      const byConnection = await this.services.store.findAnywhere('connections', {
        auth: { params: { inletId } },
      });
      if (byConnection) {
        const params = (byConnection.doc.auth as { params?: Record<string, unknown> }).params ?? {};
        return {
          inletId,
          scope: byConnection.scope,
          connectionId: byConnection.doc.id,
          authenticationRequired: params.authenticationRequired === true,
        };
      }
      // Webhook flows carry only the URL; the id is its last segment (the base URL may have changed).
      const res = await this.services.store.db.query<{ id: string; org_id: string; sandbox: string }>(
        `select id, org_id, sandbox from resources where kind = 'flows' and doc->'options'->>'inletUrl' like $1 limit 1`,
        [`%/collection/${inletId}`],
      );
      const row = res.rows[0];
      if (!row) return undefined;
      return {
        inletId,
        scope: { orgId: row.org_id, sandbox: row.sandbox },
        flowId: row.id,
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
    if (!connector?.inlet || !flow.sourceConnection) return undefined;
    const plain = decrypt(
      sourceConnectionsKind as unknown as ResourceKind<z.ZodObject>,
      this.services,
      flow.sourceConnection,
    );
    const params = connector.parseSourceParams((plain.params as Record<string, unknown> | undefined) ?? {});
    const inlet = connector.inlet as (r: InletRequest<unknown>) => Promise<InletResult>;
    return inlet({ ...request, params });
  }
}
