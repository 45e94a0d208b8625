import { randomInt } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { verifyToken } from '../crypto.js';
import { FlowProblem } from '../errors.js';
import type { RouteDef, RouteTable } from '../http/route.js';
import type { Services } from '../services.js';
import type { Scope } from '../store/resources.js';
import { type EntryBody, type EntryHeader, encodeEntry } from '../streaming/entry.js';
import { openStreaming, type Streaming, type StreamingOptions } from '../streaming/index.js';
import { INLET_ID, type Inlet, type InletFlow } from '../streaming/inlets.js';
import { LogWriteError } from '../streaming/log.js';
import {
  datasetMatchesSchema,
  envelopeProblem,
  INLET_PROBLEM_TYPE,
  messagePrefix,
  streamingValidationCause,
  type Violation,
} from '../streaming/validation.js';

/**
 * The streaming inlets (reference §6): `POST /collection/{inletId}` and
 * `POST /collection/batch/{inletId}`. Not Platform routes: an unauthenticated inlet takes
 * requests with nothing but a Content-Type. The answer is sent only once the request is in the
 * streaming log (fsynced); the consumer lands it in the dataset afterwards.
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

export function registerCollection(
  app: FastifyInstance,
  table: RouteTable,
  services: Services,
  options: StreamingOptions = {},
): void {
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

  async function inletOf(req: FastifyRequest): Promise<Inlet> {
    const inletId = (req.params as { inletId: string }).inletId;
    const inlet = INLET_ID.test(inletId) ? await ready().inlets.inlet(inletId) : undefined;
    if (!inlet) {
      throw new InletProblem(
        404,
        'Inlet Not Found',
        `inletId: [${inletId}] is not an inlet: use the inletUrl of a streaming connection or flow`,
      );
    }
    if (inlet.authenticationRequired) authenticate(req, inlet);
    return inlet;
  }

  function authenticate(req: FastifyRequest, inlet: Inlet): void {
    const header = req.headers.authorization;
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

  /** The flow raw data is addressed to (header or query), or the inlet's own flow. */
  async function flowOf(req: FastifyRequest, inlet: Inlet): Promise<InletFlow | undefined> {
    const fromHeader = req.headers[FLOW_ID_HEADER];
    const fromQuery = (req.query as Record<string, unknown>)[FLOW_ID_HEADER];
    const given = [fromHeader, fromQuery].find((v) => typeof v === 'string' && v !== '') as
      | string
      | undefined;
    if (given && inlet.flowId && given !== inlet.flowId) {
      throw badRequest(`this inlet belongs to flow ${inlet.flowId}; ${FLOW_ID_HEADER} names ${given}`);
    }
    const flowId = given ?? inlet.flowId;
    if (!flowId) return undefined;
    const flow = await ready().inlets.flow(inlet.scope, flowId);
    const onThisInlet =
      flow &&
      (inlet.flowId
        ? flow.flowId === inlet.flowId
        : flow.baseConnectionIds.includes(inlet.connectionId ?? ''));
    if (!flow || !onThisInlet) {
      throw badRequest(`${FLOW_ID_HEADER} ${flowId} is not a flow of this inlet`);
    }
    if (flow.state !== 'enabled') {
      throw badRequest(
        `the flow ${flowId} is ${flow.state}: enable it (POST /flows/${flowId}/action?op=enable)`,
      );
    }
    return flow;
  }

  function rawOf(req: FastifyRequest): Buffer {
    const body = req.body;
    if (!(body instanceof RawBody) || body.bytes.length === 0) {
      throw badRequest('The request body cannot be null or empty');
    }
    return body.bytes;
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

  /** Checks an XDM envelope against the inlet: org, dataset, schema (reference §6.2 rules). */
  async function checkEnvelope(inlet: Inlet, message: unknown): Promise<Checked> {
    const problem = envelopeProblem(message, inlet.scope.orgId);
    if (problem) return { ok: false, message: problem };
    const header = (message as { header: Record<string, unknown> }).header;
    const schemaId = (header.schemaRef as { id: string }).id;
    let datasetId = header.datasetId as string | undefined;
    if (!datasetId && typeof header.flowId === 'string') {
      const flow = await ready().inlets.flow(inlet.scope, header.flowId);
      if (!flow)
        return { ok: false, message: `Message has a header.flowId ${header.flowId} that is not a flow` };
      try {
        datasetId = await flowDataset(inlet.scope, header.flowId);
      } catch (error) {
        return { ok: false, message: (error as Error).message };
      }
    }
    if (!datasetId) {
      return {
        ok: false,
        message: 'Message has no header.datasetId (nor a header.flowId with a target dataset)',
      };
    }
    const dataset = await ready().inlets.dataset(inlet.scope, datasetId);
    if (!dataset) return { ok: false, message: `Message has a datasetId ${datasetId} that does not exist` };
    if (!datasetMatchesSchema(dataset, schemaId)) {
      return {
        ok: false,
        message: `Message has a schemaRef ${schemaId} that is not the schema of dataset ${datasetId}`,
      };
    }
    return { ok: true, datasetId };
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

  async function append(header: EntryHeader, body: Buffer): Promise<void> {
    try {
      await ready().log.append([encodeEntry(header, body)]);
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
    xactionIds: (string | null)[],
    flow: InletFlow | undefined,
    datasetIds?: (string | null)[],
  ): EntryHeader {
    return {
      v: 1,
      inletId: inlet.inletId,
      orgId: inlet.scope.orgId,
      sandbox: inlet.scope.sandbox,
      receivedTimeMs,
      body,
      xactionIds,
      ...(flow ? { flowId: flow.flowId } : {}),
      ...(datasetIds ? { datasetIds } : {}),
    };
  }

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
    handler: async (req, reply) => {
      const inlet = await inletOf(req);
      const bytes = rawOf(req);
      const flow = await flowOf(req, inlet);
      const receivedTimeMs = services.now();
      const prefix = messagePrefix(inlet.inletId, inlet.scope.orgId);
      const sync =
        String((req.query as { syncValidation?: unknown }).syncValidation).toLowerCase() === 'true';
      const xactionId = ids.next(receivedTimeMs);
      if (flow?.connector?.inlet) {
        const outcome = await ready().inlets.runConnectorInlet(flow, {
          headers: req.headers as Record<string, string | undefined>,
          query: req.query as Record<string, string | undefined>,
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
        return reply.send({ inletId: inlet.inletId, xactionId, receivedTimeMs });
      }
      const message = parseJson(bytes);
      let checked: Checked;
      if (flow) {
        if (!isObject(message)) throw badRequest(`${prefix} raw data for a flow is one JSON object`);
        await flowDataset(inlet.scope, flow.flowId);
        checked = { ok: true };
      } else {
        checked = await checkEnvelope(inlet, message);
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
      return reply.send({ inletId: inlet.inletId, xactionId, receivedTimeMs });
    },
  };

  const batch: RouteDef = {
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
    handler: async (req, reply) => {
      const inlet = await inletOf(req);
      const bytes = rawOf(req);
      const flow = await flowOf(req, inlet);
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
      if (body.messages.length === 0) throw badRequest(`${prefix} messages is empty`);
      const receivedTimeMs = services.now();
      const batchId = ids.next(receivedTimeMs);
      if (flow) await flowDataset(inlet.scope, flow.flowId);
      const responses: Record<string, unknown>[] = [];
      const xactionIds: (string | null)[] = [];
      const datasetIds: (string | null)[] = [];
      for (let i = 0; i < body.messages.length; i++) {
        const message = body.messages[i];
        const checked: Checked = flow
          ? isObject(message)
            ? { ok: true }
            : { ok: false, message: 'raw data for a flow is one JSON object' }
          : await checkEnvelope(inlet, message);
        if (!checked.ok) {
          responses.push({ statusCode: 400, message: `${prefix} ${checked.message}` });
          xactionIds.push(null);
          datasetIds.push(null);
          continue;
        }
        const xactionId = `${batchId}:${i}`;
        responses.push({ xactionId });
        xactionIds.push(xactionId);
        datasetIds.push(checked.datasetId ?? null);
      }
      if (xactionIds.some((x) => x !== null)) {
        await append(
          headerOf(inlet, receivedTimeMs, 'batch', xactionIds, flow, flow ? undefined : datasetIds),
          bytes,
        );
      }
      return reply.code(207).send({ inletId: inlet.inletId, batchId, receivedTimeMs, responses });
    },
  };

  function handleError(error: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) {
    if (error instanceof InletProblem) {
      if (error.status === 503) reply.header('retry-after', '1');
      return reply.code(error.status).type('application/json').send(error.body());
    }
    if (error instanceof FlowProblem) {
      return reply
        .code(error.status)
        .type('application/json')
        .send(new InletProblem(error.status, 'Bad Request', error.message).body());
    }
    const code = (error as FastifyError).code;
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply
        .code(413)
        .type('application/json')
        .send(
          new InletProblem(
            413,
            'Payload Too Large',
            `the request is larger than ${BODY_LIMIT} bytes (1 MB): send fewer messages per request`,
          ).body(),
        );
    }
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
      return reply
        .code(400)
        .type('application/json')
        .send(badRequest('A valid content-type must be specified: Content-Type: application/json').body());
    }
    const status = (error as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) {
      return reply
        .code(status)
        .type('application/json')
        .send(new InletProblem(status, 'Bad Request', error.message).body());
    }
    req.log.error({ err: { code, message: error.message } }, 'unhandled streaming error');
    return reply
      .code(500)
      .type('application/json')
      .send(
        new InletProblem(
          500,
          'Internal Server Error',
          'The message could not be processed; retry, and report the x-request-id if it persists',
        ).body(),
      );
  }

  table.routes.push(single, batch);
  app.register(async (child) => {
    streaming = await openStreaming(services, {
      ...options,
      warn: (message, detail) => app.log.warn(detail ?? {}, message),
    });
    child.addHook('onClose', async () => {
      await streaming?.close();
    });
    child.removeAllContentTypeParsers();
    child.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
      done(null, new RawBody(body as Buffer));
    });
    child.setErrorHandler(handleError);
    for (const def of [single, batch]) {
      child.route({ method: def.method, url: def.url, config: { auth: def.auth }, handler: def.handler });
    }
  });
  app.decorate('streaming', {
    getter: () => streaming,
  });
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The streaming log and consumer (set once the server is ready). */
    streaming: Streaming | undefined;
  }
}
