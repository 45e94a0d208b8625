import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FlowServiceClient, ImsServerToServerTokenProvider } from '@inflow/core';
import type { CommandDef } from '../command.js';
import { configPath, defaultImsEndpoint, type Profile, readConfig, saveProfile } from '../config.js';
import { CliError, EXIT, UsageError } from '../errors.js';

interface Bootstrap {
  orgId: string;
  clientId: string;
  clientSecret: string;
  sandboxName?: string;
}

function readBootstrapFile(path: string): Bootstrap {
  let parsed: Partial<Bootstrap>;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<Bootstrap>;
  } catch (cause) {
    throw new CliError(`cannot read the bootstrap file ${path}`, {
      exitCode: EXIT.usage,
      fix: 'start the server once (`npm start`): it writes {data dir}/bootstrap.json',
      cause,
    });
  }
  if (!parsed.orgId || !parsed.clientId || !parsed.clientSecret) {
    throw new CliError(`${path} is not a bootstrap file (it needs orgId, clientId, clientSecret)`, {
      exitCode: EXIT.usage,
    });
  }
  return parsed as Bootstrap;
}

export const loginCommand: CommandDef = {
  name: 'login',
  summary: 'Save a profile: where the API is and which OAuth client to use',
  usage: 'inflow login [--from-bootstrap FILE | --endpoint URL --org-id ID --client-id ID] [--profile NAME]',
  description: [
    'For a local Inflow server, with no flags: reads the bootstrap the server wrote ({data dir}/bootstrap.json,',
    'data dir from --data-dir, INFLOW_DATA_DIR or ./.inflow) and talks to http://127.0.0.1:8080 (or --endpoint).',
    "For Adobe's API: give --endpoint https://platform.adobe.io, --org-id, --client-id and the secret in",
    'INFLOW_CLIENT_SECRET (or --client-secret). The IMS endpoint defaults to https://ims-na1.adobelogin.com for',
    'adobe.io hosts and to the endpoint itself otherwise. The profile is checked by fetching a token',
    `(skip with --skip-verify) and saved to the config file (mode 600; INFLOW_CONFIG or XDG_CONFIG_HOME moves it).`,
  ].join('\n'),
  options: {
    profile: { type: 'string', value: 'NAME', description: 'The profile to write (default "default")' },
    'from-bootstrap': { type: 'string', value: 'FILE', description: "A local server's bootstrap.json" },
    'data-dir': {
      type: 'string',
      value: 'DIR',
      description: "A local server's data dir (its bootstrap.json is read)",
    },
    endpoint: {
      type: 'string',
      value: 'URL',
      description: 'API endpoint (default http://127.0.0.1:8080 for a local server)',
    },
    'ims-endpoint': { type: 'string', value: 'URL', description: 'Where tokens come from (IMS)' },
    'org-id': { type: 'string', value: 'ID', description: 'x-gw-ims-org-id' },
    'client-id': { type: 'string', value: 'ID', description: 'The OAuth client id (x-api-key)' },
    'client-secret': {
      type: 'string',
      value: 'SECRET',
      description: 'The client secret (prefer INFLOW_CLIENT_SECRET)',
    },
    sandbox: { type: 'string', value: 'NAME', description: 'x-sandbox-name (default prod)' },
    'secret-in-env': {
      type: 'boolean',
      description: 'Do not save the secret: it will come from INFLOW_CLIENT_SECRET',
    },
    default: { type: 'boolean', description: 'Make this the default profile' },
    'skip-verify': { type: 'boolean', description: 'Save without fetching a token first' },
  },
  examples: [
    'inflow login                                   # the local server started by `npm start`',
    'inflow login --from-bootstrap .inflow/bootstrap.json --endpoint http://127.0.0.1:9090',
    'INFLOW_CLIENT_SECRET=… inflow login --profile adobe --endpoint https://platform.adobe.io \\',
    '    --ims-endpoint https://ims-na1.adobelogin.com --org-id 5C13…@AdobeOrg --client-id abc123 --sandbox prod',
  ],
  async run(ctx) {
    const { io, out } = ctx;
    const name = ctx.string('profile') ?? io.env.INFLOW_PROFILE ?? 'default';
    const explicitBootstrap = ctx.string('from-bootstrap');
    let bootstrap: Bootstrap | undefined;
    let bootstrapPath: string | undefined;
    if (explicitBootstrap) {
      bootstrapPath = resolve(io.cwd, explicitBootstrap);
      bootstrap = readBootstrapFile(bootstrapPath);
    } else if (!ctx.string('client-id')) {
      const dataDir = ctx.string('data-dir') ?? io.env.INFLOW_DATA_DIR ?? '.inflow';
      const candidate = resolve(io.cwd, join(dataDir, 'bootstrap.json'));
      if (existsSync(candidate)) {
        bootstrapPath = candidate;
        bootstrap = readBootstrapFile(candidate);
      } else if (!ctx.string('endpoint')) {
        throw new UsageError(
          `no bootstrap file at ${candidate} and no --client-id`,
          'start the server with `npm start` in this directory (or pass --data-dir / --from-bootstrap); for Adobe, pass --endpoint, --org-id and --client-id',
        );
      }
    }
    const endpoint = (
      ctx.string('endpoint') ??
      io.env.INFLOW_ENDPOINT ??
      (bootstrap ? `http://127.0.0.1:${io.env.INFLOW_PORT || '8080'}` : undefined)
    )?.replace(/\/+$/, '');
    if (!endpoint)
      throw new UsageError('--endpoint is required', 'e.g. --endpoint https://platform.adobe.io');
    try {
      new URL(endpoint);
    } catch {
      throw new UsageError(
        `--endpoint "${endpoint}" is not a URL`,
        'e.g. --endpoint https://platform.adobe.io',
      );
    }
    const orgId = ctx.string('org-id') ?? bootstrap?.orgId;
    const clientId = ctx.string('client-id') ?? bootstrap?.clientId;
    const clientSecret =
      ctx.string('client-secret') ?? io.env.INFLOW_CLIENT_SECRET ?? bootstrap?.clientSecret;
    if (!orgId)
      throw new UsageError('--org-id is required', 'the org id looks like 5C1328435BF324E90A49402A@AdobeOrg');
    if (!clientId)
      throw new UsageError('--client-id is required', 'the OAuth client id, also sent as x-api-key');
    if (!clientSecret) {
      throw new UsageError(
        'the client secret is missing',
        'set INFLOW_CLIENT_SECRET (or pass --client-secret)',
      );
    }
    const imsEndpoint = (ctx.string('ims-endpoint') ?? defaultImsEndpoint(endpoint)).replace(/\/+$/, '');
    const sandbox = ctx.string('sandbox') ?? bootstrap?.sandboxName ?? 'prod';

    let verified = false;
    if (!ctx.flag('skip-verify')) {
      const tokens = new ImsServerToServerTokenProvider({
        clientId,
        clientSecret,
        imsEndpoint,
        userAgent: 'inflow-cli',
        retry: { maxAttempts: 2 },
      });
      const client = new FlowServiceClient({
        endpoint,
        apiKey: clientId,
        orgId,
        sandboxName: sandbox,
        token: tokens,
        userAgent: 'inflow-cli',
        secrets: [clientSecret],
        retry: { maxAttempts: 2 },
      });
      // A token proves the client; one read proves the org and sandbox headers.
      await client.connectionSpecs.list({ property: 'name==__inflow_login_check__' });
      verified = true;
    }
    const keepInEnv = ctx.flag('secret-in-env');
    const profile: Profile = {
      endpoint,
      imsEndpoint,
      orgId,
      clientId,
      ...(keepInEnv ? {} : { clientSecret }),
      sandbox,
    };
    const existing = readConfig(io.env);
    const path = saveProfile(io.env, name, profile, { makeDefault: ctx.flag('default') });
    const isDefault = readConfig(io.env).defaultProfile === name;
    const { clientSecret: _hidden, ...shown } = profile;
    out.result(
      {
        profile: name,
        path,
        default: isDefault,
        verified,
        secretSaved: !keepInEnv,
        ...shown,
        ...(bootstrapPath ? { bootstrapFile: bootstrapPath } : {}),
      },
      () => {
        out.line(
          `${out.paint('green', '✔')} Saved profile ${out.paint('bold', name)}${isDefault ? ' (default)' : ''} to ${path}`,
        );
        out.line(`  endpoint:     ${endpoint}`);
        out.line(`  IMS endpoint: ${imsEndpoint}`);
        out.line(`  org id:       ${orgId}`);
        out.line(`  client id:    ${clientId}`);
        out.line(`  sandbox:      ${sandbox}`);
        out.line(
          `  secret:       ${keepInEnv ? 'not saved: set INFLOW_CLIENT_SECRET' : 'saved (file mode 600)'}`,
        );
        if (!verified) out.line(`  ${out.paint('yellow', 'not verified')} (--skip-verify)`);
        if (!isDefault && existing.defaultProfile)
          out.line(`Use it with --profile ${name} (the default is ${existing.defaultProfile}).`);
      },
    );
    return EXIT.ok;
  },
};

export const tokenCommand: CommandDef = {
  name: 'token',
  summary: 'Print an access token for the profile (for curl and other tools)',
  usage: 'inflow token [--profile NAME]',
  api: true,
  examples: [
    'curl -H "Authorization: Bearer $(inflow token)" http://127.0.0.1:8080/data/foundation/flowservice/connections …',
    'inflow token --json | jq -r .accessToken',
  ],
  async run(ctx) {
    const token = await ctx.tokens().getToken();
    const p = ctx.profile();
    ctx.out.result(
      {
        accessToken: token,
        tokenType: 'bearer',
        profile: p.name,
        endpoint: p.endpoint,
        apiKey: p.clientId ?? null,
        orgId: p.orgId ?? null,
        sandbox: p.sandbox,
      },
      () => ctx.out.line(token),
    );
    return EXIT.ok;
  },
};

export const profilesCommand: CommandDef = {
  name: 'profiles',
  summary: 'List the saved profiles (secrets are never printed)',
  usage: 'inflow profiles',
  examples: ['inflow profiles', 'inflow profiles --json'],
  async run(ctx) {
    const config = readConfig(ctx.io.env);
    const rows = Object.entries(config.profiles).map(([name, p]) => ({
      name,
      default: name === config.defaultProfile,
      endpoint: p.endpoint,
      imsEndpoint: p.imsEndpoint,
      orgId: p.orgId,
      clientId: p.clientId,
      sandbox: p.sandbox ?? 'prod',
      secretSaved: Boolean(p.clientSecret),
    }));
    ctx.out.result({ path: configPath(ctx.io.env), profiles: rows }, () => {
      ctx.out.table(
        rows.map((r) => ({ ...r, name: r.default ? `${r.name} *` : r.name })),
        [
          { key: 'name', label: 'PROFILE' },
          { key: 'endpoint', label: 'ENDPOINT' },
          { key: 'orgId', label: 'ORG' },
          { key: 'clientId', label: 'CLIENT ID' },
          { key: 'sandbox', label: 'SANDBOX' },
        ],
      );
    });
    return EXIT.ok;
  },
};
