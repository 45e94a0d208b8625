import { postgresqlConnector } from '@inflow/connector-postgresql';
import { s3Connector } from '@inflow/connector-s3';
import { streamingConnector } from '@inflow/connector-streaming';
import { ApiCallError, FlowServiceClient, imsServerToServer, SetupRunner } from '@inflow/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, FS, startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.close();
});

describe("each connector's documented setup, through @inflow/core against the server", () => {
  it('S3: looks up the spec by name and creates the base connection', async () => {
    const { outputs } = await new SetupRunner(s3Connector, t.client).apply({
      credentials: { s3AccessKey: 'AKIA', s3SecretKey: 'CANARY-s3-9d1e' },
    });
    expect(outputs.connectionSpecId).toBe('ecadc60c-7455-4d87-84dc-2a0e293d997b');
    const got = await t.client.connections.get(outputs.connectionId as string);
    expect(got.auth?.params).toEqual({ s3AccessKey: 'AKIA', s3SecretKey: '[REDACTED]' });
  });

  it('PostgreSQL: creates the connection', async () => {
    const { outputs } = await new SetupRunner(postgresqlConnector, t.client).apply({
      credentials: { connectionString: 'Server=db;Database=crm;Port=5432;UID=u;Password=p' },
    });
    expect((await t.client.connections.get(outputs.connectionId as string)).connectionSpec.id).toBe(
      '74a1c565-4e59-48d7-9d67-7c03b8a13137',
    );
  });

  it('streaming: creates the connection and returns the inlet from the GET', async () => {
    const { outputs } = await new SetupRunner(streamingConnector, t.client).apply({
      name: 'web events',
      authenticationRequired: true,
    });
    expect(outputs.inletUrl).toBe(`${t.url}/collection/${outputs.inletId}`);
  });

  it('IMS server-to-server tokens from the server itself, and its errors through the client', async () => {
    const client = new FlowServiceClient({
      endpoint: t.url,
      apiKey: t.clientId,
      orgId: t.orgId,
      sandboxName: 'prod',
      token: imsServerToServer({ clientId: t.clientId, clientSecret: t.clientSecret, imsEndpoint: t.url }),
    });
    expect(
      (await client.connectionSpecs.list({ property: 'name=="postgresql"' })).map((s) => s.name),
    ).toEqual(['postgresql']);
    const err = (await client.flows
      .get('00000000-0000-4000-8000-000000000000')
      .catch((e: unknown) => e)) as ApiCallError;
    expect(ApiCallError.isInstance(err)).toBe(true);
    expect(err.problem).toMatchObject({ kind: 'flow-service', code: '1439-404' });
    expect(err.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const badSecret = imsServerToServer({ clientId: t.clientId, clientSecret: 'wrong', imsEndpoint: t.url });
    await expect(badSecret.getToken()).rejects.toThrow(/invalid_client/);
  });
});

describe('the contract around the routes', () => {
  it('serves an OpenAPI 3.1 document generated from the route schemas', async () => {
    const res = await call(t.url, 'GET', '/openapi.json');
    const doc = res.body as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> } }
        >
      >;
    };
    expect(doc.openapi).toBe('3.1.0');
    for (const path of [
      `${FS}/connections`,
      `${FS}/connections/{id}`,
      `${FS}/flows/{id}/action`,
      '/data/foundation/conversion/mappingSets',
      '/ims/token/v3',
    ]) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
    const create = doc.paths[`${FS}/connections`]?.post?.requestBody?.content['application/json']?.schema;
    expect(Object.keys(create?.properties ?? {})).toEqual(
      expect.arrayContaining(['name', 'auth', 'connectionSpec']),
    );
  });

  it('answers /health and /ready, and puts a request id on every response', async () => {
    const health = await call(t.url, 'GET', '/health');
    expect(health).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(health.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const ready = await call(t.url, 'GET', '/ready');
    expect((ready.body as { connectors: string[] }).connectors.sort()).toEqual([
      'amazon-s3',
      'customerio-webhook',
      'http-api',
      'postgresql',
    ]);
  });

  it('serves the specs of whatever connector packages are installed (discovery by keyword)', async () => {
    const { findConnectorPackages } = await import('../src/index.js');
    const found = findConnectorPackages(process.cwd());
    expect(found).toEqual(
      expect.arrayContaining([
        '@inflow/connector-s3',
        '@inflow/connector-postgresql',
        '@inflow/connector-streaming',
        '@inflow/connector-customerio',
      ]),
    );
    expect(found).not.toContain('@inflow/core');
  });
});
