import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../src/index.js';
import { FS, type RawResponse, startTestServer, type TestServer, testServerConfig } from './helpers.js';
import { head, heldS3Connection, parseAnswer, parseAnswers, rawConnection, rawExchange } from './raw-http.js';
import { createInlet } from './streaming-helpers.js';

/**
 * Client errors (raised by Node's HTTP parser, or its request timeout, rather than by a request
 * handler) on the streaming inlets' paths come in the inlet's own error shape,
 * `{type, status, title, report: {message}}` (decision 0011, addendum "client errors on inlet
 * paths"), though the collection fast path answers these requests outside Fastify.
 */

const INLET_TYPE = 'http://ns.adobe.com/adobecloud/problem/data-collection-service/inlet';
const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const JSON_TYPE = { 'content-type': 'application/json' };

let t: TestServer;
let inletId: string;
beforeAll(async () => {
  t = await startTestServer();
  ({ inletId } = await createInlet(t));
}, 120_000);
afterAll(async () => {
  await t?.close();
});

/** The inlet's whole error shape, with a request id and the connection closed after it. */
function expectInlet(res: RawResponse, status: number, title: string, message: RegExp): void {
  expect(res.status, res.text).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.headers['x-request-id']).toMatch(REQUEST_ID);
  expect(res.headers.connection).toBe('close');
  expect(res.body).toEqual({ type: INLET_TYPE, status, title, report: { message: expect.any(String) } });
  expect((res.body as { report: { message: string } }).report.message).toMatch(message);
}

/** Fastify's own answer to a client error (where the path is not known to be an inlet's). */
function expectBare(res: RawResponse, status: number): void {
  expect(res.status, res.text).toBe(status);
  expect(res.body).toMatchObject({ statusCode: status });
}

const single = () => `/collection/${inletId}`;
const batch = () => `/collection/batch/${inletId}`;
const cutHead = (path: string, headers: Record<string, string> = JSON_TYPE) =>
  `${head('POST', path, { ...headers, 'content-length': '500' })}\r\n`;
const hundred = 'x'.repeat(100);

describe('a body cut short on an inlet path', () => {
  const cut = /^The request body ended after 100 of the 500 bytes its Content-Length declares/;

  it('gets the inlet 400 saying how much of the declared body came, on both endpoints', async () => {
    for (const path of [single(), batch(), `${single()}?syncValidation=true`]) {
      const res = parseAnswer(await rawExchange(t.url, cutHead(path) + hundred));
      expectInlet(res, 400, 'Bad Request', cut);
    }
    // The body in pieces, the head alone first: the same count.
    const raw = await rawConnection(t.url);
    raw.socket.write(cutHead(single()));
    raw.socket.write('x'.repeat(60));
    raw.socket.end('x'.repeat(40));
    expectInlet(parseAnswer(await raw.ended), 400, 'Bad Request', cut);
  });

  it('a chunked body whose last chunk never comes says how much came', async () => {
    const chunked = head('POST', batch(), { ...JSON_TYPE, 'transfer-encoding': 'chunked' });
    const res = parseAnswer(await rawExchange(t.url, `${chunked}\r\na\r\n{"messages\r\n`));
    expectInlet(res, 400, 'Bad Request', /^The request body ended after 10 bytes, before its last chunk/);
  });

  it('on a connection earlier requests used: nothing while an earlier answer is pending, the 400 once they are out', async () => {
    // Behind a pipelined request whose answer is pending (an S3 connection test held by its
    // endpoint), an answer would be paired with that request: the connection is only closed.
    const s3 = await heldS3Connection(t);
    try {
      for (const second of [
        cutHead(single()) + hundred,
        `${head('POST', single(), { ...JSON_TYPE, 'x-big': 'a'.repeat(20_000) })}\r\n`,
      ]) {
        const raw = await s3.pipelineTest();
        raw.socket.end(second);
        expect(await raw.ended).toBe('');
      }
    } finally {
      await s3.close();
    }

    // Once the earlier answers are out, the connection is free: the cut body gets its 400.
    const raw = await rawConnection(t.url);
    raw.socket.write(`${head('GET', '/health', {})}\r\n`);
    await raw.until((text) => text.endsWith('{"status":"ok"}'));
    // An inlet id that is no inlet: answered (404) by the fast path, the connection kept.
    raw.socket.write(
      `${head('POST', `/collection/${'0'.repeat(64)}`, { ...JSON_TYPE, 'content-length': '2' })}\r\n{}`,
    );
    await raw.until((text) => text.includes('Inlet Not Found'));
    raw.socket.end(cutHead(single()) + hundred);
    const answers = parseAnswers(await raw.ended);
    expect(answers.map((a) => a.status)).toEqual([200, 404, 400]);
    expectInlet(answers[2] as RawResponse, 400, 'Bad Request', cut);
    const ids = answers.map((a) => a.headers['x-request-id']);
    expect(new Set(ids).size).toBe(3);
  });

  it('refused before its body was read, gets only the refusal', async () => {
    // A Content-Type the inlet does not take: the 400 is answered at once, the body read to drop it.
    const wrongType = await rawExchange(t.url, cutHead(single(), { 'content-type': 'text/plain' }) + hundred);
    const refused = parseAnswer(wrongType);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ report: { message: expect.stringMatching(/content-type/) } });
    // Declared over 1 MB: the 413, and nothing read.
    const tooLarge = parseAnswer(
      await rawExchange(
        t.url,
        `${head('POST', batch(), { ...JSON_TYPE, 'content-length': String(2 << 20) })}\r\n${hundred}`,
      ),
    );
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body).toMatchObject({ title: 'Payload Too Large' });
  });

  it('with an inlet id the fast path does not take (Fastify answers it), in the inlet shape too', async () => {
    const res = parseAnswer(await rawExchange(t.url, cutHead('/collection/not-an-inlet') + hundred));
    expectInlet(
      res,
      400,
      'Bad Request',
      /^The request body ended before the 500 bytes its Content-Length declares/,
    );
  });
});

describe('other client errors on inlet paths', () => {
  it('headers too large: 431 in the inlet shape (elsewhere Fastify’s own 431)', async () => {
    const big = { ...JSON_TYPE, 'content-length': '2', 'x-big': 'a'.repeat(20_000) };
    for (const path of [single(), `${batch()}?x-adobe-flow-id=abc`]) {
      const res = parseAnswer(await rawExchange(t.url, `${head('POST', path, big)}\r\n{}`));
      expectInlet(res, 431, 'Request Header Fields Too Large', /headers are larger than 16384 bytes/);
    }
    expectBare(parseAnswer(await rawExchange(t.url, `${head('POST', `${FS}/connections`, big)}\r\n{}`)), 431);
    // Not a POST: no inlet route.
    expectBare(parseAnswer(await rawExchange(t.url, `${head('GET', single(), big)}\r\n`)), 431);
  });

  it('a malformed request: 400 in the inlet shape, naming what is wrong', async () => {
    const badHeader = `POST ${single()} HTTP/1.1\r\nhost: inflow\r\nbad header\r\n\r\n`;
    expectInlet(
      parseAnswer(await rawExchange(t.url, badHeader)),
      400,
      'Bad Request',
      /malformed.*Invalid header token/,
    );
    const badVersion = `POST ${batch()} HTTX/1.1\r\nhost: inflow\r\n\r\n`;
    expectInlet(parseAnswer(await rawExchange(t.url, badVersion)), 400, 'Bad Request', /malformed/);
    // A chunk size that is not hex, in the body of a request the fast path is reading.
    const chunked = head('POST', single(), { ...JSON_TYPE, 'transfer-encoding': 'chunked' });
    expectInlet(
      parseAnswer(await rawExchange(t.url, `${chunked}\r\nzz\r\n`)),
      400,
      'Bad Request',
      /malformed.*chunk size/,
    );
    // The same elsewhere stays Fastify's.
    expectBare(
      parseAnswer(await rawExchange(t.url, `POST /health HTTP/1.1\r\nhost: inflow\r\nbad header\r\n\r\n`)),
      400,
    );
  });

  it('a request whose body does not arrive in time: 408 in the inlet shape', async () => {
    // This server's own settings leave only headers a deadline (Fastify sets requestTimeout 0);
    // one that sets a request timeout gets the inlet's 408 for an inlet body that overruns it.
    const server = await buildServer(
      testServerConfig({ bootstrap: { clientSecret: 'test-client-secret-0003' } }),
    );
    // Node reads these when the server starts listening (the check interval is not in its types).
    const http = server.app.server as typeof server.app.server & { connectionsCheckingInterval: number };
    http.requestTimeout = 300;
    http.headersTimeout = 300;
    http.connectionsCheckingInterval = 50;
    try {
      const url = await server.listen();
      const raw = await rawConnection(url);
      raw.socket.write(cutHead(single()) + hundred);
      const res = parseAnswer(await raw.ended);
      expectInlet(res, 408, 'Request Timeout', /did not arrive in time: 100 of the 500 bytes/);
      // A head that does not arrive in time: its path is not known, Fastify's 408.
      const slowHead = await rawConnection(url);
      slowHead.socket.write(`POST ${single()} HTTP/1.1\r\nhost: inflow\r\n`);
      expectBare(parseAnswer(await slowHead.ended), 408);
    } finally {
      await server.close();
    }
  });
});
