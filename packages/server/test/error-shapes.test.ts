import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, configFromEnv } from '../src/index.js';
import { XDM_ERRORS, XdmProblem } from '../src/xdm/schema-registry.js';
import {
  call,
  FS,
  platformHeaders,
  type RawResponse,
  startTestServer,
  type TestServer,
  testServerConfig,
  tokenFor,
} from './helpers.js';
import { head, heldS3Connection, parseAnswer, parseAnswers, rawConnection, rawExchange } from './raw-http.js';

/**
 * Request-level errors (raised before or around a route's handler: the body, the URL, no route,
 * the Platform headers) come in the shape of the API family of the path (decision 0006, addendum
 * 2026-11-23): the Schema Registry's `XDM-…` problems, IMS's OAuth errors, the gateway's
 * `{error_code, message}` on every family, Flow Service problem details for the rest.
 */

const SR = '/data/foundation/schemaregistry';
const CATALOG = '/data/foundation/catalog/dataSets';
const JSON_TYPE = { 'content-type': 'application/json' };
const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.close();
});

const send = (method: string, path: string, headers: Record<string, string>, raw?: string) =>
  call(t.url, method, path, { headers, ...(raw === undefined ? {} : { raw }) });
const deepBody = `{"title":"t","type":"object","allOf":${'['.repeat(5000)}1${']'.repeat(5000)}}`;
const hugeBody = JSON.stringify({ title: 'x'.repeat(1_100_000) });

/** The registry's whole error shape (reference §13.1), its request id the response's header. */
function expectXdm(res: RawResponse, code: string, detail: RegExp): void {
  const status = Number(code.split('-')[2]);
  expect(res.status, res.text).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.headers['x-request-id']).toMatch(REQUEST_ID);
  const body = res.body as Record<string, unknown> & { report: Record<string, unknown> };
  expect(Object.keys(body).sort()).toEqual(['detail', 'report', 'status', 'title', 'type']);
  expect(body).toMatchObject({ type: `http://ns.adobe.com/aep/errors/${code}`, status });
  expect(typeof body.title).toBe('string');
  expect(body.detail).toMatch(detail);
  expect(body.report).toEqual({
    registryRequestId: res.headers['x-request-id'],
    timestamp: expect.stringMatching(/^\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2}$/),
    'detailed-message': body.detail,
    'sub-errors': [],
  });
}

/** Flow Service problem details, with `report.request-id` the response's header. */
function expectFlow(res: RawResponse, code: string): void {
  expect(res.status, res.text).toBe(Number(code.split('-')[1]));
  expect(res.headers['x-request-id']).toMatch(REQUEST_ID);
  expect(res.body).toMatchObject({
    type: `https://ns.adobe.com/aep/errors/FLOW-${code}`,
    report: { 'request-id': res.headers['x-request-id'] },
  });
}

describe('Schema Registry paths answer request-level errors in the registry shape', () => {
  it('a body that is not JSON, empty, absent, nested too deep or unstorable is XDM-1000-400', async () => {
    const schemas = `${SR}/tenant/schemas`;
    const cases: [string, Record<string, string>, string | undefined, RegExp][] = [
      ['not JSON', JSON_TYPE, '{bad', /not valid JSON/],
      ['empty', JSON_TYPE, '', /cannot be null or empty/],
      ['absent', {}, undefined, /cannot be null or empty/],
      ['nested too deep', JSON_TYPE, deepBody, /nests deeper than 64 levels/],
      ['holding NUL', JSON_TYPE, JSON.stringify({ title: 'a\u0000b' }), /cannot be stored/],
    ];
    for (const [what, headers, raw, detail] of cases) {
      const res = await send('POST', schemas, { ...t.headers, ...headers }, raw);
      expect(res.status, what).toBe(400);
      expectXdm(res, 'XDM-1000-400', detail);
    }
  });

  it('a body over 1 MB is XDM-1461-413', async () => {
    const res = await send('POST', `${SR}/tenant/schemas`, { ...t.headers, ...JSON_TYPE }, hugeBody);
    expectXdm(res, 'XDM-1461-413', /larger than 1048576 bytes/);
  });

  it('a malformed URL is XDM-1460-400, with the x-request-id header', async () => {
    const res = await send('GET', `${SR}/tenant/schemas/%E0%A4%A`, t.headers);
    expectXdm(res, 'XDM-1460-400', /URL is malformed/);
  });

  it('a path without a route is XDM-1010-404, whatever the method', async () => {
    expectXdm(await send('GET', `${SR}/nothing`, t.headers), 'XDM-1010-404', /no route GET/);
    expectXdm(await send('DELETE', `${SR}/tenant/schemas`, t.headers), 'XDM-1010-404', /no route DELETE/);
    expectXdm(await send('GET', SR, t.headers), 'XDM-1010-404', /no route GET/);
  });

  it('a missing or unknown sandbox is XDM-2105-400 or XDM-2100-404', async () => {
    const { 'x-sandbox-name': _, ...noSandbox } = t.headers;
    expectXdm(await send('GET', `${SR}/stats`, noSandbox), 'XDM-2105-400', /x-sandbox-name is missing/);
    expectXdm(
      await send('GET', `${SR}/stats`, { ...t.headers, 'x-sandbox-name': 'nope' }),
      'XDM-2100-404',
      /sandbox with the name 'nope'/,
    );
  });

  it("the routes' own errors keep their registry codes", async () => {
    expectXdm(await send('GET', `${SR}/tenant/schemas/x`, t.headers), 'XDM-1007-406', /Accept/);
  });
});

describe('the gateway answers for missing or bad credentials on every family', () => {
  it('keeps {error_code, message} on the registry, Flow Service, Catalog, Data Access and sandboxes', async () => {
    const without = (name: string) =>
      Object.fromEntries(Object.entries(t.headers).filter(([k]) => k !== name));
    const cases: [Record<string, string>, number, string][] = [
      [without('Authorization'), 403, '403010'],
      [{ ...t.headers, Authorization: 'Bearer x.y.z' }, 401, '401013'],
      [without('x-api-key'), 403, '403000'],
      [{ ...t.headers, 'x-api-key': 'other' }, 403, '403003'],
      [without('x-gw-ims-org-id'), 400, '400003'],
      [{ ...t.headers, 'x-gw-ims-org-id': 'X@AdobeOrg' }, 403, '403025'],
    ];
    for (const path of [
      `${SR}/stats`,
      `${FS}/connections`,
      CATALOG,
      '/data/foundation/export/files/x',
      '/data/foundation/sandbox-management/sandboxes',
    ]) {
      for (const [headers, status, errorCode] of cases) {
        const res = await send('GET', path, headers);
        expect(res.status, `${path} ${errorCode}`).toBe(status);
        expect(res.body, path).toEqual({ error_code: errorCode, message: expect.any(String) });
        expect(res.headers['x-request-id'], path).toMatch(REQUEST_ID);
      }
    }
    // On a POST with a body too.
    const res = await send(
      'POST',
      `${SR}/tenant/schemas`,
      { ...without('Authorization'), ...JSON_TYPE },
      '{}',
    );
    expect(res.body).toEqual({ error_code: '403010', message: 'Oauth token is missing.' });
  });
});

describe("a missing or invalid Content-Type gets the reference's BadRequestError body", () => {
  it('on every Platform family, the registry included; inlets keep their own shape', async () => {
    const expected = {
      type: '/placeholder/type/uri',
      status: 400,
      title: 'BadRequestError',
      detail: 'A valid content-type must be specified',
    };
    for (const path of [`${SR}/tenant/schemas`, `${FS}/connections`, CATALOG]) {
      for (const headers of [{ 'content-type': 'text/plain' }, {}] as Record<string, string>[]) {
        const res = await send('POST', path, { ...t.headers, ...headers }, 'x');
        expect(res.status, path).toBe(400);
        expect(res.body, path).toEqual(expected);
        expect(res.headers['x-request-id'], path).toMatch(REQUEST_ID);
      }
    }
    const inlet = await send('POST', `/collection/${'a'.repeat(64)}`, { 'content-type': 'text/plain' }, 'x');
    expect(inlet.status).toBe(400);
    expect(inlet.body).toMatchObject({
      status: 400,
      title: 'Bad Request',
      report: { message: expect.any(String) },
    });
    expect(inlet.headers['x-request-id']).toMatch(REQUEST_ID);
  });
});

describe('IMS answers request-level errors as OAuth errors', () => {
  it('a body it cannot read, a wrong content type, a malformed URL, no route', async () => {
    const token = '/ims/token/v3';
    const cases: [RawResponse, number, RegExp][] = [
      [await send('POST', token, JSON_TYPE, '{bad'), 400, /not valid JSON/],
      [await send('POST', token, JSON_TYPE, ''), 400, /cannot be null or empty/],
      [await send('POST', token, { 'content-type': 'text/plain' }, 'x'), 400, /valid content-type/],
      [await send('POST', token, JSON_TYPE, hugeBody), 413, /larger than/],
      [await send('POST', `${token}/%E0%A4%A`, {}), 400, /URL is malformed/],
      [await send('GET', token, {}), 404, /no route GET/],
    ];
    for (const [res, status, description] of cases) {
      expect(res.status, res.text).toBe(status);
      expect(res.body).toEqual({
        error: 'invalid_request',
        error_description: expect.stringMatching(description),
      });
      expect(res.headers['x-request-id']).toMatch(REQUEST_ID);
    }
    // The route's own OAuth errors are unchanged.
    const grant = await send(
      'POST',
      token,
      { 'content-type': 'application/x-www-form-urlencoded' },
      'grant_type=x',
    );
    expect(grant).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } });
  });
});

describe('Flow Service and Catalog paths keep the Flow Service shape', () => {
  it('bad JSON, empty and oversized bodies, deep nesting, malformed URLs and no route', async () => {
    for (const base of [`${FS}/connections`, CATALOG]) {
      const headers = { ...t.headers, ...JSON_TYPE };
      expectFlow(await send('POST', base, headers, '{bad'), '1460-400');
      expectFlow(await send('POST', base, headers, ''), '1405-400');
      expectFlow(await send('POST', base, headers, deepBody), '1460-400');
      expectFlow(await send('POST', base, headers, hugeBody), '1461-413');
      expectFlow(await send('GET', `${base}/%E0%A4%A`, t.headers), '1460-400');
      expectFlow(await send('GET', `${base}/x/nothing/here`, t.headers), '1101-404');
    }
    const { 'x-sandbox-name': _, ...noSandbox } = t.headers;
    expectFlow(await send('GET', CATALOG, noSandbox), '2105-400');
  });
});

describe('every error response carries x-request-id', () => {
  it('inlet errors, on the fast path and through the framework', async () => {
    for (const id of ['a'.repeat(64), 'not-an-inlet']) {
      for (const path of [`/collection/${id}`, `/collection/batch/${id}`]) {
        const res = await send('POST', path, JSON_TYPE, '{}');
        expect(res.status, path).toBe(404);
        expect(res.headers['x-request-id'], path).toMatch(REQUEST_ID);
      }
    }
    const huge = await send('POST', `/collection/${'a'.repeat(64)}`, JSON_TYPE, hugeBody);
    expect(huge.status).toBe(413);
    expect(huge.headers['x-request-id']).toMatch(REQUEST_ID);
  });

  it('no route and a malformed URL outside any family', async () => {
    for (const path of ['/nothing', '/%E0%A4%A']) {
      const res = await send('GET', path, {});
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.headers['x-request-id'], path).toMatch(REQUEST_ID);
      expect((res.body as { report: { 'request-id': string } }).report['request-id']).toBe(
        res.headers['x-request-id'],
      );
    }
  });
});

describe('the gateway refuses missing credentials before the body is read', () => {
  const noToken = () => Object.fromEntries(Object.entries(t.headers).filter(([k]) => k !== 'Authorization'));
  const MISSING = { error_code: '403010', message: 'Oauth token is missing.' };

  it('a POST with no token and a bad body gets 403010, not the body error, on every family', async () => {
    const bodies: [string, Record<string, string>, string][] = [
      ['not JSON', JSON_TYPE, '{bad'],
      ['empty', JSON_TYPE, ''],
      ['nested too deep', JSON_TYPE, deepBody],
      ['of a type not taken', { 'content-type': 'text/plain' }, 'x'],
    ];
    for (const path of [`${SR}/tenant/schemas`, `${FS}/connections`, CATALOG]) {
      for (const [what, headers, raw] of bodies) {
        const res = await send('POST', path, { ...noToken(), ...headers }, raw);
        expect(res.status, `${path} ${what}`).toBe(403);
        expect(res.body, `${path} ${what}`).toEqual(MISSING);
        expect(res.headers['x-request-id']).toMatch(REQUEST_ID);
      }
    }
    // The other gateway checks come first too.
    const badToken = await send(
      'POST',
      `${FS}/connections`,
      { ...t.headers, Authorization: 'Bearer x.y.z', ...JSON_TYPE },
      '{bad',
    );
    expect(badToken).toMatchObject({ status: 401, body: { error_code: '401013' } });
    const noOrg = Object.fromEntries(Object.entries(t.headers).filter(([k]) => k !== 'x-gw-ims-org-id'));
    const withoutOrg = await send('POST', `${SR}/tenant/schemas`, { ...noOrg, ...JSON_TYPE }, '{bad');
    expect(withoutOrg).toMatchObject({ status: 400, body: { error_code: '400003' } });
  });

  it('a body over 1 MB with no token gets 403010 (not 413), and the connection is not kept for the rest', async () => {
    for (const path of [`${SR}/tenant/schemas`, `${FS}/connections`]) {
      const res = await send('POST', path, { ...noToken(), ...JSON_TYPE }, hugeBody);
      expect(res.status, path).toBe(403);
      expect(res.body, path).toEqual(MISSING);
      expect(res.headers.connection, path).toBe('close');
    }
    // Declared, not sent: the answer comes before any of it.
    const declared = parseAnswer(
      await rawExchange(
        t.url,
        `${head('POST', `${FS}/connections`, {
          ...noToken(),
          ...JSON_TYPE,
          'content-length': String(4 * 1024 * 1024),
        })}\r\n`,
      ),
    );
    expect(declared.status).toBe(403);
    expect(declared.body).toEqual(MISSING);
  });

  it('with credentials, a bad body is still the body error, before a missing sandbox header', async () => {
    const { 'x-sandbox-name': _, ...noSandbox } = t.headers;
    expectFlow(await send('POST', `${FS}/connections`, { ...t.headers, ...JSON_TYPE }, '{bad'), '1460-400');
    expectFlow(await send('POST', `${FS}/connections`, { ...noSandbox, ...JSON_TYPE }, '{bad'), '1460-400');
    expectFlow(await send('POST', `${FS}/connections`, { ...noSandbox, ...JSON_TYPE }, hugeBody), '1461-413');
    expectXdm(
      await send('POST', `${SR}/tenant/schemas`, { ...noSandbox, ...JSON_TYPE }, '{bad'),
      'XDM-1000-400',
      /not valid JSON/,
    );
    expectFlow(await send('POST', `${FS}/connections`, { ...noSandbox, ...JSON_TYPE }, '{}'), '2105-400');
  });

  it('routes outside the gateway still need no credentials', async () => {
    expect((await send('GET', '/health', {})).status).toBe(200);
    expect((await send('GET', '/openapi.json', {})).status).toBe(200);
    const token = await send(
      'POST',
      '/ims/token/v3',
      { 'content-type': 'application/x-www-form-urlencoded' },
      `grant_type=client_credentials&client_id=${t.clientId}&client_secret=${t.clientSecret}`,
    );
    expect(token.status, token.text).toBe(200);
    // No route under a Platform path is still the 404, not the gateway's 403.
    expectFlow(await send('POST', `${FS}/nothing`, JSON_TYPE, '{}'), '1101-404');
  });
});

describe('a body shorter than its Content-Length', () => {
  const cutShort = /shorter than its Content-Length \(100 bytes\)/;
  const shortBody = '{"title":"';

  it('gets a 400 saying so, in the shape of the family', async () => {
    const ask = async (path: string, headers: Record<string, string>) => {
      const res = parseAnswer(
        await rawExchange(
          t.url,
          `${head('POST', path, { ...headers, 'content-length': '100' })}\r\n${shortBody}`,
        ),
      );
      expect(res.headers.connection).toBe('close');
      return res;
    };
    const flow = await ask(`${FS}/connections`, { ...t.headers, ...JSON_TYPE });
    expectFlow(flow, '1460-400');
    expect((flow.body as { errorMessage: string }).errorMessage).toMatch(cutShort);
    expectXdm(await ask(`${SR}/tenant/schemas`, { ...t.headers, ...JSON_TYPE }), 'XDM-1000-400', cutShort);
    const ims = await ask('/ims/token/v3', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(ims.status).toBe(400);
    expect(ims.body).toEqual({
      error: 'invalid_request',
      error_description: expect.stringMatching(cutShort),
    });
    expect(ims.headers['x-request-id']).toMatch(REQUEST_ID);
    // A chunked body whose last chunk never comes.
    const chunked = parseAnswer(
      await rawExchange(
        t.url,
        `${head('POST', `${FS}/connections`, { ...t.headers, ...JSON_TYPE, 'transfer-encoding': 'chunked' })}\r\na\r\n${shortBody}\r\n`,
      ),
    );
    expectFlow(chunked, '1460-400');
    expect((chunked.body as { errorMessage: string }).errorMessage).toMatch(
      /cut short.*before its last chunk/,
    );
  });

  it("without credentials gets only the gateway's 403", async () => {
    const { Authorization: _, ...noToken } = t.headers;
    const res = parseAnswer(
      await rawExchange(
        t.url,
        `${head('POST', `${FS}/connections`, { ...noToken, ...JSON_TYPE, 'content-length': '100' })}\r\n${shortBody}`,
      ),
    );
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ error_code: '403010', message: 'Oauth token is missing.' });
  });

  it('through inject (a body whose size differs from its Content-Length) is a 400 too', async () => {
    const res = await t.server.app.inject({
      method: 'POST',
      url: `${FS}/connections`,
      headers: { ...t.headers, ...JSON_TYPE, 'content-length': '100' },
      payload: shortBody,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      type: 'https://ns.adobe.com/aep/errors/FLOW-1460-400',
      errorMessage: "The request body's size does not match its Content-Length (100 bytes)",
    });
  });
});

describe('a request that does not arrive in time', () => {
  it('may take 120 s by default, or INFLOW_REQUEST_TIMEOUT_MS (Fastify alone would wait for ever)', () => {
    expect(t.server.app.server.requestTimeout).toBe(120_000);
    expect(configFromEnv({}).requestTimeoutMs).toBe(120_000);
    expect(configFromEnv({ INFLOW_REQUEST_TIMEOUT_MS: '5000' }).requestTimeoutMs).toBe(5000);
    expect(() => configFromEnv({ INFLOW_REQUEST_TIMEOUT_MS: 'soon' })).toThrow(/INFLOW_REQUEST_TIMEOUT_MS/);
  });

  it('a body that stops coming gets a 408 in the shape of the family, and the connection is closed', async () => {
    const secret = 'test-client-secret-0408';
    const server = await buildServer(
      testServerConfig({ requestTimeoutMs: 300, bootstrap: { clientSecret: secret } }),
    );
    // Node checks request deadlines every 30 s by default; it reads this when it starts listening.
    const http = server.app.server as typeof server.app.server & { connectionsCheckingInterval: number };
    http.connectionsCheckingInterval = 50;
    // A request timeout below Node's 60 s for the head lowers the head's too (else Node would not
    // enforce it on a body).
    expect(http.headersTimeout).toBe(300);
    try {
      const url = await server.listen();
      const headers = platformHeaders(
        server.bootstrap,
        await tokenFor(url, server.bootstrap.clientId, secret),
      );
      // Part of the body, then nothing (the connection stays open).
      const stall = async (path: string, h: Record<string, string>) => {
        const raw = await rawConnection(url);
        raw.socket.write(`${head('POST', path, { ...h, 'content-length': '100' })}\r\n{"title":"`);
        const res = parseAnswer(await raw.ended);
        expect(res.headers.connection).toBe('close');
        return res;
      };
      const late = /did not arrive in time: the server waits at most 0\.3 s for a whole request/;
      const flow = await stall(`${FS}/connections`, { ...headers, ...JSON_TYPE });
      expectFlow(flow, '1463-408');
      expect(flow.body).toMatchObject({
        title: 'Request timeout',
        errorMessage: expect.stringMatching(late),
      });
      expectXdm(await stall(`${SR}/tenant/schemas`, { ...headers, ...JSON_TYPE }), 'XDM-1463-408', late);
      const ims = await stall('/ims/token/v3', { 'content-type': 'application/x-www-form-urlencoded' });
      expect(ims.status).toBe(408);
      expect(ims.body).toEqual({ error: 'invalid_request', error_description: expect.stringMatching(late) });
    } finally {
      await server.close();
    }
  });
});

describe('a client error behind an earlier pipelined request', () => {
  const cutShort = /shorter than its Content-Length \(100 bytes\)/;

  /**
   * Pipelines `GET /connections/{id}/test` on an S3 connection whose endpoint holds the call, and
   * once that call is in flight, `second` and the end of the sending side: returns every byte the
   * server writes before it closes the connection.
   */
  async function behindPendingTest(second: string): Promise<string> {
    const s3 = await heldS3Connection(t);
    try {
      const raw = await s3.pipelineTest();
      raw.socket.end(second);
      return await raw.ended;
    } finally {
      await s3.close();
    }
  }

  it('a body cut short gets no answer the client would pair with the earlier request', async () => {
    const cut = `${head('POST', `${FS}/connections`, { ...t.headers, ...JSON_TYPE, 'content-length': '100' })}\r\n{"title":"`;
    expect(await behindPendingTest(cut)).toBe('');

    // Once the earlier answer is written, the connection is free: the cut body gets its 400.
    const raw = await rawConnection(t.url);
    raw.socket.write(`${head('GET', '/health', {})}\r\n`);
    await raw.until((text) => text.endsWith('{"status":"ok"}'));
    raw.socket.end(cut);
    const answers = parseAnswers(await raw.ended);
    expect(answers.map((a) => a.status)).toEqual([200, 400]);
    const [health, refused] = answers as [RawResponse, RawResponse];
    expectFlow(refused, '1460-400');
    expect((refused.body as { errorMessage: string }).errorMessage).toMatch(cutShort);
    expect(refused.headers['x-request-id']).not.toBe(health.headers['x-request-id']);
  });

  it('a malformed request gets no answer the client would pair with the earlier request', async () => {
    expect(await behindPendingTest('BOGUS / HTTP/1.1\r\nhost: inflow\r\n\r\n')).toBe('');
    // Alone on its connection, it still gets the bare 400.
    const alone = parseAnswer(await rawExchange(t.url, 'BOGUS / HTTP/1.1\r\nhost: inflow\r\n\r\n'));
    expect(alone.status).toBe(400);
  });
});

describe('the family is that of the path the router matched (percent-decoded)', () => {
  const ENCODED_SR = '/data/foundation/schema%72egistry';

  it('an encoded registry path answers in the registry shape', async () => {
    const { 'x-sandbox-name': _, ...noSandbox } = t.headers;
    expectXdm(await send('GET', `${ENCODED_SR}/stats`, noSandbox), 'XDM-2105-400', /x-sandbox-name/);
    expectXdm(
      await send('POST', `${ENCODED_SR}/tenant/schemas`, { ...t.headers, ...JSON_TYPE }, '{bad'),
      'XDM-1000-400',
      /not valid JSON/,
    );
    // No route: the decoded path decides.
    expectXdm(await send('GET', `${ENCODED_SR}/nothing`, t.headers), 'XDM-1010-404', /no route GET/);
    expectXdm(await send('GET', `${ENCODED_SR}/tenant/%E0%A4%A`, t.headers), 'XDM-1460-400', /malformed/);
  });

  it('an encoded IMS path answers as OAuth', async () => {
    const res = await send('POST', '/%69ms/token/v3', JSON_TYPE, '{bad');
    expect(res.status, res.text).toBe(400);
    expect(res.body).toEqual({
      error: 'invalid_request',
      error_description: expect.stringMatching(/not valid JSON/),
    });
    const lost = await send('GET', '/%69ms/nothing', {});
    expect(lost.status).toBe(404);
    expect(lost.body).toMatchObject({ error: 'invalid_request' });
  });

  it('a segment that cannot be decoded, or an encoded slash, belongs to no family', async () => {
    expectFlow(await send('GET', '/data/foundation/schema%E0%A4%A/stats', t.headers), '1460-400');
    expectFlow(await send('GET', '/%E0%A4%Ams/token/v3', {}), '1460-400');
    // The router does not decode %2F: no registry route, and no registry path.
    expectFlow(await send('GET', '/data/foundation%2Fschemaregistry/stats', t.headers), '1101-404');
  });
});

describe('a registry problem that reaches the app error handler', () => {
  it('answers in the family of its path: the registry as it is, elsewhere in that family', async () => {
    const server = await buildServer(
      testServerConfig({ bootstrap: { clientSecret: 'test-client-secret-0002' } }),
    );
    try {
      const notFound = () => {
        throw new XdmProblem(XDM_ERRORS.notFound, 'the probe found nothing');
      };
      for (const path of [`${SR}/probe`, `${FS}/probe`, '/ims/probe', '/probe'])
        server.app.get(path, notFound);
      server.app.get(`${FS}/fault`, () => {
        throw new XdmProblem({ code: 'XDM-1000-500', title: 'Fault' }, 'the probe broke');
      });
      const get = async (url: string): Promise<RawResponse> => {
        const res = await server.app.inject({ method: 'GET', url });
        const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)]));
        return { status: res.statusCode, headers, body: res.json(), text: res.body };
      };
      expectXdm(await get(`${SR}/probe`), 'XDM-1010-404', /^the probe found nothing$/);
      for (const path of [`${FS}/probe`, '/probe']) {
        const res = await get(path);
        expectFlow(res, '1460-404');
        expect((res.body as { errorMessage: string }).errorMessage).toBe('the probe found nothing');
      }
      const ims = await get('/ims/probe');
      expect(ims.status).toBe(404);
      expect(ims.body).toEqual({ error: 'invalid_request', error_description: 'the probe found nothing' });
      expectFlow(await get(`${FS}/fault`), '1102-500');
    } finally {
      await server.close();
    }
  });
});
