import type { QueryValue } from '@inflow/core';
import { stringify } from 'yaml';
import type { CommandContext, CommandDef, Options } from '../command.js';
import { CliError, EXIT, UsageError } from '../errors.js';
import { isoTime } from '../output.js';
import { resolveDataset } from './resolve.js';

type Row = Record<string, unknown>;
const at = (value: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Row)[k] : undefined), value);

/** The Catalog answers at most 100 objects a request (reference §13.2); more is a 400. */
const MAX_PAGE = 100;
/** What a list shows without --limit or --all: the Catalog's own default page. */
const DEFAULT_LIMIT = 20;
/** Batch statuses the Catalog documents (reference §13.2); others are sent, with a note. */
const BATCH_STATUSES = new Set([
  'processing',
  'success',
  'failure',
  'queued',
  'retrying',
  'stalled',
  'aborted',
  'abandoned',
  'inactive',
  'failed',
  'loading',
  'loaded',
  'staged',
  'active',
  'staging',
  'deleted',
]);

const LIST_OPTIONS: Options = {
  filter: {
    type: 'string',
    multiple: true,
    value: 'EXPR',
    description: "A Catalog property= expression, e.g. 'name~^Web' (repeatable: AND)",
  },
  limit: { type: 'string', value: 'N', description: `Show the newest N (default ${DEFAULT_LIMIT})` },
  all: { type: 'boolean', description: 'Show every one, page by page' },
};

/** `--limit`/`--all` as the number of objects wanted, undefined meaning all of them. */
function wanted(ctx: CommandContext): number | undefined {
  const text = ctx.string('limit');
  if (text !== undefined && ctx.flag('all'))
    throw new UsageError('--limit and --all cannot be combined', 'give one: --limit N shows the newest N');
  if (ctx.flag('all')) return undefined;
  if (text === undefined) return DEFAULT_LIMIT;
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw new UsageError(`--limit must be a whole number ≥ 1, got "${text}"`);
  return Number(text);
}

/**
 * `--filter` values as the Catalog's `property=` expressions: `name` (exists), `!name` (absent),
 * `name~regex`, `name==v`, `name!=v`, `name<v` (`<=`, `>`, `>=`). A leading `property=` is
 * dropped, so the parameter can be written as the API spells it.
 */
function propertyFilters(ctx: CommandContext): string[] {
  const filters = ((ctx.values.filter as string[] | undefined) ?? []).map((f) =>
    f.startsWith('property=') ? f.slice('property='.length) : f,
  );
  for (const f of filters) {
    if (!/^!?[^\s=!<>~]+$/.test(f) && !/^[^\s=!<>~]+(~|==|!=|<=|>=|<|>)/.test(f)) {
      throw new UsageError(
        `--filter "${f}" is not a Catalog property expression`,
        "write name, !name, name~regex, name==value, name!=value or name<value (<=, >, >=), e.g. --filter 'name~^Web'",
      );
    }
  }
  return filters;
}

/**
 * Pages through a Catalog listing (an id-keyed map per page) newest first until `limit` objects
 * or a short page: the Catalog returns no total, so fewer than asked for is the end. Objects come
 * back with their `id` first. `more`: there are (or, after a full page of 100, may be) more.
 */
async function listCatalog(
  ctx: CommandContext,
  path: '/dataSets' | '/batches',
  query: Record<string, QueryValue>,
  limit: number | undefined,
): Promise<{ items: Row[]; more: boolean }> {
  const client = ctx.client();
  // One more than wanted, so a list that ends exactly at the limit is not reported as having more.
  const size = Math.min(limit === undefined ? MAX_PAGE : limit + 1, MAX_PAGE);
  const byId = new Map<string, Row>();
  for (let start = 0; ; start += size) {
    const body = await client.send<Record<string, unknown> | null>({
      method: 'GET',
      service: 'catalog',
      path,
      query: { ...query, orderBy: 'desc:created', start, limit: size },
    });
    const page = Object.entries(body ?? {}).filter(
      (e): e is [string, Row] => typeof e[1] === 'object' && e[1] !== null,
    );
    // JSON objects lose their order in JavaScript for integer-like keys: restore newest first.
    page.sort(([, a], [, b]) =>
      typeof a.created === 'number' && typeof b.created === 'number' ? b.created - a.created : 0,
    );
    let added = 0;
    for (const [id, obj] of page) {
      // Offsets shift when objects are created while paging: an object seen on the last page is
      // not listed twice.
      if (byId.has(id)) continue;
      byId.set(id, { id, ...obj });
      added++;
    }
    const items = [...byId.values()];
    // A full page with nothing new: a service that ignores `start` would otherwise never end.
    if (page.length < size || added === 0)
      return { items: items.slice(0, limit), more: limit !== undefined && items.length > limit };
    // Exactly `limit` so far (a limit of 100 or more, paged by 100): the next page tells.
    if (limit !== undefined && items.length > limit) return { items: items.slice(0, limit), more: true };
  }
}

function moreNote(ctx: CommandContext, shown: number, more: boolean, nouns: [string, string]): void {
  if (more)
    ctx.out.note(`showing the newest ${shown} ${nouns[shown === 1 ? 0 : 1]}; --limit N or --all for more`);
}

const datasetsListCommand: CommandDef = {
  name: 'datasets list',
  summary: 'List datasets, newest first, with their schema and last batch status',
  usage: 'inflow datasets list [--name PATTERN] [--filter EXPR]… [--limit N | --all]',
  description: [
    'Reads GET /data/foundation/catalog/dataSets?orderBy=desc:created, page by page (at most 100 a request)',
    `until --limit (default ${DEFAULT_LIMIT}) or, with --all, a short page: the Catalog has no total.`,
    '--name is the simple filter name= (* is a wildcard, a comma separates alternatives); --filter is sent',
    'as property= (name, !name, name~regex, name==v, name!=v, name<v, <=, >, >=; top-level fields).',
    "LAST BATCH is the dataset's lastBatchStatus (empty until a batch lands).",
    '--json prints the datasets as the Catalog returns them, each with its id.',
  ].join('\n'),
  api: true,
  options: {
    name: { type: 'string', value: 'PATTERN', description: 'Only datasets with this name (* wildcard)' },
    ...LIST_OPTIONS,
  },
  examples: [
    'inflow datasets list',
    'inflow datasets list --name "Quickstart*" --limit 5',
    "inflow datasets list --filter 'name~(?i)web' --all --json | jq -r '.[].id'",
  ],
  async run(ctx) {
    const limit = wanted(ctx);
    const property = propertyFilters(ctx);
    const name = ctx.string('name');
    if (name === '') throw new UsageError('--name needs a pattern', 'e.g. --name "Web*"');
    const { items, more } = await listCatalog(
      ctx,
      '/dataSets',
      { ...(name !== undefined ? { name } : {}), ...(property.length ? { property } : {}) },
      limit,
    );
    if (ctx.out.json) {
      ctx.out.printJson(items);
      return EXIT.ok;
    }
    ctx.out.table(
      items.map((d) => ({
        id: d.id,
        name: d.name,
        schema: at(d, 'schemaRef.id'),
        created: isoTime(d.created),
        last: d.lastBatchStatus,
      })),
      [
        { key: 'id', label: 'ID' },
        { key: 'name', label: 'NAME' },
        { key: 'schema', label: 'SCHEMA' },
        { key: 'created', label: 'CREATED' },
        { key: 'last', label: 'LAST BATCH' },
      ],
    );
    moreNote(ctx, items.length, more, ['dataset', 'datasets']);
    return EXIT.ok;
  },
};

const datasetsGetCommand: CommandDef = {
  name: 'datasets get',
  summary: 'Show one dataset (by id, or by its name when exactly one has it)',
  usage: 'inflow datasets get <dataSetId | name>',
  description: 'Reads GET /data/foundation/catalog/dataSets/{id}; --json prints the dataset with its id.',
  api: true,
  minPositionals: 1,
  maxPositionals: 1,
  examples: [
    'inflow datasets get 5f3c3cedb2805c194ff0b69a',
    'inflow datasets get "Quickstart people" --json',
  ],
  async run(ctx) {
    const ref = ctx.positionals[0] as string;
    if (ref.trim() === '') throw new UsageError('the dataset id is empty');
    const id = await resolveDataset(ctx, ref);
    const { id: _id, ...rest } = await ctx.client().catalog.dataSets.get(id);
    const dataset = { id, ...rest };
    ctx.out.result(dataset, () => ctx.out.line(stringify(dataset, { lineWidth: 0 }).trimEnd()));
    return EXIT.ok;
  },
};

const recordsOf = (b: Row): unknown =>
  b.recordCount ?? at(b, 'metrics.outputRecordCount') ?? at(b, 'metrics.recordsWritten');
const failedOf = (b: Row): unknown => b.failedRecordCount ?? at(b, 'metrics.failedRecordCount');
const datasetOf = (b: Row): unknown =>
  (Array.isArray(b.relatedObjects) ? (b.relatedObjects as Row[]) : []).find((o) => o?.type === 'dataSet')?.id;

const batchesListCommand: CommandDef = {
  name: 'batches list',
  summary: 'List batches, newest first: status, records landed and failed, dataset',
  usage: 'inflow batches list [--dataset ID] [--status STATUS] [--filter EXPR]… [--limit N | --all]',
  description: [
    'Reads GET /data/foundation/catalog/batches?orderBy=desc:created, page by page (at most 100 a request)',
    `until --limit (default ${DEFAULT_LIMIT}) or, with --all, a short page: the Catalog has no total.`,
    '--dataset is the filter dataSet= (an id, or the name of one dataset); --status is status= (a comma',
    'means any of, a leading ! none of: --status failed, --status !success); --filter is sent as property=.',
    'RECORDS and FAILED are recordCount and failedRecordCount (or the metrics of older batches).',
    '`inflow batches get ID` shows one batch with its errors.',
  ].join('\n'),
  api: true,
  options: {
    dataset: { type: 'string', value: 'ID', description: 'Only the batches of this dataset (id or name)' },
    status: {
      type: 'string',
      value: 'STATUS',
      description: 'Only batches with this status: success, failed, loading, … (a,b or !a)',
    },
    ...LIST_OPTIONS,
  },
  examples: [
    'inflow batches list --dataset 5f3c3cedb2805c194ff0b69a',
    'inflow batches list --status failed --limit 5',
    'inflow batches list --dataset "Quickstart people" --all --json | jq \'[.[].recordCount] | add\'',
  ],
  async run(ctx) {
    const limit = wanted(ctx);
    const property = propertyFilters(ctx);
    const status = ctx.string('status');
    if (status !== undefined) {
      if (!/^!?[A-Za-z]+(,[A-Za-z]+)*$/.test(status))
        throw new UsageError(
          `--status "${status}" is not a status`,
          'e.g. --status failed, --status success,failed or --status !success',
        );
      const unknown = status
        .replace(/^!/, '')
        .split(',')
        .filter((s) => !BATCH_STATUSES.has(s));
      if (unknown.length)
        ctx.out.note(
          `note: the Catalog documents no batch status ${unknown.join(', ')} (${[...BATCH_STATUSES].join(', ')})`,
        );
    }
    const ref = ctx.string('dataset');
    if (ref === '') throw new UsageError('--dataset needs a dataset id or name');
    const dataSet = ref === undefined ? undefined : await resolveDataset(ctx, ref);
    const { items, more } = await listCatalog(
      ctx,
      '/batches',
      {
        ...(dataSet ? { dataSet } : {}),
        ...(status ? { status } : {}),
        ...(property.length ? { property } : {}),
      },
      limit,
    );
    ctx.out.result(items, () => {
      ctx.out.table(
        items.map((b) => ({
          id: b.id,
          status: b.status,
          created: isoTime(b.created),
          records: recordsOf(b),
          failed: failedOf(b),
          dataset: datasetOf(b),
        })),
        [
          { key: 'id', label: 'ID' },
          { key: 'status', label: 'STATUS' },
          { key: 'created', label: 'CREATED' },
          { key: 'records', label: 'RECORDS' },
          { key: 'failed', label: 'FAILED' },
          { key: 'dataset', label: 'DATASET' },
        ],
      );
      moreNote(ctx, items.length, more, ['batch', 'batches']);
    });
    return EXIT.ok;
  },
};

const batchesGetCommand: CommandDef = {
  name: 'batches get',
  summary: 'Show one batch: status, counts, metrics and its errors',
  usage: 'inflow batches get <batchId>',
  description:
    "Reads GET /data/foundation/catalog/batches/{id}. The errors list each failure code with its record count; the failed records themselves are in the batch's row_errors (GET /data/foundation/export/batches/{id}/meta?path=row_errors).",
  api: true,
  minPositionals: 1,
  maxPositionals: 1,
  examples: [
    'inflow batches get 01E8043CY305K2MTV5ANH9G1GC',
    "inflow batches get 01E8043CY305K2MTV5ANH9G1GC --json | jq '.errors'",
  ],
  async run(ctx) {
    const id = ctx.positionals[0] as string;
    if (id.trim() === '') throw new UsageError('the batch id is empty');
    const body = await ctx.client().send<Record<string, Row> | null>({
      method: 'GET',
      service: 'catalog',
      path: `/batches/${encodeURIComponent(id)}`,
    });
    const found = body?.[id];
    if (!found || typeof found !== 'object')
      throw new CliError(`the Catalog answered without batch ${id}`, {
        exitCode: EXIT.notFound,
        fix: 'verify the id, org and sandbox (`inflow batches list`)',
      });
    const { id: _id, ...rest } = found;
    const batch = { id, ...rest };
    ctx.out.result(batch, () => ctx.out.line(stringify(batch, { lineWidth: 0 }).trimEnd()));
    return EXIT.ok;
  },
};

export const datasetsCommands: CommandDef[] = [datasetsListCommand, datasetsGetCommand];
export const batchesCommands: CommandDef[] = [batchesListCommand, batchesGetCommand];
