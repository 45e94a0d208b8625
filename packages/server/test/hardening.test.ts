import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, FS, S3_SPEC, startTestServer, type TestServer } from './helpers.js';

const XDM_FULL = 'application/vnd.adobe.xed-full+json;version=1';
const logs: string[] = [];
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ logLevel: 'info', logStream: { write: (line) => void logs.push(line) } });
});
afterAll(async () => {
  await t.close();
});

const post = (path: string, body: unknown) => call(t.url, 'POST', path, { headers: t.headers, body });
const typeOf = (r: { body: unknown }) => (r.body as { type?: string }).type;
const s3 = (params: Record<string, unknown> = { s3AccessKey: 'a', s3SecretKey: 'b' }) => ({
  name: 'c',
  auth: { specName: 'Access Key', params },
  connectionSpec: { id: S3_SPEC },
});
async function connection() {
  const r = await post(`${FS}/connections`, s3());
  return r.body as { id: string; etag: string };
}
const patch = (id: string, etag: string, ops: unknown) =>
  call(t.url, 'PATCH', `${FS}/connections/${id}`, { headers: { ...t.headers, 'If-Match': etag }, body: ops });

describe('JSON Patch cannot reach the prototype or slip fields past validation', () => {
  it('refuses __proto__, constructor and prototype segments, and leaves the process unharmed', async () => {
    const { id, etag } = await connection();
    for (const path of ['/__proto__/x', '/auth/__proto__/polluted', '/constructor/prototype/x']) {
      const r = await patch(id, etag, [{ op: 'add', path, value: 'yes' }]);
      expect(r.status, path).toBe(400);
    }
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await post(`${FS}/connections`, s3())).status).toBe(201);
  });

  it('refuses inherited keys, loose array indexes and unknown top-level fields', async () => {
    const { id, etag } = await connection();
    expect(typeOf(await patch(id, etag, [{ op: 'replace', path: '/toString', value: 1 }]))).toMatch(
      /FLOW-1455-400$/,
    );
    const unknown = await patch(id, etag, [{ op: 'add', path: '/labels', value: ['core/C12'] }]);
    expect(unknown.status).toBe(400);
    expect((unknown.body as { report: { 'detailed-message': string } }).report['detailed-message']).toMatch(
      /unknown field labels/,
    );
    expect((await t.client.connections.get(id)).etag).toBe(etag);
  });
});

describe('secrets stay out of lastOperation, logs and tokens', () => {
  it('masks a secret that a later op of the same patch removed', async () => {
    const { id, etag } = await connection();
    const r = await patch(id, etag, [
      { op: 'add', path: '/auth/params/s3SessionToken', value: 'CANARY-session-4e1f' },
      { op: 'remove', path: '/auth/params/s3SessionToken' },
    ]);
    expect(r.status).toBe(200);
    const got = await call(t.url, 'GET', `${FS}/connections/${id}`, { headers: t.headers });
    expect(got.text).not.toContain('CANARY-session-4e1f');
    expect(got.text).toContain('"value":"[REDACTED]"');
    const rows = await t.server.db.query<{ body: string }>('select body from resources where id = $1', [id]);
    expect(rows.rows[0]?.body).not.toContain('CANARY-session-4e1f');
  });

  it('logs no query string (IMS takes client_secret there)', async () => {
    await call(
      t.url,
      'POST',
      `/ims/token/v3?grant_type=client_credentials&client_id=${t.clientId}&client_secret=CANARY-query-secret`,
    );
    expect(logs.join('')).toContain('/ims/token/v3');
    expect(logs.join('')).not.toContain('CANARY-query-secret');
  });

  it('orders by scalar fields only, so no token carries a document', async () => {
    await connection();
    const r = await call(t.url, 'GET', `${FS}/connections?orderby=auth&limit=1`, { headers: t.headers });
    expect(typeOf(r)).toMatch(/FLOW-1433-400$/);
    const f = await call(t.url, 'GET', `${FS}/connections?property=auth.params.s3SecretKey>"a"`, {
      headers: t.headers,
    });
    expect(typeOf(f)).toMatch(/FLOW-1449-400$/);
  });
});

describe('bad input is a 4xx, never a 500', () => {
  it('NUL and unpaired surrogates in bodies and ids', async () => {
    for (const name of ['a\u0000b', 'a\ud800b']) {
      const r = await post(`${FS}/connections`, { ...s3(), name });
      expect(r.status, JSON.stringify(name)).toBe(400);
    }
    for (const path of [
      `${FS}/connections/%00`,
      `${FS}/runs/%00`,
      '/data/foundation/conversion/mappingSets/%00',
      '/data/foundation/catalog/batches?dataSet=%00',
    ]) {
      const r = await call(t.url, 'GET', path, { headers: t.headers });
      expect(r.status, path).toBeGreaterThanOrEqual(400);
      expect(r.status, path).toBeLessThan(500);
    }
  });

  it('bodies nested absurdly deep', async () => {
    const deep = `${'['.repeat(5000)}1${']'.repeat(5000)}`;
    const raw = `{"name":"c","connectionSpec":{"id":"96479064-7b8a-4d69-b9ed-21c5683837ea"},"data":{"schema":${deep}}}`;
    const r = await call(t.url, 'POST', `${FS}/sourceConnections`, {
      headers: { ...t.headers, 'content-type': 'application/json' },
      raw,
    });
    expect(r.status).toBe(400);
    expect((r.body as { report: { 'detailed-message': string } }).report['detailed-message']).toMatch(
      /nests deeper than 64/,
    );
  });

  it('paging numbers beyond range, schedule numbers beyond safe integers', async () => {
    for (const q of ['start=1e300', 'start=9223372036854775808', 'limit=0', 'limit=abc']) {
      expect(
        (await call(t.url, 'GET', `/data/foundation/catalog/dataSets?${q}`, { headers: t.headers })).status,
        q,
      ).toBe(400);
    }
    const r = await post(`${FS}/flows`, {
      name: 'f',
      flowSpec: { id: '9753525b-82c7-4dce-8a9b-5ccfce2b9876' },
      sourceConnectionIds: ['x'],
      targetConnectionIds: ['y'],
      scheduleParams: { startTime: 1e23, frequency: 'once' },
    });
    expect(r.status).toBe(400);
  });
});

describe('a base connection used by a flow cannot be deleted, however many sources it has', () => {
  it('finds the flow behind the 51st source connection (1418)', { timeout: 30_000 }, async () => {
    const base = await connection();
    const schema = await post('/data/foundation/schemaregistry/tenant/schemas', {
      type: 'object',
      title: 'h',
      description: 'h',
      allOf: [{ $ref: 'https://ns.adobe.com/xdm/context/profile' }],
    });
    const schemaId = (schema.body as { $id: string }).$id;
    const ds = await post('/data/foundation/catalog/dataSets', {
      name: 'd',
      schemaRef: { id: schemaId, contentType: XDM_FULL },
    });
    const dataSetId = ((ds.body as string[])[0] as string).replace('@/dataSets/', '');
    let last = '';
    for (let i = 0; i < 51; i++) {
      const r = await post(`${FS}/sourceConnections`, {
        name: `s${i}`,
        baseConnectionId: base.id,
        params: { path: '/b' },
        connectionSpec: { id: S3_SPEC },
      });
      last = (r.body as { id: string }).id;
    }
    const target = await post(`${FS}/targetConnections`, {
      name: 't',
      params: { dataSetId },
      connectionSpec: { id: 'c604ff05-7f1a-43c0-8e18-33bf874cb11c' },
    });
    const flow = await post(`${FS}/flows`, {
      name: 'f',
      flowSpec: { id: '9753525b-82c7-4dce-8a9b-5ccfce2b9876' },
      sourceConnectionIds: [last],
      targetConnectionIds: [(target.body as { id: string }).id],
    });
    expect(flow.status).toBe(201);
    const del = await call(t.url, 'DELETE', `${FS}/connections/${base.id}`, { headers: t.headers });
    expect(typeOf(del)).toMatch(/FLOW-1418-400$/);
  });
});
