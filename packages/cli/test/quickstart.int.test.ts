import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The README quickstart, run as a new user would: the commands between its
 * `quickstart:begin` and `quickstart:end` markers, in order, with the built `inflow` bin, against
 * the server that `npm start` runs (spawned here on a free port with its own data dir).
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
// The committed bin shim that npm links as `inflow` (it runs dist/bin.js).
const BIN = join(ROOT, 'packages/cli/bin/inflow.js');
const DIST_BIN = join(ROOT, 'packages/cli/dist/bin.js');

function quickstartCommands(): string[] {
  const doc = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const part = doc.slice(doc.indexOf('<!-- quickstart:begin -->'), doc.indexOf('<!-- quickstart:end -->'));
  const blocks = [...part.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  return blocks.flatMap((b) => b.split('\n')).filter((l) => l.startsWith('npx inflow '));
}

/** Builds the CLI (and what it depends on) when its bin is missing or older than its sources. */
function ensureBuilt(): void {
  const newest = (dir: string): number => {
    let t = 0;
    for (const f of spawnSync('find', [dir, '-name', '*.ts'], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean)) {
      t = Math.max(t, statSync(f).mtimeMs);
    }
    return t;
  };
  if (existsSync(DIST_BIN) && statSync(DIST_BIN).mtimeMs >= newest(join(ROOT, 'packages/cli/src'))) return;
  const r = spawnSync(
    'npx',
    ['turbo', 'run', 'build', '--filter=@inflow/cli...', '--output-logs=errors-only'],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  if (r.status !== 0)
    throw new Error(
      `building the CLI failed (npx turbo run build --filter=@inflow/cli...):\n${r.stdout}\n${r.stderr}`,
    );
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

let dir: string;
let server: ChildProcess;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'inflow-quickstart-'));
  // A fresh clone's working directory: the examples, and nothing else.
  cpSync(join(ROOT, 'examples/quickstart'), join(dir, 'examples/quickstart'), { recursive: true });
  const port = await freePort();
  env = {
    PATH: process.env.PATH,
    HOME: dir,
    INFLOW_CONFIG: join(dir, 'config/inflow/config.json'),
    INFLOW_PORT: String(port),
    NO_COLOR: '1',
  };
  // What `npm start` runs after its build.
  server = spawn(process.execPath, [BIN, 'serve'], {
    cwd: dir,
    env: { ...env, INFLOW_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let printed = '';
  server.stdout?.on('data', (d) => (printed += String(d)));
  server.stderr?.on('data', (d) => (printed += String(d)));
  const started = Date.now();
  while (!printed.includes('Inflow is listening')) {
    if (server.exitCode !== null) throw new Error(`inflow serve exited with ${server.exitCode}:\n${printed}`);
    if (Date.now() - started > 90_000) throw new Error(`inflow serve did not start in 90 s:\n${printed}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}, 400_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGINT');
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the README quickstart', () => {
  it('has its commands between the markers', () => {
    expect(quickstartCommands().length).toBeGreaterThanOrEqual(5);
  });

  it('runs from login to rows in the dataset, each command exiting 0', () => {
    const outputs: string[] = [];
    for (const line of quickstartCommands()) {
      const command = line.replace(/^npx inflow /, `"${process.execPath}" "${BIN}" `);
      const r = spawnSync('sh', ['-c', command], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
      expect(r.status, `${line}\n${r.stdout}\n${r.stderr}`).toBe(0);
      outputs.push(r.stdout);
    }
    const preview = outputs[outputs.length - 1] as string;
    for (const email of ['ada@example.com', 'grace@example.com', 'alan@example.com'])
      expect(preview).toContain(email);
    expect(preview).toContain('PRO');
  });

  it('a second apply of the quickstart file changes nothing', () => {
    const r = spawnSync(
      process.execPath,
      [BIN, 'apply', '-f', 'examples/quickstart/inflow.yaml', '--plan', '--exit-code'],
      { cwd: dir, env, encoding: 'utf8' },
    );
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('0 to create, 0 to change, 0 to delete');
  });

  it('the bin answers --version and --help, and exits 2 on a usage error', () => {
    expect(spawnSync(process.execPath, [BIN, '--version'], { env, encoding: 'utf8' }).stdout).toMatch(
      /^\d+\.\d+\.\d+/,
    );
    expect(spawnSync(process.execPath, [BIN, 'apply', '--help'], { env, encoding: 'utf8' }).stdout).toContain(
      'Usage: inflow apply',
    );
    const bad = spawnSync(process.execPath, [BIN, 'connections', 'list', '--bogus'], {
      env,
      encoding: 'utf8',
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('Fix:');
  });
});
