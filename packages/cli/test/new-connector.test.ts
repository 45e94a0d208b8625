import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { type AnySourceConnector, CORE_VERSION, InflowValidationError } from '@inflow/core';
import { buildServer } from '@inflow/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTemplateDir, newConnector } from '../src/commands/new-connector.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const TEMPLATE = join(ROOT, 'templates/connector');

let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'inflow-new-connector-'));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** What `npm install` gives the new package: the repository's builds of its dependencies. */
function linkDependencies(dir: string): void {
  const links: Record<string, string> = {
    '@inflow/core': join(ROOT, 'packages/core'),
    '@inflow/testkit': join(ROOT, 'packages/testkit'),
    '@types/node': join(ROOT, 'node_modules/@types/node'),
  };
  for (const name of ['zod', 'tsup', 'typescript', 'vitest']) links[name] = join(ROOT, 'node_modules', name);
  for (const [name, target] of Object.entries(links)) {
    mkdirSync(join(dir, 'node_modules', name, '..'), { recursive: true });
    symlinkSync(target, join(dir, 'node_modules', name), 'dir');
  }
}

/** Runs a Node script in `cwd`, without this test run's vitest environment leaking into it. */
async function node(cwd: string, script: string, args: string[] = []) {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS'),
  );
  try {
    const { stdout, stderr } = await run(process.execPath, [script, ...args], {
      cwd,
      env: { ...env, CI: 'true', NO_COLOR: '1' },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

const issuesOf = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InflowValidationError);
  return (error as InflowValidationError).issues;
};

describe('newConnector: input', () => {
  it('finds the repository template from a checkout', () => {
    expect(defaultTemplateDir()).toBe(TEMPLATE);
  });

  it('refuses ids that are not lower-case [a-z][a-z0-9-]*', async () => {
    for (const id of ['', 'Acme', '1acme', 'acme_crm', 'acme crm', '-acme', 'acme-', 'acme/crm', '../acme']) {
      const issues = await issuesOf(newConnector({ id, dir: join(work, 'bad-id') }));
      expect(issues).toEqual([
        expect.objectContaining({ path: 'id', message: expect.stringMatching(/lower-case/) }),
      ]);
    }
    expect(existsSync(join(work, 'bad-id'))).toBe(false);
  });

  it('refuses a folder that is not empty unless forced, and overwrites only the template files when forced', async () => {
    const dir = join(work, 'taken');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    writeFileSync(join(dir, 'package.json'), '{"name":"old"}');
    const issues = await issuesOf(newConnector({ id: 'acme', dir }));
    expect(issues).toEqual([
      expect.objectContaining({ path: 'dir', message: expect.stringMatching(/is not empty.*--force/) }),
    ]);
    expect(readFileSync(join(dir, 'package.json'), 'utf8')).toBe('{"name":"old"}');

    const result = await newConnector({ id: 'acme', dir, force: true });
    expect(result.files).toContain('package.json');
    expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name).toBe('inflow-connector-acme');
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('refuses a file where the folder should be', async () => {
    const file = join(work, 'a-file');
    writeFileSync(file, '');
    const issues = await issuesOf(newConnector({ id: 'acme', dir: file }));
    expect(issues[0]).toMatchObject({ path: 'dir', message: expect.stringMatching(/is a file/) });
  });
});

describe('newConnector: the scaffolded package', () => {
  it('builds, passes its tests and the conformance kit, runs its inlet, and is loaded by a server through discovery', async () => {
    const dir = join(work, 'inflow-connector-acme-crm');
    const result = await newConnector({ id: 'acme-crm', dir, templateDir: TEMPLATE });
    expect(result.dir).toBe(dir);
    expect(result.files).toEqual([
      '.gitignore',
      'README.md',
      'package.json',
      'src/index.ts',
      'test/connector.conformance.test.ts',
      'test/inlet.test.ts',
      'tsconfig.json',
      'tsup.config.ts',
      'vitest.config.ts',
    ]);
    for (const file of result.files) {
      const text = readFileSync(join(dir, file), 'utf8');
      expect(text, file).not.toMatch(/\{\{\w+\}\}|__camelId__/);
    }
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(pkg).toMatchObject({
      name: 'inflow-connector-acme-crm',
      keywords: expect.arrayContaining(['inflow-connector']),
      dependencies: { '@inflow/core': `^${CORE_VERSION}` },
    });
    const source = readFileSync(join(dir, 'src/index.ts'), 'utf8');
    const specId = /id: '([0-9a-f-]{36})'/.exec(source)?.[1];
    expect(specId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    linkDependencies(dir);
    const build = await node(dir, join(ROOT, 'node_modules/tsup/dist/cli-default.js'));
    expect(build.code, build.output).toBe(0);
    expect(existsSync(join(dir, 'dist/index.js'))).toBe(true);
    expect(existsSync(join(dir, 'dist/index.d.ts'))).toBe(true);

    const typecheck = await node(dir, join(ROOT, 'node_modules/typescript/bin/tsc'), ['--noEmit', '-p', '.']);
    expect(typecheck.code, typecheck.output).toBe(0);

    const tests = await node(dir, join(ROOT, 'node_modules/vitest/vitest.mjs'), ['run']);
    expect(tests.code, tests.output).toBe(0);
    expect(tests.output).toMatch(/Test Files\s+2 passed/);

    const mod = (await import(pathToFileURL(join(dir, 'dist/index.js')).href)) as Record<string, unknown>;
    const connector = mod.acmeCrmConnector as AnySourceConnector;
    expect(connector.specificationVersion).toBe('v1');
    expect(connector.connectionSpec).toMatchObject({ id: specId, name: 'acme-crm-webhook' });
    const body = Buffer.from('{"id":"evt_1","type":"deal.won"}');
    const params = connector.parseSourceParams({ signingSecret: 'acme-secret' });
    const signature = createHmac('sha256', 'acme-secret').update(body).digest('hex');
    const inlet = (headers: Record<string, string>) =>
      connector.inlet?.({ headers, query: {}, rawBody: body, params, now: Date.now() });
    expect(await inlet({ 'x-signature': signature })).toEqual({
      ok: true,
      records: [{ id: 'evt_1', type: 'deal.won' }],
    });
    expect(
      await inlet({ 'x-signature': signature.replace(/^./, (c) => (c === '0' ? '1' : '0')) }),
    ).toMatchObject({
      ok: false,
      status: 401,
    });

    // A project that installed the package: the server finds it by its keyword, with no other edit.
    const app = join(work, 'app');
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    symlinkSync(dir, join(app, 'node_modules/inflow-connector-acme-crm'), 'dir');
    const server = await buildServer({
      host: '127.0.0.1',
      port: 0,
      dataDir: undefined,
      publicUrl: undefined,
      secretKey: undefined,
      bootstrap: { clientSecret: 'new-connector-test-secret' },
      tokenTtlSeconds: 3600,
      logLevel: 'silent',
      connectorSearchPaths: [app],
    });
    try {
      expect(server.services.specs.connector(specId as string)?.id).toBe('acme-crm');
      const ready = await server.app.inject({ method: 'GET', url: '/ready' });
      expect(ready.json().connectors).toContain('acme-crm-webhook');
      const generic = server.services.specs.flowSpec('e77fde5a-22a8-11ed-861d-0242ac120002');
      expect(generic?.sourceConnectionSpecIds).toContain(specId);
    } finally {
      await server.close();
    }
  }, 300_000);
});
