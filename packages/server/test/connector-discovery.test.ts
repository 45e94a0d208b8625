import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { s3Connector } from '@inflow/connector-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_IN_CONNECTORS, configFromEnv, findConnectorPackages, loadConnectors } from '../src/index.js';
import { connectorScanFolders, projectRoot, scanFoldersFrom } from '../src/specs/discovery.js';
import { startTestServer } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const ACME_SPEC_ID = '5b0f7a51-64c2-4b53-9d0e-6f3c1f2a9e10';
const SCOPED_SPEC_ID = '7c2d1e40-3a8b-4f6c-8e21-0d9b5a4c3f77';
const GENERIC_STREAMING = 'e77fde5a-22a8-11ed-861d-0242ac120002';

/** A connector built with the real defineSourceConnector, as a published package would be. */
const connectorModule = (id: string, specId: string, exportLine: string) => `
import { defineSourceConnector } from '@inflow/core';
import { z } from 'zod';

const connector = defineSourceConnector({
  id: '${id}',
  displayName: 'Throwaway ${id}',
  spec: {
    id: '${specId}',
    name: '${id}-webhook',
    providerId: '521eee4d-8cbe-4906-bb48-fb6bd4450033',
    version: '1.0',
    description: 'a throwaway connector written by connector-discovery.test.ts',
    category: 'Streaming',
    dataFormats: ['json'],
    flowSpecIds: ['${GENERIC_STREAMING}'],
  },
  auth: 'none',
  setup: {
    input: z.object({ name: z.string().default('${id} events') }),
    steps: [
      {
        id: 'createSourceConnection',
        title: 'Create the source connection',
        request: ({ api, input }) =>
          api.sourceConnections.create({
            name: input.name,
            connectionSpec: { id: '${specId}', version: '1.0' },
            data: { format: 'json' },
          }),
        produces: { sourceConnectionId: 'id' },
      },
    ],
  },
  async inlet(request) {
    return { ok: true, records: [JSON.parse(request.rawBody.toString('utf8'))] };
  },
});
${exportLine}
`;

let dir: string;

function writePackage(name: string, pkg: Record<string, unknown>, files: Record<string, string>): void {
  const at = join(dir, 'node_modules', name);
  mkdirSync(at, { recursive: true });
  writeFileSync(join(at, 'package.json'), JSON.stringify({ name, version: '0.1.0', type: 'module', ...pkg }));
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(at, file)), { recursive: true });
    writeFileSync(join(at, file), text);
  }
}

const KEYWORDS = { keywords: ['inflow', 'inflow-connector'] };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'inflow-discovery-'));
  // What `npm install` would give the throwaway packages: core (its build) and zod.
  mkdirSync(join(dir, 'node_modules', '@inflow'), { recursive: true });
  symlinkSync(join(ROOT, 'packages/core'), join(dir, 'node_modules/@inflow/core'), 'dir');
  symlinkSync(join(ROOT, 'node_modules/zod'), join(dir, 'node_modules/zod'), 'dir');

  writePackage(
    'inflow-connector-acme',
    { ...KEYWORDS, exports: { '.': { types: './dist/index.d.ts', import: './dist/index.js' } } },
    { 'dist/index.js': connectorModule('acme', ACME_SPEC_ID, 'export { connector as acmeConnector };') },
  );
  writePackage(
    '@acme-labs/inflow-connector-widgets',
    { ...KEYWORDS, main: 'main.js' },
    {
      'main.js': connectorModule('widgets', SCOPED_SPEC_ID, 'export default connector;'),
    },
  );
  writePackage(
    'inflow-connector-throws',
    { ...KEYWORDS, exports: './index.js' },
    {
      'index.js': "throw new Error('ACME_API_URL is not set');\n",
    },
  );
  writePackage('inflow-connector-unbuilt', { ...KEYWORDS, exports: { '.': './dist/index.js' } }, {});
  writePackage(
    'inflow-connector-empty',
    { ...KEYWORDS, exports: './index.js' },
    {
      'index.js': 'export const helper = () => 1;\n',
    },
  );
  writePackage(
    'inflow-connector-future',
    { ...KEYWORDS, exports: './index.js' },
    {
      'index.js':
        "export const futureConnector = { specificationVersion: 'v2', id: 'future', connectionSpec: { id: 'f0000000-0000-4000-8000-000000000000' } };\n",
    },
  );
  // A fork that claims the built-in S3 connection spec id: ignored, the built-in stays.
  writePackage(
    'inflow-connector-s3-fork',
    { ...KEYWORDS, exports: './index.js' },
    {
      'index.js': `export const s3Fork = { specificationVersion: 'v1', id: 's3-fork', displayName: 'S3 fork', connectionSpec: { id: '${s3Connector.connectionSpec.id}', name: 'amazon-s3-fork' }, spec: {} };\n`,
    },
  );
  // Same code, no keyword: not a connector package, never imported.
  writePackage(
    'not-a-connector',
    { exports: './index.js' },
    {
      'index.js': connectorModule(
        'unlisted',
        'a1111111-1111-4111-8111-111111111111',
        'export { connector };',
      ),
    },
  );
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('findConnectorPackages', () => {
  it('lists the packages with the keyword inflow-connector, scoped ones included, and nothing else', () => {
    const found = findConnectorPackages(dir);
    expect(found).toEqual(
      expect.arrayContaining([
        '@acme-labs/inflow-connector-widgets',
        'inflow-connector-acme',
        'inflow-connector-empty',
        'inflow-connector-future',
        'inflow-connector-s3-fork',
        'inflow-connector-throws',
        'inflow-connector-unbuilt',
      ]),
    );
    expect(found).not.toContain('not-a-connector');
    expect(found).not.toContain('zod');
    expect(found).not.toContain('@inflow/core');
  });
});

describe('loadConnectors', () => {
  it('adds every loadable connector package to the built-ins and skips the rest with a reason, never throwing', async () => {
    const { connectors, events } = await loadConnectors({ searchPaths: [dir] });
    expect(connectors.slice(0, BUILT_IN_CONNECTORS.length)).toEqual([...BUILT_IN_CONNECTORS]);
    expect(connectors.slice(BUILT_IN_CONNECTORS.length).map((c) => c.id)).toEqual(['widgets', 'acme']);
    const acme = connectors.find((c) => c.id === 'acme');
    expect(acme?.specificationVersion).toBe('v1');
    expect(acme?.connectionSpec.id).toBe(ACME_SPEC_ID);

    const about = (pkg: string) => events.filter((e) => e.package === pkg);
    expect(about('inflow-connector-acme')).toEqual([
      expect.objectContaining({ level: 'info', message: expect.stringMatching(/loaded connector "acme"/) }),
    ]);
    expect(about('inflow-connector-throws')).toEqual([
      expect.objectContaining({
        level: 'error',
        message: expect.stringMatching(
          /skipped .*inflow-connector-throws: it failed to load \(ACME_API_URL is not set\)/,
        ),
      }),
    ]);
    expect(about('inflow-connector-unbuilt')[0]).toMatchObject({
      level: 'error',
      message: expect.stringMatching(/failed to load.*is it built/),
    });
    expect(about('inflow-connector-empty')[0]).toMatchObject({
      level: 'error',
      message: expect.stringMatching(/exports no SourceConnectorV1/),
    });
    expect(about('inflow-connector-future')[0]).toMatchObject({
      level: 'error',
      message: expect.stringMatching(/specification "v2".*upgrade @inflow\/server/),
    });
    expect(about('inflow-connector-s3-fork')[0]).toMatchObject({
      level: 'warn',
      message: expect.stringMatching(
        /ignored connector "s3-fork" .*connection spec id "ecadc60c-.*" is already served by Amazon S3 \(built-in\)/,
      ),
    });
    expect(about('not-a-connector')).toEqual([]);
    expect(connectors.find((c) => c.connectionSpec.id === s3Connector.connectionSpec.id)).toBe(s3Connector);
  });

  it('with an explicit list scans nothing and loads exactly the named packages and paths', async () => {
    const { connectors, events } = await loadConnectors({
      searchPaths: [dir],
      explicit: [
        'inflow-connector-acme',
        join(dir, 'node_modules/@acme-labs/inflow-connector-widgets/main.js'),
        'inflow-connector-missing',
        './no/such/connector',
        s3Connector,
      ],
    });
    expect(connectors.map((c) => c.id)).toEqual([...BUILT_IN_CONNECTORS.map((c) => c.id), 'acme', 'widgets']);
    expect(events.filter((e) => e.level === 'warn')).toEqual([]);
    expect(events).toContainEqual(
      expect.objectContaining({
        level: 'error',
        package: 'inflow-connector-missing',
        message: expect.stringMatching(/not installed \(npm install inflow-connector-missing\)/),
      }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({ level: 'error', message: expect.stringMatching(/no such file or folder/) }),
    );
    expect(events.some((e) => e.package === 'inflow-connector-throws')).toBe(false);
  });

  it('an empty explicit list serves the built-ins only', async () => {
    const { connectors } = await loadConnectors({ searchPaths: [dir], explicit: [] });
    expect(connectors).toEqual([...BUILT_IN_CONNECTORS]);
  });
});

describe('configFromEnv', () => {
  it('reads INFLOW_CONNECTORS as a comma-separated list, and leaves discovery on without it', () => {
    expect(
      configFromEnv({ INFLOW_CONNECTORS: ' inflow-connector-acme, ./local/connector ,' }).connectors,
    ).toEqual(['inflow-connector-acme', './local/connector']);
    expect(configFromEnv({}).connectors).toBeUndefined();
    expect(configFromEnv({ INFLOW_CONNECTORS: ' ' }).connectors).toBeUndefined();
  });
});

describe('a server with discovery', () => {
  it('serves a discovered package’s connection spec and flow spec entry, and logs the broken ones without failing', async () => {
    const lines: string[] = [];
    const t = await startTestServer({
      connectors: undefined,
      connectorSearchPaths: [dir],
      logLevel: 'info',
      logStream: { write: (line: string) => void lines.push(line) },
    });
    try {
      const specs = await t.client.connectionSpecs.list({ property: 'name==acme-webhook' });
      expect(specs.map((s) => s.id)).toEqual([ACME_SPEC_ID]);
      const flowSpec = await t.client.flowSpecs.get(GENERIC_STREAMING);
      expect(flowSpec.sourceConnectionSpecIds).toEqual(
        expect.arrayContaining([ACME_SPEC_ID, SCOPED_SPEC_ID]),
      );
      const ready = (await (await fetch(`${t.url}/ready`)).json()) as { connectors: string[] };
      expect(ready.connectors).toEqual(
        expect.arrayContaining(['acme-webhook', 'widgets-webhook', 'amazon-s3']),
      );
      expect(ready.connectors).not.toContain('amazon-s3-fork');

      const logged = lines.map((l) => JSON.parse(l) as { level: number; msg: string });
      const warnings = logged.filter((l) => l.level >= 40).map((l) => l.msg);
      expect(warnings).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/inflow-connector-throws: it failed to load/),
          expect.stringMatching(/inflow-connector-unbuilt/),
          expect.stringMatching(/inflow-connector-empty/),
          expect.stringMatching(/inflow-connector-future/),
          expect.stringMatching(/ignored connector "s3-fork"/),
        ]),
      );
      expect(logged.some((l) => /loaded connector "acme"/.test(l.msg))).toBe(true);
    } finally {
      await t.close();
    }
  }, 60_000);
});

/** A package.json-only connector (no imports) at `at`; importing it sets `globalThis[marker]`. */
function plainConnector(at: string, id: string, specId: string, marker: string): void {
  mkdirSync(at, { recursive: true });
  writeFileSync(
    join(at, 'package.json'),
    JSON.stringify({
      name: `inflow-connector-${id}`,
      version: '0.1.0',
      type: 'module',
      ...KEYWORDS,
      exports: './index.js',
    }),
  );
  writeFileSync(
    join(at, 'index.js'),
    `globalThis[${JSON.stringify(marker)}] = true;\nexport const connector = { specificationVersion: 'v1', id: '${id}', displayName: '${id}', connectionSpec: { id: '${specId}', name: '${id}-spec' }, spec: {} };\n`,
  );
}

const writeJson = (path: string, value: unknown) => {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(value));
};

describe('the scan stops at the project root (review of issue 5, item 6)', () => {
  // outer/node_modules/inflow-connector-planted   above every project: never imported
  // outer/project/{package.json, node_modules/inflow-connector-local, src/}
  // outer/ws/{package.json (workspaces apps/*), node_modules/inflow-connector-hoisted, apps/api/package.json, tools/x/package.json}
  // outer/app/{package.json, node_modules/@inflow/server/{package.json, dist/}}   an installed server
  let outer: string;
  const PLANTED = '__inflowPlantedConnectorRan';
  const globals = globalThis as Record<string, unknown>;
  const ids = (connectors: { id: string }[]) => connectors.map((c) => c.id);

  beforeAll(() => {
    outer = realpathSync(mkdtempSync(join(tmpdir(), 'inflow-scan-')));
    plainConnector(
      join(outer, 'node_modules/inflow-connector-planted'),
      'planted',
      'd0000000-0000-4000-8000-00000000000d',
      PLANTED,
    );
    writeJson(join(outer, 'project/package.json'), { name: 'app', private: true });
    mkdirSync(join(outer, 'project/src'), { recursive: true });
    plainConnector(
      join(outer, 'project/node_modules/inflow-connector-local'),
      'local',
      'a0000000-0000-4000-8000-00000000000a',
      '__inflowLocalConnectorRan',
    );
    writeJson(join(outer, 'ws/package.json'), { name: 'ws', private: true, workspaces: ['apps/*'] });
    writeJson(join(outer, 'ws/apps/api/package.json'), { name: 'api' });
    writeJson(join(outer, 'ws/tools/x/package.json'), { name: 'x' });
    plainConnector(
      join(outer, 'ws/node_modules/inflow-connector-hoisted'),
      'hoisted',
      'b0000000-0000-4000-8000-00000000000b',
      '__inflowHoistedConnectorRan',
    );
    writeJson(join(outer, 'app/package.json'), { name: 'served', private: true });
    writeJson(join(outer, 'app/node_modules/@inflow/server/package.json'), { name: '@inflow/server' });
    mkdirSync(join(outer, 'app/node_modules/@inflow/server/dist'), { recursive: true });
  });
  afterAll(() => {
    rmSync(outer, { recursive: true, force: true });
    delete globals[PLANTED];
  });

  it("loads a connector package from the project's node_modules and never imports one in a node_modules above the project", async () => {
    const { connectors, events } = await loadConnectors({
      searchPaths: [join(outer, 'project/src')],
      builtIns: [],
    });
    expect(ids(connectors)).toEqual(['local']);
    expect(events.some((e) => e.package === 'inflow-connector-planted')).toBe(false);
    expect(findConnectorPackages(join(outer, 'project/src'))).toEqual(['inflow-connector-local']);
    expect(globals[PLANTED]).toBeUndefined();
  });

  it('a workspace member finds what npm hoisted to the workspace root; a folder the workspaces do not list stops at its own package.json', async () => {
    expect(projectRoot(join(outer, 'ws/apps/api'))).toBe(join(outer, 'ws'));
    const member = await loadConnectors({ searchPaths: [join(outer, 'ws/apps/api')], builtIns: [] });
    expect(ids(member.connectors)).toEqual(['hoisted']);
    expect(projectRoot(join(outer, 'ws/tools/x'))).toBe(join(outer, 'ws/tools/x'));
    const other = await loadConnectors({ searchPaths: [join(outer, 'ws/tools/x')], builtIns: [] });
    expect(ids(other.connectors)).toEqual([]);
    expect(globals[PLANTED]).toBeUndefined();
  });

  it('an explicit name is looked for where the scan looks, not above the project', async () => {
    const { connectors, events } = await loadConnectors({
      searchPaths: [join(outer, 'project')],
      explicit: ['inflow-connector-planted', 'inflow-connector-local'],
      builtIns: [],
    });
    expect(ids(connectors)).toEqual(['local']);
    expect(events).toContainEqual(
      expect.objectContaining({
        level: 'error',
        package: 'inflow-connector-planted',
        message: expect.stringMatching(
          /not installed \(npm install inflow-connector-planted\) in .*project\/node_modules; or give its path/,
        ),
      }),
    );
    expect(globals[PLANTED]).toBeUndefined();
  });

  it("an installed server scans its own package's node_modules chain up to the app that installed it", () => {
    const server = join(outer, 'app/node_modules/@inflow/server');
    expect(projectRoot(join(server, 'dist'))).toBe(join(outer, 'app'));
    expect(scanFoldersFrom(join(server, 'dist'))).toEqual([
      join(server, 'dist/node_modules'),
      join(server, 'node_modules'),
      join(outer, 'app/node_modules/@inflow/node_modules'),
      join(outer, 'app/node_modules'),
    ]);
  });

  it('by default scans the server package (its workspace, here the repository) and the working directory, nothing above the repository', () => {
    const root = realpathSync(ROOT).replace(/\/$/, '');
    const folders = connectorScanFolders();
    expect(folders).toContain(join(root, 'packages/server/node_modules'));
    expect(folders).toContain(join(root, 'node_modules'));
    for (const folder of folders) expect(folder.startsWith(`${root}/`), folder).toBe(true);
  });
});
