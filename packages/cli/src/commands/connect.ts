import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  type AnySourceConnector,
  FlowServiceClient,
  InflowError,
  type PlannedStep,
  SetupRunner,
  type SetupState,
  SetupStepError,
} from '@inflow/core';
import { parse as parseYaml } from 'yaml';
import {
  type CommandContext,
  type CommandDef,
  commandHelp,
  type Options,
  optionsOf,
  parseWith,
} from '../command.js';
import { stateDir, writePrivateFile } from '../config.js';
import { requireConnector } from '../connectors.js';
import { CliError, EXIT, exitCodeOf, UsageError } from '../errors.js';
import { interpolate } from '../interpolate.js';

type Json = Record<string, unknown>;

const kebab = (s: string) =>
  s
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/_/g, '-')
    .toLowerCase();

interface InputFlag {
  flag: string;
  path: string[];
  kind: 'string' | 'number' | 'integer' | 'boolean' | 'json';
  secret: boolean;
  required: boolean;
  description: string;
}

const CONNECT_OPTIONS: Options = {
  plan: {
    type: 'boolean',
    description: 'Print the requests it would send (secrets redacted) and send nothing',
  },
  restart: {
    type: 'boolean',
    description: 'Forget the saved progress of an earlier failed run and start over',
  },
  input: {
    type: 'string',
    value: 'FILE',
    description: 'Setup input as JSON or YAML (flags override it); ${VAR} reads the environment',
  },
};

/** One flag per field of the connector's setup input: `credentials.s3AccessKey` → `--s3-access-key`. */
export function inputFlags(connector: AnySourceConnector): InputFlag[] {
  const schema = connector.setupInputJsonSchema as Json;
  const reserved = new Set([
    'help',
    'json',
    'profile',
    'endpoint',
    'sandbox',
    ...Object.keys(CONNECT_OPTIONS),
  ]);
  const flags: InputFlag[] = [];
  const kindOf = (s: Json): InputFlag['kind'] => {
    const t = Array.isArray(s.type) ? (s.type as string[]).find((x) => x !== 'null') : s.type;
    if (t === 'string' || t === 'number' || t === 'integer' || t === 'boolean') return t;
    if (!t && Array.isArray(s.enum)) return 'string';
    return 'json';
  };
  const add = (name: string, path: string[], s: Json, required: boolean, parent?: string) => {
    let flag = kebab(name);
    if (reserved.has(flag) || flags.some((f) => f.flag === flag))
      flag = kebab(`${parent ?? 'input'}-${name}`);
    flags.push({
      flag,
      path,
      kind: kindOf(s),
      secret: s.format === 'password',
      required,
      description: String(s.description ?? ''),
    });
  };
  const props = (schema.properties ?? {}) as Record<string, Json>;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  for (const [name, s] of Object.entries(props)) {
    if (s.type === 'object' && s.properties) {
      const inner = new Set((s.required as string[] | undefined) ?? []);
      for (const [sub, ss] of Object.entries(s.properties as Record<string, Json>)) {
        add(sub, [name, sub], ss, required.has(name) && inner.has(sub), name);
      }
    } else {
      add(name, [name], s, required.has(name) && !('default' in s));
    }
  }
  return flags;
}

function flagOptions(flags: InputFlag[]): Options {
  return Object.fromEntries(
    flags.map((f) => [
      f.flag,
      {
        type: f.kind === 'boolean' ? 'boolean' : 'string',
        value: f.kind === 'json' ? 'JSON' : f.kind === 'string' ? (f.secret ? 'SECRET' : 'VALUE') : 'N',
        description:
          `${f.description}${f.required ? ' (required)' : ''}${f.secret ? " — secret: pass '${ENV_VAR}'" : ''}`.trim(),
      },
    ]),
  );
}

function setPath(target: Json, path: string[], value: unknown): void {
  let cur = target;
  for (const key of path.slice(0, -1)) {
    if (!cur[key] || typeof cur[key] !== 'object') cur[key] = {};
    cur = cur[key] as Json;
  }
  cur[path[path.length - 1] as string] = value;
}

function readInputFile(cwd: string, file: string): Json {
  const path = resolve(cwd, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new CliError(`cannot read --input ${path}`, { exitCode: EXIT.usage, cause });
  }
  try {
    const value = parseYaml(text) as unknown;
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value as Json;
  } catch (cause) {
    throw new UsageError(`--input ${path} is not a JSON or YAML object: ${(cause as Error).message}`);
  }
}

function buildInput(ctx: CommandContext, flags: InputFlag[], values: CommandContext['values']): Json {
  const input: Json = typeof values.input === 'string' ? readInputFile(ctx.io.cwd, values.input) : {};
  for (const f of flags) {
    const raw = values[f.flag];
    if (raw === undefined) continue;
    let value: unknown = raw;
    if (typeof raw === 'string') {
      if (f.kind === 'number' || f.kind === 'integer') {
        value = Number(raw);
        if (!Number.isFinite(value as number) || (f.kind === 'integer' && !Number.isInteger(value))) {
          throw new UsageError(
            `--${f.flag} must be a${f.kind === 'integer' ? ' whole' : ''} number, got "${raw}"`,
          );
        }
      } else if (f.kind === 'json') {
        try {
          value = JSON.parse(raw);
        } catch {
          throw new UsageError(`--${f.flag} must be JSON, got "${raw}"`);
        }
      }
    }
    setPath(input, f.path, value);
  }
  return input;
}

export function statePath(ctx: CommandContext, connectorId: string, profileName: string): string {
  return join(stateDir(ctx.io.env), `connect-${profileName}-${connectorId}.json`);
}

function printPlan(ctx: CommandContext, steps: PlannedStep[]): void {
  const { out } = ctx;
  steps.forEach((s, i) => {
    out.line(
      `${out.paint('bold', `${i + 1}. ${s.title}`)}${s.done ? out.paint('dim', ' (done: resumed from saved state)') : ''}`,
    );
    out.line(`   ${s.request.method} ${s.request.url}`);
    for (const [h, v] of Object.entries(s.request.headers)) out.line(out.paint('dim', `   ${h}: ${v}`));
    if (s.request.body !== undefined) {
      for (const l of JSON.stringify(s.request.body, null, 2).split('\n')) out.line(`   ${l}`);
    }
    const produces = Object.entries(s.produces).map(([k, v]) => `${k} ${v}`);
    if (produces.length) out.line(out.paint('dim', `   → ${produces.join(', ')}`));
    out.line();
  });
  out.line(out.paint('dim', 'Nothing was sent. Run without --plan to apply.'));
}

export const connectCommand: CommandDef = {
  name: 'connect',
  summary: "Run a source's documented setup steps: create its connections (and flow), print the ids",
  usage: 'inflow connect <s3|postgresql|streaming|customerio|…> [flags] [--plan]',
  description: [
    "The flags come from the connector's setup input; see `inflow connect <connector> --help`.",
    "Secrets: pass them as '${ENV_VAR}' (single quotes) and they are read from the environment.",
    'If a step fails, the steps before it are saved; run the same command again to resume from the failed',
    'step (--restart starts over). Connectors are the installed packages with the keyword inflow-connector.',
  ].join('\n'),
  options: CONNECT_OPTIONS,
  api: true,
  manualParse: true,
  examples: [
    "S3_SECRET=… inflow connect s3 --s3-access-key AKIA… --s3-secret-key '${S3_SECRET}' --service-url http://127.0.0.1:7480",
    "PG=… inflow connect postgresql --connection-string '${PG}' --plan",
    'inflow connect streaming --name "Web events" --authentication-required',
    'inflow connect customerio --data-set-id 63ec… --schema-id https://ns.adobe.com/acme/schemas/… --tenant-id acme',
  ],
  async run(ctx) {
    const id = ctx.argv.find((a) => !a.startsWith('-'));
    const wantsHelp = ctx.argv.includes('--help') || ctx.argv.includes('-h');
    if (!id) {
      if (wantsHelp) {
        ctx.io.stdout.write(commandHelp(connectCommand));
        return EXIT.ok;
      }
      throw new UsageError('which connector? e.g. `inflow connect s3`', 'see `inflow connect --help`');
    }
    const connector = await requireConnector(ctx.io.cwd, id);
    const flags = inputFlags(connector);
    const specific: CommandDef = {
      ...connectCommand,
      name: `connect ${connector.id}`,
      usage: `inflow connect ${connector.id} [flags] [--plan]`,
      summary: `Run the ${connector.displayName} setup steps: ${connector.setup.steps.map((s: { title: string }) => s.title.toLowerCase()).join('; ')}`,
      options: { ...CONNECT_OPTIONS, ...flagOptions(flags) },
    };
    if (wantsHelp) {
      ctx.io.stdout.write(commandHelp(specific));
      return EXIT.ok;
    }
    const rest = [...ctx.argv];
    rest.splice(rest.indexOf(id), 1);
    const { values } = parseWith(rest, optionsOf(specific), 0, `connect ${connector.id}`);
    Object.assign(ctx.values, values);
    const template = buildInput(ctx, flags, values);
    const { value: input, resolved } = interpolate(template, ctx.io.env, `inflow connect ${connector.id}`);
    const profile = ctx.profile();
    const path = statePath(ctx, connector.id, profile.name);
    let state: SetupState | undefined;
    if (values.restart) rmSync(path, { force: true });
    else if (existsSync(path)) state = JSON.parse(readFileSync(path, 'utf8')) as SetupState;

    let client: FlowServiceClient;
    try {
      client = ctx.client();
    } catch (error) {
      if (!values.plan) throw error;
      // A plan sends nothing: it needs the endpoint, not the credentials.
      client = new FlowServiceClient({
        endpoint: profile.endpoint,
        sandboxName: profile.sandbox,
        ...(profile.orgId ? { orgId: profile.orgId } : {}),
      });
    }
    const runner = new SetupRunner(connector, client);
    const { out } = ctx;
    const guard = <T>(fn: () => T): T => {
      try {
        return fn();
      } catch (error) {
        if (
          InflowError.isInstance(error) &&
          /saved setup state/.test(error.message) &&
          !SetupStepError.isInstance(error)
        ) {
          throw new CliError(error.message, {
            exitCode: EXIT.usage,
            fix: `run it with --restart to start over (state: ${path})`,
            cause: error,
          });
        }
        throw error;
      }
    };

    if (values.plan) {
      const steps = guard(() => runner.plan(input, state ? { state } : {}));
      const redacted = JSON.parse(
        JSON.stringify(steps, (_k, v) => (typeof v === 'string' && resolved.includes(v) ? '[REDACTED]' : v)),
      );
      out.result({ connector: connector.id, steps: redacted }, () => printPlan(ctx, redacted));
      return EXIT.ok;
    }

    const total = connector.setup.steps.length;
    const already = state?.completed.length ?? 0;
    if (already > 0)
      out.note(
        `Resuming ${connector.displayName} setup at step ${already + 1} of ${total} (saved in ${path}).`,
      );
    let shown = already;
    const save = (s: SetupState) => {
      writePrivateFile(path, `${JSON.stringify(s, null, 2)}\n`);
      for (; shown < s.completed.length; shown++) {
        const c = s.completed[shown];
        const step = connector.setup.steps[shown] as { title: string };
        const made = Object.entries(c?.outputs ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(' ');
        out.note(
          `${out.paint('green', '✔')} ${shown + 1}/${total} ${step.title}${made ? out.paint('dim', `  ${made}`) : ''}`,
        );
      }
    };
    try {
      const result = await guard(() => runner.apply(input, { ...(state ? { state } : {}), onState: save }));
      rmSync(path, { force: true });
      out.result(
        { connector: connector.id, outputs: result.outputs, sent: result.sent, resumed: already > 0 },
        () => {
          out.line(`${out.paint('green', '✔')} ${connector.displayName} is set up.`);
          for (const [k, v] of Object.entries(result.outputs)) out.line(`  ${k.padEnd(20)} ${v}`);
          if (result.outputs.inletUrl) {
            out.line('');
            out.line(`Send data:  inflow send ${result.outputs.inletUrl} records.jsonl`);
          }
        },
      );
      return EXIT.ok;
    } catch (error) {
      if (SetupStepError.isInstance(error)) {
        save(error.state);
        throw new CliError(error.message, {
          exitCode: exitCodeOf(error.cause),
          fix: `fix the cause, then run the same command again: it resumes at step ${error.stepIndex + 1} ("${error.stepId}"); --restart starts over`,
          cause: error,
        });
      }
      throw error;
    }
  },
};
