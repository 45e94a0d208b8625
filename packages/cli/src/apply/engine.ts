import { createHash } from 'node:crypto';
import { ApiCallError, type FlowServiceClient, type JsonPatchOperation, REDACTED } from '@inflow/core';
import { CliError, EXIT, UsageError } from '../errors.js';
import { interpolate } from '../interpolate.js';
import {
  CLASSES,
  type ConfigFileV1,
  fieldSchema,
  type Json,
  KINDS,
  type Kind,
  MUTABLE,
  SINGULAR,
} from './model.js';

const XDM_FULL = 'application/vnd.adobe.xed-full+json;version=1';
const DATA_LAKE_SPEC_ID = 'c604ff05-7f1a-43c0-8e18-33bf874cb11c';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What `apply` remembers between runs: which resources this file made, by key. Ids only, no secrets. */
export interface ApplyState {
  version: 1;
  file: string;
  target: { endpoint: string; orgId: string | undefined; sandbox: string };
  resources: Record<string, StateEntry>;
}

export interface StateEntry {
  kind: Kind;
  key: string;
  id: string;
  /** A digest of the desired body with `${VAR}` references unresolved. */
  digest: string;
  /** Paths of strings that held `${VAR}` references, with that text: how a secret's change is seen. */
  templates?: Record<string, string>;
  /** The state the file asked for (flows). */
  state?: string;
}

export type Action = 'create' | 'change' | 'replace' | 'delete' | 'forget' | 'unchanged';

export interface Change {
  path: string;
  from?: unknown;
  to?: unknown;
}

export interface PlanItem {
  action: Action;
  kind: Kind;
  key: string;
  /** The existing resource's id (absent for creates). */
  id?: string;
  changes?: Change[];
  /** Why, in words: `deleted outside this file`, `mapping sets cannot be updated: a new one is made`. */
  reason?: string;
}

export interface AppliedItem extends PlanItem {
  /** The id after the action (the new id for creates and replaces). */
  id?: string;
}

const stable = (v: unknown): string => {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .filter((k) => (v as Json)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((v as Json)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
};

export const digestOf = (v: unknown) => createHash('sha256').update(stable(v)).digest('hex').slice(0, 32);
export const stateKey = (kind: Kind, key: string) => `${kind}.${key}`;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const pointer = (parts: string[]) =>
  `/${parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
const dotted = (parts: string[]) =>
  parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');

function isNotFound(error: unknown): boolean {
  return ApiCallError.isInstance(error) && error.status === 404;
}

/** Scalars compare as text: the API turns `"15"` into 15 and back as it pleases. */
function sameScalar(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined) return false;
  if (typeof a === 'object' || typeof b === 'object') return false;
  return String(a) === String(b);
}

/** Whether `actual` holds everything `desired` says (extra fields the service adds are fine). */
function covers(desired: unknown, actual: unknown): boolean {
  if (Array.isArray(desired)) {
    return (
      Array.isArray(actual) &&
      actual.length === desired.length &&
      desired.every((d, i) => covers(d, actual[i]))
    );
  }
  if (isObj(desired)) return isObj(actual) && Object.entries(desired).every(([k, v]) => covers(v, actual[k]));
  return sameScalar(desired, actual);
}

/**
 * Plans and applies one config file against one API: creates what the state does not know,
 * patches what differs from the service (leaf by leaf, so secrets are sent only when their
 * reference changed), deletes what the file no longer lists.
 */
export class ApplyEngine {
  private connectionSpecs: Json[] | undefined;
  private flowSpecs: Json[] | undefined;
  private tenantId: string | undefined;
  /** Keys that `plan()` decided to create or replace: their ids are not known yet. */
  private pending = new Set<string>();

  constructor(
    private readonly client: FlowServiceClient,
    private readonly config: ConfigFileV1,
    private readonly env: Record<string, string | undefined>,
    readonly state: ApplyState,
    private readonly saveState: (state: ApplyState) => void,
  ) {}

  // ---------------------------------------------------------------- references

  private idOf(kind: Kind, ref: unknown, from: string, literal: (s: string) => boolean): string {
    if (typeof ref !== 'string' || ref === '')
      throw new UsageError(`${from}: must be a ${SINGULAR[kind]} key or id`);
    if (this.config[kind][ref] !== undefined) {
      const k = stateKey(kind, ref);
      if (this.pending.has(k)) return `(new ${k})`;
      const entry = this.state.resources[k];
      if (!entry) throw new CliError(`${from}: ${k} has not been created yet`, { exitCode: EXIT.error });
      return entry.id;
    }
    if (literal(ref)) return ref;
    throw new UsageError(
      `${from}: no ${SINGULAR[kind]} "${ref}" in this file`,
      `add it under ${kind}: or give the id of an existing one`,
    );
  }

  private async specByRef(
    which: 'connection' | 'flow',
    ref: unknown,
    from: string,
  ): Promise<{ id: string; spec?: Json }> {
    const value = isObj(ref) ? ref.id : ref;
    if (typeof value !== 'string' || value === '') throw new UsageError(`${from}: a spec name or id`);
    const list =
      which === 'connection'
        ? (this.connectionSpecs ??= (await this.client.connectionSpecs.list()) as unknown as Json[])
        : (this.flowSpecs ??= (await this.client.flowSpecs.list()) as unknown as Json[]);
    const found = list.find((s) => s.id === value || s.name === value);
    if (found) return { id: String(found.id), spec: found };
    if (UUID.test(value)) return { id: value };
    throw new UsageError(
      `${from}: the service has no ${which} spec "${value}"`,
      `known: ${list.map((s) => s.name).join(', ')} (see \`inflow specs${which === 'flow' ? ' --flows' : ''}\`)`,
    );
  }

  private async tenant(): Promise<string> {
    this.tenantId ??= (await this.client.schemaRegistry.stats()).tenantId;
    return this.tenantId;
  }

  /** The API body of one entry, `${VAR}` references unresolved, references to other keys as ids. */
  async bodyOf(kind: Kind, key: string): Promise<{ body: Json; state?: string }> {
    const e = this.config[kind][key] as Json;
    const at = `${kind}.${key}`;
    const opt = (...names: string[]) =>
      Object.fromEntries(names.filter((n) => e[n] !== undefined).map((n) => [n, e[n]]));
    switch (kind) {
      case 'schemas': {
        if (e.fields !== undefined) {
          const cls = String(e.class ?? 'profile');
          const classUrl = CLASSES[cls.toLowerCase()] ?? cls;
          if (!/^https?:\/\//.test(classUrl)) {
            throw new UsageError(
              `${at}.class: "${cls}" is not a class`,
              'use profile, experienceevent or a class URL',
            );
          }
          const tenant = await this.tenant();
          return {
            body: {
              type: 'object',
              title: e.title,
              // The Schema Registry requires one; the title says what it is well enough.
              description: e.description ?? e.title,
              allOf: [{ $ref: classUrl }, { $ref: '#/definitions/fields' }],
              definitions: {
                fields: {
                  properties: {
                    [`_${tenant}`]: {
                      type: 'object',
                      properties: (fieldSchema(e.fields, `${at}.fields`).properties ?? {}) as Json,
                    },
                  },
                },
              },
            },
          };
        }
        return {
          body: {
            type: 'object',
            description: e.title,
            ...opt('title', 'description', 'allOf', 'definitions'),
          },
        };
      }
      case 'datasets':
        return {
          body: {
            ...opt('name', 'description', 'tags', 'enableErrorDiagnostics', 'fileDescription'),
            schemaRef: {
              id: this.idOf('schemas', e.schema, `${at}.schema`, (s) => /^https?:\/\//.test(s)),
              contentType: e.contentType ?? XDM_FULL,
            },
          },
        };
      case 'connections': {
        const { id, spec } = await this.specByRef('connection', e.connectionSpec, `${at}.connectionSpec`);
        const auth = e.auth as Json;
        const specName =
          auth.specName ?? ((spec?.authSpec as Json[] | undefined)?.[0]?.name as string | undefined);
        if (!specName)
          throw new UsageError(`${at}.auth.specName: required (the spec has no auth spec to default to)`);
        return {
          body: {
            ...opt('name', 'description', 'providerId'),
            connectionSpec: { id, version: (isObj(e.connectionSpec) && e.connectionSpec.version) || '1.0' },
            auth: { specName, params: auth.params ?? {} },
          },
        };
      }
      case 'sourceConnections': {
        const baseRef = e.connection ?? e.baseConnectionId;
        const baseConnectionId =
          baseRef === undefined
            ? undefined
            : this.idOf('connections', baseRef, `${at}.connection`, (s) => UUID.test(s));
        let specRef = e.connectionSpec;
        if (specRef === undefined && typeof baseRef === 'string' && this.config.connections[baseRef]) {
          specRef = (this.config.connections[baseRef] as Json).connectionSpec;
        }
        if (specRef === undefined) {
          throw new UsageError(`${at}.connectionSpec: required when connection is not a key of this file`);
        }
        const { id } = await this.specByRef('connection', specRef, `${at}.connectionSpec`);
        return {
          body: {
            ...opt('name', 'description', 'providerId', 'data', 'params'),
            ...(baseConnectionId ? { baseConnectionId } : {}),
            connectionSpec: { id, version: (isObj(specRef) && specRef.version) || '1.0' },
          },
        };
      }
      case 'targetConnections': {
        const specRef = e.connectionSpec ?? DATA_LAKE_SPEC_ID;
        const { id } = await this.specByRef('connection', specRef, `${at}.connectionSpec`);
        const params: Json = { ...(isObj(e.params) ? e.params : {}) };
        if (e.dataset !== undefined) {
          params.dataSetId = this.idOf('datasets', e.dataset, `${at}.dataset`, (s) =>
            /^[0-9a-f]{24}$/i.test(s),
          );
        }
        return {
          body: {
            ...opt('name', 'description'),
            connectionSpec: { id, version: (isObj(specRef) && specRef.version) || '1.0' },
            data: { format: 'parquet_xdm', ...(isObj(e.data) ? e.data : {}) },
            params,
          },
        };
      }
      case 'mappingSets':
        return {
          body: {
            outputSchema: {
              schemaRef: {
                id: this.idOf('schemas', e.schema, `${at}.schema`, (s) => /^https?:\/\//.test(s)),
                contentType: e.contentType ?? XDM_FULL,
              },
            },
            mappings: e.mappings,
          },
        };
      case 'flows': {
        const { id } = await this.specByRef('flow', e.flowSpec, `${at}.flowSpec`);
        const list = (v: unknown) => (Array.isArray(v) ? v : [v]) as string[];
        const transformations = [...((e.transformations as Json[] | undefined) ?? [])];
        if (e.mapping !== undefined) {
          transformations.push({
            name: 'Mapping',
            params: {
              mappingId: this.idOf('mappingSets', e.mapping, `${at}.mapping`, (s) =>
                /^[0-9a-f]{32}$/i.test(s),
              ),
              mappingVersion: 0,
            },
          });
        }
        return {
          body: {
            ...opt('name', 'description', 'scheduleParams', 'options'),
            flowSpec: { id, version: (isObj(e.flowSpec) && e.flowSpec.version) || '1.0' },
            sourceConnectionIds: list(e.sources).map((s, i) =>
              this.idOf('sourceConnections', s, `${at}.sources[${i}]`, (x) => UUID.test(x)),
            ),
            targetConnectionIds: list(e.targets).map((s, i) =>
              this.idOf('targetConnections', s, `${at}.targets[${i}]`, (x) => UUID.test(x)),
            ),
            ...(transformations.length ? { transformations } : {}),
          },
          ...(typeof e.state === 'string' ? { state: e.state } : {}),
        };
      }
    }
  }

  // ---------------------------------------------------------------- reading the service

  private async actual(kind: Kind, id: string): Promise<Json | undefined> {
    try {
      switch (kind) {
        case 'connections':
          return (await this.client.connections.get(id)) as unknown as Json;
        case 'sourceConnections':
          return (await this.client.sourceConnections.get(id)) as unknown as Json;
        case 'targetConnections':
          return (await this.client.targetConnections.get(id)) as unknown as Json;
        case 'flows':
          return (await this.client.flows.get(id)) as unknown as Json;
        case 'mappingSets':
          return (await this.client.mappingSets.get(id)) as unknown as Json;
        case 'datasets':
          return (await this.client.catalog.dataSets.get(id)) as unknown as Json;
        case 'schemas':
          return (await this.client.schemaRegistry.schemas.get(id)) as unknown as Json;
      }
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * JSON Patch operations that make `actual` hold what `desired` says. `template` is the same body
   * before `${VAR}` resolution: a masked secret is compared by its reference, not its value.
   */
  private diff(
    desired: Json,
    template: Json,
    actual: Json,
    templates: Map<string, string>,
    entry: StateEntry,
  ): { ops: JsonPatchOperation[]; changes: Change[] } {
    const ops: JsonPatchOperation[] = [];
    const changes: Change[] = [];
    const walk = (d: unknown, t: unknown, a: unknown, parts: string[]) => {
      const path = dotted(parts);
      if (isObj(d) && isObj(a)) {
        for (const [k, v] of Object.entries(d)) walk(v, isObj(t) ? t[k] : undefined, a[k], [...parts, k]);
        return;
      }
      if (typeof d === 'string' && a === REDACTED) {
        const was = entry.templates?.[path];
        const now = templates.get(path);
        if (now === undefined || was === now) return;
        ops.push({ op: 'replace', path: pointer(parts), value: d });
        changes.push({ path, from: was ? was : REDACTED, to: now });
        return;
      }
      if (covers(d, a)) return;
      ops.push({ op: a === undefined ? 'add' : 'replace', path: pointer(parts), value: d });
      changes.push({ path, from: a, to: t });
    };
    walk(desired, template, actual, []);
    return { ops, changes };
  }

  // ---------------------------------------------------------------- plan and apply

  /** What `apply()` would do. Reads the service; changes nothing. */
  async plan(): Promise<PlanItem[]> {
    return this.run(false);
  }

  async apply(onItem?: (item: AppliedItem) => void): Promise<AppliedItem[]> {
    return this.run(true, onItem);
  }

  private save(): void {
    this.saveState(this.state);
  }

  private async run(write: boolean, onItem?: (item: AppliedItem) => void): Promise<AppliedItem[]> {
    const items: AppliedItem[] = [];
    this.pending.clear();
    const emit = (item: AppliedItem) => {
      items.push(item);
      onItem?.(item);
    };
    for (const kind of KINDS) {
      for (const key of Object.keys(this.config[kind])) {
        const sk = stateKey(kind, key);
        const { body: template, state: wantedState } = await this.bodyOf(kind, key);
        const { value: body, resolved, templates } = interpolate(template, this.env, `${kind}.${key}`);
        void resolved;
        const digest = digestOf(template);
        const entry = this.state.resources[sk];
        const actual = entry ? await this.actual(kind, entry.id) : undefined;
        const record = (id: string) => {
          this.state.resources[sk] = {
            kind,
            key,
            id,
            digest,
            ...(templates.size ? { templates: Object.fromEntries(templates) } : {}),
            ...(wantedState ? { state: wantedState } : {}),
          };
          this.save();
        };

        if (!entry || !actual) {
          const reason = entry ? `${entry.id} is gone (deleted outside this file)` : undefined;
          if (!write) {
            this.pending.add(sk);
            emit({ action: 'create', kind, key, ...(reason ? { reason } : {}) });
            continue;
          }
          const id = await this.create(kind, body);
          record(id);
          if (kind === 'flows' && wantedState === 'disabled') await this.client.flows.action(id, 'disable');
          emit({ action: 'create', kind, key, id, ...(reason ? { reason } : {}) });
          continue;
        }

        if (!MUTABLE.has(kind)) {
          if (entry.digest === digest) {
            emit({ action: 'unchanged', kind, key, id: entry.id });
            continue;
          }
          const reason = `${SINGULAR[kind]}s cannot be updated: a new one is made${kind === 'schemas' ? ' (give it a new title)' : ''} and what used the old one is pointed at it`;
          if (!write) {
            this.pending.add(sk);
            emit({ action: 'replace', kind, key, id: entry.id, reason });
            continue;
          }
          const id = await this.create(kind, body);
          record(id);
          emit({ action: 'replace', kind, key, id, reason });
          continue;
        }

        const { ops, changes } = this.diff(body, template, actual, templates, entry);
        const stateChange = kind === 'flows' && wantedState && actual.state !== wantedState;
        if (stateChange) changes.push({ path: 'state', from: actual.state, to: wantedState });
        if (ops.length === 0 && !stateChange) {
          if (
            write &&
            (entry.digest !== digest ||
              stable(entry.templates ?? {}) !== stable(Object.fromEntries(templates)))
          )
            record(entry.id);
          emit({ action: 'unchanged', kind, key, id: entry.id });
          continue;
        }
        if (write) {
          if (ops.length) await this.patch(kind, entry.id, ops, String(actual.etag ?? ''));
          if (stateChange)
            await this.client.flows.action(entry.id, wantedState === 'enabled' ? 'enable' : 'disable');
          record(entry.id);
        }
        emit({ action: 'change', kind, key, id: entry.id, changes });
      }
    }

    // What the file no longer lists: flows first, then what they used.
    for (const kind of [...KINDS].reverse()) {
      for (const entry of Object.values(this.state.resources).filter((r) => r.kind === kind)) {
        if (this.config[kind][entry.key] !== undefined) continue;
        const sk = stateKey(kind, entry.key);
        if (!MUTABLE.has(kind)) {
          const reason = `${SINGULAR[kind]}s cannot be deleted through the API: it is left in place and forgotten`;
          if (write) {
            delete this.state.resources[sk];
            this.save();
          }
          emit({ action: 'forget', kind, key: entry.key, id: entry.id, reason });
          continue;
        }
        if (write) {
          await this.remove(kind, entry.id);
          delete this.state.resources[sk];
          this.save();
        }
        emit({ action: 'delete', kind, key: entry.key, id: entry.id });
      }
    }
    return items;
  }

  private async create(kind: Kind, body: Json): Promise<string> {
    const c = this.client;
    switch (kind) {
      case 'schemas': {
        const created = (await c.schemaRegistry.schemas.create(body as never)) as unknown as Json;
        return String(created.$id);
      }
      case 'datasets':
        return (await c.catalog.dataSets.create(body as never)).id;
      case 'connections':
        return (await c.connections.create(body as never)).id;
      case 'sourceConnections':
        return (await c.sourceConnections.create(body as never)).id;
      case 'targetConnections':
        return (await c.targetConnections.create(body as never)).id;
      case 'mappingSets':
        return (await c.mappingSets.create(body as never)).id;
      case 'flows':
        return (await c.flows.create(body as never)).id;
    }
  }

  private async patch(kind: Kind, id: string, ops: JsonPatchOperation[], etag: string): Promise<void> {
    const target =
      kind === 'connections'
        ? this.client.connections
        : kind === 'sourceConnections'
          ? this.client.sourceConnections
          : kind === 'targetConnections'
            ? this.client.targetConnections
            : this.client.flows;
    await target.patch(id, ops, { ifMatch: etag });
  }

  private async remove(kind: Kind, id: string): Promise<void> {
    const target =
      kind === 'connections'
        ? this.client.connections
        : kind === 'sourceConnections'
          ? this.client.sourceConnections
          : kind === 'targetConnections'
            ? this.client.targetConnections
            : this.client.flows;
    try {
      await target.delete(id);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}
