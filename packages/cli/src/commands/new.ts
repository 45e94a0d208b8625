import { resolve } from 'node:path';
import type { CommandDef } from '../command.js';
import { EXIT } from '../errors.js';
import { newConnector } from './new-connector.js';

export const newConnectorCommand: CommandDef = {
  name: 'new connector',
  summary: 'Scaffold a connector package (a webhook-style source) that builds and passes the conformance kit',
  usage: 'inflow new connector <id> [--dir DIR] [--force]',
  minPositionals: 1,
  maxPositionals: 1,
  options: {
    dir: {
      type: 'string',
      value: 'DIR',
      description: 'Where the package goes (default ./inflow-connector-<id>)',
    },
    'package-name': {
      type: 'string',
      value: 'NAME',
      description: 'The npm package name (default inflow-connector-<id>)',
    },
    'display-name': {
      type: 'string',
      value: 'NAME',
      description: "The source's name for people (default from the id)",
    },
    force: { type: 'boolean', description: 'Write into a folder that is not empty' },
  },
  examples: [
    'npx inflow new connector acme-crm',
    'inflow new connector acme-crm --dir packages/connector-acme-crm',
  ],
  async run(ctx) {
    const id = ctx.positionals[0] as string;
    const packageName = ctx.string('package-name');
    const displayName = ctx.string('display-name');
    const result = await newConnector({
      id,
      dir: resolve(ctx.io.cwd, ctx.string('dir') ?? `inflow-connector-${id}`),
      force: ctx.flag('force'),
      ...(packageName ? { packageName } : {}),
      ...(displayName ? { displayName } : {}),
    });
    ctx.out.result(result, () => {
      ctx.out.line(`${ctx.out.paint('green', '✔')} Created ${result.dir}`);
      for (const f of result.files) ctx.out.line(`  ${f}`);
      ctx.out.line('');
      ctx.out.line(`Next: cd ${result.dir} && npm install && npm run build && npm test`);
    });
    return EXIT.ok;
  },
};
