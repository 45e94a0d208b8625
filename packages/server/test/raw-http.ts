import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { expect } from 'vitest';
import { FS, postOk, type RawResponse, S3_SPEC, type TestServer } from './helpers.js';

/**
 * HTTP over a bare TCP socket, for tests that need bytes no HTTP client would send (a body cut
 * short, a malformed head, pipelined requests) and to read every byte the server writes back.
 */

/** A request head (ending in its blank line's first CRLF) with the given headers. */
export function head(method: string, path: string, headers: Record<string, string>): string {
  const lines = Object.entries({ host: 'inflow', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join('')}`;
}

/** A whole POST with a JSON body (its Content-Type and Content-Length, then `headers`). */
export function jsonPost(path: string, body: string, headers: Record<string, string> = {}): string {
  const length = String(Buffer.byteLength(body));
  return `${head('POST', path, { 'content-type': 'application/json', 'content-length': length, ...headers })}\r\n${body}`;
}

/**
 * The server's side of each connection it accepts, from now on. `takenBy` tells who reads a
 * connection: node:http (it set its parser on the socket) or the inlets' own front (no parser).
 * `of` finds the server's side of a client socket.
 */
export function serverSockets(server: Server) {
  const sockets: Socket[] = [];
  server.on('connection', (socket: Socket) => sockets.push(socket));
  return {
    of(client: Socket): Socket {
      const found = sockets.find((s) => s.remotePort === client.localPort);
      if (!found) throw new Error(`no server socket for port ${client.localPort}`);
      return found;
    },
    takenBy(client: Socket): 'node:http' | 'front' {
      return (this.of(client) as Socket & { parser?: unknown }).parser ? 'node:http' : 'front';
    },
  };
}

/** An open connection to a server, as `rawConnection` returns it. */
export interface RawConnection {
  socket: Socket;
  /** Settles with all the text the server wrote once the connection closes (or fails). */
  ended: Promise<string>;
  /** Waits until the text so far passes `check`. */
  until(check: (text: string) => boolean): Promise<void>;
  /** All the text the server wrote so far. */
  text(): string;
}

/**
 * A connection to `url` on which the test writes requests piece by piece and reads what comes
 * back: `until` waits for the text so far to pass a check, `ended` for the server to close.
 */
export async function rawConnection(url: string): Promise<RawConnection> {
  const { port, hostname } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  let text = '';
  const waiters: (() => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
    for (const wake of waiters.splice(0)) wake();
  });
  const ended = new Promise<string>((resolve) => {
    socket.on('close', () => resolve(text));
    socket.on('error', () => resolve(text));
  });
  return {
    socket,
    ended,
    async until(check: (text: string) => boolean): Promise<void> {
      while (!check(text)) await new Promise<void>((wake) => waiters.push(wake));
    },
    text: () => text,
  };
}

/**
 * Sends `text` on a fresh connection to `url`, ends its sending side, and reads everything the
 * server writes until it closes the connection: the answers, as raw text.
 */
export async function rawExchange(url: string, text: string): Promise<string> {
  const raw = await rawConnection(url);
  raw.socket.end(text);
  return raw.ended;
}

/** The one HTTP answer in `text` (a second one would fail the test), parsed. */
export function parseAnswer(text: string): RawResponse {
  expect(text.match(/HTTP\/1\.1 \d{3} /g), text).toHaveLength(1);
  const split = text.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = text.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const raw = text.slice(split + 4);
  return { status: Number(statusLine?.split(' ')[1]), headers, body: JSON.parse(raw), text: raw };
}

/** Every HTTP answer in `text`, in order, parsed (one starts right where the last body ends). */
export function parseAnswers(text: string): RawResponse[] {
  return text.split(/(?=HTTP\/1\.1 \d{3} )/).map(parseAnswer);
}

/**
 * A TCP server that accepts connections and holds them unanswered (`reached` settles on the
 * first) until `close()`, which answers each held and later request with S3's 403 AccessDenied.
 */
export async function holdingServer() {
  const held: Socket[] = [];
  let released = false;
  let reach = () => {};
  const reached = new Promise<void>((resolve) => {
    reach = resolve;
  });
  const xml = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code></Error>';
  const answer = (s: Socket) =>
    s.end(
      `HTTP/1.1 403 Forbidden\r\ncontent-type: application/xml\r\ncontent-length: ${xml.length}\r\nconnection: close\r\n\r\n${xml}`,
    );
  const server = createServer((s) => {
    s.on('error', () => {});
    s.resume(); // read (and drop) the requests, so the connection ends when the client's does
    if (released) return answer(s);
    held.push(s);
    reach();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    reached,
    async close() {
      released = true;
      for (const s of held) answer(s);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * An S3 connection on `t` whose endpoint (a `holdingServer`) holds every call unanswered until
 * `close()`. `pipelineTest` opens a raw connection to `t` with the connection's
 * `GET /connections/{id}/test` written on it, and resolves once the endpoint holds a call.
 */
export async function heldS3Connection(t: TestServer) {
  const s3 = await holdingServer();
  try {
    const connection = await postOk(t, `${FS}/connections`, {
      name: 'held',
      auth: {
        specName: 'Access Key',
        params: { s3AccessKey: 'AKIAHELD', s3SecretKey: 'held-secret', serviceUrl: s3.url },
      },
      connectionSpec: { id: S3_SPEC, version: '1.0' },
    });
    return {
      close: s3.close,
      async pipelineTest(): Promise<RawConnection> {
        const raw = await rawConnection(t.url);
        raw.socket.write(`${head('GET', `${FS}/connections/${connection.id}/test`, t.headers)}\r\n`);
        await s3.reached;
        return raw;
      },
    };
  } catch (error) {
    await s3.close();
    throw error;
  }
}
