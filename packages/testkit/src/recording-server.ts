import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the recording server received it. */
export interface RecordedRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  /** Each query parameter's values, in order (repeated parameters stay separate). */
  query: Record<string, string[]>;
  /** Lower-case header names. */
  headers: Record<string, string>;
  rawBody: string;
  /** The body parsed as JSON, or as a form; undefined when empty. */
  body: unknown;
}

/** What a route answers. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Handler = (req: RecordedRequest) => Reply | Promise<Reply>;

export interface RecordingServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  requests: RecordedRequest[];
  /** Replaces the handler (the default answers 404 problem JSON). */
  handle(handler: Handler): void;
  /** Closes the server and every kept-alive connection. */
  close(): Promise<void>;
}

function parseBody(raw: string, contentType: string | undefined): unknown {
  if (raw.length === 0) return undefined;
  if (contentType?.includes('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(raw));
  }
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

async function record(req: IncomingMessage): Promise<RecordedRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const rawBody = Buffer.concat(chunks).toString('utf8');
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const query: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) (query[k] ??= []).push(v);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers))
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  return {
    method: req.method ?? 'GET',
    path: url.pathname,
    query,
    headers,
    rawBody,
    body: parseBody(rawBody, headers['content-type']),
  };
}

/**
 * A real HTTP server on 127.0.0.1 (port 0) that records every request and answers from a
 * handler: the stand-in for a Flow Service API in tests of the client and the setup steps.
 */
export async function startRecordingServer(handler?: Handler): Promise<RecordingServer> {
  let current: Handler =
    handler ??
    (() => ({
      status: 404,
      body: {
        type: 'https://ns.adobe.com/aep/errors/FLOW-1101-404',
        title: 'Resource not found',
        status: 404,
      },
    }));
  const requests: RecordedRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    record(req)
      .then(async (recorded) => {
        requests.push(recorded);
        const reply = await current(recorded);
        const body =
          reply.body === undefined
            ? ''
            : typeof reply.body === 'string'
              ? reply.body
              : JSON.stringify(reply.body);
        res.writeHead(reply.status, {
          ...(reply.body !== undefined && typeof reply.body !== 'string'
            ? { 'content-type': 'application/json' }
            : {}),
          ...reply.headers,
        });
        res.end(body);
      })
      .catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`recording server handler failed: ${String(error)}`);
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    handle(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
