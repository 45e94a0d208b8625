import { randomInt, randomUUID } from 'node:crypto';
import {
  type IncomingHttpHeaders,
  type IncomingMessage,
  maxHeaderSize,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { verifyToken } from '../crypto.js';
import { FlowProblem, isDataException, UNSTORABLE_VALUE } from '../errors.js';
import type { RouteDef, RouteTable } from '../http/route.js';
import type { Services } from '../services.js';
import type { Doc, Scope } from '../store/resources.js';
import { batchLayout, type EntryBody, type EntryHeader, entryPieces } from '../streaming/entry.js';
import { openStreaming, type Streaming, type StreamingOptions } from '../streaming/index.js';
import {
  AmbiguousInletError,
  INLET_ID,
  type Inlet,
  type InletFlow,
  type MaybePromise,
  StoredParamsError,
} from '../streaming/inlets.js';
import { LogWriteError } from '../streaming/log.js';
import {
  datasetMatchesSchema,
  envelopeProblem,
  INLET_PROBLEM_TYPE,
  messagePrefix,
  streamingValidationCause,
  type Violation,
} from '../streaming/validation.js';
import { type InletFront, type InletHandler, installInletFront } from './inlet-front.js';

/**
 * The streaming inlets (reference §6): `POST /collection/{inletId}` and
 * `POST /collection/batch/{inletId}`. Not Platform routes: an unauthenticated inlet takes
 * requests with nothing but a Content-Type. The answer is sent only once the request is in the
 * streaming log (fsynced); the consumer lands it in the dataset afterwards.
 *
 * The work is done by `serve`, which knows nothing of the HTTP framework. Real HTTP requests to
 * these two paths come in by one of three fronts, all calling the same `serve`:
 * - a connection whose first bytes are `POST /collection/` is read by the inlets' own HTTP/1.1
 *   front (`inlet-front.ts`), straight from the socket, as long as its requests stay within a
 *   strict subset of HTTP/1.1;
 * - anything else (another first request, or a request outside that subset, after which the
 *   connection is node:http's) is parsed by node:http, and these two paths are answered by the
 *   node:http fast path (`installFastPath`), before Fastify: at tens of thousands of requests a
 *   second, Fastify's routing, hooks, request ids, content-type parsing and reply pipeline cost
 *   as much CPU as the inlet's own work, and node:http's own objects about half as much again;
 * - the Fastify routes answer `inject()` and what neither front takes (an id that is not an
 *   inlet id), and give the OpenAPI document its entries.
 */

const AUTH_PROBLEM_TYPE = 'https://ns.adobe.com/adobecloud/problem/data-collection-service-authorization';
const FLOW_ID_HEADER = 'x-adobe-flow-id';
const MAX_DEPTH = 64;
/** The real service's limit for both endpoints (reference §6.4); the app's body limit enforces it. */
const BODY_LIMIT = 1024 * 1024;

/** The streaming service's own error shape (reference §6.3): `{type, status, title, report: {message}}`. */
export class InletProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
    readonly report?: Record<string, unknown>,
    readonly type: string = INLET_PROBLEM_TYPE,
  ) {
    super(message);
  }

  body(): Record<string, unknown> {
    // The authorization problem's status is a string in the real service's body (seed 001).
    const status = this.type === AUTH_PROBLEM_TYPE ? String(this.status) : this.status;
    return {
      type: this.type,
      status,
      title: this.title,
      report: { message: this.message, ...(this.report ? { cause: this.report } : {}) },
    };
  }
}

const badRequest = (message: string) => new InletProblem(400, 'Bad Request', message);
const invalidMessage = (message: string, cause?: Record<string, unknown>) =>
  new InletProblem(400, 'Invalid XDM Message Format', message, cause);

/**
 * Node's HTTP parser reports a connection that ends in the middle of a request body (fewer bytes
 * than its Content-Length, or before its last chunk) as this client error, not to the request.
 */
export const BODY_CUT_SHORT = 'HPE_INVALID_EOF_STATE';

/** A client error as Node raises it (its parser's, or its request timeout's), as far as it is read here. */
export interface ClientError extends Error {
  code?: string;
  /** The parser's words for what is wrong. */
  reason?: string;
  /** The bytes the parser was given when it failed (parse errors only): a Buffer. */
  rawPacket?: unknown;
}

/**
 * The inlet's answer to a client error about a request on an inlet path: the status Fastify's own
 * answer has (408, 431, else 400), in the inlet's shape. `declared` is the request's
 * Content-Length (undefined for a chunked body); `received`, the body bytes read, when known.
 */
export function inletClientProblem(
  err: ClientError,
  declared: string | undefined,
  received?: number,
): InletProblem {
  switch (err.code) {
    case BODY_CUT_SHORT: {
      const ended =
        declared === undefined
          ? `${received === undefined ? '' : `after ${received} bytes, `}before its last chunk`
          : `${received === undefined ? 'before the' : `after ${received} of the`} ${declared} bytes its Content-Length declares`;
      return badRequest(`The request body ended ${ended}: the connection closed before the rest came`);
    }
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new InletProblem(
        408,
        'Request Timeout',
        received === undefined
          ? 'The request did not arrive in time'
          : `The request body did not arrive in time: ${
              declared === undefined
                ? `${received} bytes came, not its last chunk`
                : `${received} of the ${declared} bytes its Content-Length declares came`
            }`,
      );
    case 'HPE_HEADER_OVERFLOW':
      return new InletProblem(
        431,
        'Request Header Fields Too Large',
        `The request's headers are larger than ${maxHeaderSize} bytes`,
      );
    default:
      return badRequest(`The request is malformed: ${err.reason ?? err.message}`);
  }
}

/**
 * What the collection routes make of a client error (`registerCollection`'s answer to the app's
 * client-error handler): `undefined` when it is not known to be about a request on an inlet path;
 * `'handled'` when they answered it or closed the connection; else the problem to answer with.
 */
export type InletClientErrors = (err: ClientError, socket: Socket) => InletProblem | 'handled' | undefined;

/** Whether a route (Fastify's pattern) is one of the inlets'. */
export const isInletRoute = (url: string | undefined): boolean => url?.startsWith(COLLECTION) === true;

/**
 * Handed to a request the fast path is reading (as an `error` event, which it listens to anyway)
 * by the client-error handler: a client error on its connection, which it answers.
 */
class ClientErrorNotice extends Error {
  constructor(readonly error: ClientError) {
    super(error.message);
  }
}

/** The raw request body; no enumerable fields, so generic body walkers see an empty object. */
class RawBody {
  readonly #bytes: Buffer;
  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }
  get bytes(): Buffer {
    return this.#bytes;
  }
}

/**
 * Whether a parsed JSON value nests objects or arrays `max` levels deep or more. Recursive, but
 * never deeper than `max` (it stops there), and without allocating: it runs on every message.
 */
function nestedDeeperThan(value: unknown, max: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (max === 0) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (nestedDeeperThan(item, max - 1)) return true;
    return false;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) if (nestedDeeperThan(record[key], max - 1)) return true;
  return false;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `{receivedTimeMs}:{node}:{sequence}`, the shape of the real service's ids. */
class XactionIds {
  private readonly node = randomInt(1000, 10_000);
  private sequence = 0;
  next(now: number): string {
    this.sequence = (this.sequence + 1) % 1_000_000_000;
    return `${now}:${this.node}:${this.sequence}`;
  }
}

/** One message checked and placed: its dataset (XDM envelopes) or a 400 message. */
type Checked = { ok: true; datasetId?: string } | { ok: false; message: string };

/** What `serve` needs of a request, whichever front received it. */
interface Incoming {
  inletId: string;
  headers: IncomingHttpHeaders;
  query: Record<string, unknown>;
  /** The raw body; undefined when the request had none. */
  body: Buffer | undefined;
}

/** What `serve` answers: always a JSON body. */
interface Answer {
  status: number;
  body: string;
  retryAfter?: string;
}

export function registerCollection(
  app: FastifyInstance,
  table: RouteTable,
  services: Services,
  options: StreamingOptions = {},
): InletClientErrors {
  const ids = new XactionIds();
  let streaming: Streaming | undefined;
  const ready = () => streaming as Streaming;

  /** A flow's target dataset (and that its mapping and schema are usable): cached like the inlets. */
  const flowTargets = new Map<string, { datasetId: string; expires: number }>();
  async function flowDataset(scope: Scope, flowId: string): Promise<string> {
    const key = `${scope.orgId}\0${scope.sandbox}\0${flowId}`;
    const hit = flowTargets.get(key);
    if (hit && hit.expires > Date.now()) return hit.datasetId;
    try {
      const { datasetId } = await services.pipelines.forFlow(scope, flowId);
      if (flowTargets.size > 10_000) flowTargets.clear();
      flowTargets.set(key, { datasetId, expires: Date.now() + 2000 });
      return datasetId;
    } catch (error) {
      throw badRequest(`the flow ${flowId} cannot take data: ${(error as Error).message}`);
    }
  }

  /** Whether a dataset's schema is `schemaId`: remembered per cached dataset document. */
  const schemaMatches = new WeakMap<Doc, Map<string, boolean>>();
  function matchesSchema(dataset: Doc, schemaId: string): boolean {
    let known = schemaMatches.get(dataset);
    if (!known) {
      known = new Map();
      schemaMatches.set(dataset, known);
    }
    let matches = known.get(schemaId);
    if (matches === undefined) {
      matches = datasetMatchesSchema(dataset, schemaId);
      if (known.size < 100) known.set(schemaId, matches);
    }
    return matches;
  }

  function inletOf(inletId: string, headers: IncomingHttpHeaders): MaybePromise<Inlet> {
    const found = INLET_ID.test(inletId) ? ready().inlets.inlet(inletId) : undefined;
    if (found instanceof Promise) return found.then((inlet) => admit(inletId, inlet, headers));
    return admit(inletId, found, headers);
  }

  function admit(inletId: string, inlet: Inlet | undefined, headers: IncomingHttpHeaders): Inlet {
    if (!inlet) {
      throw new InletProblem(
        404,
        'Inlet Not Found',
        `inletId: [${inletId}] is not an inlet: use the inletUrl of a streaming connection or flow`,
      );
    }
    if (inlet.authenticationRequired) authenticate(headers, inlet);
    return inlet;
  }

  function authenticate(headers: IncomingHttpHeaders, inlet: Inlet): void {
    const header = headers.authorization;
    const prefix = `[${inlet.inletId}]`;
    const fail = (status: number, title: string, message: string) =>
      new InletProblem(status, title, `${prefix} ${message}`, undefined, AUTH_PROBLEM_TYPE);
    if (!header) throw fail(401, 'Authorization', 'Ims service token is empty');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const claims = match
      ? verifyToken(services.keys.tokenKey, match[1] as string, Math.floor(services.now() / 1000))
      : undefined;
    if (!claims) throw fail(401, 'Authorization', 'Ims service token is invalid or expired');
    if (claims.org !== inlet.scope.orgId) {
      throw fail(403, 'Forbidden', 'Ims service token is not valid for the org of this inlet');
    }
  }

  /** Why `flow` may not take data through `inlet`, or undefined when it may. */
  function flowRefusal(inlet: Inlet, flowId: string, flow: InletFlow | undefined): string | undefined {
    const onThisInlet =
      flow &&
      (inlet.flowId
        ? flow.flowId === inlet.flowId
        : flow.baseConnectionIds.includes(inlet.connectionId ?? ''));
    if (!flow || !onThisInlet) return `${FLOW_ID_HEADER} ${flowId} is not a flow of this inlet`;
    if (flow.state !== 'enabled') {
      return `the flow ${flowId} is ${flow.state}: enable it (POST /flows/${flowId}/action?op=enable)`;
    }
    return undefined;
  }

  /** The flow raw data is addressed to (header or query), or the inlet's own flow. */
  function flowOf(incoming: Incoming, inlet: Inlet): MaybePromise<InletFlow | undefined> {
    const fromHeader = incoming.headers[FLOW_ID_HEADER];
    const fromQuery = incoming.query[FLOW_ID_HEADER];
    // One flow per request: a repeated parameter, or a header and a parameter that disagree, is
    // not guessed at.
    if (Array.isArray(fromQuery)) throw badRequest(`${FLOW_ID_HEADER} is given more than once in the query`);
    const header = typeof fromHeader === 'string' && fromHeader !== '' ? fromHeader : undefined;
    const query = typeof fromQuery === 'string' && fromQuery !== '' ? fromQuery : undefined;
    if (header && query && header !== query) {
      throw badRequest(
        `the ${FLOW_ID_HEADER} header (${header}) and query parameter (${query}) name different flows`,
      );
    }
    const given = header ?? query;
    if (given && inlet.flowId && given !== inlet.flowId) {
      throw badRequest(`this inlet belongs to flow ${inlet.flowId}; ${FLOW_ID_HEADER} names ${given}`);
    }
    const flowId = given ?? inlet.flowId;
    if (!flowId) return undefined;
    const found = ready().inlets.flow(inlet.scope, flowId);
    const check = (flow: InletFlow | undefined): InletFlow => {
      const refusal = flowRefusal(inlet, flowId, flow);
      if (refusal) throw badRequest(refusal);
      return flow as InletFlow;
    };
    return found instanceof Promise ? found.then(check) : check(found);
  }

  function rawOf(incoming: Incoming): Buffer {
    const body = incoming.body;
    if (!body || body.length === 0) throw badRequest('The request body cannot be null or empty');
    return body;
  }

  function parseJson(bytes: Buffer): unknown {
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch (error) {
      throw badRequest(`The request body is not valid JSON: ${(error as Error).message}`);
    }
    if (nestedDeeperThan(value, MAX_DEPTH)) {
      throw badRequest(`the request body nests deeper than ${MAX_DEPTH} levels`);
    }
    return value;
  }

  /**
   * Checks an XDM envelope against the inlet: org, dataset, schema (reference §6.2 rules). Only
   * the envelope: the entity is validated against the schema by the consumer (asynchronous
   * validation, reference §6.3) unless the client asked for `syncValidation`. With the lookups
   * cached this is synchronous, so a batch of a hundred messages does not await a hundred times.
   */
  function checkEnvelope(inlet: Inlet, message: unknown): MaybePromise<Checked> {
    const problem = envelopeProblem(message, inlet.scope.orgId);
    if (problem) return { ok: false, message: problem };
    const header = (message as { header: Record<string, unknown> }).header;
    const schemaId = (header.schemaRef as { id: string }).id;
    const datasetId = header.datasetId as string | undefined;
    const flowId = typeof header.flowId === 'string' ? header.flowId : undefined;
    if (flowId) {
      // A header.flowId must be a flow of this inlet, and enabled, whether or not it picks the dataset.
      const found = ready().inlets.flow(inlet.scope, flowId);
      const next = (flow: InletFlow | undefined): MaybePromise<Checked> => {
        const refusal = flowRefusal(inlet, flowId, flow);
        if (refusal)
          return { ok: false, message: `Message has a header.flowId that cannot take it: ${refusal}` };
        return datasetId ? checkDataset(inlet, datasetId, schemaId) : checkViaFlow(inlet, flowId, schemaId);
      };
      return found instanceof Promise ? found.then(next) : next(found);
    }
    if (datasetId) return checkDataset(inlet, datasetId, schemaId);
    return {
      ok: false,
      message: 'Message has no header.datasetId (nor a header.flowId with a target dataset)',
    };
  }

  async function checkViaFlow(inlet: Inlet, flowId: string, schemaId: string): Promise<Checked> {
    let datasetId: string;
    try {
      datasetId = await flowDataset(inlet.scope, flowId);
    } catch (error) {
      return { ok: false, message: (error as Error).message };
    }
    return checkDataset(inlet, datasetId, schemaId);
  }

  function checkDataset(inlet: Inlet, datasetId: string, schemaId: string): MaybePromise<Checked> {
    const found = ready().inlets.dataset(inlet.scope, datasetId);
    const check = (dataset: Doc | undefined): Checked => {
      if (!dataset) return { ok: false, message: `Message has a datasetId ${datasetId} that does not exist` };
      if (!matchesSchema(dataset, schemaId)) {
        return {
          ok: false,
          message: `Message has a schemaRef ${schemaId} that is not the schema of dataset ${datasetId}`,
        };
      }
      return { ok: true, datasetId };
    };
    return found instanceof Promise ? found.then(check) : check(found);
  }

  /** Sync validation (`?syncValidation=true`): the violations of one message, none when valid. */
  async function violationsOf(inlet: Inlet, message: unknown, checked: Checked, flow: InletFlow | undefined) {
    if (!checked.ok) return [];
    if (flow) {
      const { pipeline } = await services.pipelines.forFlow(inlet.scope, flow.flowId);
      const outcome = pipeline(message as Record<string, unknown>);
      if (outcome.ok) return [];
      const path = outcome.failure.path ?? '';
      return [
        {
          schemaLocation: '#',
          pointerToViolation: `#${path ? `/${path.replace(/\./g, '/')}` : ''}`,
          causingExceptions: [],
          keyword: outcome.failure.code ?? 'mapping',
          message: outcome.failure.reason,
        } satisfies Violation,
      ];
    }
    const dataset = await ready().inlets.dataset(inlet.scope, checked.datasetId as string);
    if (!dataset) return [];
    const entity = (message as { body: { xdmEntity: unknown } }).body.xdmEntity;
    return ready().validators.check(inlet.scope, dataset, entity);
  }

  /** Appends one frame (the request) and resolves once it is fsynced: only then may we answer. */
  async function append(header: EntryHeader, body: Buffer): Promise<void> {
    try {
      await ready().log.append([entryPieces(header, body)]);
    } catch (error) {
      if (error instanceof LogWriteError) {
        logWriteFailure(error);
        throw new InletProblem(
          503,
          'Service Unavailable',
          'the message could not be stored durably; retry with exponential back-off',
        );
      }
      throw error;
    }
  }

  function logWriteFailure(error: Error) {
    app.log.error(
      { err: { message: error.message, cause: String(error.cause) } },
      'streaming log write failed',
    );
  }

  function headerOf(
    inlet: Inlet,
    receivedTimeMs: number,
    body: EntryBody,
    xactionIds: (string | null)[] | undefined,
    flow: InletFlow | undefined,
    datasetIds?: (string | null)[],
  ): EntryHeader {
    const header: EntryHeader = {
      v: 1,
      inletId: inlet.inletId,
      orgId: inlet.scope.orgId,
      sandbox: inlet.scope.sandbox,
      receivedTimeMs,
      body,
    };
    if (xactionIds) header.xactionIds = xactionIds;
    if (flow) header.flowId = flow.flowId;
    if (datasetIds) header.datasetIds = datasetIds;
    return header;
  }

  /**
   * The 200 body, `{inletId, xactionId, receivedTimeMs}`, plus `syncValidation: {skipped: true}`
   * when the message was not validated before the ack (reference §6.3). Ids are hex, digits and
   * colons: nothing to escape.
   */
  const acked = (inletId: string, xactionId: string, receivedTimeMs: number, validated: boolean): Answer => ({
    status: 200,
    body: `{"inletId":"${inletId}","xactionId":"${xactionId}","receivedTimeMs":${receivedTimeMs}${validated ? '' : ',"syncValidation":{"skipped":true}'}}`,
  });

  /** `POST /collection/{inletId}`. */
  async function one(incoming: Incoming): Promise<Answer> {
    const found = inletOf(incoming.inletId, incoming.headers);
    const inlet = found instanceof Promise ? await found : found;
    const bytes = rawOf(incoming);
    const flowFound = flowOf(incoming, inlet);
    const flow = flowFound instanceof Promise ? await flowFound : flowFound;
    const receivedTimeMs = services.now();
    const prefix = messagePrefix(inlet.inletId, inlet.scope.orgId);
    const sync = String(incoming.query.syncValidation).toLowerCase() === 'true';
    const xactionId = ids.next(receivedTimeMs);
    if (flow?.connector?.inlet) {
      const outcome = await ready().inlets.runConnectorInlet(flow, {
        headers: incoming.headers as Record<string, string | undefined>,
        query: incoming.query as Record<string, string | undefined>,
        rawBody: bytes,
        now: receivedTimeMs,
      });
      if (outcome && !outcome.ok) {
        if (outcome.status === 401 || outcome.status === 403) {
          throw new InletProblem(
            outcome.status,
            outcome.status === 401 ? 'Authorization' : 'Forbidden',
            `[${inlet.inletId}] ${outcome.message}`,
            undefined,
            AUTH_PROBLEM_TYPE,
          );
        }
        throw new InletProblem(
          outcome.status,
          outcome.status === 413 ? 'Payload Too Large' : 'Bad Request',
          `${prefix} ${outcome.message}`,
        );
      }
      const records = outcome?.records ?? [];
      if (records.length === 0) throw badRequest(`${prefix} the request holds no event`);
      await flowDataset(inlet.scope, flow.flowId);
      if (sync) {
        for (const record of records) {
          const violations = await violationsOf(inlet, record, { ok: true }, flow);
          if (violations.length > 0) {
            throw invalidMessage(`${prefix} Message is invalid`, streamingValidationCause(violations));
          }
        }
      }
      const xactionIds = records.map((_, i) => (i === 0 ? xactionId : `${xactionId}:${i}`));
      await append(
        headerOf(inlet, receivedTimeMs, 'records', xactionIds, flow),
        Buffer.from(JSON.stringify(records)),
      );
      return acked(inlet.inletId, xactionId, receivedTimeMs, sync);
    }
    const message = parseJson(bytes);
    let checked: Checked;
    if (flow) {
      if (!isObject(message)) throw badRequest(`${prefix} raw data for a flow is one JSON object`);
      await flowDataset(inlet.scope, flow.flowId);
      checked = { ok: true };
    } else {
      const result = checkEnvelope(inlet, message);
      checked = result instanceof Promise ? await result : result;
      if (!checked.ok) throw invalidMessage(`${prefix} ${checked.message}`);
    }
    if (sync) {
      const violations = await violationsOf(inlet, message, checked, flow);
      if (violations.length > 0) {
        throw invalidMessage(`${prefix} Message is invalid`, streamingValidationCause(violations));
      }
    }
    const datasetIds = flow ? undefined : [checked.ok ? (checked.datasetId ?? null) : null];
    await append(headerOf(inlet, receivedTimeMs, 'one', [xactionId], flow, datasetIds), bytes);
    return acked(inlet.inletId, xactionId, receivedTimeMs, sync);
  }

  /**
   * `POST /collection/batch/{inletId}`: one log frame for the whole request (its own bytes, with
   * one xactionId per message in the frame's header), one fsync shared with whatever else is
   * committing, and the 207 body built as text.
   */
  async function batch(incoming: Incoming): Promise<Answer> {
    const found = inletOf(incoming.inletId, incoming.headers);
    const inlet = found instanceof Promise ? await found : found;
    const bytes = rawOf(incoming);
    const flowFound = flowOf(incoming, inlet);
    const flow = flowFound instanceof Promise ? await flowFound : flowFound;
    const prefix = messagePrefix(inlet.inletId, inlet.scope.orgId);
    if (flow?.connector?.inlet) {
      throw badRequest(
        `${prefix} the flow ${flow.flowId} takes webhooks one at a time: POST each to /collection/${inlet.inletId}`,
      );
    }
    const body = parseJson(bytes);
    if (!isObject(body) || !Array.isArray(body.messages)) {
      throw badRequest(`${prefix} the body must be {"messages": [ … ]}`);
    }
    const messages = body.messages as unknown[];
    if (messages.length === 0) throw badRequest(`${prefix} messages is empty`);
    const receivedTimeMs = services.now();
    const batchId = ids.next(receivedTimeMs);
    if (flow) await flowDataset(inlet.scope, flow.flowId);
    const responses: string[] = [];
    const acceptedFlags: boolean[] = [];
    const datasetIds: string[] = [];
    let accepted = 0;
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i];
      let checked: Checked;
      if (flow) {
        checked = isObject(message)
          ? { ok: true }
          : { ok: false, message: 'raw data for a flow is one JSON object' };
      } else {
        const result = checkEnvelope(inlet, message);
        checked = result instanceof Promise ? await result : result;
      }
      if (!checked.ok) {
        responses.push(JSON.stringify({ statusCode: 400, message: `${prefix} ${checked.message}` }));
        acceptedFlags.push(false);
        continue;
      }
      responses.push(`{"xactionId":"${batchId}:${i}"}`);
      acceptedFlags.push(true);
      if (!flow) datasetIds.push(checked.datasetId as string);
      accepted++;
    }
    if (accepted > 0) {
      // The frame header says which messages were accepted (a bitmap) and their datasets (runs),
      // not one xactionId per message: the consumer derives `{batchId}:{i}` again.
      const header = headerOf(inlet, receivedTimeMs, 'batch', undefined, flow);
      header.batch = batchLayout(batchId, acceptedFlags, flow ? undefined : datasetIds);
      await append(header, bytes);
    }
    return {
      status: 207,
      body: `{"inletId":"${inlet.inletId}","batchId":"${batchId}","receivedTimeMs":${receivedTimeMs},"responses":[${responses.join(',')}]}`,
    };
  }

  /** Answers a request to either endpoint; never throws (every failure is a problem body). */
  async function serve(endpoint: 'one' | 'batch', incoming: Incoming): Promise<Answer> {
    try {
      return endpoint === 'one' ? await one(incoming) : await batch(incoming);
    } catch (error) {
      return failure(error as Error);
    }
  }

  function problemAnswer(problem: InletProblem): Answer {
    return {
      status: problem.status,
      body: JSON.stringify(problem.body()),
      ...(problem.status === 503 ? { retryAfter: '1' } : {}),
    };
  }

  const tooLarge = () =>
    new InletProblem(
      413,
      'Payload Too Large',
      `the request is larger than ${BODY_LIMIT} bytes (1 MB): send fewer messages per request`,
    );
  const noContentType = () =>
    badRequest('A valid content-type must be specified: Content-Type: application/json');

  /** Anything thrown, as the streaming service's error shape. */
  function failure(error: Error): Answer {
    if (error instanceof InletProblem) return problemAnswer(error);
    if (error instanceof StoredParamsError) {
      // The source connection's stored state is wrong, not the request: 409, naming it, so the
      // sender sees a refusal (nothing was stored) and an operator can fix the connection.
      app.log.error({ flowId: error.flowId, sourceConnectionId: error.sourceConnectionId }, error.message);
      return problemAnswer(
        new InletProblem(
          409,
          'Conflict',
          `${error.message}: the flow ${error.flowId} cannot take data until it is fixed (PATCH /sourceConnections/${error.sourceConnectionId})`,
        ),
      );
    }
    if (error instanceof AmbiguousInletError) {
      app.log.error({}, error.message);
      return problemAnswer(
        new InletProblem(409, 'Conflict', 'this inlet id is claimed more than once: the request is refused'),
      );
    }
    if (error instanceof FlowProblem) {
      return problemAnswer(new InletProblem(error.status, 'Bad Request', error.message));
    }
    // A flow id or other value the Catalog cannot even look up (NUL, say): the request's fault.
    if (isDataException(error)) return problemAnswer(badRequest(UNSTORABLE_VALUE));
    const code = (error as FastifyError).code;
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return problemAnswer(tooLarge());
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
      return problemAnswer(noContentType());
    }
    const status = (error as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) {
      return problemAnswer(new InletProblem(status, 'Bad Request', error.message));
    }
    app.log.error({ err: { code, message: error.message } }, 'unhandled streaming error');
    return problemAnswer(
      new InletProblem(
        500,
        'Internal Server Error',
        'The message could not be processed; retry, and report the x-request-id if it persists',
      ),
    );
  }

  function sendAnswer(reply: FastifyReply, answer: Answer) {
    if (answer.retryAfter) reply.header('retry-after', answer.retryAfter);
    return reply.code(answer.status).type('application/json').send(answer.body);
  }

  const incomingOf = (req: FastifyRequest): Incoming => ({
    inletId: (req.params as { inletId: string }).inletId,
    headers: req.headers,
    query: req.query as Record<string, unknown>,
    body: req.body instanceof RawBody ? req.body.bytes : undefined,
  });

  const single: RouteDef = {
    method: 'POST',
    url: '/collection/:inletId',
    operationId: 'streamMessage',
    summary:
      'Stream one message: an XDM envelope, or raw JSON for a flow (x-adobe-flow-id); ?syncValidation=true validates first',
    tag: 'Streaming',
    auth: 'none',
    query: z.object({ syncValidation: z.string().optional(), [FLOW_ID_HEADER]: z.string().optional() }),
    responses: {
      200: { description: '{inletId, xactionId, receivedTimeMs}: the message is durably stored' },
      400: { description: 'Invalid message (with the validation report for syncValidation)' },
      401: { description: 'Authenticated inlet without a valid token, or a bad webhook signature' },
      404: { description: 'Unknown inlet' },
      413: { description: 'Payload over 1 MB' },
    },
    handler: async (req, reply) => sendAnswer(reply, await serve('one', incomingOf(req))),
  };

  const batchRoute: RouteDef = {
    method: 'POST',
    url: '/collection/batch/:inletId',
    operationId: 'streamMessages',
    summary: 'Stream many messages: {messages: [...]}; 207 with one response per message',
    tag: 'Streaming',
    auth: 'none',
    query: z.object({ [FLOW_ID_HEADER]: z.string().optional() }),
    responses: {
      207: {
        description: '{inletId, batchId, receivedTimeMs, responses: [{xactionId} | {statusCode, message}]}',
      },
      400: { description: 'The body is not {messages: [...]}' },
      401: { description: 'Authenticated inlet without a valid token' },
      404: { description: 'Unknown inlet' },
      413: { description: 'Payload over 1 MB' },
    },
    handler: async (req, reply) => sendAnswer(reply, await serve('batch', incomingOf(req))),
  };

  // ---------------------------------------------------------------------------------------------
  // The fast path: these two endpoints straight from node:http.

  /** The endpoint and inlet id of a URL the fast path takes (a 64-hex inlet id), else undefined. */
  function routeOf(url: string): InletRoute | undefined {
    const q = url.indexOf('?');
    let path = q < 0 ? url : url.slice(0, q);
    if (path.endsWith('/')) path = path.slice(0, -1);
    let endpoint: 'one' | 'batch' = 'one';
    let inletId = path.slice(COLLECTION.length);
    if (inletId.startsWith('batch/')) {
      endpoint = 'batch';
      inletId = inletId.slice(6);
    }
    if (!INLET_ID.test(inletId)) return undefined;
    return { endpoint, inletId, search: q < 0 ? '' : url.slice(q + 1) };
  }

  function queryOf(search: string): Record<string, unknown> {
    const query: Record<string, unknown> = {};
    if (search === '') return query;
    for (const [key, value] of new URLSearchParams(search)) {
      const had = query[key];
      query[key] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
    }
    return query;
  }

  function writeAnswer(res: ServerResponse, answer: Answer, close = false): void {
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(answer.body),
      'x-request-id': randomUUID(),
    };
    if (answer.retryAfter) headers['retry-after'] = answer.retryAfter;
    if (close) headers.connection = 'close';
    res.writeHead(answer.status, headers);
    res.end(answer.body);
  }

  /**
   * The 413, and no more reading: the rest of an oversized body (declared, or a chunked body that
   * went past the limit) could be any size, so the answer says `Connection: close`, the request
   * stops being read, and the socket is closed once the answer is out.
   */
  function refuseTooLarge(req: IncomingMessage, res: ServerResponse): void {
    req.pause();
    res.once('finish', () => req.socket.destroy());
    writeAnswer(res, problemAnswer(tooLarge()), true);
  }

  /** Reads the body (≤ 1 MB), then serves. The checks mirror Fastify's for the other routes. */
  function fast(route: InletRoute, req: IncomingMessage, res: ServerResponse): void {
    const headers = req.headers;
    const type = headers['content-type'];
    const length = headers['content-length'];
    const hasBody = length !== undefined ? length !== '0' : headers['transfer-encoding'] !== undefined;
    const refuse = (problem: InletProblem) => {
      // What is left of the body is read and dropped, so the connection can be reused. Until it
      // is, a client error on the connection is about this request, which has its answer.
      if (hasBody) answeredEarly.set(req.socket, req);
      req.resume();
      writeAnswer(res, problemAnswer(problem));
    };
    if (wrongType(type, hasBody)) {
      refuse(noContentType());
      return;
    }
    if (length !== undefined && Number(length) > BODY_LIMIT) {
      refuseTooLarge(req, res);
      return;
    }
    const run = (body: Buffer | undefined) => {
      serve(route.endpoint, { inletId: route.inletId, headers, query: queryOf(route.search), body }).then(
        (answer) => writeAnswer(res, answer),
        (error: unknown) => writeAnswer(res, failure(error as Error)),
      );
    };
    if (!hasBody) {
      run(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > BODY_LIMIT) {
        over = true;
        chunks.length = 0;
        refuseTooLarge(req, res);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) run(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    // A client that goes away mid-body gets nothing (and nothing is logged for it). A client
    // error on the connection while the body is read is handed here by `clientError`, and
    // answered with what this request knows: how much of its body came. (This listener is the
    // way in because it is there anyway: nothing is kept per request for a client error.)
    req.on('error', (error) => {
      if (!(error instanceof ClientErrorNotice)) return;
      const problem = inletClientProblem(error.error, headers['content-length'], size + req.readableLength);
      // Answered: a rest of the body that still arrives is not run (no second answer).
      over = true;
      chunks.length = 0;
      writeAnswer(res, problemAnswer(problem), true);
    });
  }

  /** Requests the fast path answered before reading their body (which it then drops), by connection. */
  const answeredEarly = new WeakMap<Socket, IncomingMessage>();
  let installed = false;

  /** Whether the fast path takes `req` (as `installFastPath` decides). */
  const takes = (req: IncomingMessage): boolean =>
    installed &&
    req.method === 'POST' &&
    req.url?.startsWith(COLLECTION) === true &&
    routeOf(req.url) !== undefined;

  /**
   * A client error (Node's parser's, or its request timeout's) on a connection, when it is known
   * to be about a request on an inlet path (see `InletClientErrors`). The fast path's requests
   * never pass Fastify's hooks, so what the error is about is found from the connection:
   * - the response the connection is writing, when its request is still being read, is that
   *   request's (HTTP/1.1 answers go in order: a later request cannot be read before it). One
   *   the fast path takes, not yet answered, is handed the error to answer; one already answered
   *   (refused before its body was read) gets no second answer: the connection is closed.
   * - with no response on the connection, a request the fast path answered early and is still
   *   dropping the body of: closed too.
   * - with no request on the connection yet, the parser's bytes, when they are all the connection
   *   sent (so they start with its first request line): an inlet path's head that overflowed or
   *   is malformed gets the inlet's answer, returned for the app to write.
   * Anything else (a request behind an earlier one's pending answer, whose path is not known
   * here) is left to the app, which closes the connection then.
   */
  function clientError(err: ClientError, socket: Socket): InletProblem | 'handled' | undefined {
    if (!installed) return undefined;
    const writing = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (writing) {
      const req = writing.req;
      if (req.complete || !takes(req)) return undefined;
      if (writing.headersSent) socket.destroy();
      else if (req.listenerCount('error') > 0) req.emit('error', new ClientErrorNotice(err));
      else return inletClientProblem(err, req.headers['content-length']);
      return 'handled';
    }
    const early = answeredEarly.get(socket);
    if (early && !early.complete) {
      socket.destroy();
      return 'handled';
    }
    const packet = err.rawPacket;
    if (!Buffer.isBuffer(packet) || socket.bytesRead !== packet.length) return undefined;
    const lineEnd = packet.indexOf(10);
    const line = packet.toString('latin1', 0, lineEnd < 0 ? 0 : lineEnd);
    const target = /^POST (\/collection\/[^ \r]+)[ \r]/.exec(line)?.[1];
    return target !== undefined && routeOf(target) ? inletClientProblem(err, undefined) : undefined;
  }

  /**
   * What the connection-level front (`inlet-front.ts`) needs: the same route, checks and answers
   * as `fast`, and the inlet's answers to a body that does not all come.
   */
  const frontHandler: InletHandler<InletRoute> = {
    bodyLimit: BODY_LIMIT,
    route: routeOf,
    refuse: (headers, hasBody) =>
      wrongType(headers['content-type'], hasBody) ? problemAnswer(noContentType()) : undefined,
    serve: (route, headers, body) =>
      serve(route.endpoint, { inletId: route.inletId, headers, query: queryOf(route.search), body }),
    failure: (error) => failure(error as Error),
    tooLarge: () => problemAnswer(tooLarge()),
    clientError: (code, declared, received) =>
      problemAnswer(inletClientProblem(Object.assign(new Error(code), { code }), declared, received)),
  };
  let front: InletFront | undefined;

  /**
   * Puts `fast` in front of Fastify's request listener: POSTs to `/collection/…` with an inlet id
   * are answered here, everything else goes to Fastify as before. Then the inlets' own front
   * before node:http's connection listener (decision 0011, "the inlets' own HTTP/1.1 front"): a
   * connection that starts with such a POST is read and answered there, without node:http, for
   * as long as its requests stay within the front's subset of HTTP/1.1; from the first that does
   * not, node:http has the connection, and this fast path serves its inlet requests.
   */
  function installFastPath(server: Server): void {
    const listeners = server.listeners('request');
    if (listeners.length !== 1) return;
    const fastify = listeners[0] as (req: IncomingMessage, res: ServerResponse) => void;
    server.removeListener('request', fastify);
    installed = true;
    front = installInletFront(server, frontHandler);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const url = req.url ?? '';
      if (req.method === 'POST' && url.startsWith(COLLECTION)) {
        const route = routeOf(url);
        if (route) {
          fast(route, req, res);
          return;
        }
      }
      fastify(req, res);
    });
  }

  table.routes.push(single, batchRoute);
  app.register(async (child) => {
    streaming = await openStreaming(services, {
      ...options,
      warn: (message, detail) => app.log.warn(detail ?? {}, message),
      error: (message, detail) => app.log.error(detail ?? {}, message),
    });
    child.addHook('onClose', async () => {
      await streaming?.close();
    });
    child.removeAllContentTypeParsers();
    child.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
      done(null, new RawBody(body as Buffer));
    });
    child.setErrorHandler((error: FastifyError | Error, _req, reply) => sendAnswer(reply, failure(error)));
    for (const def of [single, batchRoute]) {
      child.route({ method: def.method, url: def.url, config: { auth: def.auth }, handler: def.handler });
    }
  });
  app.addHook('onReady', async () => {
    installFastPath(app.server);
  });
  // The front's connections are not node:http's, so its closing does not see them: idle ones are
  // closed now, busy ones once their answers are written (server.close() waits for them).
  app.addHook('preClose', async () => {
    front?.close();
  });
  // A consumer that stopped for good (a checkpoint it cannot trust, a corrupt log) makes the
  // server not ready: inlets still ack into the log, but nothing lands until an operator acts.
  app.addHook('onRequest', async (req, reply) => {
    if (req.method !== 'GET' || req.url.split('?')[0] !== '/ready') return;
    const fault = streaming?.fault();
    if (fault === undefined) return;
    return reply.code(503).send({ status: 'not ready', streaming: { error: fault } });
  });
  app.decorate('streaming', {
    getter: () => streaming,
  });
  return clientError;
}

const COLLECTION = '/collection/';

/** A request the inlets' fronts take: the endpoint, the inlet id (64 hex digits), the query string. */
interface InletRoute {
  endpoint: 'one' | 'batch';
  inletId: string;
  search: string;
}

/** The fast path's Content-Type rule: JSON, or no type and no body. */
const wrongType = (type: string | undefined, hasBody: boolean): boolean =>
  type === undefined ? hasBody : !isJsonType(type);

/** `application/json`, with or without parameters (charset). */
function isJsonType(contentType: string): boolean {
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase() === 'application/json';
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The streaming log and consumer (set once the server is ready). */
    streaming: Streaming | undefined;
  }
}
