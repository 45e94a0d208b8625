import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, FS, S3_SPEC, startTestServer, type TestServer, tokenFor } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.close();
});

const s3 = (secret: string, name = 's3') => ({
  name,
  auth: { specName: 'Access Key', params: { s3AccessKey: 'AKIA1', s3SecretKey: secret } },
  connectionSpec: { id: S3_SPEC, version: '1.0' },
});
const typeOf = (r: { body: unknown }) => (r.body as { type?: string }).type;

async function create(secret = 'secret-1') {
  const r = await call(t.url, 'POST', `${FS}/connections`, { headers: t.headers, body: s3(secret) });
  expect(r.status).toBe(201);
  return r.body as { id: string; etag: string };
}
const patch = (id: string, ops: unknown, ifMatch?: string) =>
  call(t.url, 'PATCH', `${FS}/connections/${id}`, {
    headers: { ...t.headers, ...(ifMatch === undefined ? {} : { 'If-Match': ifMatch }) },
    body: ops,
  });

describe('PATCH with If-Match', () => {
  it('requires If-Match (1403), refuses a stale one (1404-412), accepts quoted and unquoted', async () => {
    const { id, etag } = await create();
    const ops = [{ op: 'replace', path: '/name', value: 'renamed' }];
    expect(typeOf(await patch(id, ops))).toMatch(/FLOW-1403-400$/);
    const stale = await patch(id, ops, '"00000000-0000-0200-0000-000000000000"');
    expect(stale.status).toBe(412);
    expect(typeOf(stale)).toMatch(/FLOW-1404-412$/);
    const ok = await patch(id, ops, etag);
    expect(ok.status).toBe(200);
    const next = (ok.body as { etag: string }).etag;
    expect(next).not.toBe(etag);
    const unquoted = await patch(
      id,
      [{ op: 'add', path: '/description', value: 'd' }],
      next.replace(/"/g, ''),
    );
    expect(unquoted.status).toBe(200);
    const got = await t.client.connections.get(id);
    expect(got).toMatchObject({
      name: 'renamed',
      description: 'd',
      etag: (unquoted.body as { etag: string }).etag,
    });
    expect(got.lastOperation).toMatchObject({
      operation: 'update',
      ops: [{ op: 'add', path: '/description', value: 'd' }],
    });
  });

  it('validates the patched document like a create and changes nothing when it is invalid', async () => {
    const { id, etag } = await create();
    const bad = await patch(id, [{ op: 'replace', path: '/auth/params/s3SecretKey', value: '' }], etag);
    expect(bad.status).toBe(400);
    expect((bad.body as { report: { field: string } }).report.field).toBe('auth.params.s3SecretKey');
    const spec = await patch(
      id,
      [{ op: 'replace', path: '/connectionSpec/id', value: 'bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb' }],
      etag,
    );
    expect(typeOf(spec)).toMatch(/FLOW-1414-400$/);
    const missing = await patch(id, [{ op: 'replace', path: '/nope/deeper', value: 1 }], etag);
    expect(typeOf(missing)).toMatch(/FLOW-1455-400$/);
    const move = await patch(id, [{ op: 'move', from: '/name', path: '/description' }], etag);
    expect(typeOf(move)).toMatch(/FLOW-1434-400$/);
    const own = await patch(id, [{ op: 'replace', path: '/createdAt', value: 1 }], etag);
    expect(own.status).toBe(400);
    expect((await t.client.connections.get(id)).etag).toBe(etag);
  });

  it("re-validates and re-encrypts credentials on seed 004's account update", async () => {
    const { id, etag } = await create('old-secret-aaaa');
    const ok = await patch(
      id,
      [
        {
          op: 'replace',
          path: '/auth/params',
          value: { s3AccessKey: 'AKIA2', s3SecretKey: 'CANARY-new-secret-7c1d' },
        },
      ],
      etag,
    );
    expect(ok.status).toBe(200);
    const got = await call(t.url, 'GET', `${FS}/connections/${id}`, { headers: t.headers });
    expect(got.text).not.toContain('CANARY-new-secret-7c1d');
    expect((got.body as { items: { auth: { params: unknown } }[] }).items[0]?.auth.params).toEqual({
      s3AccessKey: 'AKIA2',
      s3SecretKey: '[REDACTED]',
    });
    const rows = await t.server.db.query<{ body: string }>('select body from resources where id = $1', [id]);
    expect(rows.rows[0]?.body).not.toContain('CANARY-new-secret-7c1d');
    expect(rows.rows[0]?.body).toMatch(/"s3SecretKey":"enc:v1:/);
    expect(
      t.server.services.box.decrypt(JSON.parse(rows.rows[0]?.body as string).auth.params.s3SecretKey),
    ).toBe('CANARY-new-secret-7c1d');
  });

  it('of two concurrent PATCHes with the same etag exactly one wins', async () => {
    const { id, etag } = await create();
    const results = await Promise.all(
      ['a', 'b', 'c', 'd'].map((n) => patch(id, [{ op: 'replace', path: '/name', value: n }], etag)),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 412, 412, 412]);
    const winner = results.find((r) => r.status === 200)?.body as { etag: string };
    expect((await t.client.connections.get(id)).etag).toBe(winner.etag);
  });
});

describe('DELETE', () => {
  it('answers 204, then GET and DELETE are 404 in the problem shape', async () => {
    const { id } = await create();
    const del = await call(t.url, 'DELETE', `${FS}/connections/${id}`, { headers: t.headers });
    expect(del.status).toBe(204);
    expect(del.text).toBe('');
    const gone = await call(t.url, 'GET', `${FS}/connections/${id}`, { headers: t.headers });
    expect(gone.status).toBe(404);
    expect(gone.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(gone.body).toMatchObject({
      type: 'https://ns.adobe.com/aep/errors/FLOW-1439-404',
      title: 'Resource not found',
      status: 404,
      report: {
        'detailed-message': `The requested connections resource ${id} is not found. Verify the resource ID before trying again.`,
      },
    });
    expect((await call(t.url, 'DELETE', `${FS}/connections/${id}`, { headers: t.headers })).status).toBe(404);
  });
});

describe('authentication and sandboxes', () => {
  const path = `${FS}/connections`;
  it('answers each missing or bad header with the gateway or Flow Service shape', async () => {
    const without = (name: string) =>
      Object.fromEntries(Object.entries(t.headers).filter(([k]) => k !== name));
    expect(await call(t.url, 'GET', path, { headers: without('Authorization') })).toMatchObject({
      status: 403,
      body: { error_code: '403010', message: 'Oauth token is missing.' },
    });
    expect(
      await call(t.url, 'GET', path, { headers: { ...t.headers, Authorization: 'Bearer x.y.z' } }),
    ).toMatchObject({
      status: 401,
      body: { error_code: '401013' },
    });
    expect(await call(t.url, 'GET', path, { headers: without('x-api-key') })).toMatchObject({
      status: 403,
      body: { error_code: '403000' },
    });
    expect(await call(t.url, 'GET', path, { headers: { ...t.headers, 'x-api-key': 'other' } })).toMatchObject(
      {
        status: 403,
        body: { error_code: '403003' },
      },
    );
    expect(await call(t.url, 'GET', path, { headers: without('x-gw-ims-org-id') })).toMatchObject({
      status: 400,
      body: { error_code: '400003' },
    });
    expect(
      await call(t.url, 'GET', path, { headers: { ...t.headers, 'x-gw-ims-org-id': 'X@AdobeOrg' } }),
    ).toMatchObject({
      status: 403,
      body: { error_code: '403025' },
    });
    const noSandbox = await call(t.url, 'GET', path, { headers: without('x-sandbox-name') });
    expect(noSandbox.status).toBe(400);
    expect(typeOf(noSandbox)).toMatch(/FLOW-2105-400$/);
    const unknown = await call(t.url, 'GET', path, { headers: { ...t.headers, 'x-sandbox-name': 'dev' } });
    expect(unknown.status).toBe(404);
    expect(typeOf(unknown)).toMatch(/FLOW-2100-404$/);
  });

  it('refuses an expired token', async () => {
    const { signToken } = await import('../src/crypto.js');
    const now = Math.floor(Date.now() / 1000);
    const expired = signToken(t.server.services.keys.tokenKey, {
      client: t.clientId,
      org: t.orgId,
      iat: now - 7200,
      exp: now - 3600,
      jti: 'x',
    });
    expect(
      await call(t.url, 'GET', path, { headers: { ...t.headers, Authorization: `Bearer ${expired}` } }),
    ).toMatchObject({
      status: 401,
      body: { error_code: '401013' },
    });
  });

  it('keeps another org and another sandbox out of sight on every resource', async () => {
    const mine = await create();
    await t.server.services.tenancy.ensureOrg('OTHER@AdobeOrg');
    await t.server.services.tenancy.ensureSandbox('OTHER@AdobeOrg', 'prod', 'production');
    await t.server.services.tenancy.createClient('OTHER@AdobeOrg', 'other-client', 'other-secret', 'test');
    const otherToken = await tokenFor(t.url, 'other-client', 'other-secret');
    const other = {
      Authorization: `Bearer ${otherToken}`,
      'x-api-key': 'other-client',
      'x-gw-ims-org-id': 'OTHER@AdobeOrg',
      'x-sandbox-name': 'prod',
    };
    const dev = await call(t.url, 'POST', '/data/foundation/sandbox-management/sandboxes', {
      headers: t.headers,
      body: { name: 'dev' },
    });
    expect(dev.status).toBe(201);
    const devHeaders = { ...t.headers, 'x-sandbox-name': 'dev' };
    for (const headers of [other, devHeaders]) {
      for (const method of ['GET', 'DELETE'] as const) {
        expect((await call(t.url, method, `${FS}/connections/${mine.id}`, { headers })).status).toBe(404);
      }
      expect(
        (
          await call(t.url, 'PATCH', `${FS}/connections/${mine.id}`, {
            headers: { ...headers, 'If-Match': mine.etag },
            body: [{ op: 'replace', path: '/name', value: 'x' }],
          })
        ).status,
      ).toBe(404);
      const list = await call(t.url, 'GET', `${FS}/connections`, { headers });
      expect((list.body as { items: { id: string }[] }).items.map((i) => i.id)).not.toContain(mine.id);
    }
    const theirs = await call(t.url, 'POST', `${FS}/connections`, {
      headers: devHeaders,
      body: s3('x', 'dev-one'),
    });
    expect(theirs.status).toBe(201);
    expect(
      (
        await call(t.url, 'GET', `${FS}/connections/${(theirs.body as { id: string }).id}`, {
          headers: t.headers,
        })
      ).status,
    ).toBe(404);
  });
});

describe('malformed requests are 4xx in the service shape, never 500', () => {
  const post = (opts: { raw?: string; body?: unknown; headers?: Record<string, string> }) =>
    call(t.url, 'POST', `${FS}/connections`, { ...opts, headers: { ...t.headers, ...opts.headers } });

  it('invalid JSON, no body, wrong content type, oversized body, bad ids, unknown routes', async () => {
    const json = await post({ raw: '{"name": ', headers: { 'content-type': 'application/json' } });
    expect(json.status).toBe(400);
    expect(typeOf(json)).toMatch(/FLOW-1460-400$/);
    expect((json.body as { report: { 'request-id': string } }).report['request-id']).toBe(
      json.headers['x-request-id'],
    );
    const empty = await post({ raw: '', headers: { 'content-type': 'application/json' } });
    expect(typeOf(empty)).toMatch(/FLOW-1405-400$/);
    const text = await post({ raw: 'name=x', headers: { 'content-type': 'text/plain' } });
    expect(text).toMatchObject({
      status: 400,
      body: { title: 'BadRequestError', detail: 'A valid content-type must be specified' },
    });
    const huge = await post({ body: { name: 'x'.repeat(1_100_000) } });
    expect(huge.status).toBe(413);
    expect(typeOf(huge)).toMatch(/FLOW-1461-413$/);
    const array = await post({ body: [1, 2] });
    expect(array.status).toBe(400);
    for (const id of ['not-a-uuid', '%00', "' or 1=1 --"]) {
      expect(
        (await call(t.url, 'GET', `${FS}/connections/${encodeURIComponent(id)}`, { headers: t.headers }))
          .status,
      ).toBe(404);
    }
    expect(
      (await call(t.url, 'GET', `${FS}/connections/${'a'.repeat(300)}`, { headers: t.headers })).status,
    ).toBe(404);
    const bad = await call(t.url, 'GET', `${FS}/connections/%E0%A4%A`, { headers: t.headers });
    expect(bad.status).toBe(400);
    expect(typeOf(bad)).toMatch(/FLOW-1460-400$/);
    const route = await call(t.url, 'GET', `${FS}/nothing`, { headers: t.headers });
    expect(route.status).toBe(404);
    expect(typeOf(route)).toMatch(/FLOW-1101-404$/);
  });
});
