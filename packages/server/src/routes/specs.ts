import { z } from 'zod';
import { FlowProblem } from '../errors.js';
import type { RouteTable } from '../http/route.js';
import type { Services } from '../services.js';

/** `path==a,b` / `path!=a`: the filters spec lookups use (`name=="amazon-s3"`). */
function specFilter(expr: string): (item: unknown) => boolean {
  const m = expr.match(/^([A-Za-z0-9_.]+)(==|!=)(.*)$/s);
  if (!m)
    throw new FlowProblem(
      '1453-400',
      `Invalid query value ${expr} provided in query param: use property=name=="amazon-s3"`,
    );
  const [, path, op, raw] = m as unknown as [string, string, string, string];
  if (raw === '') throw new FlowProblem('1453-400', `Invalid query value ${expr} provided in query param`);
  const values = (raw.match(/"[^"]*"|[^,]+/g) ?? []).map((v) => v.replace(/^"(.*)"$/, '$1'));
  return (item) => {
    let at: unknown = item;
    for (const part of path.split('.')) at = (at as Record<string, unknown> | undefined)?.[part];
    const hit = values.includes(String(at));
    return op === '==' ? hit : !hit;
  };
}

function filterSpecs<T>(items: readonly T[], property: unknown): T[] {
  const exprs =
    property === undefined ? [] : Array.isArray(property) ? property.map(String) : [String(property)];
  const tests = exprs.map(specFilter);
  return items.filter((item) => tests.every((t) => t(item)));
}

function refuseOtherParams(query: unknown): void {
  const extra = Object.keys(query as object).filter((k) => k !== 'property');
  if (extra.length)
    throw new FlowProblem('1451-400', `Invalid params ${extra.join(', ')} provided in query params`);
}

/** Connection and flow specs: organization-agnostic, from the installed connectors and built-ins. */
export function registerSpecs(table: RouteTable, services: Services): void {
  for (const [path, tag, all] of [
    ['connectionSpecs', 'ConnectionSpecs', () => services.specs.connectionSpecs],
    ['flowSpecs', 'FlowSpecs', () => services.specs.flowSpecs],
  ] as const) {
    table.add({
      method: 'GET',
      url: `/data/foundation/flowservice/${path}`,
      operationId: `list${tag}`,
      summary: `List ${path} (filter with property=name=="…")`,
      tag,
      auth: 'platform',
      query: z.object({ property: z.union([z.string(), z.array(z.string())]).optional() }),
      responses: { 200: { description: '{items}' } },
      handler: async (req) => {
        refuseOtherParams(req.query);
        return { items: filterSpecs(all(), (req.query as { property?: unknown }).property) };
      },
    });
    table.add({
      method: 'GET',
      url: `/data/foundation/flowservice/${path}/:id`,
      operationId: `retrieve${tag}`,
      summary: `Get a ${path.slice(0, -1)} by id (wrapped in items)`,
      tag,
      auth: 'platform',
      responses: { 200: { description: '{items: [spec]}' }, 404: { description: 'Not found' } },
      handler: async (req) => {
        const id = (req.params as { id: string }).id;
        const spec = all().find((s) => s.id === id);
        if (!spec) {
          throw new FlowProblem(
            '1439-404',
            `The requested ${path} resource ${id} is not found. Verify the resource ID before trying again.`,
            {
              id,
              type: path,
            },
          );
        }
        return { items: [spec] };
      },
    });
  }
}
