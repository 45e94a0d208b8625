import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type AppliedItem, ApplyEngine, type ApplyState, type PlanItem } from '../apply/engine.js';
import { parseConfig, SINGULAR } from '../apply/model.js';
import type { CommandContext, CommandDef } from '../command.js';
import { stateDir, writePrivateFile } from '../config.js';
import { CliError, EXIT, UsageError } from '../errors.js';
import { interpolate } from '../interpolate.js';

const SYMBOL: Record<PlanItem['action'], string> = {
  create: '+',
  change: '~',
  replace: '±',
  delete: '-',
  forget: '×',
  unchanged: '=',
};

function show(value: unknown): string {
  if (value === undefined) return '(none)';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

function printItem(ctx: CommandContext, item: PlanItem | AppliedItem, done: boolean): void {
  const { out } = ctx;
  if (item.action === 'unchanged' && !ctx.flag('verbose')) return;
  const color =
    item.action === 'create'
      ? 'green'
      : item.action === 'delete'
        ? 'red'
        : item.action === 'unchanged'
          ? 'dim'
          : 'yellow';
  const verb = done
    ? {
        create: 'created',
        change: 'changed',
        replace: 'replaced',
        delete: 'deleted',
        forget: 'forgotten',
        unchanged: 'unchanged',
      }[item.action]
    : item.action;
  out.line(
    `${out.paint(color, `${SYMBOL[item.action]} ${verb.padEnd(9)}`)} ${SINGULAR[item.kind].padEnd(18)} ${item.key}${item.id ? out.paint('dim', `  ${item.id}`) : ''}`,
  );
  if (item.reason) out.line(out.paint('dim', `    ${item.reason}`));
  for (const c of item.changes ?? []) out.line(`    ${c.path}: ${show(c.from)} → ${show(c.to)}`);
}

function summarize(items: PlanItem[]) {
  const count = (a: PlanItem['action']) => items.filter((i) => i.action === a).length;
  return {
    create: count('create'),
    change: count('change'),
    replace: count('replace'),
    delete: count('delete'),
    forget: count('forget'),
    unchanged: count('unchanged'),
  };
}

function summaryLine(s: ReturnType<typeof summarize>, done: boolean): string {
  const words = done
    ? { create: 'created', change: 'changed', replace: 'replaced', delete: 'deleted', forget: 'forgotten' }
    : {
        create: 'to create',
        change: 'to change',
        replace: 'to replace',
        delete: 'to delete',
        forget: 'to forget',
      };
  const parts = (['create', 'change', 'replace', 'delete', 'forget'] as const)
    .filter((a) => s[a] > 0 || a === 'create' || a === 'change' || a === 'delete')
    .map((a) => `${s[a]} ${words[a]}`);
  return `${[...parts, `${s.unchanged} unchanged`].join(', ')}.`;
}

export const applyCommand: CommandDef = {
  name: 'apply',
  summary: 'Create, change or delete connections, mapping sets and flows to match a YAML file',
  usage: 'inflow apply -f inflow.yaml [--plan] [--state FILE]',
  description: [
    'The file declares schemas, datasets, connections, source and target connections, mapping sets and',
    'flows by key (docs/config-as-code.md). apply creates what is missing, patches what differs from the',
    'service and deletes what the file no longer lists (only what it created itself: ownership is kept in a',
    'state file under the config dir, ids only). A second apply with no edits changes nothing. Secrets are',
    'written as ${ENV_VAR} and read from the environment at apply time; a missing variable stops before',
    'anything is sent. After a failure, fix the file and apply again: what was created is not created twice.',
  ].join('\n'),
  api: true,
  options: {
    file: {
      type: 'string',
      short: 'f',
      value: 'FILE',
      description: 'The config file (YAML or JSON); default inflow.yaml',
    },
    plan: { type: 'boolean', description: 'Show what would be created, changed or deleted; change nothing' },
    'exit-code': { type: 'boolean', description: 'With --plan: exit 5 when there are changes (for CI)' },
    state: {
      type: 'string',
      value: 'FILE',
      description: 'Where to keep ownership state (default: under the config dir)',
    },
    verbose: { type: 'boolean', short: 'v', description: 'List unchanged resources too' },
  },
  examples: [
    'inflow apply -f inflow.yaml --plan',
    'S3_SECRET=… inflow apply -f inflow.yaml',
    'inflow apply -f inflow.yaml --plan --exit-code || echo "drift or pending changes"',
    'inflow apply -f inflow.yaml --json | jq .ids',
  ],
  async run(ctx) {
    const file = resolve(ctx.io.cwd, ctx.string('file') ?? 'inflow.yaml');
    if (!existsSync(file))
      throw new UsageError(
        `no config file at ${file}`,
        'pass -f FILE (see examples/config-as-code/inflow.yaml)',
      );
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(file, 'utf8'));
    } catch (cause) {
      throw new UsageError(`${file} is not valid YAML: ${(cause as Error).message}`);
    }
    const config = parseConfig(parsed, file);
    // ${TENANT_ID} is the org's XDM namespace (`_{tenantId}`), asked of the service unless set.
    let env = ctx.io.env;
    if (!env.TENANT_ID && JSON.stringify(config).includes('${TENANT_ID}')) {
      env = { ...env, TENANT_ID: (await ctx.client().schemaRegistry.stats()).tenantId };
    }
    // Every ${VAR} is checked before the first request: a missing one must not leave half a setup.
    interpolate(config, env, ctx.string('file') ?? 'inflow.yaml');
    const profile = ctx.profile();
    const target = { endpoint: profile.endpoint, orgId: profile.orgId, sandbox: profile.sandbox };
    const statePath =
      ctx.string('state') !== undefined
        ? resolve(ctx.io.cwd, ctx.string('state') as string)
        : join(
            stateDir(ctx.io.env),
            `apply-${createHash('sha256')
              .update(JSON.stringify([file, target.endpoint, target.orgId, target.sandbox]))
              .digest('hex')
              .slice(0, 16)}.json`,
          );
    let state: ApplyState = { version: 1, file, target, resources: {} };
    if (existsSync(statePath)) {
      try {
        state = JSON.parse(readFileSync(statePath, 'utf8')) as ApplyState;
      } catch (cause) {
        throw new CliError(`the state file ${statePath} is not valid JSON`, {
          exitCode: EXIT.usage,
          fix: 'restore it, or delete it to start over (resources it lists will be created again)',
          cause,
        });
      }
      if (
        state.target?.endpoint !== target.endpoint ||
        state.target?.orgId !== target.orgId ||
        state.target?.sandbox !== target.sandbox
      ) {
        throw new CliError(
          `the state file ${statePath} belongs to ${state.target?.endpoint} (org ${state.target?.orgId}, sandbox ${state.target?.sandbox})`,
          {
            exitCode: EXIT.usage,
            fix: 'use the profile it was made with, or another --state file',
          },
        );
      }
    }
    const save = (s: ApplyState) => writePrivateFile(statePath, `${JSON.stringify(s, null, 2)}\n`);
    const engine = new ApplyEngine(ctx.client(), config, env, state, save);
    const { out } = ctx;
    const header = () =>
      out.line(
        out.paint(
          'bold',
          `${ctx.string('file') ?? 'inflow.yaml'} → ${profile.endpoint} (org ${profile.orgId ?? '?'}, sandbox ${profile.sandbox})`,
        ),
      );

    if (ctx.flag('plan')) {
      const items = await engine.plan();
      const summary = summarize(items);
      out.result({ file, state: statePath, plan: items, summary }, () => {
        header();
        for (const item of items) printItem(ctx, item, false);
        out.line(summaryLine(summary, false));
        out.line(out.paint('dim', 'Nothing was changed. Run without --plan to apply.'));
      });
      const pending = summary.create + summary.change + summary.replace + summary.delete + summary.forget;
      return ctx.flag('exit-code') && pending > 0 ? EXIT.partial : EXIT.ok;
    }

    if (!out.json) header();
    const items = await engine.apply((item) => {
      if (!out.json) printItem(ctx, item, true);
    });
    const summary = summarize(items);
    const ids: Record<string, Record<string, string>> = {};
    for (const r of Object.values(engine.state.resources)) (ids[r.kind] ??= {})[r.key] = r.id;
    out.result({ file, state: statePath, applied: items, summary, ids }, () => {
      out.line(summaryLine(summary, true));
    });
    return EXIT.ok;
  },
};
