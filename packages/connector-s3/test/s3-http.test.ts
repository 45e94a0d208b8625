// The connector's HTTP (undici, through @smithy/undici-http-handler) against local servers that
// misbehave on purpose: every way a connection fails is classified by its code, the SDK still
// retries what it should, and no read leaves a connection open behind it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import { GetObjectCommand, ListBucketsCommand } from '@aws-sdk/client-s3';
import {
  CONNECT_TIMEOUT_MS,
  READ_BATCH_SIZE,
  S3_AUTH_SPEC_NAME,
  type S3Credentials,
  S3Error,
  s3Connector,
} from '@inflow/connector-s3';
import { rejectionOf } from '@inflow/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createClient, s3Failure, setResponseTimeoutForTests } from '../src/s3-client.js';
import { discardBody, getBody } from '../src/s3-format.js';

const SECRET = 'CANARY-s3-http-secret-8c2d';
const read = s3Connector.read as NonNullable<typeof s3Connector.read>;
const testConnection = s3Connector.test as NonNullable<typeof s3Connector.test>;
const explore = s3Connector.explore as NonNullable<typeof s3Connector.explore>;
const preview = s3Connector.preview as NonNullable<typeof s3Connector.preview>;

/**
 * `RESPONSE_TIMEOUT_MS` for the clients these tests make: short enough to meet in a second or
 * two (undici's timers tick every half second).
 */
const RESPONSE_TIMEOUT = 1_000;
beforeEach(() => setResponseTimeoutForTests(RESPONSE_TIMEOUT));
afterEach(() => setResponseTimeoutForTests());

const credentials = (serviceUrl: string): S3Credentials =>
  s3Connector.parseCredentials(S3_AUTH_SPEC_NAME, {
    s3AccessKey: 'AKIAIOSFODNN7EXAMPLE',
    s3SecretKey: SECRET,
    serviceUrl,
  });

/** A listening server, with every connection it accepted (to count them and see them closed). */
interface Listening {
  host: string;
  sockets: Set<Socket>;
  connections: () => number;
}
const opened: { server: Server | TcpServer; sockets: Set<Socket> }[] = [];
afterEach(async () => {
  for (const { server, sockets } of opened.splice(0)) {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function listen(server: Server | TcpServer): Promise<Listening> {
  const sockets = new Set<Socket>();
  let connections = 0;
  server.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  opened.push({ server, sockets });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as { port: number }).port}`,
    sockets,
    connections: () => connections,
  };
}

/**
 * Resolves once every connection the server has open now is closed, however it ends (a client
 * destroying its socket mid-answer resets it: an `error` first). The test's timeout is the guard.
 */
async function allClosed(listening: Listening): Promise<void> {
  await Promise.all(
    [...listening.sockets].map(
      (s) => new Promise<void>((resolve) => (s.closed ? resolve() : s.once('close', () => resolve()))),
    ),
  );
}

/** A TCP server that accepts connections and never says a word on them. */
const silent = () => listen(createTcpServer(() => {}));

/**
 * An HTTP server answering with `handler`. It keeps an idle connection a minute, so only the
 * client closing it ends it.
 */
function http(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Listening> {
  const server = createServer(handler);
  server.keepAliveTimeout = 60_000;
  return listen(server);
}

/** A port nothing listens on (a server's, closed). */
async function closedPort(): Promise<string> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

describe('network failures on undici: classified by code, naming the host, retried by the SDK', () => {
  it('an endpoint nothing listens on: ECONNREFUSED', async () => {
    const host = await closedPort();
    const result = await testConnection(credentials(`http://${host}`));
    expect(result).toEqual({
      ok: false,
      code: 'network',
      message: `cannot reach ${host} while listing the buckets: the connection was refused (ECONNREFUSED); check serviceUrl and that Inflow can reach the endpoint`,
    });
  });

  it('an endpoint that closes each connection unanswered: UND_ERR_SOCKET, after the SDK’s 3 attempts', async () => {
    const endpoint = await listen(createTcpServer((socket) => socket.destroy()));
    const result = await testConnection(credentials(`http://${endpoint.host}`));
    expect(result).toEqual({
      ok: false,
      code: 'network',
      message: `the connection to ${endpoint.host} failed while listing the buckets: the endpoint closed the connection (UND_ERR_SOCKET)`,
    });
    expect(endpoint.connections()).toBe(3);
  });

  it(`a connection whose TLS handshake never completes: UND_ERR_CONNECT_TIMEOUT at CONNECT_TIMEOUT_MS, after 3 attempts`, async () => {
    // The TCP connection is accepted but the server never answers the ClientHello: undici's
    // connect timeout covers TLS too, where node:http's covered only the TCP connect.
    const endpoint = await silent();
    const creds = credentials(`https://${endpoint.host}`);
    const client = createClient(creds);
    try {
      const failure = s3Failure(
        await rejectionOf(client.send(new ListBucketsCommand({}))),
        creds,
        'listing the buckets',
      );
      expect(failure).toMatchObject({ code: 'network', isRetryable: true, status: undefined });
      expect(failure.message).toBe(
        `cannot reach ${endpoint.host} while listing the buckets: connecting took longer than ${CONNECT_TIMEOUT_MS / 1000} s (UND_ERR_CONNECT_TIMEOUT); check serviceUrl and that Inflow can reach the endpoint`,
      );
      // undici's own message says which timeout it applied: the connector's.
      expect((failure.cause as Error).message).toContain(`timeout: ${CONNECT_TIMEOUT_MS}ms`);
      expect(endpoint.connections()).toBe(3);
    } finally {
      client.destroy();
    }
  }, 60_000);

  it('an endpoint that accepts the request and never answers: UND_ERR_HEADERS_TIMEOUT at RESPONSE_TIMEOUT_MS, after 3 attempts', async () => {
    const endpoint = await silent();
    const creds = credentials(`http://${endpoint.host}`);
    const client = createClient(creds);
    try {
      const error = await rejectionOf(client.send(new ListBucketsCommand({})));
      expect(error).toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT', $metadata: { attempts: 3 } });
      const failure = s3Failure(error, creds, 'listing the buckets');
      expect(failure).toMatchObject({ code: 'network', isRetryable: true });
      expect(failure.message).toBe(
        `no answer from http://${endpoint.host} within 1 s while listing the buckets (UND_ERR_HEADERS_TIMEOUT): the connection was made; check that serviceUrl names an S3 endpoint and that it is answering`,
      );
      expect(endpoint.connections()).toBe(3);
    } finally {
      client.destroy();
    }
  });

  it('a body that stops arriving part-way: UND_ERR_BODY_TIMEOUT at RESPONSE_TIMEOUT_MS', async () => {
    const endpoint = await http((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('id,name\n1,a\n');
    });
    const creds = credentials(`http://${endpoint.host}`);
    const client = createClient(creds);
    try {
      const answer = await client.send(new GetObjectCommand({ Bucket: 'acme', Key: 'in/a.csv' }));
      const error = await rejectionOf(answer.Body?.transformToString() as Promise<string>);
      const failure = s3Failure(error, creds, 'reading /acme/in/a.csv');
      expect(failure).toMatchObject({ code: 'network', isRetryable: true });
      expect(failure.message).toBe(
        `the answer from http://${endpoint.host} stopped part-way while reading /acme/in/a.csv: nothing more came within 1 s (UND_ERR_BODY_TIMEOUT)`,
      );
    } finally {
      client.destroy();
    }
  });

  it('a body paused by back-pressure for longer than RESPONSE_TIMEOUT_MS: not timed, it reads whole', async () => {
    // More than every buffer on the way holds, so undici pauses the answer until it is read.
    const size = 16 * 1024 * 1024;
    const endpoint = await http((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': String(size) });
      res.end(Buffer.alloc(size, 'a'));
    });
    const client = createClient(credentials(`http://${endpoint.host}`));
    try {
      const answer = await client.send(new GetObjectCommand({ Bucket: 'acme', Key: 'in/big.csv' }));
      await new Promise((resolve) => setTimeout(resolve, 3 * RESPONSE_TIMEOUT));
      const bytes = await answer.Body?.transformToByteArray();
      expect(bytes?.length).toBe(size);
    } finally {
      client.destroy();
    }
  });

  it('a connection cut in the middle of a file read: the read fails with UND_ERR_SOCKET, retryably', async () => {
    const endpoint = await fakeS3({ 'in/a.csv': 'cut' });
    const error = await rejectionOf(drain(endpoint.serviceUrl, '/acme/in/'));
    expect(S3Error.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ code: 'network', isRetryable: true, status: undefined });
    expect((error as Error).message).toBe(
      `the connection to ${endpoint.host} failed while reading /acme/in/a.csv: the endpoint closed the connection (UND_ERR_SOCKET)`,
    );
  });

  it('5xx answers are retried by the SDK: two 503s, then the answer', async () => {
    let requests = 0;
    const endpoint = await http((req, res) => {
      req.resume();
      requests++;
      if (requests <= 2) {
        res.writeHead(503, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>later</Message></Error>');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(
        '<?xml version="1.0"?><ListAllMyBucketsResult><Owner><ID>o</ID></Owner><Buckets><Bucket><Name>acme</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>',
      );
    });
    const result = await testConnection(credentials(`http://${endpoint.host}`));
    expect(result).toEqual({
      ok: true,
      message: `the key pair was accepted by http://${endpoint.host}: it sees 1 bucket`,
    });
    expect(requests).toBe(3);
  });

  const refused = () =>
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
  it.each([
    [
      'a DNS failure that may pass (EAI_AGAIN)',
      Object.assign(new Error('getaddrinfo EAI_AGAIN s3.example'), { code: 'EAI_AGAIN' }),
      'cannot resolve host "127.0.0.1:9" while listing the buckets: check serviceUrl',
    ],
    [
      'ECONNREFUSED wrapped as a cause',
      new TypeError('fetch failed', { cause: refused() }),
      'cannot reach 127.0.0.1:9 while listing the buckets: the connection was refused (ECONNREFUSED); check serviceUrl and that Inflow can reach the endpoint',
    ],
    [
      'ECONNREFUSED for every address tried (an AggregateError)',
      new AggregateError([refused(), refused()], ''),
      'cannot reach 127.0.0.1:9 while listing the buckets: the connection was refused (ECONNREFUSED); check serviceUrl and that Inflow can reach the endpoint',
    ],
    [
      'a renamed undici error: its code decides, not its name',
      Object.assign(new Error('other side closed'), { name: 'RequestTimeout', code: 'UND_ERR_SOCKET' }),
      'the connection to 127.0.0.1:9 failed while listing the buckets: the endpoint closed the connection (UND_ERR_SOCKET)',
    ],
  ])('%s', (_what, error, message) => {
    const failure = s3Failure(error, credentials('http://127.0.0.1:9'), 'listing the buckets');
    expect(failure).toMatchObject({ code: 'network', isRetryable: true, message });
  });
});

describe('an endpoint that accepts connections and never answers: the verbs a user waits on fail after one RESPONSE_TIMEOUT_MS', () => {
  // The SDK retries a timeout: 3 attempts of undici's 300 s made `test` hang 15 minutes. Each
  // verb here makes one attempt (one connection) and settles well before `bound`, a hang guard
  // with room for a busy machine, not a speed claim.
  const bound = 10 * RESPONSE_TIMEOUT;
  const noAnswer = (host: string, doing: string) =>
    `no answer from http://${host} within 1 s while ${doing} (UND_ERR_HEADERS_TIMEOUT): the connection was made; check that serviceUrl names an S3 endpoint and that it is answering`;

  /** How long `run` took to settle, in ms. */
  async function timed<T>(run: () => Promise<T>): Promise<{ settled: T | unknown; ms: number }> {
    const start = performance.now();
    const settled = await run().catch((error: unknown) => error);
    return { settled, ms: performance.now() - start };
  }

  it('test: a failed result naming the endpoint, after one attempt', async () => {
    const endpoint = await silent();
    const { settled, ms } = await timed(() => testConnection(credentials(`http://${endpoint.host}`)));
    expect(settled).toEqual({
      ok: false,
      code: 'network',
      message: noAnswer(endpoint.host, 'listing the buckets'),
    });
    expect(JSON.stringify(settled)).not.toContain(SECRET);
    expect(endpoint.connections()).toBe(1);
    expect(ms).toBeLessThan(bound);
  }, 20_000);

  it.each([
    ['explore root', (c: S3Credentials) => explore(c, { objectType: 'root' }), 'listing the buckets'],
    [
      'explore folder',
      (c: S3Credentials) => explore(c, { objectType: 'folder', object: '/acme/in' }),
      'listing /acme/in/',
    ],
    [
      'preview',
      (c: S3Credentials) =>
        preview(c, { objectType: 'file', object: '/acme/in/a.csv', fileType: 'delimited' }),
      'reading /acme/in/a.csv',
    ],
  ])(
    '%s: a network S3Error naming the endpoint, after one attempt',
    async (_verb, run, doing) => {
      const endpoint = await silent();
      const { settled, ms } = await timed(() => run(credentials(`http://${endpoint.host}`)));
      expect(S3Error.isInstance(settled)).toBe(true);
      expect(settled).toMatchObject({ code: 'network', message: noAnswer(endpoint.host, doing) });
      expect((settled as Error).message).not.toContain(SECRET);
      expect(endpoint.connections()).toBe(1);
      expect(ms).toBeLessThan(bound);
    },
    20_000,
  );

  it('read, a batch run, keeps the SDK’s 3 attempts', async () => {
    const endpoint = await silent();
    const error = await rejectionOf(drain(`http://${endpoint.host}`, '/acme/in/'));
    expect(error).toMatchObject({ code: 'network', message: noAnswer(endpoint.host, 'listing /acme/in/') });
    expect(endpoint.connections()).toBe(3);
  }, 20_000);
});

/**
 * A fake S3 endpoint for reads: lists bucket `acme` as the given objects (oldest first, as
 * given) and answers each GET with its body. A body of `'cut'` sends its headers and a few
 * bytes, then closes the connection.
 */
async function fakeS3(objects: Record<string, Buffer | 'cut'>) {
  const gets: string[] = [];
  const waiting = new Map<string, () => void>();
  /** Resolves once `key` has been asked for. */
  const asked = (key: string) =>
    gets.includes(key) ? Promise.resolve() : new Promise<void>((resolve) => waiting.set(key, resolve));
  const endpoint = await http((req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://s3');
    if (url.pathname === '/acme' || url.pathname === '/acme/') {
      const contents = Object.entries(objects).map(
        ([key, body], i) =>
          `<Contents><Key>${key}</Key><LastModified>2026-01-01T00:00:0${i}.000Z</LastModified><ETag>&quot;${i}&quot;</ETag><Size>${body === 'cut' ? 1000 : body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      );
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>acme</Name><Prefix>${url.searchParams.get('prefix') ?? ''}</Prefix><KeyCount>${contents.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents.join('')}</ListBucketResult>`,
      );
      return;
    }
    const key = decodeURIComponent(url.pathname.slice('/acme/'.length));
    const body = objects[key];
    gets.push(key);
    waiting.get(key)?.();
    if (body === undefined) {
      res.writeHead(404, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>');
    } else if (body === 'cut') {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('id,name\n1,a\n', () => res.socket?.destroy());
    } else {
      res.writeHead(200, { 'content-length': String(body.length) });
      res.end(body);
    }
  });
  return { ...endpoint, serviceUrl: `http://${endpoint.host}`, gets, asked };
}

const csv = (rows: number) =>
  Buffer.from(`id,name\n${Array.from({ length: rows }, (_, i) => `${i},name ${i}`).join('\n')}\n`);

async function drain(serviceUrl: string, path: string, signal?: AbortSignal): Promise<number> {
  let records = 0;
  for await (const batch of read({
    credentials: credentials(serviceUrl),
    params: s3Connector.parseSourceParams({ path }),
    state: undefined,
    ...(signal ? { signal } : {}),
  })) {
    records += batch.records.length;
  }
  return records;
}

describe('reads leave no connection open', () => {
  it('a whole read: client.destroy() closes the idle keep-alive connection too', async () => {
    const endpoint = await fakeS3({ 'in/a.csv': csv(10), 'in/b.csv': csv(20) });
    expect(await drain(endpoint.serviceUrl, '/acme/in/')).toBe(30);
    await allClosed(endpoint);
    expect(endpoint.sockets.size).toBe(0);
  });

  /**
   * Two files: a.csv arrives whole into the read-ahead while its first batch waits, so b.csv is
   * requested ahead; b.csv is larger than every buffer on the way, so its answer stays paused.
   */
  const twoFiles = () => fakeS3({ 'in/a.csv': csv(50_000), 'in/b.csv': csv(1_000_000) });

  it('a read its consumer stops after the next file was requested ahead: every connection is closed', async () => {
    const endpoint = await twoFiles();
    for await (const batch of read({
      credentials: credentials(endpoint.serviceUrl),
      params: s3Connector.parseSourceParams({ path: '/acme/in/' }),
      state: undefined,
    })) {
      expect(batch.records).toHaveLength(READ_BATCH_SIZE);
      await endpoint.asked('in/b.csv');
      break;
    }
    expect(endpoint.gets).toEqual(['in/a.csv', 'in/b.csv']);
    await allClosed(endpoint);
    expect(endpoint.sockets.size).toBe(0);
  });

  it('a body dropped unread after its whole answer arrived: no uncaught error, its connection closed', async () => {
    // undici's body, destroyed before it was read to its end, errors; once the whole answer has
    // arrived the request is over and undici adds no listener of its own, so with nothing
    // listening that error is an uncaught exception (vitest fails the run on it). The read drops
    // the file it fetched ahead this way when it stops early.
    const endpoint = await fakeS3({ 'in/b.csv': csv(10) });
    const client = createClient(credentials(endpoint.serviceUrl));
    try {
      const body = await getBody(
        client,
        { bucket: 'acme', key: 'in/b.csv', size: 0, modified: 0, etag: '' },
        undefined,
      );
      const closed = new Promise((resolve) => body.once('close', resolve));
      discardBody(body);
      await closed;
      expect(body.destroyed).toBe(true);
    } finally {
      client.destroy();
    }
    await allClosed(endpoint);
    expect(endpoint.sockets.size).toBe(0);
  });

  it('a read aborted after the next file was requested ahead: it fails, and every connection is closed', async () => {
    const endpoint = await twoFiles();
    const controller = new AbortController();
    const error = await rejectionOf(
      (async () => {
        for await (const _ of read({
          credentials: credentials(endpoint.serviceUrl),
          params: s3Connector.parseSourceParams({ path: '/acme/in/' }),
          state: undefined,
          signal: controller.signal,
        })) {
          await endpoint.asked('in/b.csv');
          controller.abort();
        }
      })(),
    );
    expect(error).toMatchObject({ name: 'AbortError' });
    expect(endpoint.gets).toEqual(['in/a.csv', 'in/b.csv']);
    await allClosed(endpoint);
    expect(endpoint.sockets.size).toBe(0);
  });
});
