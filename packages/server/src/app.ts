import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import Fastify, {
  type ConnectionError,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { type BootstrapResult, Tenancy } from './auth/tenancy.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, type ServerConfig } from './config.js';
import { SecretBox, type TokenClaims, verifyToken } from './crypto.js';
import { loadKeys } from './data-dir.js';
import { openDatasets } from './datasets/open.js';
import {
  asRegistryProblem,
  CONTENT_TYPE_PROBLEM,
  FlowProblem,
  GatewayError,
  imsErrorBody,
  isDataException,
  UNSTORABLE_VALUE,
} from './errors.js';
import { openApiDocument, RouteTable } from './http/route.js';
import { registerCatalog } from './routes/catalog.js';
import {
  BODY_CUT_SHORT,
  type InletClientErrors,
  type InletProblem,
  inletClientProblem,
  isInletRoute,
  registerCollection,
} from './routes/collection.js';
import { registerConnectionVerbs } from './routes/connection-verbs.js';
import { connectionsKind } from './routes/connections.js';
import { registerDataAccess } from './routes/data-access.js';
import { flowsKind, registerFlowActions } from './routes/flows.js';
import { registerIms } from './routes/ims.js';
import { registerMappingSets } from './routes/mapping-sets.js';
import { registerResource } from './routes/resource-routes.js';
import { registerRuns } from './routes/runs.js';
import { registerSandboxes } from './routes/sandboxes.js';
import {
  registerSchemaRegistry,
  SCHEMA_REGISTRY_BASE,
  sendRegistryProblem,
} from './routes/schema-registry.js';
import { sourceConnectionsKind } from './routes/source-connections.js';
import { registerSpecs } from './routes/specs.js';
import { targetConnectionsKind } from './routes/target-connections.js';
import { openRuns } from './runs/index.js';
import type { Services } from './services.js';
import { loadConnectors, SpecRegistry } from './specs/registry.js';
import { type Db, keepStatisticsFresh, openDb } from './store/db.js';
import { ResourceStore } from './store/resources.js';
import { XdmProblem } from './xdm/schema-registry.js';

declare const __INFLOW_SERVER_VERSION__: string;
export const SERVER_VERSION: string =
  typeof __INFLOW_SERVER_VERSION__ === 'string' ? __INFLOW_SERVER_VERSION__ : '0.0.0';

/** Bodies nested deeper than this are refused: no document of the API comes close. */
export const MAX_BODY_DEPTH = 64;

/** Whether a parsed JSON value nests deeper than `max` (iterative: no stack to overflow). */
function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Requests larger than this are refused with 413 (the real service's streaming limit, 1 MB). */
export const BODY_LIMIT = 1024 * 1024;

export interface InflowServer {
  app: FastifyInstance;
  services: Services;
  bootstrap: BootstrapResult;
  db: Db;
  /** Starts listening; resolves to the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/**
 * The API families whose request-level errors differ in shape: the Schema Registry (`XDM-…`
 * problems), IMS (OAuth `{error, error_description}`) and the rest of Platform (Flow Service
 * problem details). Streaming inlets answer their own errors (routes/collection.ts).
 */
type ApiFamily = 'schemaRegistry' | 'ims' | 'platform';

const REGISTRY_SEGMENTS = SCHEMA_REGISTRY_BASE.split('/');

/** The family of a path, given as its segments (decoded). */
function familyOfSegments(segments: string[]): ApiFamily {
  if (REGISTRY_SEGMENTS.every((segment, i) => segments[i] === segment)) return 'schemaRegistry';
  if (segments[1] === 'ims' && segments.length > 2) return 'ims';
  return 'platform';
}

/**
 * The family of a request: that of the route it matched (the router matches the percent-decoded
 * path, so `/%69ms/token/v3` is the IMS token route), else that of its path decoded as the router
 * decodes it: segment by segment, `%2F` inside a segment not being a separator. A segment that
 * cannot be decoded (a malformed URL) matches no family's segment; the ones before it still
 * count, so `/ims/token/v3/%E0%A4%A` is IMS and `/%E0%A4%A/…` is Platform.
 */
function apiFamilyOf(req: FastifyRequest): ApiFamily {
  const route = req.routeOptions.url;
  if (route !== undefined) return familyOfSegments(route.split('/'));
  const path = req.url.split('?')[0] as string;
  return familyOfSegments(
    path.split('/').map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        return segment;
      }
    }),
  );
}

/** A request-level problem's answer in the shape of the family of the request's path. */
interface ProblemAnswer {
  status: number;
  type: string;
  body: Record<string, unknown>;
}

/**
 * A request-level problem in the shape of `family`. `registryCode` overrides the registry code
 * `asRegistryProblem` would pick.
 */
function problemAnswer(
  family: ApiFamily,
  requestId: string,
  problem: FlowProblem,
  registryCode?: { code: string; title: string },
): ProblemAnswer {
  switch (family) {
    case 'schemaRegistry': {
      const xdm = asRegistryProblem(problem, registryCode);
      return { status: xdm.status, type: 'application/problem+json', body: xdm.body(requestId) };
    }
    case 'ims':
      return {
        status: problem.status,
        type: 'application/json',
        body: imsErrorBody(problem.status, problem.message),
      };
    default:
      return { status: problem.status, type: 'application/problem+json', body: problem.body(requestId) };
  }
}

/**
 * Sends a request-level problem in the shape of the family of the request's path, with the
 * `x-request-id` header (set here too: framework errors come before the onRequest hook).
 */
function problemReply(
  req: FastifyRequest,
  reply: FastifyReply,
  problem: FlowProblem,
  registryCode?: { code: string; title: string },
) {
  const requestId = String(req.id);
  reply.header('x-request-id', requestId);
  const answer = problemAnswer(apiFamilyOf(req), requestId, problem, registryCode);
  return reply.code(answer.status).type(answer.type).send(answer.body);
}

/**
 * A missing or invalid Content-Type on a request with a body: the reference's Platform-wide body
 * (§1.4) on every Platform family, the Schema Registry's included; IMS words it as OAuth does.
 */
function contentTypeReply(req: FastifyRequest, reply: FastifyReply) {
  reply.header('x-request-id', String(req.id));
  if (apiFamilyOf(req) === 'ims') {
    return reply
      .code(400)
      .type('application/json')
      .send(
        imsErrorBody(
          400,
          `${CONTENT_TYPE_PROBLEM.detail}: send application/x-www-form-urlencoded (or application/json)`,
        ),
      );
  }
  return reply.code(400).type('application/problem+json').send(CONTENT_TYPE_PROBLEM);
}

/** Turns anything thrown into the service's own error shapes; never a bare 500 for bad input. */
function handleError(error: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) {
  if (error instanceof FlowProblem) return problemReply(req, reply, error);
  // The registry's routes answer their own problems; one that reaches here is answered in the
  // family of the request (a registry route's as it is; elsewhere, where none is raised today,
  // as that family's 4xx, or as a fault if it says 5xx).
  if (XdmProblem.isInstance(error)) {
    if (apiFamilyOf(req) === 'schemaRegistry') {
      reply.header('x-request-id', String(req.id));
      return sendRegistryProblem(reply, String(req.id), error);
    }
    if (error.status >= 400 && error.status < 500) {
      return problemReply(req, reply, new FlowProblem(`1460-${error.status}`, error.detail));
    }
  }
  // The gateway's errors keep the gateway's shape on every family (reference §1.4 a).
  if (error instanceof GatewayError)
    return reply.code(error.status).type('application/json').send(error.body());
  const code = (error as FastifyError).code;
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return contentTypeReply(req, reply);
  // Fastify's check that the body read is as long as declared (reached through `inject`; on a
  // connection, a body cut short is a client error: `clientErrorHandler`).
  if (code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
    return problemReply(
      req,
      reply,
      new FlowProblem(
        '1460-400',
        `The request body's size does not match its Content-Length (${req.headers['content-length']} bytes)`,
      ),
    );
  }
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return problemReply(
      req,
      reply,
      new FlowProblem('1461-413', `The request body is larger than ${BODY_LIMIT} bytes`),
    );
  }
  if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return problemReply(req, reply, new FlowProblem('1405-400', 'The request body cannot be null or empty'));
  }
  if (code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError) {
    return problemReply(
      req,
      reply,
      new FlowProblem('1460-400', `The request body is not valid JSON: ${error.message}`),
    );
  }
  if (isDataException(error)) return problemReply(req, reply, new FlowProblem('1460-400', UNSTORABLE_VALUE));
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) {
    return problemReply(req, reply, new FlowProblem(`1460-${status}`, error.message));
  }
  // Only the code and message: errors from the store carry the documents (and their secrets).
  req.log.error(
    { err: { code: (error as { code?: unknown }).code, message: error.message } },
    'unhandled error',
  );
  return problemReply(
    req,
    reply,
    new FlowProblem(
      '1102-500',
      'An internal error has occurred. Retry, and report the request id if it persists.',
    ),
  );
}

/**
 * The API gateway's checks (reference §1.2, §1.4 a): the token, the API key and the org header,
 * in that order. Runs in `onRequest`, before the body is read: the gateway refuses a caller
 * without credentials whatever the body (decision 0006, addendum "the gateway before the body").
 * Returns the token's claims.
 */
function passGateway(services: Services, req: FastifyRequest): TokenClaims {
  const header = req.headers.authorization;
  if (!header) throw new GatewayError(403, '403010', 'Oauth token is missing.');
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  const claims = match
    ? verifyToken(services.keys.tokenKey, match[1] as string, Math.floor(services.now() / 1000))
    : undefined;
  if (!claims) throw new GatewayError(401, '401013', 'Oauth token is not valid');
  const apiKey = req.headers['x-api-key'];
  if (!apiKey) throw new GatewayError(403, '403000', 'Api Key is required');
  if (apiKey !== claims.client) throw new GatewayError(403, '403003', 'Api Key is invalid');
  const org = req.headers['x-gw-ims-org-id'];
  if (!org) throw new GatewayError(400, '400003', 'Missing header x-gw-ims-org-id');
  if (org !== claims.org) throw new GatewayError(403, '403025', 'Profile is not valid');
  return claims;
}

/**
 * The sandbox header (the service's own check, Flow Service codes 2105/2100), for a caller the
 * gateway let through; sets `req.call`. Runs in `preHandler`, after the body, as before.
 */
async function enterSandbox(services: Services, req: FastifyRequest, claims: TokenClaims): Promise<void> {
  const name = req.headers['x-sandbox-name'];
  if (typeof name !== 'string' || name === '') {
    throw new FlowProblem('2105-400', 'The header x-sandbox-name is missing in the request');
  }
  const sandbox = await services.tenancy.sandbox(claims.org, name);
  if (!sandbox) {
    throw new FlowProblem(
      '2100-404',
      `The sandbox with the name '${name}' could not be found. Check the name, or create it with POST /data/foundation/sandbox-management/sandboxes`,
    );
  }
  req.call = { orgId: claims.org, clientId: claims.client, sandbox };
}

/**
 * Whether a request's body may be longer than the body limit: declared so, or of unknown length
 * (chunked). A request refused before its body is read says `Connection: close` then, so the
 * rest is not read (and dropped) after the answer, as Fastify does for a body it refuses.
 */
function mayExceedBodyLimit(req: FastifyRequest): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > BODY_LIMIT;
  return req.headers['transfer-encoding'] !== undefined;
}

/** A body that ended before the length its Content-Length declares (or before its last chunk). */
function bodyCutShort(declared: string | undefined): FlowProblem {
  return new FlowProblem(
    '1460-400',
    declared === undefined
      ? 'The request body was cut short: the connection ended before its last chunk'
      : `The request body is shorter than its Content-Length (${declared} bytes): the connection ended before the body did`,
  );
}

/** Node's client error for a request that did not arrive within the server's `requestTimeout`. */
const REQUEST_TIMEOUT = 'ERR_HTTP_REQUEST_TIMEOUT';

function bodyTimedOut(timeoutMs: number): FlowProblem {
  return new FlowProblem(
    '1463-408',
    `The request body did not arrive in time: the server waits at most ${timeoutMs / 1000} s for a whole request`,
  );
}

/** The request a connection is on (the last whose head it sent), and its reply. */
interface InFlight {
  req: FastifyRequest;
  reply: FastifyReply;
}

/**
 * Whether bytes written straight to `socket` after a client error answer the request the error
 * is about. HTTP/1.1 answers go in request order, so not while an earlier request's response
 * owns the connection (a pipelined request's answer would be paired with that earlier request,
 * whose own answer would be lost): only when the connection is writing no response, or the
 * response of `current` while its body is still coming and nothing of it was sent.
 * Node has no documented way to tell which response owns a connection (`response.socket` is set
 * on a response's turn, but a client error may come with no request at all): it keeps it as the
 * socket's `_httpMessage` (set on the response's turn, cleared once written), which its own
 * default client-error answer reads too.
 */
function freeToAnswer(socket: Socket, current: InFlight | undefined): boolean {
  const writing = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (!writing) return true;
  return (
    current !== undefined &&
    writing === current.reply.raw &&
    !current.req.raw.complete &&
    !writing.headersSent
  );
}

/**
 * A whole HTTP/1.1 response as text, for a socket the framework no longer answers on (a client
 * error). `headers` are `name: value` lines in order; a bare `content-length` (any case) is
 * filled in with the body's byte length.
 */
function rawAnswer(status: number, body: string, headers: string[]): string {
  const lines = headers.map((h) =>
    h.toLowerCase() === 'content-length' ? `${h}: ${Buffer.byteLength(body)}` : h,
  );
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** Fastify's own answer to a client error (its `defaultClientErrorHandler`, which is not exported). */
function genericClientError(err: ConnectionError, socket: Socket): void {
  const [status, message] =
    err.code === REQUEST_TIMEOUT
      ? [408, 'Client Timeout']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Exceeded maximum allowed HTTP header size']
        : [400, 'Client Error'];
  const body = JSON.stringify({ error: STATUS_CODES[status], message, statusCode: status });
  if (socket.writable) {
    socket.write(rawAnswer(status, body, ['Content-Length', 'Content-Type: application/json']));
  }
  socket.destroy(err);
}

/**
 * Answers a client error straight on the socket (the framework no longer answers there) and
 * closes the connection once the answer is out. `requestId` is the request's, when one was made.
 */
function answerAndClose(
  socket: Socket,
  answer: { status: number; contentType: string; body: string },
  requestId: string = randomUUID(),
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(
    rawAnswer(answer.status, answer.body, [
      `content-type: ${answer.contentType}`,
      'content-length',
      `x-request-id: ${requestId}`,
      'connection: close',
    ]),
  );
  socket.destroySoon();
}

/** An inlet's problem (decision 0011, addendum "client errors on inlet paths") as `answerAndClose` writes it. */
const inletAnswer = (problem: InletProblem) => ({
  status: problem.status,
  contentType: 'application/json',
  body: JSON.stringify(problem.body()),
});

/** Builds the server (not yet listening): storage, keys, bootstrap, routes. */
export async function buildServer(config: ServerConfig): Promise<InflowServer> {
  if (config.dataDir) mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const db = await openDb(config.dataDir ? join(config.dataDir, 'metadata') : undefined);
  const keys = loadKeys(config.dataDir, config.secretKey);
  const loaded = await loadConnectors({
    explicit: config.connectors,
    searchPaths: config.connectorSearchPaths,
  });
  const connectors = loaded.connectors;
  let listenUrl = `http://${config.host}:${config.port}`;
  const datasets = await openDatasets(config.dataDir, new ResourceStore(db));
  const services: Services = {
    config,
    store: new ResourceStore(db),
    tenancy: new Tenancy(db),
    specs: new SpecRegistry(connectors),
    box: new SecretBox(keys.secretKey),
    keys,
    publicUrl: () => (config.publicUrl ?? listenUrl).replace(/\/+$/, ''),
    now: Date.now,
    datasets: datasets.lake,
    pipelines: datasets.pipelines,
  };
  const bootstrap = await services.tenancy.bootstrap(config.bootstrap);
  const stopStatistics = keepStatisticsFresh(db);

  // The request each connection is on (set before its body is read): a client error on the
  // connection mid-body is about that request. Not for the inlets' fast path, which has no
  // hooks: the collection routes say what a client error on their paths is about.
  const inFlight = new WeakMap<Socket, InFlight>();
  let inletClientError: InletClientErrors | undefined;
  // The gateway's claims for a Platform request it let through, for the sandbox check.
  const passed = new WeakMap<FastifyRequest, TokenClaims>();

  const app = Fastify({
    logger:
      config.logLevel === 'silent'
        ? false
        : {
            level: config.logLevel,
            ...(config.logStream ? { stream: config.logStream } : {}),
            // No query strings in logs: IMS accepts client_secret as a query parameter.
            serializers: {
              req: (req: { method: string; url: string }) => ({
                method: req.method,
                url: req.url.split('?')[0],
              }),
            },
          },
    bodyLimit: BODY_LIMIT,
    // Fastify's default is no limit at all, so a body sent a byte at a time held its connection
    // (and the request's memory) for ever.
    requestTimeout: config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 2048 },
    // Malformed URLs (bad percent-encoding) get the family's 400 too; on the registry's paths
    // not its body-validation code, since the URL is at fault.
    frameworkErrors: (error, req, reply) =>
      problemReply(
        req,
        reply,
        new FlowProblem('1460-400', `The request URL is malformed: ${error.message}`),
        { code: 'XDM-1460-400', title: 'Invalid request' },
      ),
    // A connection that ends in the middle of a request's body: the family's 400 saying so (the
    // request itself only sees the connection go). On an inlet path, every client error in the
    // inlet's shape (the fast path's requests: `inletClientError`). Anything else as Fastify
    // answers it. Either only when the connection is free for it (`freeToAnswer`: not while an
    // earlier pipelined request's response is pending); else the connection is just closed.
    clientErrorHandler(err, socket) {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const inlet = inletClientError?.(err, socket);
      if (inlet === 'handled') return;
      if (inlet) {
        answerAndClose(socket, inletAnswer(inlet));
        return;
      }
      const current = inFlight.get(socket);
      // An inlet route Fastify answers (an id the fast path does not take): any client error
      // mid-body, in the inlet's shape. Elsewhere only a body cut short or one that did not arrive
      // in time gets the family's answer.
      const inletRoute =
        current !== undefined && !current.req.raw.complete && isInletRoute(current.req.routeOptions.url);
      // A body cut short, or one that did not arrive in time (the request timeout).
      const midBody = err.code === BODY_CUT_SHORT || err.code === REQUEST_TIMEOUT;
      if (!inletRoute && (!midBody || !current || current.req.raw.complete)) {
        app.log.trace({ err }, 'client error');
        if (freeToAnswer(socket, current)) genericClientError(err, socket);
        else socket.destroy();
        return;
      }
      if (!current) return;
      // Already answered (refused before its body was read), or behind an earlier request's
      // pending answer (the client would take ours for that one's): just close.
      if (current.reply.raw.headersSent || !freeToAnswer(socket, current)) {
        socket.destroy();
        return;
      }
      const { req } = current;
      const requestId = String(req.id);
      if (inletRoute) {
        answerAndClose(
          socket,
          inletAnswer(inletClientProblem(err, req.headers['content-length'])),
          requestId,
        );
        return;
      }
      const problem =
        err.code === REQUEST_TIMEOUT
          ? bodyTimedOut(app.server.requestTimeout)
          : bodyCutShort(req.headers['content-length']);
      const answer = problemAnswer(apiFamilyOf(req), requestId, problem);
      answerAndClose(
        socket,
        {
          status: answer.status,
          contentType: `${answer.type}; charset=utf-8`,
          body: JSON.stringify(answer.body),
        },
        requestId,
      );
    },
  });
  // Node's deadline for a head stays 60 s whatever the request timeout, and it does not enforce a
  // request timeout shorter than that on a body: a shorter one lowers the head's too.
  const { requestTimeout } = app.server;
  if (requestTimeout > 0 && app.server.headersTimeout > requestTimeout)
    app.server.headersTimeout = requestTimeout;
  for (const event of loaded.events) app.log[event.level]({ connectorPackage: event.package }, event.message);
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', String(req.id));
    if (req.raw.socket) inFlight.set(req.raw.socket, { req, reply });
  });
  // The gateway comes first (reference §1.4 a): a Platform route refuses missing or bad
  // credentials before the body is read or parsed.
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config.auth !== 'platform') return;
    try {
      passed.set(req, passGateway(services, req));
    } catch (error) {
      if (mayExceedBodyLimit(req)) reply.header('connection', 'close');
      throw error;
    }
  });
  // Only JSON (and forms, for IMS) are bodies here; any other type is refused as the real service does.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(String(body))));
  });
  app.addContentTypeParser(
    /^application\/(.+\+)?json-patch\+json$/,
    { parseAs: 'string' },
    (_req, body, done) => {
      try {
        done(null, JSON.parse(String(body)));
      } catch (error) {
        done(error as Error, undefined);
      }
    },
  );
  app.addHook('preValidation', async (req) => {
    if (req.body !== undefined && nestedDeeperThan(req.body, MAX_BODY_DEPTH)) {
      throw new FlowProblem('1460-400', `the request body nests deeper than ${MAX_BODY_DEPTH} levels`);
    }
  });
  app.addHook('preHandler', async (req) => {
    if (req.routeOptions.config.auth !== 'platform') return;
    const claims = passed.get(req);
    if (!claims) throw new Error('a Platform route reached its handler without the gateway check');
    await enterSandbox(services, req, claims);
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((req, reply) =>
    problemReply(
      req,
      reply,
      new FlowProblem('1101-404', `Resource not found: no route ${req.method} ${req.url.split('?')[0]}`),
    ),
  );

  const runs = openRuns(services, app.log);
  const table = new RouteTable(app);
  registerIms(table, services);
  registerSandboxes(table, services);
  registerSpecs(table, services);
  registerResource(table, services, connectionsKind);
  registerConnectionVerbs(table, services);
  registerResource(table, services, sourceConnectionsKind);
  registerResource(table, services, targetConnectionsKind);
  registerResource(table, services, flowsKind);
  registerFlowActions(table, services);
  registerRuns(table, services, runs);
  registerMappingSets(table, services);
  registerCatalog(table, services);
  registerDataAccess(table, services);
  inletClientError = registerCollection(app, table, services, config.streaming);
  registerSchemaRegistry(table, services);
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_req, reply) => {
    await db.query('select 1');
    return reply.send({
      status: 'ready',
      connectors: services.specs.connectors.map((c) => c.connectionSpec.name),
    });
  });
  app.get('/openapi.json', async () => openApiDocument(table.routes, SERVER_VERSION));
  await runs.start();

  return {
    app,
    services,
    bootstrap,
    db,
    async listen() {
      const address = await app.listen({ host: config.host, port: config.port });
      listenUrl = address.replace('[::1]', 'localhost');
      return services.publicUrl();
    },
    async close() {
      stopStatistics();
      await runs.stop();
      await app.close();
      await db.close();
      await datasets.close();
    },
  };
}
