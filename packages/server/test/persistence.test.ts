import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readBootstrap, saveBootstrap } from '../src/index.js';
import { call, FS, S3_SPEC, startTestServer } from './helpers.js';

const CANARY = 'CANARY-persist-secret-e4b2c8';
const dir = mkdtempSync(join(tmpdir(), 'inflow-persist-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function filesUnder(root: string): string[] {
  return readdirSync(root, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(root, e.name)) : [join(root, e.name)],
  );
}

describe('a data dir on disk', () => {
  it('keeps everything across a restart and never holds a secret in plain text', {
    timeout: 30_000,
  }, async () => {
    const logs: string[] = [];
    const first = await startTestServer({
      dataDir: dir,
      bootstrap: {},
      logLevel: 'info',
      logStream: { write: (line) => void logs.push(line) },
    });
    const file = saveBootstrap(dir, first.server.bootstrap) as string;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'keys', 'secret.key')).mode & 0o777).toBe(0o600);
    const saved = readBootstrap(file);
    expect(saved).toMatchObject({ orgId: first.orgId, clientId: first.clientId, sandboxName: 'prod' });
    const created = await call(first.url, 'POST', `${FS}/connections`, {
      headers: first.headers,
      body: {
        name: 'kept',
        auth: { specName: 'Access Key', params: { s3AccessKey: 'AKIA', s3SecretKey: CANARY } },
        connectionSpec: { id: S3_SPEC, version: '1.0' },
      },
    });
    expect(created.status).toBe(201);
    const { id } = created.body as { id: string };
    const listed = await call(first.url, 'GET', `${FS}/connections`, { headers: first.headers });
    expect(listed.text).not.toContain(CANARY);
    await first.close();

    expect(logs.length).toBeGreaterThan(0);
    expect(logs.join('')).not.toContain(CANARY);
    for (const path of filesUnder(dir)) {
      expect(readFileSync(path).includes(CANARY), `${path} holds the secret in plain text`).toBe(false);
    }

    const second = await startTestServer({ dataDir: dir, bootstrap: {} });
    try {
      expect(second.orgId).toBe(first.orgId);
      expect(second.clientId).toBe(first.clientId);
      // The token of the first run still works: the signing key is kept in the data dir.
      const again = await call(second.url, 'GET', `${FS}/connections/${id}`, {
        headers: { ...second.headers, Authorization: `Bearer ${first.token}` },
      });
      expect(again.status).toBe(200);
      expect((again.body as { items: { name: string }[] }).items[0]?.name).toBe('kept');
      expect(second.server.bootstrap.created).toBe(false);
    } finally {
      await second.close();
    }
  });
});
