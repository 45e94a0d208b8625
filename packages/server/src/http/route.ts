import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Sandbox } from '../auth/tenancy.js';
import { FlowProblem, invalid } from '../errors.js';
import type { Scope } from '../store/resources.js';

/** Who is calling and where: set by the Platform auth hook. */
export interface CallContext {
  orgId: string;
  clientId: string;
  sandbox: Sandbox;
}

declare module 'fastify' {
  interface FastifyRequest {
    call?: CallContext;
  }
}

/** The auth a route needs: the four Platform headers, or none (IMS, health, inlets). */
export type RouteAuth = 'platform' | 'none';

export interface RouteDef {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  operationId: string;
  summary: string;
  tag: string;
  auth: RouteAuth;
  /** The body schema; what the handler validates with, and what OpenAPI shows. */
  body?: z.ZodType;
  query?: z.ZodType;
  /** Status → description and (optionally) the response schema, for OpenAPI. */
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
}

/** The routes registered so far: the OpenAPI document is generated from these. */
export class RouteTable {
  readonly routes: RouteDef[] = [];

  constructor(private readonly app: FastifyInstance) {}

  add(def: RouteDef): void {
    this.routes.push(def);
    this.app.route({ method: def.method, url: def.url, config: { auth: def.auth }, handler: def.handler });
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
}

/** The org and sandbox a caller acts in: what every store call is confined to. */
export function scopeOf(call: CallContext): Scope {
  return { orgId: call.orgId, sandbox: call.sandbox.name };
}

/** The caller of a Platform route (the auth hook guarantees it is set). */
export function callOf(req: FastifyRequest): CallContext {
  if (!req.call) throw new Error('route without Platform auth asked for the caller');
  return req.call;
}

/** Parses with zod; a failure is a 400 problem naming the first bad field. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  // reportInput: zod 4 leaves `issue.input` out otherwise, and a missing field is told apart by it.
  const res = schema.safeParse(value, { reportInput: true });
  if (res.success) return res.data;
  const issue = res.error.issues[0] as z.core.$ZodIssue;
  const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || 'body';
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys: string[] }).keys;
    const where = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    return failUnknown(where, keys);
  }
  const missing =
    (issue.code === 'invalid_type' || issue.code === 'invalid_union') && issue.input === undefined;
  const message = missing ? 'is required' : issue.message;
  throw invalid(path, message);
}

function failUnknown(where: string, keys: string[]): never {
  const names = keys.map((k) => (where ? `${where}.${k}` : k)).join(', ');
  throw new FlowProblem(
    '1460-400',
    `unknown field${keys.length > 1 ? 's' : ''} ${names}: remove ${keys.length > 1 ? 'them' : 'it'}`,
    {
      field: names,
    },
  );
}

/** An offset-paging parameter (`start`, `limit`): a whole number within bounds, else 400 naming it. */
export function pageParam(value: unknown, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || n > max || (name === 'limit' && n === 0)) {
    throw invalid(
      name,
      `must be a whole number${name === 'limit' ? ` from 1 to ${max}` : ` from 0 to ${max}`}`,
    );
  }
  return n;
}

/** The JSON body of a POST/PATCH; a missing or non-object body is 1405. */
export function bodyOf(req: FastifyRequest): unknown {
  if (req.body === undefined || req.body === null || req.body === '') {
    throw new FlowProblem('1405-400', 'The request body cannot be null or empty');
  }
  return req.body;
}

/** The OpenAPI 3.1 document of a route table, from the same zod schemas the routes validate with. */
export function openApiDocument(routes: readonly RouteDef[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const toSchema = (s: z.ZodType) =>
    z.toJSONSchema(s, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' });
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const params = [...r.url.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const query = r.query ? toSchema(r.query) : undefined;
    const queryParams = Object.entries((query?.properties ?? {}) as Record<string, unknown>).map(
      ([name, schema]) => ({
        name,
        in: 'query',
        required: ((query?.required as string[] | undefined) ?? []).includes(name),
        schema,
      }),
    );
    const headerParams =
      r.auth === 'platform'
        ? ['Authorization', 'x-api-key', 'x-gw-ims-org-id', 'x-sandbox-name'].map((name) => ({
            name,
            in: 'header',
            required: true,
            schema: { type: 'string' },
          }))
        : [];
    (paths[path] ??= {})[r.method.toLowerCase()] = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      parameters: [...params, ...queryParams, ...headerParams],
      ...(r.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: toSchema(r.body) } } } }
        : {}),
      responses: Object.fromEntries(
        Object.entries(r.responses).map(([status, res]) => [
          status,
          {
            description: res.description,
            ...(res.schema ? { content: { 'application/json': { schema: toSchema(res.schema) } } } : {}),
          },
        ]),
      ),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Inflow: a Flow Service–compatible API',
      version,
      description:
        'Flow Service (/data/foundation/flowservice), Data Prep (/data/foundation/conversion), Catalog (/data/foundation/catalog), Schema Registry (/data/foundation/schemaregistry) and IMS tokens (/ims/token/v3).',
    },
    paths,
  };
}
