import type { CommandContext } from '../command.js';
import { CliError, EXIT } from '../errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * An id, or the name of exactly one resource: `--flow "Quickstart people"` reads better in docs
 * and scripts than an id copied from an earlier command.
 */
export async function resolveByName(
  ctx: CommandContext,
  kind: 'flows' | 'connections',
  ref: string,
): Promise<string> {
  if (UUID.test(ref)) return ref;
  const found = await ctx.client()[kind].list({ property: `name==${JSON.stringify(ref)}` });
  const noun = kind === 'flows' ? 'flow' : 'connection';
  if (found.length === 1) return (found[0] as { id: string }).id;
  if (found.length === 0) {
    throw new CliError(`no ${noun} with the id or name "${ref}"`, {
      exitCode: EXIT.notFound,
      fix: `see \`inflow ${kind} list\``,
    });
  }
  throw new CliError(`${found.length} ${noun}s are named "${ref}"`, {
    exitCode: EXIT.usage,
    fix: `use an id: ${found.map((f) => (f as { id: string }).id).join(', ')}`,
  });
}

/** The most datasets one name lookup asks for (the Catalog's largest page). */
const NAME_LOOKUP_LIMIT = 100;

/**
 * A dataset id (24 hex digits), or the name of exactly one dataset. The name is looked up with
 * one filtered request, `property=name==…`: the value after `==` is taken verbatim (commas
 * included), and `*`, the Catalog's wildcard, is written `**` to mean itself (Inflow's rule; Adobe
 * documents none). Names are compared exactly here too, so a service that reads the value
 * differently finds nothing rather than the wrong dataset; when the lookup finds nothing, the
 * listing is paged through and compared name by name before the name is called unknown.
 */
export async function resolveDataset(ctx: CommandContext, ref: string): Promise<string> {
  if (/^[0-9a-f]{24}$/i.test(ref)) return ref;
  const client = ctx.client();
  const body = await client.send<Record<string, { name?: unknown } | null> | null>({
    method: 'GET',
    service: 'catalog',
    path: '/dataSets',
    query: { property: `name==${ref.replaceAll('*', '**')}`, properties: 'name', limit: NAME_LOOKUP_LIMIT },
  });
  const matches = Object.entries(body ?? {})
    .filter(([, d]) => d?.name === ref)
    .map(([id]) => id);
  if (matches.length === 0) {
    for (let start = 0; start < 100_000; start += NAME_LOOKUP_LIMIT) {
      const page = await client.catalog.dataSets.list({ start, limit: NAME_LOOKUP_LIMIT });
      for (const d of page) if (d.name === ref) matches.push(d.id);
      if (page.length < NAME_LOOKUP_LIMIT) break;
    }
  }
  if (matches.length === 1) return matches[0] as string;
  if (matches.length === 0)
    throw new CliError(`no dataset with the id or name "${ref}"`, { exitCode: EXIT.notFound });
  const count =
    matches.length === NAME_LOOKUP_LIMIT ? `${NAME_LOOKUP_LIMIT} or more` : String(matches.length);
  throw new CliError(`${count} datasets are named "${ref}"`, {
    exitCode: EXIT.usage,
    fix: `use an id: ${matches.join(', ')}`,
  });
}
