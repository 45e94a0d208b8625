import { randomUUID } from 'node:crypto';
import type { FlowSpec, JsonSchema } from '@inflow/core';
import { Ajv, type ValidateFunction } from 'ajv';
import { z } from 'zod';
import { newEtag, randomHex } from '../crypto.js';
import { FlowProblem, invalid } from '../errors.js';
import { callOf, type RouteTable, scopeOf } from '../http/route.js';
import { READ_STATE_KIND } from '../runs/executor.js';
import { DEFAULT_MIN_INTERVAL_SECONDS, intervalSeconds, type ScheduleParams } from '../runs/schedule.js';
import { SCHEDULE_STATE_KIND } from '../runs/scheduler.js';
import type { Services } from '../services.js';
import type { Doc, Scope } from '../store/resources.js';
import { specRef } from './connections.js';
import {
  type BuildContext,
  bareEtag,
  load,
  quoted,
  type ResourceKind,
  RUN_FIELDS,
} from './resource-routes.js';

const flowCreate = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  flowSpec: specRef,
  sourceConnectionIds: z.array(z.string().min(1)).min(1),
  targetConnectionIds: z.array(z.string().min(1)).min(1),
  transformations: z
    .array(z.strictObject({ name: z.string().min(1), params: z.record(z.string(), z.unknown()) }))
    .optional(),
  scheduleParams: z
    .strictObject({
      startTime: z.union([z.int(), z.string()]),
      frequency: z.string(),
      interval: z.union([z.int(), z.string()]).optional(),
      backfill: z.union([z.boolean(), z.string()]).optional(),
    })
    .optional(),
  options: z.record(z.string(), z.unknown()).optional(),
});

const ajv = new Ajv({ allErrors: false, strict: false });
const validators = new Map<string, ValidateFunction>();
function validatorFor(spec: JsonSchema): ValidateFunction {
  const key = JSON.stringify(spec);
  let v = validators.get(key);
  if (!v) {
    v = ajv.compile(spec);
    validators.set(key, v);
  }
  return v;
}

/** The docs send schedule numbers and booleans as strings: validate their typed form. */
function typedSchedule(
  s: NonNullable<z.output<typeof flowCreate>['scheduleParams']>,
): Record<string, unknown> {
  // Out of the safe integer range a number is no epoch time or interval: leave it a string, so the
  // schema refuses it.
  const num = (v: unknown) => (typeof v === 'string' && /^-?\d{1,15}$/.test(v) ? Number(v) : v);
  const bool = (v: unknown) => (v === 'true' ? true : v === 'false' ? false : v);
  return {
    startTime: num(s.startTime),
    frequency: s.frequency,
    ...(s.interval === undefined ? {} : { interval: num(s.interval) }),
    ...(s.backfill === undefined ? {} : { backfill: bool(s.backfill) }),
  };
}

const isStreaming = (spec: FlowSpec) =>
  (spec.attributes as { frequency?: string } | undefined)?.frequency === 'streaming';

async function build(input: z.output<typeof flowCreate>, { services, scope }: BuildContext) {
  const flowSpec = services.specs.flowSpec(input.flowSpec.id);
  if (!flowSpec)
    throw new FlowProblem(
      '1413-400',
      `The spec ID provided is invalid: no flow spec ${input.flowSpec.id} here`,
      { field: 'flowSpec.id' },
    );
  const sources: Doc[] = [];
  for (const [i, id] of input.sourceConnectionIds.entries()) {
    const src = await services.store.get('sourceConnections', scope, id);
    if (!src) throw invalid(`sourceConnectionIds.${i}`, `${id} is not a source connection in this sandbox`);
    const specId = (src.doc.connectionSpec as { id: string }).id;
    if (!flowSpec.sourceConnectionSpecIds?.includes(specId)) {
      throw invalid(
        `sourceConnectionIds.${i}`,
        `is a source of spec ${specId}, which flow spec ${flowSpec.name} does not take`,
      );
    }
    sources.push(src.doc);
  }
  const targets: Doc[] = [];
  for (const [i, id] of input.targetConnectionIds.entries()) {
    const tgt = await services.store.get('targetConnections', scope, id);
    if (!tgt) throw invalid(`targetConnectionIds.${i}`, `${id} is not a target connection in this sandbox`);
    const specId = (tgt.doc.connectionSpec as { id: string }).id;
    if (!flowSpec.targetConnectionSpecIds?.includes(specId)) {
      throw invalid(
        `targetConnectionIds.${i}`,
        `is a target of spec ${specId}, which flow spec ${flowSpec.name} does not take`,
      );
    }
    targets.push(tgt.doc);
  }
  const allowed = (flowSpec.transformationSpec ?? flowSpec.transformationSpecs ?? []).map((t) => t.name);
  for (const [i, t] of (input.transformations ?? []).entries()) {
    if (!allowed.includes(t.name)) {
      throw invalid(
        `transformations.${i}.name`,
        `"${t.name}" is not a transformation of ${flowSpec.name}${allowed.length ? `: use ${allowed.join(', ')}` : ''}`,
      );
    }
    if (t.name === 'Mapping') {
      const mappingId = t.params.mappingId;
      if (typeof mappingId !== 'string')
        throw invalid(`transformations.${i}.params.mappingId`, 'is required');
      const mapping = await services.store.get('mappingSets', scope, mappingId);
      if (!mapping)
        throw invalid(
          `transformations.${i}.params.mappingId`,
          `${mappingId} is not a mapping set in this sandbox`,
        );
      const version = t.params.mappingVersion === undefined ? undefined : Number(t.params.mappingVersion);
      if (
        version !== undefined &&
        (Number.isNaN(version) || version > Number(mapping.doc.version ?? 0) || version < 0)
      ) {
        throw new FlowProblem(
          '1412-400',
          `Invalid Mapping Version in request: mapping set ${mappingId} has no version ${String(t.params.mappingVersion)}`,
          {
            field: `transformations.${i}.params.mappingVersion`,
          },
        );
      }
    }
    if (t.name === 'Copy') {
      const delta = t.params.deltaColumn as { name?: unknown } | undefined;
      if (typeof delta?.name !== 'string' || !delta.name)
        throw invalid(`transformations.${i}.params.deltaColumn.name`, 'is required');
    }
  }
  if (input.scheduleParams) {
    if (isStreaming(flowSpec) || !flowSpec.scheduleSpec?.spec) {
      throw invalid('scheduleParams', `must be absent: ${flowSpec.name} flows stream and have no schedule`);
    }
    const validate = validatorFor(flowSpec.scheduleSpec.spec);
    const typed = typedSchedule(input.scheduleParams);
    const minSeconds = services.config.runs?.minScheduleIntervalSeconds ?? DEFAULT_MIN_INTERVAL_SECONDS;
    const seconds = intervalSeconds(typed as unknown as ScheduleParams);
    // The spec holds the real service's 15-minute minimum; a server configured lower checks its own.
    const forSpec =
      typed.frequency === 'minute' && seconds !== undefined && seconds >= minSeconds
        ? { ...typed, interval: Math.max(Number(typed.interval), 15) }
        : typed;
    if (!validate(forSpec)) {
      const err = validate.errors?.[0];
      const field = err?.instancePath
        ? `scheduleParams${err.instancePath.replace(/\//g, '.')}`
        : 'scheduleParams';
      const missing =
        err?.keyword === 'required'
          ? `.${String((err.params as { missingProperty?: string }).missingProperty)}`
          : '';
      const why =
        err?.keyword === 'not'
          ? 'must not have interval or backfill when frequency is once'
          : err?.keyword === 'required'
            ? 'is required'
            : (err?.message ?? 'is invalid');
      throw invalid(`${field}${missing}`, why);
    }
    if (typed.frequency !== 'once' && seconds !== undefined && seconds < minSeconds) {
      throw invalid(
        'scheduleParams.interval',
        `must be at least ${minSeconds} seconds apart (the shortest schedule this server allows)`,
      );
    }
  }
  return {
    name: input.name,
    ...(input.description === undefined ? {} : { description: input.description }),
    flowSpec: { id: flowSpec.id, version: input.flowSpec.version ?? '1.0' },
    sourceConnectionIds: input.sourceConnectionIds,
    targetConnectionIds: input.targetConnectionIds,
    ...(input.transformations ? { transformations: input.transformations } : {}),
    ...(input.scheduleParams ? { scheduleParams: input.scheduleParams } : {}),
    ...(input.options ? { options: input.options } : {}),
    inheritedAttributes: {
      properties: { isSourceFlow: true },
      sourceConnections: sources.map((s) => ({
        id: s.id,
        connectionSpec: s.connectionSpec,
        ...((s.inheritedAttributes as { baseConnection?: unknown } | undefined)?.baseConnection
          ? { baseConnection: (s.inheritedAttributes as { baseConnection: unknown }).baseConnection }
          : {}),
      })),
      targetConnections: targets.map((t) => ({ id: t.id, connectionSpec: t.connectionSpec })),
    },
  };
}

/** A webhook flow's own inlet URL: the server's public URL, `/collection/`, 64 hex digits. */
const OWN_INLET_URL = /\/collection\/[0-9a-f]{64}$/;

const baseConnectionOf = (doc: Record<string, unknown> | undefined) =>
  (doc?.inheritedAttributes as { sourceConnections?: { baseConnection?: { id: string } }[] } | undefined)
    ?.sourceConnections?.[0]?.baseConnection;

/**
 * A streaming flow's inlet: its base connection's (HTTP API), or one of its own (webhook sources,
 * which have no base connection). `options.inletUrl` is the service's: the inlet lookup trusts
 * it, so whatever a client sends there is replaced on every create and PATCH, of any flow. A flow
 * that does not stream has none.
 */
async function inletUrlFor(
  built: Record<string, unknown>,
  { services, scope, existing }: BuildContext,
): Promise<string | undefined> {
  const flowSpec = services.specs.flowSpec((built.flowSpec as { id: string }).id);
  if (!flowSpec || !isStreaming(flowSpec)) return undefined;
  const base = baseConnectionOf(built);
  if (base) {
    const connection = await services.store.get('connections', scope, base.id);
    return (connection?.doc.auth as { params?: { inletUrl?: string } } | undefined)?.params?.inletUrl;
  }
  // A webhook flow keeps the inlet the service gave it (the URL configured in the sender), as
  // long as the stored flow was one too: a stored URL of any other flow was never the service's.
  const previous = (existing?.options as { inletUrl?: unknown } | undefined)?.inletUrl;
  const existingSpec = existing
    ? services.specs.flowSpec((existing.flowSpec as { id: string }).id)
    : undefined;
  if (
    typeof previous === 'string' &&
    OWN_INLET_URL.test(previous) &&
    existingSpec &&
    isStreaming(existingSpec) &&
    !baseConnectionOf(existing)
  ) {
    return previous;
  }
  return `${services.publicUrl()}/collection/${randomHex(32)}`;
}

export const flowsKind: ResourceKind<typeof flowCreate> = {
  kind: 'flows',
  label: 'flows',
  path: '/flows',
  tag: 'Flows',
  create: flowCreate,
  listFields: [
    'id',
    'name',
    'description',
    'flowSpec',
    'state',
    'sourceConnectionIds',
    'targetConnectionIds',
    'transformations',
    'scheduleParams',
    'inheritedAttributes',
    'options',
    'createdAt',
    'updatedAt',
    'lastRunDetails',
    'lastOperation',
  ],
  async build(input, ctx) {
    const built = await build(input, ctx);
    // The client's `options.inletUrl`, if any, is dropped: reference §3.6 lists it among a flow's
    // options but says nothing of clients setting it, and an inlet id a client could choose would
    // let it take over another tenant's inlet. Overwritten rather than refused, so a PATCH of a
    // document as it was read (inletUrl included) still works.
    const { inletUrl: _sent, ...options } = (built.options ?? {}) as Record<string, unknown>;
    const inletUrl = await inletUrlFor(built, ctx);
    if (inletUrl) options.inletUrl = inletUrl;
    if (inletUrl || built.options !== undefined) built.options = options;
    return built;
  },
  extras: async (built) => ({
    state: 'enabled',
    runs: `/runs?property=flowId==${built.id as string}`,
    providerRefId: randomUUID(),
    lastOperation: { started: 0, updated: 0, operation: 'create' },
  }),
  // The only delete hook the resource routes offer runs before their own delete, which then
  // finds nothing left: the flow and its run-engine state go in one statement, never one without
  // the other.
  beforeDelete: (doc, { services, scope }) => deleteFlowAndState(services, scope, doc.id),
};

/** What the run engine keeps per flow, under the flow's id: its saved read state and its next schedule slot. */
const FLOW_STATE_KINDS = [READ_STATE_KIND, SCHEDULE_STATE_KIND];

/**
 * Deletes a flow and, in the same statement, its read state and schedule slot, so that nothing of
 * it outlives it: the scheduler reads only existing flows, so its schedule stops too. The same
 * statement removes state documents of the scope whose flow is already gone: a scheduler tick or
 * a run that was under way when an earlier flow was deleted can still write one afterwards.
 */
async function deleteFlowAndState(services: Services, scope: Scope, flowId: string): Promise<void> {
  await services.store.db.query(
    `delete from resources r where r.org_id = $1 and r.sandbox = $2
       and ((r.kind = 'flows' and r.id = $3)
         or (r.kind = any($4::text[])
           and (r.id = $3 or not exists (
             select 1 from resources f
             where f.kind = 'flows' and f.id = r.id and f.org_id = r.org_id and f.sandbox = r.sandbox))))`,
    [scope.orgId, scope.sandbox, flowId, FLOW_STATE_KINDS],
  );
}

/** `POST /flows/{id}/action?op=enable|disable`. */
export function registerFlowActions(table: RouteTable, services: Services): void {
  table.add({
    method: 'POST',
    url: '/data/foundation/flowservice/flows/:id/action',
    operationId: 'postFlowStateTransition',
    summary: 'Enable or disable a flow (?op=enable|disable)',
    tag: 'Flows',
    auth: 'platform',
    query: z.object({ op: z.string() }),
    responses: { 200: { description: '{id, etag}' }, 400: { description: 'Invalid transition (1422)' } },
    handler: async (req) => {
      const call = callOf(req);
      const op = String((req.query as { op?: string }).op ?? '').toLowerCase();
      if (op !== 'enable' && op !== 'disable') {
        throw new FlowProblem(
          '1451-400',
          `Invalid params op=${String((req.query as { op?: string }).op)} provided in query params: use op=enable or op=disable`,
        );
      }
      const scope = scopeOf(call);
      const stored = await load(
        flowsKind as unknown as ResourceKind<z.ZodObject>,
        services,
        call,
        (req.params as { id: string }).id,
      );
      const ifMatch = req.headers['if-match'];
      if (typeof ifMatch === 'string' && ifMatch && bareEtag(ifMatch) !== stored.etag) {
        throw new FlowProblem(
          '1404-412',
          `The supplied version '${ifMatch}' does not match the current version on entity '"${stored.etag}"'`,
        );
      }
      const target = op === 'enable' ? 'enabled' : 'disabled';
      if (stored.doc.state === target) {
        throw new FlowProblem(
          '1422-400',
          `The action ${op} cannot be applied on the current state ${String(stored.doc.state)}`,
        );
      }
      const now = services.now();
      const etag = newEtag(now);
      const doc = {
        ...stored.doc,
        state: target,
        updatedAt: now,
        updatedBy: call.clientId,
        updatedClient: call.clientId,
        lastOperation: { started: now, updated: now, operation: op },
        version: quoted(etag),
        etag: quoted(etag),
      };
      const result = await services.store.replace('flows', scope, doc, stored.etag, etag, now, RUN_FIELDS);
      if (result !== 'ok')
        throw new FlowProblem('1404-412', 'The flow changed while it was being updated: GET it and retry');
      return { id: doc.id, etag: quoted(etag) };
    },
  });
}
