import { randomUUID } from 'node:crypto';
import { type IncomingHttpHeaders, maxHeaderSize, type Server, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';

/**
 * The streaming inlets' own HTTP/1.1 front (decision 0011, addendum "the inlets' own HTTP/1.1
 * front"). At tens of thousands of requests a second, node:http's per-request machinery
 * (IncomingMessage, ServerResponse, header objects, stream plumbing) costs about half as much CPU
 * again as the inlet's own work. So a connection whose first bytes are `POST /collection/` is read
 * here, straight from the socket, with a strict subset of HTTP/1.1, and each request is answered
 * by the inlets' `serve`. Anything outside that subset (another path or method, a chunked body,
 * `Expect`, a malformed or oversized head…) is not answered here: once the earlier answers on the
 * connection are written, the connection is handed to node:http with the unread bytes put back,
 * and node:http (its llhttp parser, Fastify, the collection fast path) answers or refuses it as it
 * always did. Framework-free: only node:net sockets and what `InletHandler` gives.
 */

/** An answer, as the inlets' `serve` gives it: always a JSON body. */
export interface FrontAnswer {
  status: number;
  body: string;
  retryAfter?: string;
}

/** What the front needs from the inlet routes. */
export interface InletHandler<Route> {
  /** The largest body taken; a larger declared Content-Length gets `tooLarge()` and the connection closes. */
  readonly bodyLimit: number;
  /** The route of a request target (path and query) the front serves; undefined hands the request to node:http. */
  route(target: string): Route | undefined;
  /** An answer given before the body is read (a Content-Type the inlets do not take), else undefined. */
  refuse(headers: IncomingHttpHeaders, hasBody: boolean): FrontAnswer | undefined;
  /** Serves a whole request. */
  serve(route: Route, headers: IncomingHttpHeaders, body: Buffer | undefined): Promise<FrontAnswer>;
  /** The answer when `serve` rejects anyway. */
  failure(error: unknown): FrontAnswer;
  /** The answer to a declared body over `bodyLimit`. */
  tooLarge(): FrontAnswer;
  /**
   * The answer to a request whose body did not all come: `code` is Node's for the same client
   * error (`HPE_INVALID_EOF_STATE`: the connection ended; `ERR_HTTP_REQUEST_TIMEOUT`), `declared`
   * the Content-Length, `received` the body bytes read.
   */
  clientError(code: string, declared: string, received: number): FrontAnswer;
}

/** The front installed on a server. */
export interface InletFront {
  /**
   * The server is closing: connections with no request being served are closed at once, the
   * others once their answers are written (the last one says `connection: close`).
   */
  close(): void;
}

/** How many requests of one connection may be served at once; beyond it the connection is not read. */
export const MAX_IN_FLIGHT = 16;
/** node:http's margin over `keepAliveTimeout` before it closes an idle connection. */
const KEEP_ALIVE_MARGIN = 1000;
/** node:http's limit on header lines when `server.maxHeadersCount` is not set (its 2,000 names and values). */
const DEFAULT_MAX_FIELDS = 1000;

const PREFIX = Buffer.from('POST /collection/', 'latin1');
const VERSION = Buffer.from(' HTTP/1.1', 'latin1');
const METHOD_LENGTH = 'POST '.length;
const EMPTY = Buffer.alloc(0);
const LF = 10;
const CR = 13;
const SP = 32;
const HTAB = 9;
const COLON = 58;

/** RFC 9110 `tchar`: the bytes of a header name. */
const TOKEN = byteTable((c) => /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(String.fromCharCode(c)));
/** A header value's bytes: VCHAR, obs-text, SP, HTAB (no other control character, no CR or LF). */
const VALUE = byteTable((c) => (c >= 0x21 && c <= 0x7e) || c >= 0x80 || c === SP || c === HTAB);
/** A request target's bytes: visible ASCII, no `#`. */
const TARGET = byteTable((c) => c >= 0x21 && c <= 0x7e && c !== 0x23);

function byteTable(accepts: (c: number) => boolean): Uint8Array {
  const table = new Uint8Array(256);
  for (let c = 0; c < 256; c++) table[c] = accepts(c) ? 1 : 0;
  return table;
}

/** Headers of which node:http keeps the first when repeated (`matchKnownFields`); others are joined. */
const FIRST_WINS = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/** Adds a header line to `headers` as node:http's `IncomingMessage` does. */
function addField(headers: IncomingHttpHeaders, name: string, value: string): void {
  const fields = headers as Record<string, string | string[] | undefined>;
  if (name === 'set-cookie') {
    const had = fields[name];
    if (Array.isArray(had)) had.push(value);
    else fields[name] = [value];
  } else if (FIRST_WINS.has(name)) {
    if (fields[name] === undefined) fields[name] = value;
  } else {
    const had = fields[name];
    fields[name] = typeof had === 'string' ? had + (name === 'cookie' ? '; ' : ', ') + value : value;
  }
}

/** Whether `data[from, to)` holds a tab. */
function tabIn(data: Buffer, from: number, to: number): boolean {
  const at = data.indexOf(HTAB, from);
  return at >= 0 && at < to;
}

/** A Content-Length the front takes: digits only, and few enough to be a safe integer. */
function isLength(value: string): boolean {
  if (value.length === 0 || value.length > 15) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** The `Date` header's value, made once a second as node:http does. */
let date: string | undefined;
function utcDate(): string {
  if (date === undefined) {
    const now = new Date();
    date = now.toUTCString();
    setTimeout(() => {
      date = undefined;
    }, 1000 - now.getMilliseconds()).unref();
  }
  return date;
}

/** How an answer ends its connection. */
const KEEP = 0;
/** `Connection: close` as node:http adds it (the client asked, or the connection ends after it). */
const CLOSE = 1;
/** The answer's own `connection: close` (a 413, a body cut short or late), as the fast path gives it. */
const FORCED = 2;

/**
 * An answer as node:http writes the fast path's (`writeAnswer`): same headers, same order, same
 * case, so a client sees no difference between the two fronts.
 */
function answerText(answer: FrontAnswer, close: number, keepAliveTimeout: number): string {
  let text = `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'unknown'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(answer.body)}\r\nx-request-id: ${randomUUID()}\r\n`;
  if (answer.retryAfter) text += `retry-after: ${answer.retryAfter}\r\n`;
  if (close === FORCED) text += `connection: close\r\nDate: ${utcDate()}\r\n\r\n`;
  else if (close === CLOSE) text += `Date: ${utcDate()}\r\nConnection: close\r\n\r\n`;
  else {
    text += `Date: ${utcDate()}\r\nConnection: keep-alive\r\n`;
    if (keepAliveTimeout) text += `Keep-Alive: timeout=${Math.floor(keepAliveTimeout / 1000)}\r\n`;
    text += '\r\n';
  }
  return text + answer.body;
}

/** A client error as Node raises it, for the server's `clientError` listeners. */
function nodeError(code: string, message: string, reason?: string): Error {
  return Object.assign(new Error(message), reason === undefined ? { code } : { code, reason });
}
const REQUEST_TIMEOUT = 'ERR_HTTP_REQUEST_TIMEOUT';
const ENDED = 'HPE_INVALID_EOF_STATE';

/** The server settings read here; some are not in Node's types. */
type HttpServer = Server & { requireHostHeader?: boolean; maxHeaderSize?: number };

/**
 * Puts the front before node:http's own connection listener. Installed only when the server has
 * exactly that one `connection` listener, is not a TLS server and does not limit requests per
 * connection (`maxRequestsPerSocket`, which the front does not count); else nothing changes.
 */
export function installInletFront<Route>(
  server: Server,
  handler: InletHandler<Route>,
): InletFront | undefined {
  if (server instanceof TlsServer || (server.maxRequestsPerSocket ?? 0) > 0) return undefined;
  const listeners = server.listeners('connection');
  if (listeners.length !== 1) return undefined;
  const original = listeners[0] as (this: Server, socket: Socket) => void;
  const front = new Front(server as HttpServer, handler, original);
  server.removeListener('connection', original);
  server.on('connection', front.accept);
  return front;
}

class Front<Route> implements InletFront {
  readonly connections = new Set<Connection<Route>>();
  closing = false;

  constructor(
    readonly server: HttpServer,
    readonly handler: InletHandler<Route>,
    readonly original: (this: Server, socket: Socket) => void,
  ) {}

  /** A new connection: read here until it turns out not to be the inlets' (then node:http's). */
  readonly accept = (socket: Socket): void => {
    if (this.closing) {
      this.original.call(this.server, socket);
      return;
    }
    this.connections.add(new Connection(this, socket));
  };

  close(): void {
    this.closing = true;
    for (const connection of this.connections) connection.shutdown();
  }
}

/** One answer owed, in request order. */
class Slot {
  answer: FrontAnswer | undefined = undefined;
  constructor(readonly close: number) {}
}

/** What a connection is reading. */
const HEAD = 0;
const BODY = 1;
/** The body of a request answered before it was read: read and dropped. */
const DISCARD = 2;
/** Nothing more: once the answers owed are written, `after` happens. */
const STOPPED = 3;

/** After the last answer of a stopped connection: close it, give it to node:http, or report a client error. */
const AFTER_CLOSE = 0;
const AFTER_HANDOFF = 1;
const AFTER_CLIENT_ERROR = 2;

/**
 * One connection the front reads. Requests are parsed as their bytes come (a head line by line,
 * so a head written byte by byte costs no more than one written at once), served concurrently,
 * and answered in request order. Bytes not yet parsed are kept from the start of the request
 * being read, so that a request outside the subset can be put back for node:http.
 */
class Connection<Route> {
  /** Unparsed bytes: `data[off, off + len)`; `data` is a socket chunk, or storage of ours when `owned`. */
  private data: Buffer = EMPTY;
  private off = 0;
  private len = 0;
  private owned = false;

  private mode = HEAD;
  private after = AFTER_CLOSE;
  private afterError: Error | undefined;
  private readonly queue: Slot[] = [];

  // The request being read.
  /** Bytes of the head (from `off`) split into lines so far, and searched for the next LF. */
  private scan = 0;
  private searched = 0;
  private lineSeen = false;
  private route: Route | undefined;
  private headers: IncomingHttpHeaders | undefined;
  private declared: string | undefined;
  private clientClose = false;
  private fields = 0;
  /** The body's bytes so far (pieces of the socket's chunks), or the bytes left to drop. */
  private parts: Buffer[] = [];
  private need = 0;
  private filled = 0;
  /** When the request being read started waiting for its bytes (ms); 0 while none waits. */
  private since = 0;
  /** No request read yet: node:http's headers timeout runs from the connection's start. */
  private fresh = true;

  /** The client ended its side. */
  private ended = false;
  /** The connection is no longer the front's (closed, finished, handed off). */
  private gone = false;
  private paused = false;
  private needDrain = false;
  private deadline = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = 0;

  constructor(
    private readonly front: Front<Route>,
    private readonly socket: Socket,
  ) {
    for (const [event, listener] of this.listeners()) socket.on(event, listener);
    this.settle();
  }

  /** The front's socket listeners: added together here, removed together on a handoff. */
  private listeners(): [string, Parameters<NodeJS.EventEmitter['on']>[1]][] {
    return [
      ['data', this.onData],
      ['end', this.onEnd],
      ['drain', this.onDrain],
      ['close', this.onClose],
      ['error', this.onError],
    ];
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.gone) return;
    this.append(chunk);
    this.pump();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    this.pump();
  };

  private readonly onDrain = (): void => {
    this.needDrain = false;
    this.pump();
  };

  /** A request already served still completes (it may be in the log); its answer is dropped. */
  private readonly onClose = (): void => {
    this.gone = true;
    this.queue.length = 0;
    this.release();
    this.forget();
  };

  /** A reset or write error: the connection closes next ('close'); nothing to do. */
  private readonly onError = (): void => {};

  /** The server is closing (`InletFront.close`). */
  shutdown(): void {
    if (this.gone) return;
    if (this.queue.length === 0) {
      this.gone = true;
      this.socket.destroy();
      return;
    }
    this.stop(AFTER_CLOSE);
    this.settle();
  }

  /** Parses what it can, then sets reading and the deadline for what it waits for. */
  private pump(): void {
    while (!this.gone) {
      const mode = this.mode;
      if (mode === HEAD) {
        if (this.queue.length >= MAX_IN_FLIGHT) break;
        if (this.readHead()) continue;
        if (this.ended && this.mode === HEAD) {
          if (this.len > 0)
            this.stop(
              AFTER_CLIENT_ERROR,
              nodeError(ENDED, 'Parse Error: Invalid EOF state', 'Invalid EOF state'),
            );
          else this.stop(AFTER_CLOSE);
        }
      } else if (mode === BODY) {
        if (this.readBody()) continue;
        if (this.ended && this.mode === BODY) this.cutShort(ENDED);
      } else if (mode === DISCARD) {
        if (this.skipBody()) continue;
        if (this.ended && this.mode === DISCARD) this.stop(AFTER_CLOSE);
      }
      break;
    }
    this.settle();
  }

  // ---------------------------------------------------------------------------------------------
  // Bytes in.

  private append(chunk: Buffer): void {
    if (this.len === 0) {
      this.data = chunk;
      this.off = 0;
      this.len = chunk.length;
      this.owned = false;
      return;
    }
    const len = this.len + chunk.length;
    if (!this.owned || this.off + len > this.data.length) {
      // Bytes handed out (bodies being served) lie before `off`: never written over.
      const grown = Buffer.allocUnsafe(Math.max(len * 2, 1024));
      this.data.copy(grown, 0, this.off, this.off + this.len);
      this.data = grown;
      this.off = 0;
      this.owned = true;
    }
    chunk.copy(this.data, this.off + this.len);
    this.len = len;
  }

  private consume(n: number): void {
    this.off += n;
    this.len -= n;
    if (this.len === 0) this.release();
  }

  private release(): void {
    this.data = EMPTY;
    this.off = 0;
    this.len = 0;
    this.owned = false;
  }

  // ---------------------------------------------------------------------------------------------
  // The head.

  /** True when a head was read whole (and the request is under way); false to wait or when stopped. */
  private readHead(): boolean {
    const data = this.data;
    const base = this.off;
    const end = base + this.len;
    if (!this.lineSeen) {
      const n = this.len < PREFIX.length ? this.len : PREFIX.length;
      if (data.compare(PREFIX, 0, n, base, base + n) !== 0) return this.outside();
    }
    let pos = base + this.scan;
    let from = base + this.searched;
    while (from < end) {
      const lf = data.indexOf(LF, from);
      if (lf < 0 || lf >= end) break;
      if (lf === pos || data[lf - 1] !== CR) return this.outside();
      const lineEnd = lf - 1;
      if (!this.lineSeen) {
        if (!this.requestLine(data, pos, lineEnd)) return this.outside();
        this.lineSeen = true;
      } else if (lineEnd === pos) {
        return this.headDone(lf + 1);
      } else if (!this.field(data, pos, lineEnd)) {
        return this.outside();
      }
      pos = lf + 1;
      from = pos;
      this.scan = pos - base;
    }
    this.searched = this.len;
    if (this.len > this.headLimit()) return this.outside();
    return false;
  }

  /** node:http's limit on a head: over it, node:http decides (it counts a little less of the head). */
  private headLimit(): number {
    return this.front.server.maxHeaderSize || maxHeaderSize;
  }

  /** `POST <target> HTTP/1.1` with a target the inlets serve. */
  private requestLine(data: Buffer, start: number, end: number): boolean {
    if (end - start < PREFIX.length + VERSION.length) return false;
    if (data.compare(VERSION, 0, VERSION.length, end - VERSION.length, end) !== 0) return false;
    const targetEnd = end - VERSION.length;
    for (let i = start + METHOD_LENGTH; i < targetEnd; i++) if (TARGET[data[i] as number] === 0) return false;
    const route = this.front.handler.route(data.toString('latin1', start + METHOD_LENGTH, targetEnd));
    if (route === undefined) return false;
    this.route = route;
    this.headers = {};
    return true;
  }

  /** `name: value`, strictly; false for anything the front leaves to node:http. */
  private field(data: Buffer, start: number, end: number): boolean {
    const colon = data.indexOf(COLON, start);
    if (colon <= start || colon >= end) return false;
    for (let i = start; i < colon; i++) if (TOKEN[data[i] as number] === 0) return false;
    let from = colon + 1;
    let to = end;
    for (let i = from; i < to; i++) if (VALUE[data[i] as number] === 0) return false;
    while (from < to && (data[from] === SP || data[from] === HTAB)) from++;
    while (to > from && (data[to - 1] === SP || data[to - 1] === HTAB)) to--;
    const server = this.front.server;
    const max = typeof server.maxHeadersCount === 'number' ? server.maxHeadersCount : DEFAULT_MAX_FIELDS;
    if (++this.fields > max && max > 0) return false;
    const name = data.toString('latin1', start, colon).toLowerCase();
    const value = data.toString('latin1', from, to);
    switch (name) {
      case 'content-length':
        // llhttp takes spaces after the digits, not a tab: so does the front (a tab → node:http's 400).
        if (this.declared !== undefined || !isLength(value) || tabIn(data, to, end)) return false;
        this.declared = value;
        break;
      case 'transfer-encoding':
      case 'expect':
      case 'upgrade':
        return false;
      case 'connection':
        for (const token of value.toLowerCase().split(',')) {
          const option = token.trim();
          if (option === 'close') this.clientClose = true;
          else if (option === 'upgrade') return false;
        }
        break;
    }
    addField(this.headers as IncomingHttpHeaders, name, value);
    return true;
  }

  /** The head is whole (it ends before `next`): refuse, serve, or start reading the body. */
  private headDone(next: number): boolean {
    const headers = this.headers as IncomingHttpHeaders;
    if (next - this.off > this.headLimit()) return this.outside();
    if (headers.host === undefined && this.front.server.requireHostHeader) return this.outside();
    this.consume(next - this.off);
    this.scan = 0;
    this.searched = 0;
    this.lineSeen = false;
    this.fresh = false;
    const declared = this.declared;
    const hasBody = declared !== undefined && declared !== '0';
    const handler = this.front.handler;
    const refusal = handler.refuse(headers, hasBody);
    if (refusal !== undefined) {
      const slot = new Slot(this.clientClose ? CLOSE : KEEP);
      slot.answer = refusal;
      this.queue.push(slot);
      // The body is read and dropped, so the connection can serve the next request.
      if (hasBody && !this.clientClose) {
        this.mode = DISCARD;
        this.need = Number(declared);
        this.filled = 0;
      } else {
        this.requestDone();
      }
      this.flush();
      return true;
    }
    if (!hasBody) {
      this.dispatch(undefined);
      return true;
    }
    const length = Number(declared);
    if (length > handler.bodyLimit) {
      // The rest could be any size: not read, the connection closes once the 413 is out.
      this.closeWith(handler.tooLarge());
      return false;
    }
    this.mode = BODY;
    this.need = length;
    this.filled = 0;
    return true;
  }

  /** Leaves the request at `off` (and the connection) to node:http once the earlier answers are out. */
  private outside(): false {
    this.stop(AFTER_HANDOFF);
    return false;
  }

  // ---------------------------------------------------------------------------------------------
  // The body.

  private readBody(): boolean {
    const want = this.need - this.filled;
    if (this.filled === 0 && this.len >= want) {
      // The whole body in what came: served from the socket's chunk, not copied.
      const body = this.data.subarray(this.off, this.off + want);
      this.consume(want);
      this.dispatch(body);
      return true;
    }
    const take = this.len < want ? this.len : want;
    if (take > 0) {
      this.parts.push(this.data.subarray(this.off, this.off + take));
      this.filled += take;
      this.consume(take);
    }
    if (this.filled < this.need) return false;
    const parts = this.parts;
    this.parts = [];
    this.dispatch(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, this.need));
    return true;
  }

  private skipBody(): boolean {
    const take = this.len < this.need - this.filled ? this.len : this.need - this.filled;
    this.filled += take;
    this.consume(take);
    if (this.filled < this.need) return false;
    this.requestDone();
    return true;
  }

  /** The body did not all come (`code`: the connection ended, or the request timeout): the inlet's answer, then close. */
  private cutShort(code: string): void {
    this.closeWith(this.front.handler.clientError(code, this.declared as string, this.filled));
  }

  // ---------------------------------------------------------------------------------------------
  // Answers.

  private dispatch(body: Buffer | undefined): void {
    const slot = new Slot(this.clientClose ? CLOSE : KEEP);
    this.queue.push(slot);
    const handler = this.front.handler;
    handler
      .serve(this.route as Route, this.headers as IncomingHttpHeaders, body)
      .then(
        (answer) => this.answered(slot, answer),
        (error: unknown) => this.answered(slot, handler.failure(error)),
      )
      // Writing an answer (or handing the connection off after it) is not expected to throw; if it
      // ever does, the connection is dropped rather than the rejection left unhandled (a crash).
      .catch(() => {
        this.gone = true;
        this.socket.destroy();
      });
    this.requestDone();
  }

  /** The request read is complete: the next one may start (unless the client asked to close). */
  private requestDone(): void {
    const last = this.clientClose;
    this.route = undefined;
    this.headers = undefined;
    this.declared = undefined;
    this.clientClose = false;
    this.fields = 0;
    this.since = 0;
    this.mode = HEAD;
    if (last) this.stop(AFTER_CLOSE);
  }

  private answered(slot: Slot, answer: FrontAnswer): void {
    slot.answer = answer;
    if (this.gone) return;
    this.flush();
    this.pump();
  }

  /** Answers the request being read now with `answer` and `connection: close`, and stops. */
  private closeWith(answer: FrontAnswer): void {
    const slot = new Slot(FORCED);
    slot.answer = answer;
    this.queue.push(slot);
    this.stop(AFTER_CLOSE);
  }

  /** Writes the answers that are ready, in order, in one write; finishes a stopped connection once none is owed. */
  private flush(): void {
    if (this.gone) return;
    const queue = this.queue;
    let text = '';
    while (queue.length > 0) {
      const slot = queue[0] as Slot;
      if (slot.answer === undefined) break;
      queue.shift();
      const last = queue.length === 0 && this.mode === STOPPED && this.after === AFTER_CLOSE;
      const close = slot.close !== KEEP ? slot.close : last ? CLOSE : KEEP;
      text += answerText(slot.answer, close, this.front.server.keepAliveTimeout);
    }
    if (text !== '' && !this.socket.destroyed && !this.socket.write(text)) this.needDrain = true;
    if (queue.length === 0 && this.mode === STOPPED) this.finish();
  }

  /** Reads no more; what is owed is still answered, then `after`. */
  private stop(after: number, error?: Error): void {
    this.mode = STOPPED;
    this.after = after;
    this.afterError = error;
    this.route = undefined;
    this.headers = undefined;
    this.parts = [];
    // The unread bytes go to node:http on a handoff; otherwise they are dropped.
    if (after !== AFTER_HANDOFF) this.release();
    this.flush();
  }

  private finish(): void {
    this.gone = true;
    if (this.after === AFTER_HANDOFF) this.handOff();
    else if (this.after === AFTER_CLIENT_ERROR) this.reportClientError(this.afterError as Error);
    else this.socket.destroySoon();
  }

  /**
   * node:http takes the connection from the request at `off` on: the front's listeners go, the
   * bytes not parsed are put back in front of what the socket still holds, and node:http's own
   * connection listener is called as if the connection were new.
   */
  private handOff(): void {
    const socket = this.socket;
    const { server, original } = this.front;
    const rest = this.len > 0 ? this.data.subarray(this.off, this.off + this.len) : undefined;
    this.release();
    for (const [event, listener] of this.listeners()) socket.removeListener(event, listener);
    this.forget();
    if (socket.destroyed) return;
    if (this.ended) {
      // The socket already ended: no putting back, so node:http's listeners get what it missed.
      original.call(server, socket);
      if (rest) socket.emit('data', rest);
      if (!socket.destroyed) socket.emit('end');
      return;
    }
    socket.pause();
    if (rest) socket.unshift(rest);
    original.call(server, socket);
    socket.resume();
  }

  /**
   * A client error about a head (it timed out, or the connection ended in it), reported to the
   * server's `clientError` listeners as node:http would: they answer it (the app's handler gives
   * Fastify's answer, as for any head whose path is not known) and close the connection.
   */
  private reportClientError(error: Error): void {
    const socket = this.socket;
    if (this.front.server.emit('clientError', error, socket)) return;
    if (socket.writable) {
      const timeout = (error as Error & { code?: string }).code === REQUEST_TIMEOUT;
      socket.write(
        `HTTP/1.1 ${timeout ? '408 Request Timeout' : '400 Bad Request'}\r\nConnection: close\r\n\r\n`,
      );
    }
    socket.destroy();
  }

  private forget(): void {
    this.front.connections.delete(this);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.deadline = 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Reading and timeouts.

  /**
   * Reads while there is room (fewer than `MAX_IN_FLIGHT` answers owed, the socket's writes not
   * backed up), and sets the deadline for what the connection waits for from the client:
   * - a head (or the first bytes of a new connection): `headersTimeout` (or `requestTimeout` if
   *   shorter) from its start; then node:http's client error;
   * - a body: `requestTimeout` from the request's start, when set; then the inlet's 408;
   * - nothing, no answer owed: `keepAliveTimeout` (and node's margin); then closed.
   * Nothing while answers are owed: the wait is the server's.
   */
  private settle(): void {
    if (this.gone) return;
    const read =
      this.mode !== STOPPED && !this.needDrain && (this.mode !== HEAD || this.queue.length < MAX_IN_FLIGHT);
    if (read === this.paused) {
      this.paused = !read;
      if (read) this.socket.resume();
      else this.socket.pause();
    }
    this.arm(read ? this.deadlineNow() : 0);
  }

  private deadlineNow(): number {
    const server = this.front.server;
    if (this.mode === HEAD) {
      if (this.len > 0 || this.fresh) {
        const headers = server.headersTimeout;
        const request = server.requestTimeout;
        const limit =
          headers > 0 && request > 0 ? Math.min(headers, request) : headers > 0 ? headers : request;
        return limit > 0 ? this.waitingSince() + limit : 0;
      }
      if (this.queue.length > 0 || !(server.keepAliveTimeout > 0)) return 0;
      return Date.now() + server.keepAliveTimeout + KEEP_ALIVE_MARGIN;
    }
    return server.requestTimeout > 0 ? this.waitingSince() + server.requestTimeout : 0;
  }

  private waitingSince(): number {
    if (this.since === 0) this.since = Date.now();
    return this.since;
  }

  /** One timer per connection, moved only when a deadline comes sooner than it: a later one is re-armed when it fires. */
  private arm(deadline: number): void {
    this.deadline = deadline;
    if (deadline === 0 || (this.timer !== undefined && this.timerDue <= deadline)) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerDue = deadline;
    this.timer = setTimeout(this.onTimer, Math.max(1, deadline - Date.now()));
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    if (this.deadline === 0 || this.gone) return;
    if (Date.now() < this.deadline) {
      this.arm(this.deadline);
      return;
    }
    if (this.mode === HEAD) {
      if (this.len > 0 || this.fresh)
        this.stop(AFTER_CLIENT_ERROR, nodeError(REQUEST_TIMEOUT, 'Request timeout'));
      else {
        this.gone = true;
        this.socket.destroy();
      }
    } else if (this.mode === BODY) {
      this.cutShort(REQUEST_TIMEOUT);
    } else {
      this.stop(AFTER_CLOSE);
    }
    this.settle();
  };
}
