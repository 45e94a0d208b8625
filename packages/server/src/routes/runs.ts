import { z } from 'zod';
import { FlowProblem, invalid, notFound } from '../errors.js';
import { bodyOf, callOf, parse, type RouteTable, scopeOf } from '../http/route.js';
import type { Runs } from '../runs/index.js';
import type { Services } from '../services.js';
import { listResources } from '../store/list-query.js';

/** Epoch seconds, as a number or the digits the docs send. */
const epochSeconds = z.union([
  z.int().nonnegative(),
  z.string().regex(/^\d{1,15}$/, 'must be epoch seconds'),
]);

const runCreate = z.strictObject({
  flowId: z.string().min(1),
  params: z
    .strictObject({
      startTime: epochSeconds.optional(),
      windowStartTime: epochSeconds.optional(),
      windowEndTime: epochSeconds.optional(),
      deltaColumn: z.strictObject({ name: z.string().min(1) }).optional(),
    })
    .optional(),
  // aepp sends `status: "active"` (reference §4.5): accepted and ignored.
  status: z.string().optional(),
});

/** Runs: listed and read here; created by the scheduler or on demand (`POST /runs`, reference §4.5). */
export function registerRuns(table: RouteTable, services: Services, runs: Runs): void {
  table.add({
    method: 'GET',
    url: '/data/foundation/flowservice/runs',
    operationId: 'listFlowRuns',
    summary: 'List runs (filter with property=flowId==…, state==…)',
    tag: 'Runs',
    auth: 'platform',
    query: z.object({ property: z.union([z.string(), z.array(z.string())]).optional() }),
    responses: { 200: { description: '{items, _links} or {count}' } },
    handler: async (req) => {
      const call = callOf(req);
      return listResources(
        services.store.db,
        {
          kind: 'runs',
          basePath: '/runs',
          fields: ['id', 'flowId', 'state', 'flowSpec', 'metrics', 'createdAt', 'updatedAt', 'params'],
        },
        scopeOf(call),
        req.query as Record<string, string | string[] | undefined>,
      );
    },
  });
  table.add({
    method: 'GET',
    url: '/data/foundation/flowservice/runs/:id',
    operationId: 'retrieveFlowRun',
    summary: 'Get a run by id (wrapped in items)',
    tag: 'Runs',
    auth: 'platform',
    responses: { 200: { description: '{items: [run]}' }, 404: { description: 'Not found' } },
    handler: async (req) => {
      const call = callOf(req);
      const id = (req.params as { id: string }).id;
      const stored = await services.store.get('runs', scopeOf(call), id);
      if (!stored) throw notFound('runs', id);
      return { items: [stored.doc] };
    },
  });
  table.add({
    method: 'POST',
    url: '/data/foundation/flowservice/runs',
    operationId: 'createFlowRun',
    summary: 'Start a run of a batch flow now (on-demand ingestion)',
    tag: 'Runs',
    auth: 'platform',
    body: runCreate,
    responses: {
      201: { description: '{items: [{id, etag}]}' },
      400: { description: 'Not a batch flow, disabled, or bad params' },
    },
    handler: async (req, reply) => {
      const call = callOf(req);
      const scope = scopeOf(call);
      const input = parse(runCreate, bodyOf(req));
      const flow = await services.store.get('flows', scope, input.flowId);
      if (!flow) throw invalid('flowId', `${input.flowId} is not a flow in this sandbox`);
      const spec = services.specs.flowSpec((flow.doc.flowSpec as { id: string }).id);
      if (!spec?.scheduleSpec || !flow.doc.scheduleParams) {
        throw new FlowProblem(
          '1460-400',
          `flow ${input.flowId} is not a batch flow: on-demand runs are for cloud storage and database flows (streaming flows take data at their inlet)`,
          { field: 'flowId' },
        );
      }
      if (flow.doc.state !== 'enabled') {
        throw new FlowProblem(
          '1460-400',
          `flow ${input.flowId} is ${String(flow.doc.state)}: enable it (POST /flows/${input.flowId}/action?op=enable) before running it`,
          { field: 'flowId' },
        );
      }
      const now = Math.floor(services.now() / 1000);
      const p = input.params ?? {};
      const params: Record<string, unknown> = {
        startTime: Number(p.startTime ?? now),
        windowStartTime: Number(p.windowStartTime ?? 0),
        windowEndTime: Number(p.windowEndTime ?? now),
        ...(p.deltaColumn ? { deltaColumn: p.deltaColumn } : {}),
      };
      if ((params.windowStartTime as number) > (params.windowEndTime as number)) {
        throw invalid('params.windowStartTime', 'must not be after params.windowEndTime');
      }
      const created = await runs.executor.create(scope, flow.doc, params, call);
      reply.header('location', `/data/foundation/flowservice/runs/${created.id}`);
      return reply.code(201).send({ items: [created] });
    },
  });
}
