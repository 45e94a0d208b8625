import { relative } from 'node:path';
import { buildServer, configFromEnv, saveBootstrap } from '@inflow/server';
import type { CommandDef, Options } from '../command.js';
import { EXIT } from '../errors.js';

/** Each flag sets the environment variable of the same name (`--data-dir` → `INFLOW_DATA_DIR`). */
const SERVER_FLAGS: Options = {
  host: {
    type: 'string',
    value: 'HOST',
    description: 'INFLOW_HOST: the address to listen on (default 127.0.0.1)',
  },
  port: { type: 'string', value: 'PORT', description: 'INFLOW_PORT: default 8080; 0 picks a free port' },
  'data-dir': {
    type: 'string',
    value: 'DIR',
    description: 'INFLOW_DATA_DIR: where metadata, keys and data live (default ./.inflow)',
  },
  'public-url': {
    type: 'string',
    value: 'URL',
    description: 'INFLOW_PUBLIC_URL: the base of inlet URLs (default the listen address)',
  },
  'secret-key': {
    type: 'string',
    value: 'KEY',
    description: 'INFLOW_SECRET_KEY: 32-byte key (hex/base64) encrypting credentials; prefer the env var',
  },
  'bootstrap-org-id': {
    type: 'string',
    value: 'ID',
    description: 'INFLOW_BOOTSTRAP_ORG_ID: the org the first start creates',
  },
  'bootstrap-client-id': {
    type: 'string',
    value: 'ID',
    description: 'INFLOW_BOOTSTRAP_CLIENT_ID: its OAuth client id',
  },
  'bootstrap-client-secret': {
    type: 'string',
    value: 'SECRET',
    description: 'INFLOW_BOOTSTRAP_CLIENT_SECRET: its secret; prefer the env var',
  },
  'bootstrap-tenant-id': {
    type: 'string',
    value: 'ID',
    description: 'INFLOW_BOOTSTRAP_TENANT_ID: the XDM tenant namespace',
  },
  'token-ttl-seconds': {
    type: 'string',
    value: 'N',
    description: 'INFLOW_TOKEN_TTL_SECONDS: access token lifetime (default 86399)',
  },
  'log-level': {
    type: 'string',
    value: 'LEVEL',
    description: 'INFLOW_LOG_LEVEL: info (default), debug, warn, silent',
  },
};

export const envName = (flag: string) => `INFLOW_${flag.toUpperCase().replace(/-/g, '_')}`;

export const serveCommand: CommandDef = {
  name: 'serve',
  summary: 'Run the Flow Service–compatible server (what `npm start` runs)',
  usage: 'inflow serve [--port N] [--data-dir DIR] [--host HOST] …',
  description:
    'Every flag mirrors an INFLOW_* environment variable; flags win. Stops cleanly on Ctrl-C. With --json, prints one JSON line (url, org id, client id, sandbox, bootstrap file) once it listens.',
  options: SERVER_FLAGS,
  examples: [
    'inflow serve',
    'inflow serve --port 9090 --data-dir /var/lib/inflow',
    'INFLOW_LOG_LEVEL=silent inflow serve --port 0 --json',
  ],
  async run(ctx) {
    const env: Record<string, string | undefined> = { ...ctx.io.env };
    for (const name of Object.keys(SERVER_FLAGS)) {
      const value = ctx.string(name);
      if (value !== undefined) env[envName(name)] = value;
    }
    const config = configFromEnv(env as NodeJS.ProcessEnv);
    if (config.dataDir && !config.dataDir.startsWith('/')) config.dataDir = `${ctx.io.cwd}/${config.dataDir}`;
    const server = await buildServer(config);
    let url: string;
    try {
      url = await server.listen();
    } catch (error) {
      await server.close();
      throw error;
    }
    const file = saveBootstrap(config.dataDir, server.bootstrap);
    const rel = file ? relative(ctx.io.cwd, file) : undefined;
    const shown = file && rel && !rel.startsWith('..') ? rel : file;
    const b = server.bootstrap;
    const summary = {
      url,
      orgId: b.orgId,
      clientId: b.clientId,
      sandbox: b.sandbox,
      tenantId: b.tenantId,
      bootstrapFile: file ?? null,
    };
    // One line, so a script can read it and go on while the server runs.
    if (ctx.out.json) ctx.io.stdout.write(`${JSON.stringify(summary)}\n`);
    else {
      const connectors = server.services.specs.connectors.map((c) => c.connectionSpec.name).join(', ');
      ctx.out.line(
        [
          '',
          `Inflow is listening on ${ctx.out.paint('bold', url)}`,
          `  data dir:                 ${config.dataDir ?? '(in memory)'}`,
          `  connectors:               ${connectors || 'none installed'}`,
          `  org id (x-gw-ims-org-id): ${b.orgId}`,
          `  client id (x-api-key):    ${b.clientId}`,
          `  sandbox (x-sandbox-name): ${b.sandbox}`,
          `  client secret:            ${shown ? `in ${shown} (mode 600)` : '(given in INFLOW_BOOTSTRAP_CLIENT_SECRET)'}`,
          '',
          'Save a CLI profile for it (in another terminal):',
          `  npx inflow login${shown ? ` --from-bootstrap ${shown}` : ` --endpoint ${url} --org-id ${b.orgId} --client-id ${b.clientId}`}${url === 'http://127.0.0.1:8080' || !shown ? '' : ` --endpoint ${url}`}`,
          `API reference: ${url}/openapi.json`,
          '',
        ].join('\n'),
      );
    }
    await new Promise<void>((resolve) => {
      if (!ctx.io.signal) return; // never resolves: runs until the process is killed
      if (ctx.io.signal.aborted) return resolve();
      ctx.io.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await server.close();
    return EXIT.ok;
  },
};
