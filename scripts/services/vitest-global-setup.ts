// The `int` project's global setup: the real services its tests need, started once per run.
//
// PostgreSQL: starts a throwaway cluster with scripts/services/postgres.sh (or uses the superuser
// URL in INFLOW_TEST_PG_URL), creates a login role with a password and a database it owns, and
// provides them to the tests as `inject('postgres')`. Teardown drops both and stops the cluster.
// S3: starts a throwaway Ceph cluster with radosgw (scripts/services/radosgw.sh), or uses the
// server named by INFLOW_TEST_S3_URL, INFLOW_TEST_S3_ACCESS_KEY and INFLOW_TEST_S3_SECRET_KEY, and
// provides it as `inject('s3')`. The two start in parallel (radosgw takes ~15 s).
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
import type { TestPostgres, TestS3 } from '../../packages/testkit/src/services.js';

const run = promisify(execFile);
const script = fileURLToPath(new URL('./postgres.sh', import.meta.url));
const radosgwScript = fileURLToPath(new URL('./radosgw.sh', import.meta.url));

/** A started service: what the tests get, and how to stop it. */
interface Started<T> {
  provided: T;
  teardown: () => Promise<void>;
}

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

async function startPostgres(): Promise<Started<TestPostgres>> {
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
  const provided: TestPostgres = {
    host: hostname,
    port: Number(port || 5432),
    database,
    user,
    password,
    adminUrl: cluster.url,
  };

  const teardown = async () => {
    if (external) {
      const cleanup = new pg.Client({ connectionString: cluster.url });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${cleanup.escapeIdentifier(database)} WITH (FORCE)`);
      await cleanup.query(`DROP ROLE IF EXISTS ${cleanup.escapeIdentifier(user)}`);
      await cleanup.end();
    }
    await cluster.stop();
  };
  return { provided, teardown };
}

async function startS3(): Promise<Started<TestS3>> {
  const region = 'us-east-1';
  const url = process.env.INFLOW_TEST_S3_URL;
  if (url) {
    const accessKeyId = process.env.INFLOW_TEST_S3_ACCESS_KEY;
    const secretAccessKey = process.env.INFLOW_TEST_S3_SECRET_KEY;
    if (!accessKeyId || !secretAccessKey) {
      throw new Error(
        'INFLOW_TEST_S3_URL is set: set INFLOW_TEST_S3_ACCESS_KEY and INFLOW_TEST_S3_SECRET_KEY too (a user of that S3 server)',
      );
    }
    return { provided: { endpoint: url, region, accessKeyId, secretAccessKey }, teardown: async () => {} };
  }
  // A second try when the first loses a port race with a concurrent run (the script says so).
  try {
    return await startRadosgw();
  } catch {
    return await startRadosgw();
  }
}

async function startRadosgw(): Promise<Started<TestS3>> {
  const region = 'us-east-1';
  const dir = await mkdtemp(join(tmpdir(), 'inflow-rgw-'));
  const stop = async () => {
    await run('bash', [radosgwScript, 'stop', dir]).catch((error: unknown) => {
      console.error(`stopping the test radosgw in ${dir} failed:`, error);
    });
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const { stdout } = await run('bash', [radosgwScript, 'start', dir], { timeout: 180_000 });
    const line = (name: string) => {
      const value = new RegExp(`^${name}=(.+)$`, 'm').exec(stdout)?.[1];
      if (!value) throw new Error(`${radosgwScript} start printed no ${name} line`);
      return value;
    };
    return {
      provided: {
        endpoint: line('INFLOW_TEST_S3_URL'),
        region,
        accessKeyId: line('INFLOW_TEST_S3_ACCESS_KEY'),
        secretAccessKey: line('INFLOW_TEST_S3_SECRET_KEY'),
      },
      teardown: stop,
    };
  } catch (error) {
    await stop();
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(
      `Integration tests need an S3 server (radosgw) and could not start it.\n${stderr ?? String(error)}\n` +
        'Install it with `apt-get update && apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd`, ' +
        'or set INFLOW_TEST_S3_URL, INFLOW_TEST_S3_ACCESS_KEY and INFLOW_TEST_S3_SECRET_KEY to an S3 server you run.',
      { cause: error },
    );
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [postgres, s3] = await Promise.allSettled([startPostgres(), startS3()]);
  if (postgres.status === 'rejected' || s3.status === 'rejected') {
    // Stop whichever did start before failing the run with the other's reason.
    if (postgres.status === 'fulfilled') await postgres.value.teardown();
    if (s3.status === 'fulfilled') await s3.value.teardown();
    const reasons = [postgres, s3].flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    throw reasons.length === 1 ? reasons[0] : new AggregateError(reasons, reasons.map(String).join('\n\n'));
  }
  project.provide('postgres', postgres.value.provided);
  project.provide('s3', s3.value.provided);
  return async () => {
    await Promise.all([postgres.value.teardown(), s3.value.teardown()]);
  };
}
