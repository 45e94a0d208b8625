import { fillPlaceholders, parseSeedCurls, readSeed } from '@inflow/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, FS, S3_SPEC, STREAMING_SPEC, startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.close();
});

/** A seed's curl, filled and pointed at this server: only the host changes. */
function seedCall(seed: string, index: number, values: Record<string, string> = {}) {
  const req = fillPlaceholders(parseSeedCurls(readSeed(seed))[index], {
    ACCESS_TOKEN: t.token,
    API_KEY: t.clientId,
    IMS_ORG: t.orgId,
    ORG_ID: t.orgId,
    SANDBOX_NAME: 'prod',
    ...values,
  });
  if (!req) throw new Error(`seed ${seed} has no request ${index}`);
  const url = new URL(req.url);
  return call(t.url, req.method, url.pathname + url.search, { headers: req.headers, body: req.body });
}

describe('seed requests, verbatim but for the host', () => {
  it('seed 000: looks up amazon-s3, then creates the base connection (201 {id, etag} + Location)', async () => {
    const lookup = await seedCall('000', 0);
    expect(lookup.status).toBe(200);
    const items = (
      lookup.body as {
        items: { id: string; name: string; authSpec: { name: string; spec: { required: string[] } }[] }[];
      }
    ).items;
    expect(items.map((i) => i.id)).toEqual([S3_SPEC]);
    expect(items[0]?.authSpec[0]?.name).toBe('Access Key');
    expect(items[0]?.authSpec[0]?.spec.required).toEqual(['s3AccessKey', 's3SecretKey']);

    const created = await seedCall('000', 1, {
      S3_ACCESS_KEY: 'AKIAEXAMPLE',
      S3_SECRET_KEY: 'CANARY-seed-secret-51a9',
    });
    expect(created.status).toBe(201);
    const { id, etag } = created.body as { id: string; etag: string };
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(etag).toMatch(/^"[0-9a-f]{8}-0000-0200-0000-[0-9a-f]{12}"$/);
    expect(created.headers.location).toBe(`${FS}/connections/${id}`);
    expect(created.headers['x-request-id']).toBeTruthy();

    const got = await call(t.url, 'GET', `${FS}/connections/${id}`, { headers: t.headers });
    expect(got.status).toBe(200);
    const item = (got.body as { items: Record<string, unknown>[] }).items[0] as Record<string, unknown>;
    expect(item).toMatchObject({
      id,
      name: 'S3 Base Connection',
      description: 'Base connection for an Amazon S3 account',
      connectionSpec: { id: S3_SPEC, version: '1.0' },
      state: 'enabled',
      auth: { specName: 'Access Key', params: { s3AccessKey: 'AKIAEXAMPLE', s3SecretKey: '[REDACTED]' } },
      etag,
      version: etag,
      imsOrgId: t.orgId,
      sandboxName: 'prod',
      createdBy: t.clientId,
      createdClient: t.clientId,
    });
    expect(typeof item.createdAt).toBe('number');
    expect(got.text).not.toContain('CANARY-seed-secret-51a9');
  });

  it('seed 003 (Dutch): the same create with another name', async () => {
    const created = await seedCall('003', 0, { S3_ACCESS_KEY: 'AKIAEXAMPLE', S3_SECRET_KEY: 'secret-003' });
    expect(created.status).toBe(201);
  });

  it('seed 002: a PostgreSQL connection; a connection string that does not parse is a 400 naming the key', async () => {
    const ok = await seedCall('002', 0, {
      SERVER: 'db.example.com',
      DATABASE: 'crm',
      PORT: '5432',
      USERNAME: 'reader',
      PASSWORD: 'pw',
    });
    expect(ok.status).toBe(201);
    const bad = await seedCall('002', 0, {
      SERVER: 'db.example.com',
      DATABASE: 'crm',
      PORT: 'abc',
      USERNAME: 'reader',
      PASSWORD: 'pw',
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({
      type: 'https://ns.adobe.com/aep/errors/FLOW-1460-400',
      status: 400,
      report: { 'detailed-message': 'auth.params.connectionString Port must be a number from 1 to 65535' },
    });
  });

  it('seed 001: unauthenticated and authenticated streaming connections get an inlet; GET shows it', async () => {
    const created = await seedCall('001', 0);
    expect(created.status).toBe(201);
    const authed = await seedCall('001', 1);
    expect(authed.status).toBe(201);
    const { id } = created.body as { id: string };
    const got = await seedCall('001', 2, { CONNECTION_ID: id });
    expect(got.status).toBe(200);
    const params = (got.body as { items: { auth: { params: Record<string, unknown> } }[] }).items[0]?.auth
      .params;
    expect(params).toMatchObject({
      sourceId: 'Sample connection',
      dataType: 'xdm',
      name: 'Sample connection',
      authenticationRequired: false,
    });
    expect(params?.inletId).toMatch(/^[0-9a-f]{64}$/);
    expect(params?.inletUrl).toBe(`${t.url}/collection/${params?.inletId as string}`);
    const authedId = (authed.body as { id: string }).id;
    const other = await t.client.connections.get(authedId);
    expect(other.auth?.params).toMatchObject({ authenticationRequired: true });
    expect(other.auth?.params.inletId).not.toBe(params?.inletId);
  });
});

describe('connections: validation', () => {
  const body = (params: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    name: 'c',
    auth: { specName: 'Access Key', params },
    connectionSpec: { id: S3_SPEC, version: '1.0' },
    ...extra,
  });
  const post = (b: unknown) => call(t.url, 'POST', `${FS}/connections`, { headers: t.headers, body: b });
  const detail = (r: { body: unknown }) =>
    (r.body as { report: { 'detailed-message': string } }).report['detailed-message'];

  it('names the missing, empty, wrong-typed or unknown field', async () => {
    expect(detail(await post(body({ s3AccessKey: 'a' })))).toBe('auth.params.s3SecretKey is required');
    expect(detail(await post(body({ s3AccessKey: 'a', s3SecretKey: '' })))).toBe(
      'auth.params.s3SecretKey must not be empty',
    );
    expect(detail(await post(body({ s3AccessKey: 1, s3SecretKey: 'x' })))).toMatch(
      /^auth\.params\.s3AccessKey /,
    );
    expect(detail(await post(body({ s3AccessKey: 'a', s3SecretKey: 'x', bucket: 'b' })))).toMatch(
      /unknown field bucket/,
    );
    expect(detail(await post(body({ s3AccessKey: 'a', s3SecretKey: 'x' }, { colour: 'red' })))).toBe(
      'unknown field colour: remove it',
    );
    expect(
      detail(await post({ auth: { specName: 'Access Key', params: {} }, connectionSpec: { id: S3_SPEC } })),
    ).toBe('name is required');
  });

  it('refuses an unknown spec (1413), an unknown auth spec (1415) and a base connection for Customer.io', async () => {
    const spec = await post({ ...body({}), connectionSpec: { id: '00000000-0000-4000-8000-000000000000' } });
    expect(spec.status).toBe(400);
    expect((spec.body as { type: string }).type).toMatch(/FLOW-1413-400$/);
    const auth = await post({ ...body({}), auth: { specName: 'OAuth', params: {} } });
    expect((auth.body as { type: string }).type).toMatch(/FLOW-1415-400$/);
    expect(detail(auth)).toMatch(/'Access Key'/);
    const cio = await post({ ...body({}), connectionSpec: { id: '96479064-7b8a-4d69-b9ed-21c5683837ea' } });
    expect(detail(cio)).toMatch(/has no base connection/);
  });

  it('refuses `state` and streaming dataType other than xdm', async () => {
    const state = await post({ ...body({ s3AccessKey: 'a', s3SecretKey: 'b' }), state: 'enabled' });
    expect((state.body as { type: string }).type).toMatch(/FLOW-1410-400$/);
    const raw = await post({
      name: 's',
      auth: { specName: 'Streaming Connection', params: { dataType: 'raw' } },
      connectionSpec: { id: STREAMING_SPEC },
    });
    expect(detail(raw)).toMatch(/^auth\.params\.dataType /);
  });
});
