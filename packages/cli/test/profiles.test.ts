import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliHarness, startHarness } from './helpers.js';

let h: CliHarness;
beforeAll(async () => {
  h = await startHarness();
}, 120_000);
afterAll(async () => {
  await h.close();
});

describe('profiles', { timeout: 60_000 }, () => {
  it('says how to log in when there is no profile (exit 3)', async () => {
    const r = await h.run(['connections', 'list']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('not logged in');
    expect(r.stderr).toContain('inflow login');
  });

  it('login from the bootstrap writes a 600 file in a 700 directory, secret included', async () => {
    const r = await h.json<{ profile: string; verified: boolean; path: string; orgId: string }>([
      'login',
      '--from-bootstrap',
      h.bootstrapFile,
      '--endpoint',
      h.url,
    ]);
    expect(r.code).toBe(0);
    expect(r.body).toMatchObject({
      profile: 'default',
      verified: true,
      endpoint: h.url,
      imsEndpoint: h.url,
      sandbox: 'prod',
    });
    expect(r.stdout).not.toContain(JSON.parse(readFileSync(h.bootstrapFile, 'utf8')).clientSecret);
    expect(statSync(r.body.path).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(r.body.path)).mode & 0o777).toBe(0o700);
    const saved = JSON.parse(readFileSync(r.body.path, 'utf8'));
    expect(saved.defaultProfile).toBe('default');
    expect(saved.profiles.default.clientSecret).toBe(
      JSON.parse(readFileSync(h.bootstrapFile, 'utf8')).clientSecret,
    );
  });

  it('reads the data dir bootstrap with no flags but --endpoint and --data-dir', async () => {
    const r = await h.json(['login', '--data-dir', 'data', '--endpoint', h.url, '--profile', 'local2']);
    expect(r.code).toBe(0);
    expect(r.body).toMatchObject({ profile: 'local2', default: false });
  });

  it('token prints a token the API accepts', async () => {
    const r = await h.run(['token']);
    expect(r.code).toBe(0);
    const token = r.stdout.trim();
    expect(token.length).toBeGreaterThan(20);
    const res = await fetch(`${h.url}/data/foundation/flowservice/connectionSpecs`, {
      headers: {
        Authorization: `Bearer ${token}`,
        'x-api-key': h.server.bootstrap.clientId,
        'x-gw-ims-org-id': h.server.bootstrap.orgId,
        'x-sandbox-name': 'prod',
      },
    });
    expect(res.status).toBe(200);
  });

  it('lists profiles without secrets', async () => {
    const r = await h.json<{ profiles: { name: string; secretSaved: boolean }[] }>(['profiles']);
    expect(r.body.profiles.map((p) => p.name).sort()).toEqual(['default', 'local2']);
    expect(r.stdout).not.toContain(JSON.parse(readFileSync(h.bootstrapFile, 'utf8')).clientSecret);
  });

  it('an unknown --profile is exit 3 and names the known ones', async () => {
    const r = await h.json(['connections', 'list', '--profile', 'nope']);
    expect(r.code).toBe(3);
    const err = JSON.parse(r.stderr);
    expect(err.error.message).toContain('no profile "nope"');
    expect(err.error.fix).toContain('default');
  });

  it('a wrong secret from the environment is refused by IMS (exit 3) with the fix', async () => {
    const r = await h.run(['connections', 'list', '--json'], {
      env: { INFLOW_CLIENT_SECRET: 'wrong-secret' },
    });
    expect(r.code).toBe(3);
    const err = JSON.parse(r.stderr);
    expect(err.error).toMatchObject({ status: 401, code: 'invalid_client' });
    expect(err.error.fix).toContain('inflow login');
    expect(r.stderr).not.toContain('wrong-secret');
  });

  it('login refuses bad credentials and saves nothing', async () => {
    const r = await h.run(
      [
        'login',
        '--profile',
        'bad',
        '--endpoint',
        h.url,
        '--org-id',
        h.server.bootstrap.orgId,
        '--client-id',
        'nobody',
      ],
      {
        env: { INFLOW_CLIENT_SECRET: 'x' },
      },
    );
    expect(r.code).toBe(3);
    const p = await h.json<{ profiles: { name: string }[] }>(['profiles']);
    expect(p.body.profiles.map((x) => x.name)).not.toContain('bad');
  });

  it('a profile can come from the environment alone', async () => {
    const secret = JSON.parse(readFileSync(h.bootstrapFile, 'utf8')).clientSecret as string;
    const r = await h.json<unknown[]>(['specs'], {
      env: {
        INFLOW_CONFIG: `${h.dir}/none/config.json`,
        INFLOW_ENDPOINT: h.url,
        INFLOW_ORG_ID: h.server.bootstrap.orgId,
        INFLOW_CLIENT_ID: h.server.bootstrap.clientId,
        INFLOW_CLIENT_SECRET: secret,
      },
    });
    expect(r.code).toBe(0);
    expect(r.body.length).toBeGreaterThanOrEqual(4);
  });
});
