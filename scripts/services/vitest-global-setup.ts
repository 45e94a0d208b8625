// The `int` project's global setup: the real services its tests need, started once per run.
//
// PostgreSQL: starts a throwaway cluster with scripts/services/postgres.sh (or uses the superuser
// URL in INFLOW_TEST_PG_URL), creates a login role with a password and a database it owns, and
// provides them to the tests as `inject('postgres')`. Teardown drops both and stops the cluster.
// A missing server fails the run with the command that installs it: never a silent skip.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
// `pg` is a dependency of @inflow/connector-postgresql; npm workspaces install it at the root.
import pg from 'pg';
import type { TestProject } from 'vitest/node';
// Loads the `ProvidedContext` augmentation (what `inject('postgres')` returns).
import type {} from '../../packages/testkit/src/services.js';

const run = promisify(execFile);
const script = fileURLToPath(new URL('./postgres.sh', import.meta.url));

async function startCluster(): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'inflow-pg-'));
  const stop = async () => {
    await run('bash', [script, 'stop', dir]).catch((error: unknown) => {
      console.error(`stopping the test PostgreSQL in ${dir} failed:`, error);
    });
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const { stdout } = await run('bash', [script, 'start', dir]);
    const url = /^INFLOW_TEST_PG_URL=(.+)$/m.exec(stdout)?.[1];
    if (!url) throw new Error(`${script} start printed no INFLOW_TEST_PG_URL line`);
    return { url, stop };
  } catch (error) {
    await stop();
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(
      `Integration tests need PostgreSQL and could not start it.\n${stderr ?? String(error)}\n` +
        'Install the server with `apt-get update && apt-get install -y postgresql-15`, ' +
        'or set INFLOW_TEST_PG_URL to a superuser URL of a server you run.',
      { cause: error },
    );
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.INFLOW_TEST_PG_URL;
  const cluster = external ? { url: external, stop: async () => {} } : await startCluster();
  const admin = new pg.Client({ connectionString: cluster.url, connectionTimeoutMillis: 10_000 });
  try {
    await admin.connect();
  } catch (error) {
    await cluster.stop();
    throw new Error(
      `cannot connect to the test PostgreSQL ${external ? '(INFLOW_TEST_PG_URL)' : ''}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const suffix = randomBytes(4).toString('hex');
  const user = `inflow_it_${suffix}`;
  const database = `inflow_it_${suffix}`;
  // Characters the connection string must quote (`;`, `"`, `'`) and that a URL would need escaped.
  const password = `p;w"d'${randomBytes(12).toString('base64url')}`;
  const esc = (id: string) => admin.escapeIdentifier(id);
  try {
    await admin.query(`CREATE ROLE ${esc(user)} LOGIN PASSWORD ${admin.escapeLiteral(password)}`);
    await admin.query(`CREATE DATABASE ${esc(database)} OWNER ${esc(user)}`);
  } catch (error) {
    await admin.end().catch(() => {});
    await cluster.stop();
    throw error;
  }
  await admin.end();

  const { hostname, port } = new URL(cluster.url);
  project.provide('postgres', {
    host: hostname,
    port: Number(port || 5432),
    database,
    user,
    password,
    adminUrl: cluster.url,
  });

  return async () => {
    if (external) {
      const cleanup = new pg.Client({ connectionString: cluster.url });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${cleanup.escapeIdentifier(database)} WITH (FORCE)`);
      await cleanup.query(`DROP ROLE IF EXISTS ${cleanup.escapeIdentifier(user)}`);
      await cleanup.end();
    }
    await cluster.stop();
  };
}
