import type { FlowServiceClient, ListQuery } from '@inflow/core';
import { stringify } from 'yaml';
import type { CommandContext, CommandDef, Options } from '../command.js';
import { CliError, EXIT, UsageError } from '../errors.js';
import { isoTime } from '../output.js';

type Row = Record<string, unknown>;
const at = (value: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Row)[k] : undefined), value);

interface ResourceDef {
  /** The command word: `connections`, `source-connections`, … */
  word: string;
  /** For messages: `connection`. */
  noun: string;
  pick(client: FlowServiceClient): {
    iterate(q?: ListQuery): AsyncGenerator<unknown>;
    get(id: string): Promise<unknown>;
  };
  columns: { key: string; label: string; value: (r: Row) => unknown }[];
  filterExample: string;
  /** Extra list flags that become filters: `--flow ID` → `flowId==ID`. */
  listFlags?: Options;
  flagFilters?(ctx: CommandContext): string[];
}

const RESOURCES: ResourceDef[] = [
  {
    word: 'connections',
    noun: 'connection',
    pick: (c) => c.connections,
    columns: [
      { key: 'id', label: 'ID', value: (r) => r.id },
      { key: 'name', label: 'NAME', value: (r) => r.name },
      { key: 'state', label: 'STATE', value: (r) => r.state },
      { key: 'spec', label: 'CONNECTION SPEC', value: (r) => at(r, 'connectionSpec.id') },
      { key: 'updated', label: 'UPDATED', value: (r) => isoTime(r.updatedAt) },
    ],
    filterExample:
      "inflow connections list --filter 'connectionSpec.id==ecadc60c-7455-4d87-84dc-2a0e293d997b'",
  },
  {
    word: 'source-connections',
    noun: 'source connection',
    pick: (c) => c.sourceConnections,
    columns: [
      { key: 'id', label: 'ID', value: (r) => r.id },
      { key: 'name', label: 'NAME', value: (r) => r.name },
      { key: 'base', label: 'BASE CONNECTION', value: (r) => r.baseConnectionId },
      { key: 'spec', label: 'CONNECTION SPEC', value: (r) => at(r, 'connectionSpec.id') },
    ],
    filterExample:
      "inflow source-connections list --filter 'baseConnectionId==6990abad-977d-41b9-a85d-17ea8cf1c0e4'",
  },
  {
    word: 'target-connections',
    noun: 'target connection',
    pick: (c) => c.targetConnections,
    columns: [
      { key: 'id', label: 'ID', value: (r) => r.id },
      { key: 'name', label: 'NAME', value: (r) => r.name },
      { key: 'dataset', label: 'DATASET', value: (r) => at(r, 'params.dataSetId') },
    ],
    filterExample:
      "inflow target-connections list --filter 'connectionSpec.id==c604ff05-7f1a-43c0-8e18-33bf874cb11c'",
  },
  {
    word: 'flows',
    noun: 'flow',
    pick: (c) => c.flows,
    columns: [
      { key: 'id', label: 'ID', value: (r) => r.id },
      { key: 'name', label: 'NAME', value: (r) => r.name },
      { key: 'state', label: 'STATE', value: (r) => r.state },
      { key: 'flowSpec', label: 'FLOW SPEC', value: (r) => at(r, 'flowSpec.id') },
      { key: 'lastRun', label: 'LAST RUN', value: (r) => at(r, 'lastRunDetails.state') },
    ],
    filterExample: "inflow flows list --filter 'state==enabled'",
  },
  {
    word: 'runs',
    noun: 'run',
    pick: (c) => c.runs,
    columns: [
      { key: 'id', label: 'ID', value: (r) => r.id },
      { key: 'flow', label: 'FLOW', value: (r) => r.flowId },
      { key: 'status', label: 'STATUS', value: (r) => at(r, 'metrics.statusSummary.status') ?? r.state },
      { key: 'in', label: 'READ', value: (r) => at(r, 'metrics.recordSummary.inputRecordCount') },
      { key: 'out', label: 'WRITTEN', value: (r) => at(r, 'metrics.recordSummary.outputRecordCount') },
      { key: 'failed', label: 'FAILED', value: (r) => at(r, 'metrics.recordSummary.failedRecordCount') },
      {
        key: 'started',
        label: 'STARTED',
        value: (r) => isoTime(at(r, 'metrics.durationSummary.startedAtUTC')),
      },
    ],
    filterExample:
      "inflow runs list --flow 2edc08ac-4df5-4fe6-936f-81a19ce92f5c --filter 'metrics.statusSummary.status==failed'",
    listFlags: {
      flow: { type: 'string', value: 'ID', description: 'Only the runs of this flow (flowId==ID)' },
    },
    flagFilters: (ctx) => {
      const flow = ctx.string('flow');
      return flow ? [`flowId==${flow}`] : [];
    },
  },
];

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new UsageError(`--${flag} must be a whole number ≥ 1, got "${value}"`);
  return Number(value);
}

function listCommand(r: ResourceDef): CommandDef {
  return {
    name: `${r.word} list`,
    summary: `List ${r.noun}s, filtered with the API's property= expressions`,
    usage: `inflow ${r.word} list [--filter EXPR]… [--limit N] [--order-by FIELD]`,
    description:
      "--filter takes the Flow Service's filter syntax (field==value, !=, >, <, >=, <=; comma = any of; repeat for AND) and is sent as property=. All pages are fetched unless --limit stops earlier.",
    api: true,
    options: {
      filter: {
        type: 'string',
        multiple: true,
        value: 'EXPR',
        description: "A property filter, e.g. 'state==enabled' (repeatable: AND)",
      },
      limit: { type: 'string', value: 'N', description: 'Stop after N items' },
      'order-by': { type: 'string', value: 'FIELD', description: 'orderby: name, -createdAt, …' },
      ...r.listFlags,
    },
    examples: [`inflow ${r.word} list`, r.filterExample, `inflow ${r.word} list --json | jq -r '.[].id'`],
    async run(ctx) {
      const filters = [
        ...((ctx.values.filter as string[] | undefined) ?? []),
        ...(r.flagFilters?.(ctx) ?? []),
      ];
      for (const f of filters) {
        if (!/^[!A-Za-z_[\]][\w.[\]]*\s*(==|!=|>=|<=|>|<)/.test(f) && !/^!?[\w.[\]]+$/.test(f)) {
          throw new UsageError(
            `--filter "${f}" is not a filter expression`,
            "write field==value, e.g. --filter 'state==enabled'",
          );
        }
      }
      const limit = positiveInt(ctx.string('limit'), 'limit');
      const orderby = ctx.string('order-by');
      const q: ListQuery = {
        ...(filters.length ? { property: filters } : {}),
        ...(orderby ? { orderby } : {}),
        ...(limit ? { limit: Math.min(limit, 100) } : {}),
      } as ListQuery;
      const items: Row[] = [];
      for await (const item of r.pick(ctx.client()).iterate(q)) {
        items.push(item as Row);
        if (limit && items.length >= limit) break;
      }
      ctx.out.result(items, () =>
        ctx.out.table(
          items.map((item) => Object.fromEntries(r.columns.map((c) => [c.key, c.value(item)]))),
          r.columns,
        ),
      );
      return EXIT.ok;
    },
  };
}

function getCommand(r: ResourceDef): CommandDef {
  return {
    name: `${r.word} get`,
    summary: `Show one ${r.noun} (secrets come back masked)`,
    usage: `inflow ${r.word} get <id>`,
    api: true,
    minPositionals: 1,
    maxPositionals: 1,
    examples: [
      `inflow ${r.word} get 2edc08ac-4df5-4fe6-936f-81a19ce92f5c`,
      `inflow ${r.word} get <id> --json`,
    ],
    async run(ctx) {
      const item = await r.pick(ctx.client()).get(ctx.positionals[0] as string);
      ctx.out.result(item, () => ctx.out.line(stringify(item, { lineWidth: 0 }).trimEnd()));
      return EXIT.ok;
    },
  };
}

export const resourceCommands: CommandDef[] = RESOURCES.flatMap((r) => [listCommand(r), getCommand(r)]);

export const specsCommand: CommandDef = {
  name: 'specs',
  summary: 'List the connection specs the service offers (or the flow specs with --flows)',
  usage: 'inflow specs [--name NAME] [--flows]',
  description:
    'With --name, shows that spec: its auth specs and their fields (secrets marked), the source params and the flow specs it works with.',
  api: true,
  options: {
    name: {
      type: 'string',
      value: 'NAME',
      description: 'Only this spec, by name (amazon-s3, postgresql, http-api, …)',
    },
    flows: { type: 'boolean', description: 'Flow specs instead of connection specs' },
  },
  examples: ['inflow specs', 'inflow specs --name amazon-s3', 'inflow specs --flows --json'],
  async run(ctx) {
    const name = ctx.string('name');
    const property = name ? `name==${JSON.stringify(name)}` : undefined;
    const client = ctx.client();
    const specs = (ctx.flag('flows')
      ? await client.flowSpecs.list(property ? { property } : undefined)
      : await client.connectionSpecs.list(property ? { property } : undefined)) as unknown as Row[];
    if (name && specs.length === 0) {
      const all = (ctx.flag('flows')
        ? await client.flowSpecs.list()
        : await client.connectionSpecs.list()) as unknown as Row[];
      throw new CliError(
        `the service has no ${ctx.flag('flows') ? 'flow' : 'connection'} spec named "${name}"`,
        {
          exitCode: EXIT.notFound,
          fix: `known: ${all.map((s) => s.name).join(', ')}`,
        },
      );
    }
    ctx.out.result(specs, () => {
      if (name && specs.length === 1) {
        describeSpec(ctx, specs[0] as Row);
        return;
      }
      ctx.out.table(
        specs.map((s) => ({
          name: s.name,
          id: s.id,
          category: at(s, 'attributes.category') ?? at(s, 'attributes.frequency'),
          auth: ((s.authSpec as Row[] | undefined) ?? []).map((a) => a.name).join(', '),
        })),
        [
          { key: 'name', label: 'NAME' },
          { key: 'id', label: 'ID' },
          { key: 'category', label: ctx.flag('flows') ? 'FREQUENCY' : 'CATEGORY' },
          ...(ctx.flag('flows') ? [] : [{ key: 'auth', label: 'AUTH SPECS' }]),
        ],
      );
    });
    return EXIT.ok;
  },
};

function describeSpec(ctx: CommandContext, spec: Row): void {
  const { out } = ctx;
  out.line(`${out.paint('bold', String(spec.name))}  ${spec.id}`);
  if (spec.description) out.line(String(spec.description));
  const fields = (schema: unknown) => {
    const props = (at(schema, 'properties') ?? {}) as Record<string, Row>;
    const required = new Set((at(schema, 'required') as string[] | undefined) ?? []);
    for (const [k, v] of Object.entries(props)) {
      const tags = [
        required.has(k) ? 'required' : 'optional',
        v.format === 'password' ? 'secret' : '',
      ].filter(Boolean);
      out.line(
        `    ${k.padEnd(22)} ${String(v.type ?? '').padEnd(8)} ${tags.join(', ').padEnd(18)} ${v.description ?? ''}`.trimEnd(),
      );
    }
  };
  for (const a of (spec.authSpec as Row[] | undefined) ?? []) {
    out.line('');
    out.line(`  auth spec "${a.name}" (${a.type}):`);
    fields(a.spec);
  }
  const source = at(spec, 'sourceSpec.spec');
  if (source) {
    out.line('');
    out.line('  source connection params:');
    fields(source);
  }
}
