import { z } from 'zod';
import { notFound } from '../errors.js';
import { callOf, type RouteTable, scopeOf } from '../http/route.js';
import type { Services } from '../services.js';
import { listResources } from '../store/list-query.js';

/** Runs: read-only here; the data plane creates and updates them. */
export function registerRuns(table: RouteTable, services: Services): void {
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
}
