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

/** A dataset id (24 hex digits), or the name of exactly one dataset. */
export async function resolveDataset(ctx: CommandContext, ref: string): Promise<string> {
  if (/^[0-9a-f]{24}$/i.test(ref)) return ref;
  const client = ctx.client();
  const matches: string[] = [];
  const limit = 100;
  for (let start = 0; start < 100_000; start += limit) {
    const page = await client.catalog.dataSets.list({ start, limit });
    for (const d of page) if (d.name === ref) matches.push(d.id);
    if (page.length < limit) break;
  }
  if (matches.length === 1) return matches[0] as string;
  if (matches.length === 0)
    throw new CliError(`no dataset with the id or name "${ref}"`, { exitCode: EXIT.notFound });
  throw new CliError(`${matches.length} datasets are named "${ref}"`, {
    exitCode: EXIT.usage,
    fix: `use an id: ${matches.join(', ')}`,
  });
}
