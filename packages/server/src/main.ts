#!/usr/bin/env node
import { relative } from 'node:path';
import { buildServer } from './app.js';
import { saveBootstrap } from './bootstrap-file.js';
import { configFromEnv } from './config.js';

const config = configFromEnv();
const server = await buildServer(config);
const url = await server.listen();
const file = saveBootstrap(config.dataDir, server.bootstrap);
const rel = file ? relative(process.cwd(), file) : undefined;
const shown = file && rel && !rel.startsWith('..') ? rel : file;
const lines = [
  '',
  `Inflow is listening on ${url}`,
  `  data dir:                 ${config.dataDir ?? '(in memory)'}`,
  `  connectors:               ${server.services.specs.connectors.map((c) => c.connectionSpec.name).join(', ') || 'none installed'}`,
  `  org id (x-gw-ims-org-id): ${server.bootstrap.orgId}`,
  `  client id (x-api-key):    ${server.bootstrap.clientId}`,
  `  sandbox (x-sandbox-name): ${server.bootstrap.sandbox}`,
  `  client secret:            ${shown ? `in ${shown} (mode 600)` : '(given in INFLOW_BOOTSTRAP_CLIENT_SECRET)'}`,
  '',
  'Get an access token:',
  `  curl -s -X POST ${url}/ims/token/v3 -d grant_type=client_credentials -d client_id=${server.bootstrap.clientId} \\`,
  shown
    ? `    -d "client_secret=$(node -p "require('${shown.startsWith('/') ? shown : `./${shown}`}').clientSecret")"`
    : '    -d "client_secret=$INFLOW_BOOTSTRAP_CLIENT_SECRET"',
  `API reference: ${url}/openapi.json`,
  '',
];
process.stdout.write(lines.join('\n'));

let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) return;
    closing = true;
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
