import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { InflowServer } from '../src/index.js';
import type { StreamLog } from '../src/streaming/log.js';
import { type RawResponse, startTestServer } from './helpers.js';
import {
  head,
  jsonPost,
  parseAnswer,
  parseAnswers,
  type RawConnection,
  rawConnection,
  rawExchange,
  serverSockets,
} from './raw-http.js';
import {
  createInlet,
  createSchemaAndDataset,
  envelope,
  eventually,
  readDataset,
} from './streaming-helpers.js';

/**
 * The inlets' own HTTP/1.1 front (decision 0011, addendum "the inlets' own HTTP/1.1 front"): a
 * connection that starts with `POST /collection/` is read and answered without node:http, in a
 * strict subset of HTTP/1.1; anything outside it is handed to node:http, which answers as before.
 */

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const INLET_TYPE = 'http://ns.adobe.com/adobecloud/problem/data-collection-service/inlet';

/** A server with an XDM inlet, a schema and a dataset, and a view of its accepted sockets. */
async function inletServer(dataDir?: string) {
  const t = await startTestServer({
    dataDir,
    bootstrap: { clientSecret: 'front-secret', tenantId: 'extconndev' },
    streaming: { flushMs: 100 },
  });
  const { schemaId, datasetId } = await createSchemaAndDataset(t);
  const { inletId } = await createInlet(t);
  const sockets = serverSockets(t.server.app.server);
  /** One message of the events schema, numbered `seq`, as a request's body. */
  const message = (seq: number) => JSON.stringify(envelope(schemaId, datasetId, { _extconndev: { seq } }));
  return { t, datasetId, inletId, sockets, message, single: `/collection/${inletId}` };
}

/**
 * Holds every append to the streaming log until `release()`: requests stay in flight (served,
 * not answered). `calls` counts the appends begun.
 */
function holdAppends(server: InflowServer) {
  const log = (server.app.streaming as { log: StreamLog }).log;
  const append = log.append;
  let open = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const held = { calls: 0, done: 0, release: () => {} };
  log.append = async function (this: StreamLog, payloads) {
    held.calls++;
    await gate;
    const offsets = await append.call(this, payloads);
    held.done++;
    return offsets;
  };
  held.release = () => {
    log.append = append;
    open();
  };
  return held;
}

/** Waits until `check` holds (polled). */
async function until(check: () => boolean): Promise<void> {
  await eventually(async () => (check() ? true : undefined));
}

/** The whole 200 ack as the fast path gives it. */
function expectAck(res: RawResponse, inletId: string): void {
  expect(res.status, res.text).toBe(200);
  expect(res.headers['content-type']).toBe('application/json');
  expect(res.headers['content-length']).toBe(String(Buffer.byteLength(res.text)));
  expect(res.headers['x-request-id']).toMatch(REQUEST_ID);
  expect(Date.parse(res.headers.date as string)).not.toBeNaN();
  expect(res.body).toEqual({
    inletId,
    xactionId: expect.stringMatching(/^\d+:\d+:\d+$/),
    receivedTimeMs: expect.any(Number),
    syncValidation: { skipped: true },
  });
}

/** The number of whole answers in `text` (each ends where its content-length says; bodies are ASCII). */
function answerCount(text: string): number {
  let count = 0;
  let at = 0;
  for (;;) {
    const split = text.indexOf('\r\n\r\n', at);
    if (split < 0) return count;
    const length = Number(/content-length: (\d+)/i.exec(text.slice(at, split))?.[1] ?? 0);
    if (text.length - (split + 4) < length) return count;
    at = split + 4 + length;
    count++;
  }
}

const answers = (n: number) => (text: string) => answerCount(text) >= n;

let dataDir: string;
let s: Awaited<ReturnType<typeof inletServer>>;
beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'inflow-front-test-'));
  s = await inletServer(dataDir);
}, 120_000);
afterAll(async () => {
  await s?.t.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('requests the front serves', () => {
  it('acks a message with the fast path’s answer, byte for byte, and lands it', async () => {
    const raw = await rawConnection(s.t.url);
    raw.socket.write(jsonPost(s.single, s.message(101)));
    await raw.until(answers(1));
    expect(s.sockets.takenBy(raw.socket)).toBe('front');
    const fromFront = raw.text();
    const ack = parseAnswer(fromFront);
    expectAck(ack, s.inletId);
    expect(ack.headers.connection).toBe('keep-alive');
    expect(ack.headers['keep-alive']).toBe('timeout=72');

    // The same request on a connection node:http reads (it started with another request).
    const byNode = await rawConnection(s.t.url);
    byNode.socket.write(`${head('GET', '/health', {})}\r\n`);
    await byNode.until(answers(1));
    byNode.socket.write(jsonPost(s.single, s.message(102)));
    await byNode.until(answers(2));
    expect(s.sockets.takenBy(byNode.socket)).toBe('node:http');
    const fromNode = byNode.text().slice(byNode.text().indexOf('HTTP/1.1 200 OK', 5));
    const mask = (text: string) =>
      text
        .replace(/x-request-id: [0-9a-f-]{36}/, 'x-request-id: ID')
        .replace(/Date: [^\r]+/, 'Date: DATE')
        .replace(/content-length: \d+/, 'content-length: N')
        .replace(/"xactionId":"[^"]+"/, '"xactionId":"X"')
        .replace(/"receivedTimeMs":\d+/, '"receivedTimeMs":0');
    expect(mask(fromFront)).toBe(mask(fromNode));
    raw.socket.destroy();
    byNode.socket.destroy();

    const { rows } = await eventually(async () => {
      const d = await readDataset(dataDir, s.datasetId);
      return d.rows.some((r) => (r._extconndev as { seq?: number })?.seq === 101) ? d : undefined;
    });
    expect(rows.filter((r) => (r._extconndev as { seq?: number }).seq === 101)).toHaveLength(1);
  });

  it('answers requests pipelined in one write in order, also when the client ends its side at once', async () => {
    const unknown = `/collection/${'0'.repeat(64)}`;
    const batch = JSON.stringify({ messages: [JSON.parse(s.message(201)), JSON.parse(s.message(202))] });
    const text = await rawExchange(
      s.t.url,
      [
        jsonPost(s.single, s.message(200)),
        jsonPost(`/collection/batch/${s.inletId}`, batch),
        jsonPost(unknown, '{}'),
        jsonPost(s.single, '{"not":"an envelope"}'),
        jsonPost(`${s.single}?syncValidation=true`, s.message(203)),
      ].join(''),
    );
    const got = parseAnswers(text);
    expect(got.map((a) => a.status)).toEqual([200, 207, 404, 400, 200]);
    expect(got[1]?.body).toMatchObject({
      responses: [{ xactionId: expect.any(String) }, { xactionId: expect.any(String) }],
    });
    expect(got[4]?.body).not.toHaveProperty('syncValidation');
    // In order: the ids' sequence numbers ({time}:{node}:{sequence}) count up.
    const sequence = (a: RawResponse | undefined) => {
      const body = a?.body as { xactionId?: string; batchId?: string };
      return Number((body.xactionId ?? body.batchId)?.split(':')[2]);
    };
    expect(sequence(got[0])).toBeLessThan(sequence(got[1]));
    expect(sequence(got[1])).toBeLessThan(sequence(got[4]));
    expect(new Set(got.map((a) => a.headers['x-request-id'])).size).toBe(5);
    expect(got.slice(0, 4).map((a) => a.headers.connection)).toEqual(Array(4).fill('keep-alive'));
  });

  it('reads a request written one byte at a time, twice on one connection', async () => {
    const raw = await rawConnection(s.t.url);
    raw.socket.setNoDelay(true);
    const bytes = Buffer.from(jsonPost(s.single, s.message(301)) + jsonPost(s.single, s.message(302)));
    for (let i = 0; i < bytes.length; i++) {
      raw.socket.write(bytes.subarray(i, i + 1));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await raw.until(answers(2));
    expect(s.sockets.takenBy(raw.socket)).toBe('front');
    for (const ack of parseAnswers(raw.text())) expectAck(ack, s.inletId);
    raw.socket.destroy();
  });

  it('a Content-Type the inlet does not take: the 400, the body dropped, the connection kept', async () => {
    const raw = await rawConnection(s.t.url);
    raw.socket.write(
      `${head('POST', s.single, { 'content-type': 'text/plain', 'content-length': '9' })}\r\n{"a":"b"}` +
        `${head('POST', s.single, { 'content-length': '2' })}\r\n{}` +
        jsonPost(s.single, s.message(401)),
    );
    await raw.until(answers(3));
    expect(s.sockets.takenBy(raw.socket)).toBe('front');
    const [wrong, missing, ok] = parseAnswers(raw.text());
    for (const refused of [wrong, missing]) {
      expect(refused?.status).toBe(400);
      expect(refused?.headers.connection).toBe('keep-alive');
      expect(refused?.body).toMatchObject({
        type: INLET_TYPE,
        report: { message: 'A valid content-type must be specified: Content-Type: application/json' },
      });
    }
    expectAck(ok as RawResponse, s.inletId);
    raw.socket.destroy();
  });

  it('a Content-Length over 1 MB: the 413 with connection: close, and the connection closes', async () => {
    const raw = await rawConnection(s.t.url);
    raw.socket.write(jsonPost(s.single, s.message(501)));
    await raw.until(answers(1));
    expect(s.sockets.takenBy(raw.socket)).toBe('front');
    raw.socket.write(
      `${head('POST', s.single, { 'content-type': 'application/json', 'content-length': String(2 << 20) })}\r\n{"x":`,
    );
    const [ok, refused] = parseAnswers(await raw.ended);
    expectAck(ok as RawResponse, s.inletId);
    expect(refused?.status).toBe(413);
    expect(refused?.headers.connection).toBe('close');
    expect(refused?.body).toMatchObject({ type: INLET_TYPE, title: 'Payload Too Large' });
  });

  it('a body cut short: the inlet’s 400 saying how much came, after the earlier answers', async () => {
    const raw = await rawConnection(s.t.url);
    raw.socket.write(jsonPost(s.single, s.message(601)));
    await raw.until(answers(1));
    expect(s.sockets.takenBy(raw.socket)).toBe('front');
    raw.socket.end(
      `${head('POST', s.single, { 'content-type': 'application/json', 'content-length': '500' })}\r\n${'x'.repeat(100)}`,
    );
    const [ok, cut] = parseAnswers(await raw.ended);
    expectAck(ok as RawResponse, s.inletId);
    expect(cut?.status).toBe(400);
    expect(cut?.headers.connection).toBe('close');
    expect(cut?.body).toEqual({
      type: INLET_TYPE,
      status: 400,
      title: 'Bad Request',
      report: {
        message:
          'The request body ended after 100 of the 500 bytes its Content-Length declares: the connection closed before the rest came',
      },
    });
  });

  it('Connection: close from the client: answered with Connection: close, then the connection ends', async () => {
    const raw = await rawConnection(s.t.url);
    raw.socket.write(jsonPost(s.single, s.message(700)));
    await raw.until(answers(1));
    expect(s.sockets.takenBy(raw.socket)).toBe('front');
    // A request after it is not read.
    raw.socket.write(
      jsonPost(s.single, s.message(701), { connection: 'close' }) + jsonPost(s.single, s.message(702)),
    );
    const [first, answer, ...more] = parseAnswers(await raw.ended);
    expect(first?.headers.connection).toBe('keep-alive');
    expectAck(answer as RawResponse, s.inletId);
    expect(answer?.headers.connection).toBe('close');
    expect(answer?.headers['keep-alive']).toBeUndefined();
    expect(more).toEqual([]);
  });

  it('serves at most 16 requests of a connection at once, and answers the rest once there is room', async () => {
    const held = holdAppends(s.t.server);
    const raw = await rawConnection(s.t.url);
    try {
      const requests = Array.from({ length: 40 }, (_, i) => jsonPost(s.single, s.message(800 + i)));
      raw.socket.write(requests.join(''));
      await until(() => held.calls === 16);
      // Nothing more is read while sixteen are owed (the sockets's other bytes wait unread).
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(held.calls).toBe(16);
      expect(raw.text()).toBe('');
    } finally {
      held.release();
    }
    await raw.until(answers(40));
    const got = parseAnswers(raw.text());
    expect(got.map((a) => a.status)).toEqual(Array(40).fill(200));
    raw.socket.destroy();
  });
});

describe('requests handed to node:http', () => {
  it('a connection that starts with another request is node:http’s; its inlet requests are still served', async () => {
    const raw = await rawConnection(s.t.url);
    raw.socket.write(`${head('GET', '/health', {})}\r\n${jsonPost(s.single, s.message(901))}`);
    await raw.until(answers(2));
    expect(s.sockets.takenBy(raw.socket)).toBe('node:http');
    const [health, ack] = parseAnswers(raw.text());
    expect(health?.body).toEqual({ status: 'ok' });
    expectAck(ack as RawResponse, s.inletId);
    raw.socket.destroy();
  });

  it('mid-connection: an inlet request, then GET /health, then another inlet request, answered in order', async () => {
    for (const oneWrite of [true, false]) {
      const raw = await rawConnection(s.t.url);
      const requests = [
        jsonPost(s.single, s.message(1001)),
        `${head('GET', '/health', {})}\r\n`,
        jsonPost(s.single, s.message(1002)),
      ];
      if (oneWrite) raw.socket.write(requests.join(''));
      else {
        for (const [i, request] of requests.entries()) {
          raw.socket.write(request);
          await raw.until(answers(i + 1));
          // The front reads the connection until a request it does not take.
          expect(s.sockets.takenBy(raw.socket)).toBe(i === 0 ? 'front' : 'node:http');
        }
      }
      await raw.until(answers(3));
      const [first, health, last] = parseAnswers(raw.text());
      expectAck(first as RawResponse, s.inletId);
      expect(health?.body).toEqual({ status: 'ok' });
      expectAck(last as RawResponse, s.inletId);
      raw.socket.destroy();
    }
  });

  it('a chunked body: handed off, and acked', async () => {
    const body = s.message(1101);
    const chunked =
      `${head('POST', s.single, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })}\r\n` +
      `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const raw = await rawConnection(s.t.url);
    raw.socket.write(jsonPost(s.single, s.message(1100)));
    await raw.until(answers(1));
    expect(s.sockets.takenBy(raw.socket)).toBe('front');
    raw.socket.write(chunked);
    await raw.until(answers(2));
    expect(s.sockets.takenBy(raw.socket)).toBe('node:http');
    for (const ack of parseAnswers(raw.text())) expectAck(ack, s.inletId);
    raw.socket.destroy();
  });

  it('Expect: 100-continue: handed off, node:http says 100 Continue, then the ack', async () => {
    const body = s.message(1201);
    const raw = await rawConnection(s.t.url);
    raw.socket.write(jsonPost(s.single, s.message(1200)));
    await raw.until(answers(1));
    expect(s.sockets.takenBy(raw.socket)).toBe('front');
    const acked = raw.text().length;
    raw.socket.write(
      `${head('POST', s.single, {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        expect: '100-continue',
      })}\r\n`,
    );
    const proceed = 'HTTP/1.1 100 Continue\r\n\r\n';
    await raw.until((text) => text.slice(acked) === proceed);
    expect(s.sockets.takenBy(raw.socket)).toBe('node:http');
    raw.socket.write(body);
    await raw.until(answers(3));
    expectAck(parseAnswer(raw.text().slice(acked + proceed.length)), s.inletId);
    raw.socket.destroy();
  });

  it('a bad header character, a repeated Content-Length, a bare LF: node:http’s 400, never an ack or a hang', async () => {
    const bad = [
      `POST ${s.single} HTTP/1.1\r\nhost: inflow\r\ncontent-type: application/json\r\nx-bad: a\x01b\r\ncontent-length: 2\r\n\r\n{}`,
      `POST ${s.single} HTTP/1.1\r\nhost: inflow\r\ncontent-type: application/json\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\n{}`,
      `POST ${s.single} HTTP/1.1\nhost: inflow\ncontent-type: application/json\ncontent-length: 2\n\n{}`,
      `POST ${s.single} HTTP/1.1\r\nhost: inflow\r\ncontent-type: application/json\r\ncontent-length: 2\n\r\n{}`,
    ];
    for (const request of bad) {
      // First on its connection: the inlet's 400 (node:http's parser, the inlet's shape).
      const first = parseAnswer(await rawExchange(s.t.url, request));
      expect(first.status, request).toBe(400);
      expect(first.body).toMatchObject({
        type: INLET_TYPE,
        report: { message: expect.stringMatching(/malformed/) },
      });
      // After an ack from the front: node:http's 400 once the ack is out, then the connection closes.
      const raw = await rawConnection(s.t.url);
      raw.socket.write(jsonPost(s.single, s.message(1300)));
      await raw.until(answers(1));
      expect(s.sockets.takenBy(raw.socket)).toBe('front');
      raw.socket.end(request);
      const [ack, refused] = parseAnswers(await raw.ended);
      expectAck(ack as RawResponse, s.inletId);
      expect(refused?.status, request).toBe(400);
    }
  });
  it('a tab after a Content-Length’s digits is left to node:http, whose llhttp decides', async () => {
    // Node 20's llhttp refuses it (a 400), Node 24's takes it (the ack): either way it is node:http's
    // answer, not the front's, since the front takes only what every llhttp takes.
    const message = s.message(1400);
    const request = `POST ${s.single} HTTP/1.1\r\nhost: inflow\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(message)}\t\r\n\r\n${message}`;
    const raw = await rawConnection(s.t.url);
    raw.socket.write(request);
    await raw.until(answers(1));
    const answer = parseAnswer(raw.text());
    if (answer.status === 200) {
      // Acked over a connection that stays open: node:http's parser reads it.
      expect(s.sockets.takenBy(raw.socket)).toBe('node:http');
      expectAck(answer, s.inletId);
    } else {
      // Refused by llhttp (only node:http's parser gives this answer), then closed.
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({
        type: INLET_TYPE,
        report: { message: expect.stringMatching(/malformed/) },
      });
    }
    raw.socket.destroy();
  });
});

describe('timeouts, resets and closing', () => {
  let s2: Awaited<ReturnType<typeof inletServer>>;
  /** The last test closes the server itself. */
  let closed = false;
  beforeAll(async () => {
    s2 = await inletServer();
  }, 120_000);
  afterAll(async () => {
    if (!closed) await s2?.t.close();
  });

  it('an idle connection is closed after keepAliveTimeout (and node’s second more)', async () => {
    const http = s2.t.server.app.server;
    const before = http.keepAliveTimeout;
    http.keepAliveTimeout = 200;
    try {
      const raw = await rawConnection(s2.t.url);
      raw.socket.write(jsonPost(s2.single, s2.message(1)));
      await raw.until(answers(1));
      expect(s2.sockets.takenBy(raw.socket)).toBe('front');
      expect(parseAnswer(raw.text()).headers['keep-alive']).toBe('timeout=0');
      expect(await raw.ended).toContain('HTTP/1.1 200 OK');
    } finally {
      http.keepAliveTimeout = before;
    }
  });

  it('a client that resets mid-request does not stop the server; a request it sent whole is still stored', async () => {
    // Reset in the middle of a body.
    const cut = await rawConnection(s2.t.url);
    cut.socket.write(
      `${head('POST', s2.single, { 'content-type': 'application/json', 'content-length': '500' })}\r\n{"x`,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    cut.socket.resetAndDestroy();
    await cut.ended;
    // Reset while its request is being served: it completes (it is in the log), its answer dropped.
    const held = holdAppends(s2.t.server);
    const reset = await rawConnection(s2.t.url);
    try {
      reset.socket.write(jsonPost(s2.single, s2.message(2)));
      await until(() => held.calls === 1);
      expect(s2.sockets.takenBy(reset.socket)).toBe('front');
      reset.socket.resetAndDestroy();
      await reset.ended;
    } finally {
      held.release();
    }
    await until(() => held.done === 1);
    // The server still serves.
    const raw = await rawConnection(s2.t.url);
    raw.socket.write(jsonPost(s2.single, s2.message(3)));
    await raw.until(answers(1));
    expectAck(parseAnswer(raw.text()), s2.inletId);
    raw.socket.destroy();
  });

  it('server.close() closes idle front connections at once and busy ones after their answers', async () => {
    const idle = await rawConnection(s2.t.url);
    idle.socket.write(jsonPost(s2.single, s2.message(10)));
    await idle.until(answers(1));
    const fresh = await rawConnection(s2.t.url);
    const held = holdAppends(s2.t.server);
    let busy: RawConnection | undefined;
    let closing: Promise<void> | undefined;
    try {
      busy = await rawConnection(s2.t.url);
      busy.socket.write(jsonPost(s2.single, s2.message(11)));
      await until(() => held.calls === 1);
      expect(s2.sockets.takenBy(busy.socket)).toBe('front');
      closing = s2.t.close();
      closed = true;
      // The idle ones go at once, answered nothing more.
      expect(answerCount(await idle.ended)).toBe(1);
      expect(await fresh.ended).toBe('');
    } finally {
      held.release();
    }
    // The busy one gets its answer, saying the connection closes, and is closed.
    const answer = parseAnswer(await (busy as RawConnection).ended);
    expectAck(answer, s2.inletId);
    expect(answer.headers.connection).toBe('close');
    await closing;
  });
});
