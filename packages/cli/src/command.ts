import { parseArgs } from 'node:util';
import { FlowServiceClient, ImsServerToServerTokenProvider, type TokenProvider } from '@inflow/core';
import { type ResolvedProfile, resolveProfile } from './config.js';
import { CliError, EXIT, type ExitCode, UsageError } from './errors.js';
import type { CliIo } from './io.js';
import { Output } from './output.js';

export interface OptionDef {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** One line for `--help`. */
  description: string;
  /** The value's name in `--help`: `--filter EXPR`. */
  value?: string;
}

export type Options = Record<string, OptionDef>;

export interface CommandContext {
  io: CliIo;
  out: Output;
  /** Parsed flags (kebab-case names as given). */
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** The arguments after the command name, unparsed (for commands with flags of their own). */
  argv: string[];
  command: CommandDef;
  /** The profile with environment and flags applied; throws (exit 3) when there is none. */
  profile(): ResolvedProfile;
  /** A client for the profile's API: IMS client credentials, or INFLOW_ACCESS_TOKEN. */
  client(): FlowServiceClient;
  /** The profile's token provider. */
  tokens(): TokenProvider;
  string(name: string): string | undefined;
  flag(name: string): boolean;
}

export interface CommandDef {
  /** `connections list`: the words that select it. */
  name: string;
  summary: string;
  /** `inflow connections list [--filter EXPR]…` */
  usage: string;
  description?: string;
  options?: Options;
  /** Talks to the API: adds --profile, --endpoint and --sandbox. */
  api?: boolean;
  /** Positional arguments: at most this many (default 0). */
  maxPositionals?: number;
  minPositionals?: number;
  /** Parses its own flags (the flags depend on a positional): `connect`. */
  manualParse?: boolean;
  examples: string[];
  run(ctx: CommandContext): Promise<ExitCode | undefined>;
}

export const GLOBAL_OPTIONS: Options = {
  help: { type: 'boolean', short: 'h', description: 'Show this help' },
  json: { type: 'boolean', description: 'Print JSON for scripts (errors too, on stderr)' },
};

export const API_OPTIONS: Options = {
  profile: {
    type: 'string',
    value: 'NAME',
    description: 'Use this saved profile (default: INFLOW_PROFILE or the default one)',
  },
  endpoint: { type: 'string', value: 'URL', description: 'The API endpoint, overriding the profile' },
  sandbox: {
    type: 'string',
    value: 'NAME',
    description: 'x-sandbox-name, overriding the profile (default prod)',
  },
};

export function optionsOf(command: CommandDef): Options {
  return { ...GLOBAL_OPTIONS, ...(command.api ? API_OPTIONS : {}), ...command.options };
}

export function parseWith(
  argv: string[],
  options: Options,
  maxPositionals: number,
  commandName: string,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, def] of Object.entries(options)) {
    config[name] = {
      type: def.type,
      ...(def.short ? { short: def.short } : {}),
      ...(def.multiple ? { multiple: true } : {}),
    };
  }
  try {
    const parsed = parseArgs({ args: argv, options: config, allowPositionals: true, strict: true });
    if (parsed.positionals.length > maxPositionals) {
      throw new UsageError(
        `unexpected argument "${parsed.positionals[maxPositionals]}"`,
        `see \`inflow ${commandName} --help\``,
      );
    }
    return {
      values: parsed.values as Record<string, string | boolean | string[] | undefined>,
      positionals: parsed.positionals,
    };
  } catch (error) {
    if (UsageError.isInstance(error)) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(
      message.replace(/\. To specify a positional argument.*$/s, ''),
      `see \`inflow ${commandName} --help\``,
    );
  }
}

export function makeContext(
  io: CliIo,
  command: CommandDef,
  argv: string[],
  parsed: { values: CommandContext['values']; positionals: string[] },
): CommandContext {
  const out = new Output(io, parsed.values.json === true);
  let profile: ResolvedProfile | undefined;
  let tokens: TokenProvider | undefined;
  let client: FlowServiceClient | undefined;
  const str = (name: string) => {
    const v = parsed.values[name];
    return typeof v === 'string' ? v : undefined;
  };
  const ctx: CommandContext = {
    io,
    out,
    values: parsed.values,
    positionals: parsed.positionals,
    argv,
    command,
    string: str,
    flag: (name) => parsed.values[name] === true,
    profile() {
      profile ??= resolveProfile(io.env, {
        profile: str('profile'),
        endpoint: str('endpoint'),
        sandbox: str('sandbox'),
      });
      return profile;
    },
    tokens() {
      if (tokens) return tokens;
      const p = ctx.profile();
      if (p.accessToken) {
        const token = p.accessToken;
        tokens = { getToken: () => Promise.resolve(token) };
        return tokens;
      }
      if (!p.clientId || !p.clientSecret) {
        throw new CliError(`profile "${p.name}" has no ${p.clientId ? 'client secret' : 'client id'}`, {
          exitCode: EXIT.auth,
          fix: 'run `inflow login`, or set INFLOW_CLIENT_ID and INFLOW_CLIENT_SECRET (or INFLOW_ACCESS_TOKEN)',
        });
      }
      tokens = new ImsServerToServerTokenProvider({
        clientId: p.clientId,
        clientSecret: p.clientSecret,
        imsEndpoint: p.imsEndpoint,
        userAgent: 'inflow-cli',
      });
      return tokens;
    },
    client() {
      if (client) return client;
      const p = ctx.profile();
      client = new FlowServiceClient({
        endpoint: p.endpoint,
        ...(p.clientId ? { apiKey: p.clientId } : {}),
        ...(p.orgId ? { orgId: p.orgId } : {}),
        sandboxName: p.sandbox,
        token: ctx.tokens(),
        userAgent: 'inflow-cli',
        ...(p.clientSecret ? { secrets: [p.clientSecret] } : {}),
      });
      return client;
    },
  };
  return ctx;
}

/** `--help` for one command: usage, description, flags, examples. */
export function commandHelp(command: CommandDef): string {
  const lines = [`Usage: ${command.usage}`, '', command.summary];
  if (command.description) lines.push('', command.description);
  const options = optionsOf(command);
  const rows = Object.entries(options).map(([name, def]) => [
    `${def.short ? `-${def.short}, ` : '    '}--${name}${def.value ? ` ${def.value}` : ''}`,
    def.description,
  ]);
  const width = Math.max(...rows.map(([a]) => (a as string).length));
  lines.push('', 'Options:');
  for (const [a, b] of rows) lines.push(`  ${(a as string).padEnd(width)}  ${b}`);
  if (command.examples.length) {
    lines.push('', 'Examples:');
    for (const e of command.examples) lines.push(`  ${e}`);
  }
  lines.push(
    '',
    'Exit codes: 0 ok, 1 API/runtime error, 2 usage, 3 auth/profile, 4 not found, 5 partial, 130 interrupted',
  );
  return `${lines.join('\n')}\n`;
}
