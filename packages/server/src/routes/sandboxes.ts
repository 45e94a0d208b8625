import { z } from 'zod';
import { FlowProblem } from '../errors.js';
import { callOf, parse, type RouteTable } from '../http/route.js';
import type { Services } from '../services.js';

const sandboxCreate = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes'),
  title: z.string().optional(),
  type: z.enum(['development', 'production']).default('development'),
});

/**
 * Sandboxes of the caller's org (`/data/foundation/sandbox-management/sandboxes`). They need the
 * Platform headers like everything else (any existing sandbox name will do in x-sandbox-name).
 */
export function registerSandboxes(table: RouteTable, services: Services): void {
  const url = '/data/foundation/sandbox-management/sandboxes';
  table.add({
    method: 'GET',
    url,
    operationId: 'listSandboxes',
    summary: "List the org's sandboxes",
    tag: 'Sandboxes',
    auth: 'platform',
    responses: { 200: { description: '{sandboxes: [...]}' } },
    handler: async (req) => {
      const call = callOf(req);
      const list = await services.tenancy.sandboxes(call.orgId);
      return { sandboxes: list.map((s) => ({ name: s.name, id: s.id, type: s.type, state: 'active' })) };
    },
  });
  table.add({
    method: 'POST',
    url,
    operationId: 'createSandbox',
    summary: 'Create a sandbox: {name, title?, type?}',
    tag: 'Sandboxes',
    auth: 'platform',
    body: sandboxCreate,
    responses: { 201: { description: 'The sandbox' }, 409: { description: 'Exists' } },
    handler: async (req, reply) => {
      const call = callOf(req);
      const input = parse(sandboxCreate, req.body);
      if (!(await services.tenancy.createSandbox(call.orgId, input.name, input.type))) {
        throw new FlowProblem('1460-400', `a sandbox named ${input.name} exists already`, { field: 'name' });
      }
      const created = await services.tenancy.sandbox(call.orgId, input.name);
      return reply.code(201).send({
        name: input.name,
        id: created?.id,
        title: input.title ?? input.name,
        type: input.type,
        state: 'active',
      });
    },
  });
}
