import { InflowValidationError } from '@inflow/core';
import { type CommandDef, commandHelp, makeContext, optionsOf, parseWith } from './command.js';
import { applyCommand } from './commands/apply.js';
import { batchesCommands, datasetsCommands } from './commands/catalog.js';
import { connectCommand } from './commands/connect.js';
import { loginCommand, profilesCommand, tokenCommand } from './commands/login.js';
import { newConnectorCommand } from './commands/new.js';
import { resourceCommands, specsCommand } from './commands/resources.js';
import { sendCommand } from './commands/send.js';
import { serveCommand } from './commands/serve.js';
import { datasetsPreviewCommand, runsWatchCommand } from './commands/watch.js';
import { EXIT, type ExitCode, errorReport, UsageError } from './errors.js';
import { type CliIo, processIo } from './io.js';
import { Output } from './output.js';

declare const __INFLOW_CLI_VERSION__: string;
export const CLI_VERSION: string =
  typeof __INFLOW_CLI_VERSION__ === 'string' ? __INFLOW_CLI_VERSION__ : '0.0.0';

/** Every command, in the order `inflow --help` lists them. */
export const COMMANDS: readonly CommandDef[] = [
  serveCommand,
  loginCommand,
  tokenCommand,
  profilesCommand,
  specsCommand,
  connectCommand,
  applyCommand,
  sendCommand,
  ...resourceCommands.filter((c) => !c.name.startsWith('runs')),
  ...resourceCommands.filter((c) => c.name.startsWith('runs')),
  runsWatchCommand,
  ...datasetsCommands,
  datasetsPreviewCommand,
  ...batchesCommands,
  newConnectorCommand,
];

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'inflow: run and drive a Flow Service (local Inflow, or Adobe Experience Platform)',
    '',
    'Usage: inflow <command> [flags]      (inflow <command> --help for its flags and examples)',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Every command takes --json (output for scripts) and --help. Commands that call the API take',
    '--profile, --endpoint and --sandbox; the profile comes from `inflow login` (INFLOW_CONFIG or',
    '~/.config/inflow/config.json); INFLOW_ENDPOINT, INFLOW_ORG_ID, INFLOW_CLIENT_ID, INFLOW_CLIENT_SECRET,',
    'INFLOW_SANDBOX and INFLOW_ACCESS_TOKEN override it.',
    '',
    'Quick start:',
    '  npm start                                  # the server, in one terminal',
    '  inflow login                               # a profile from its bootstrap',
    '  inflow connect streaming --name "Web events"',
    '  inflow send <inlet-url> events.jsonl',
    '',
    'Exit codes: 0 ok, 1 API/runtime error, 2 usage, 3 auth/profile, 4 not found, 5 partial, 130 interrupted',
    '',
  ].join('\n');
}

/** The command an argv selects: the longest name that matches its leading words. */
function findCommand(argv: string[]): { command: CommandDef; rest: string[] } | undefined {
  const words = argv.slice(0, 2);
  for (const n of [2, 1]) {
    const name = words.slice(0, n).join(' ');
    const command = COMMANDS.find((c) => c.name === name);
    if (command) return { command, rest: argv.slice(n) };
  }
  return undefined;
}

function groupHelp(group: string): string | undefined {
  const subs = COMMANDS.filter((c) => c.name.startsWith(`${group} `));
  if (subs.length === 0) return undefined;
  const width = Math.max(...subs.map((c) => c.name.length));
  return `Usage: inflow ${group} <${subs.map((c) => c.name.split(' ')[1]).join('|')}> [flags]\n\n${subs
    .map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`)
    .join('\n')}\n`;
}

function printError(io: CliIo, json: boolean, error: unknown, command?: CommandDef): ExitCode {
  const report = errorReport(error);
  if (!report.error.fix && report.error.exitCode === EXIT.usage && command) {
    report.error.fix = `see \`inflow ${command.name} --help\``;
  }
  if (json) {
    io.stderr.write(`${JSON.stringify(report)}\n`);
    return report.error.exitCode;
  }
  const out = new Output({ ...io, stdout: io.stderr }, false);
  const e = report.error;
  out.line(`${out.paint('red', 'Error:')} ${e.message}`);
  if (InflowValidationError.isInstance(error))
    for (const i of error.issues) out.line(`  ${i.path}: ${i.message}`);
  if (e.fix) out.line(`${out.paint('yellow', 'Fix:')} ${e.fix}`);
  return e.exitCode;
}

/**
 * Runs the CLI: `argv` without the node and script paths. Returns the exit code and never
 * throws; output goes to `io` (the process's streams by default).
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const args = [...argv];
  const json = args.includes('--json');
  let selected: CommandDef | undefined;
  try {
    if (args.length === 0 || args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
      const topic = args[0] === 'help' ? args.slice(1) : [];
      const found = topic.length ? findCommand(topic) : undefined;
      io.stdout.write(found ? commandHelp(found.command) : (topic[0] && groupHelp(topic[0])) || overview());
      return args.length === 0 ? EXIT.usage : EXIT.ok;
    }
    if (args[0] === '--version' || args[0] === '-v' || args[0] === 'version') {
      io.stdout.write(json ? `${JSON.stringify({ version: CLI_VERSION })}\n` : `${CLI_VERSION}\n`);
      return EXIT.ok;
    }
    const found = findCommand(args);
    if (!found) {
      const group = groupHelp(args[0] as string);
      if (group) {
        io.stderr.write(group);
        throw new UsageError(
          args[1] ? `unknown command "${args[0]} ${args[1]}"` : `"${args[0]}" needs a subcommand`,
          `see \`inflow ${args[0]} --help\``,
        );
      }
      throw new UsageError(`unknown command "${args[0]}"`, 'see `inflow --help` for the list');
    }
    const { command, rest } = found;
    selected = command;
    if (command.manualParse) {
      const values = { json: rest.includes('--json'), help: false } as Record<
        string,
        string | boolean | string[] | undefined
      >;
      // Profile flags are read here too, so the connector-specific parse can run after discovery.
      const ctx = makeContext(io, command, rest, { values, positionals: [] });
      const pre = parseWith(
        rest.filter(
          (a, i) =>
            ['--profile', '--endpoint', '--sandbox'].includes(a) ||
            ['--profile', '--endpoint', '--sandbox'].includes(rest[i - 1] ?? ''),
        ),
        optionsOf({ ...command, options: {} }),
        0,
        command.name,
      );
      Object.assign(values, pre.values);
      return (await command.run(ctx)) ?? EXIT.ok;
    }
    const parsed = parseWith(rest, optionsOf(command), command.maxPositionals ?? 0, command.name);
    if (parsed.values.help) {
      io.stdout.write(commandHelp(command));
      return EXIT.ok;
    }
    if (parsed.positionals.length < (command.minPositionals ?? 0)) {
      throw new UsageError(`missing argument: ${command.usage}`, `see \`inflow ${command.name} --help\``);
    }
    const ctx = makeContext(io, command, rest, parsed);
    return (await command.run(ctx)) ?? EXIT.ok;
  } catch (error) {
    return printError(io, json, error, selected);
  }
}
