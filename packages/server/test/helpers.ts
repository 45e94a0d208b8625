import { customerioConnector } from '@inflow/connector-customerio';
import { postgresqlConnector } from '@inflow/connector-postgresql';
import { s3Connector } from '@inflow/connector-s3';
import { streamingConnector } from '@inflow/connector-streaming';
import { FlowServiceClient } from '@inflow/core';
import { request } from 'undici';
import { expect } from 'vitest';
import {
  buildServer,
  type InflowServer,
  readBootstrap,
  type ServerConfig,
  saveBootstrap,
} from '../src/index.js';

export const CONNECTORS = [s3Connector, postgresqlConnector, streamingConnector, customerioConnector];

/** A started server on 127.0.0.1 (port 0), in memory unless `dataDir` is given. */
export interface TestServer {
  server: InflowServer;
  url: string;
  orgId: string;
  clientId: string;
  clientSecret: string;
  token: string;
  /** The four Platform headers for the bootstrap client in `prod`. */
  headers: Record<string, string>;
  client: FlowServiceClient;
  close(): Promise<void>;
}

/** An in-memory test server's config (loopback, any port, every documented connector), with `overrides`. */
export function testServerConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    host: '127.0.0.1',
    port: 0,
    dataDir: undefined,
    publicUrl: undefined,
    secretKey: undefined,
    bootstrap: { clientSecret: 'test-client-secret-0001' },
    tokenTtlSeconds: 3600,
    logLevel: 'silent',
    connectors: CONNECTORS,
    ...overrides,
  };
}

/** The Platform headers of a request as the bootstrap client, in the `prod` sandbox. */
export function platformHeaders(bootstrap: { clientId: string; orgId: string }, token: string) {
  return {
    Authorization: `Bearer ${token}`,
    'x-api-key': bootstrap.clientId,
    'x-gw-ims-org-id': bootstrap.orgId,
    'x-sandbox-name': 'prod',
  };
}

export async function startTestServer(overrides: Partial<ServerConfig> = {}): Promise<TestServer> {
  const config = testServerConfig(overrides);
  const server = await buildServer(config);
  const url = await server.listen();
  const saved = config.dataDir ? saveBootstrap(config.dataDir, server.bootstrap) : undefined;
  const clientSecret =
    config.bootstrap.clientSecret ??
    server.bootstrap.clientSecret ??
    (saved ? readBootstrap(saved).clientSecret : '');
  const token = await tokenFor(url, server.bootstrap.clientId, clientSecret);
  const headers = platformHeaders(server.bootstrap, token);
  const client = new FlowServiceClient({
    endpoint: url,
    apiKey: server.bootstrap.clientId,
    orgId: server.bootstrap.orgId,
    sandboxName: 'prod',
    token,
    retry: { maxAttempts: 1 },
  });
  return {
    server,
    url,
    orgId: server.bootstrap.orgId,
    clientId: server.bootstrap.clientId,
    clientSecret,
    token,
    headers,
    client,
    close: () => server.close(),
  };
}

export async function tokenFor(url: string, clientId: string, secret: string): Promise<string> {
  const res = await request(`${url}/ims/token/v3`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: secret,
    }).toString(),
  });
  const body = (await res.body.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`no token: ${JSON.stringify(body)}`);
  return body.access_token;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  text: string;
}

/** A raw HTTP call (no client in between), returning status, headers and the parsed body. */
export async function call(
  url: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: unknown; raw?: string } = {},
): Promise<RawResponse> {
  const hasBody = opts.raw !== undefined || opts.body !== undefined;
  const res = await request(`${url}${path}`, {
    method: method as 'GET',
    headers: {
      ...(hasBody && opts.raw === undefined ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    },
    ...(hasBody ? { body: opts.raw ?? JSON.stringify(opts.body) } : {}),
  });
  const text = await res.body.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers[k] = v;
  return { status: res.statusCode, headers, body, text };
}

/** POSTs `body` to `path` as the bootstrap client, expects a 2xx, and returns the response body. */
export async function postOk(t: TestServer, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await call(t.url, 'POST', path, { headers: t.headers, body });
  expect(res.status, res.text).toBeLessThan(300);
  return res.body as Record<string, unknown>;
}

/**
 * Waits until run `id` ended, or until a retry of it is scheduled (its next attempt's time is
 * set); returns the run as GET /runs/{id} then serves it.
 */
export async function endedOrRetrying<R extends { state: string }>(t: TestServer, id: string): Promise<R> {
  for (;;) {
    const res = await call(t.url, 'GET', `${FS}/runs/${id}`, { headers: t.headers });
    const run = (res.body as { items: R[] }).items[0] as R;
    const retry = (run as { metrics?: { statusSummary?: { extensions?: { nextAttemptAtUTC?: number } } } })
      .metrics?.statusSummary?.extensions?.nextAttemptAtUTC;
    if (run.state === 'success' || run.state === 'failed' || retry) return run;
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const FS = '/data/foundation/flowservice';
export const S3_SPEC = 'ecadc60c-7455-4d87-84dc-2a0e293d997b';
export const STREAMING_SPEC = 'bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb';
