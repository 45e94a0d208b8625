import {
  ApiCallError,
  FlowServiceClient,
  ImsServerToServerTokenProvider,
  imsServerToServer,
} from '@inflow/core';
import { type RecordedRequest, type RecordingServer, startRecordingServer } from '@inflow/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const SECRET = 'CANARY-ims-secret-3d9f0a';
let server: RecordingServer;
let issued: string[];
let valid: Set<string>;

function imsAndApi(expiresIn = 86399) {
  return (req: RecordedRequest) => {
    if (req.path === '/ims/token/v3') {
      const form = req.body as Record<string, string>;
      if (form.client_secret !== SECRET) {
        return {
          status: 401,
          body: { error: 'invalid_client', error_description: 'invalid client_secret parameter' },
        };
      }
      const token = `tok-${issued.length + 1}`;
      issued.push(token);
      valid.add(token);
      return { status: 200, body: { access_token: token, token_type: 'bearer', expires_in: expiresIn } };
    }
    const token = req.headers.authorization?.replace(/^Bearer /, '') ?? '';
    if (!valid.has(token))
      return { status: 401, body: { error_code: '401013', message: 'Oauth token is not valid' } };
    return { status: 200, body: { items: [{ id: 'spec', token }] } };
  };
}

beforeEach(async () => {
  issued = [];
  valid = new Set();
  server = await startRecordingServer();
});
afterEach(async () => {
  await server.close();
});

describe('IMS OAuth server-to-server tokens', () => {
  it('posts the client credentials form to /ims/token/v3', async () => {
    server.handle(imsAndApi());
    const provider = imsServerToServer({
      clientId: 'cid',
      clientSecret: SECRET,
      imsEndpoint: server.url,
      scopes: ['openid', 'AdobeID'],
    });
    expect(await provider.getToken()).toBe('tok-1');
    const [req] = server.requests;
    expect(req?.method).toBe('POST');
    expect(req?.path).toBe('/ims/token/v3');
    expect(req?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req?.headers.authorization).toBeUndefined();
    expect(req?.body).toEqual({
      grant_type: 'client_credentials',
      client_id: 'cid',
      client_secret: SECRET,
      scope: 'openid,AdobeID',
    });
  });

  it('caches the token until shortly before expires_in (seconds) runs out', async () => {
    server.handle(imsAndApi(3600));
    let now = 1_000_000;
    const provider = new ImsServerToServerTokenProvider({
      clientId: 'cid',
      clientSecret: SECRET,
      imsEndpoint: server.url,
      refreshMarginSeconds: 300,
      now: () => now,
    });
    expect(await provider.getToken()).toBe('tok-1');
    now += 3000 * 1000; // 50 min: still more than the 5 min margin left
    expect(await provider.getToken()).toBe('tok-1');
    now += 301 * 1000; // inside the margin
    expect(await provider.getToken()).toBe('tok-2');
    expect(provider.fetchCount).toBe(2);
  });

  it('fetches once for many concurrent callers (single flight)', async () => {
    server.handle(async (req) => {
      await new Promise((r) => setTimeout(r, 30));
      return imsAndApi()(req);
    });
    const provider = imsServerToServer({ clientId: 'cid', clientSecret: SECRET, imsEndpoint: server.url });
    const tokens = await Promise.all(Array.from({ length: 25 }, () => provider.getToken()));
    expect(new Set(tokens)).toEqual(new Set(['tok-1']));
    expect(server.requests.filter((r) => r.path === '/ims/token/v3')).toHaveLength(1);
  });

  it('refreshes and retries once when the service rejects a cached token', async () => {
    server.handle(imsAndApi());
    const provider = imsServerToServer({ clientId: 'cid', clientSecret: SECRET, imsEndpoint: server.url });
    const client = new FlowServiceClient({
      endpoint: server.url,
      apiKey: 'cid',
      orgId: 'O@AdobeOrg',
      sandboxName: 'prod',
      token: provider,
    });
    expect((await client.connectionSpecs.list())[0]).toMatchObject({ token: 'tok-1' });
    valid.delete('tok-1'); // revoked server-side
    expect((await client.connectionSpecs.list())[0]).toMatchObject({ token: 'tok-2' });
    expect(server.requests.map((r) => `${r.path} ${r.headers.authorization ?? ''}`)).toEqual([
      '/ims/token/v3 ',
      '/data/foundation/flowservice/connectionSpecs Bearer tok-1',
      '/data/foundation/flowservice/connectionSpecs Bearer tok-1',
      '/ims/token/v3 ',
      '/data/foundation/flowservice/connectionSpecs Bearer tok-2',
    ]);
  });

  it('gives up after one refresh when the new token is rejected too', async () => {
    server.handle((req) =>
      req.path === '/ims/token/v3'
        ? imsAndApi()(req)
        : { status: 401, body: { error_code: '401013', message: 'Oauth token is not valid' } },
    );
    const provider = imsServerToServer({ clientId: 'cid', clientSecret: SECRET, imsEndpoint: server.url });
    const client = new FlowServiceClient({ endpoint: server.url, token: provider });
    const err = (await client.flows.list().catch((e: unknown) => e)) as ApiCallError;
    expect(ApiCallError.isInstance(err)).toBe(true);
    expect(err.status).toBe(401);
    expect(err.problem.code).toBe('401013');
    expect(err.message).toMatch(/token is missing, invalid or expired/);
    expect(provider.fetchCount).toBe(2);
  });

  it('reports bad client credentials without echoing the secret', async () => {
    server.handle(imsAndApi());
    const provider = imsServerToServer({
      clientId: 'cid',
      clientSecret: `${SECRET}-wrong`,
      imsEndpoint: server.url,
    });
    const err = (await provider.getToken().catch((e: unknown) => e)) as ApiCallError;
    expect(ApiCallError.isInstance(err)).toBe(true);
    expect(err.problem).toMatchObject({ kind: 'oauth', code: 'invalid_client' });
    expect(err.message).toMatch(/check the client id and client secret/);
    expect(JSON.stringify([err.message, err.stack, err.body])).not.toContain(SECRET);
  });

  it('refuses empty client credentials up front', () => {
    expect(() => imsServerToServer({ clientId: '', clientSecret: 'x' })).toThrow(/clientId is empty/);
    expect(() => imsServerToServer({ clientId: 'x', clientSecret: '' })).toThrow(/clientSecret is empty/);
  });
});
