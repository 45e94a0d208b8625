import { ApiCallError, FlowServiceClient, InflowError } from '@inflow/core';
import {
  type RecordedRequest,
  type RecordingServer,
  type Reply,
  startRecordingServer,
} from '@inflow/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

let server: RecordingServer;
let client: FlowServiceClient;
const route = new Map<string, (req: RecordedRequest) => Reply>();

beforeEach(async () => {
  route.clear();
  server = await startRecordingServer((req) => {
    const handler = route.get(`${req.method} ${req.path}`);
    return handler
      ? handler(req)
      : { status: 404, body: { error_code: '404', message: `no route ${req.method} ${req.path}` } };
  });
  client = new FlowServiceClient({
    endpoint: server.url,
    apiKey: 'k',
    orgId: 'O@AdobeOrg',
    sandboxName: 'prod',
    token: 't',
  });
});
afterEach(async () => {
  await server.close();
});

const FS = '/data/foundation/flowservice';

describe('FlowServiceClient: Flow Service resources', () => {
  it('create returns {id, etag}; get unwraps {items:[…]}; patch sends JSON Patch with If-Match; delete', async () => {
    route.set(`POST ${FS}/connections`, () => ({
      status: 201,
      body: { id: 'c1', etag: '"e1"' },
      headers: { location: `${FS}/connections/c1` },
    }));
    route.set(`GET ${FS}/connections/c1`, () => ({
      status: 200,
      body: { items: [{ id: 'c1', name: 'n', connectionSpec: { id: 's' }, etag: '"e1"' }] },
    }));
    route.set(`PATCH ${FS}/connections/c1`, () => ({ status: 200, body: { id: 'c1', etag: '"e2"' } }));
    route.set(`DELETE ${FS}/connections/c1`, () => ({ status: 204 }));
    expect(
      await client.connections.create({ name: 'n', connectionSpec: { id: 's', version: '1.0' } }),
    ).toEqual({ id: 'c1', etag: '"e1"' });
    const got = await client.connections.get('c1');
    expect(got.name).toBe('n');
    expect(
      await client.connections.patch('c1', [{ op: 'replace', path: '/name', value: 'm' }], {
        ifMatch: got.etag as string,
      }),
    ).toEqual({
      id: 'c1',
      etag: '"e2"',
    });
    expect(server.requests[2]).toMatchObject({
      headers: { 'if-match': '"e1"', 'content-type': 'application/json' },
      body: [{ op: 'replace', path: '/name', value: 'm' }],
    });
    await expect(client.connections.delete('c1')).resolves.toBeUndefined();
    expect(server.requests.map((r) => r.method)).toEqual(['POST', 'GET', 'PATCH', 'DELETE']);
  });

  it('encodes ids in paths, and get of a missing resource is an ApiCallError 404', async () => {
    const err = (await client.flows.get('../x y').catch((e: unknown) => e)) as ApiCallError;
    expect(server.requests[0]?.path).toBe(`${FS}/flows/..%2Fx%20y`);
    expect(ApiCallError.isInstance(err)).toBe(true);
    expect(err.status).toBe(404);
  });

  it('get of an empty items array is a clear InflowError', async () => {
    route.set(`GET ${FS}/sourceConnections/s1`, () => ({ status: 200, body: { items: [] } }));
    await expect(client.sourceConnections.get('s1')).rejects.toThrow(/answered without source connection s1/);
  });

  it('count=true returns the number', async () => {
    route.set(`GET ${FS}/flows`, (req) => ({
      status: 200,
      body: req.query.count ? { count: 95 } : { items: [] },
    }));
    expect(await client.flows.count({ property: 'state==enabled' })).toBe(95);
    expect(server.requests[0]?.query).toEqual({ property: ['state==enabled'], count: ['true'] });
  });

  it('flows.action posts ?op=enable|disable', async () => {
    route.set(`POST ${FS}/flows/f1/action`, (req) => ({
      status: 200,
      body: { id: 'f1', etag: `"${req.query.op?.[0]}"` },
    }));
    expect(await client.flows.action('f1', 'disable')).toEqual({ id: 'f1', etag: '"disable"' });
    expect(server.requests[0]?.query).toEqual({ op: ['disable'] });
  });

  it('connection test and explore', async () => {
    route.set(`GET ${FS}/connections/c1/test`, () => ({
      status: 200,
      body: { result: false, message: 'the key pair was rejected' },
    }));
    route.set(`GET ${FS}/connections/c1/explore`, (req) => ({
      status: 200,
      body: [{ type: 'folder', name: req.query.object?.[0] }],
    }));
    expect(await client.connections.test('c1')).toEqual({
      result: false,
      message: 'the key pair was rejected',
    });
    expect(await client.connections.explore('c1', { objectType: 'folder', object: '/bucket' })).toEqual([
      { type: 'folder', name: '/bucket' },
    ]);
  });

  it('runs.create accepts both documented answers', async () => {
    route.set(`POST ${FS}/runs`, () => ({ status: 201, body: { items: [{ id: 'r1', etag: '"e"' }] } }));
    expect(await client.runs.create({ flowId: 'f1', params: { startTime: '1663735590' } })).toEqual({
      id: 'r1',
      etag: '"e"',
    });
    route.set(`POST ${FS}/runs`, () => ({
      status: 201,
      body: { id: 'r2', etag: '"e2"', flowId: 'f1', metrics: {} },
    }));
    expect(await client.runs.create({ flowId: 'f1' })).toEqual({ id: 'r2', etag: '"e2"' });
    route.set(`POST ${FS}/runs`, () => ({ status: 201, body: {} }));
    await expect(client.runs.create({ flowId: 'f1' })).rejects.toThrow(InflowError);
  });

  it('connectionSpecs.list sends the property filter the seeds use', async () => {
    route.set(`GET ${FS}/connectionSpecs`, () => ({
      status: 200,
      body: { items: [{ id: 'ecadc60c-7455-4d87-84dc-2a0e293d997b', name: 'amazon-s3' }] },
    }));
    const [spec] = await client.connectionSpecs.list({ property: 'name=="amazon-s3"' });
    expect(spec?.name).toBe('amazon-s3');
    expect(server.requests[0]?.query).toEqual({ property: ['name=="amazon-s3"'] });
  });
});

describe('FlowServiceClient: Data Prep, Catalog and Schema Registry', () => {
  it('mappingSets: create answers 200 with the created set; list unwraps data', async () => {
    route.set('POST /data/foundation/conversion/mappingSets', () => ({
      status: 200,
      body: { id: '59c0e53a2dc84f7791ecc1b3d6e51d5e', version: 0, createdDate: 1, modifiedDate: 1 },
    }));
    route.set('GET /data/foundation/conversion/mappingSets', (req) => ({
      status: 200,
      body: { data: [{ id: 'm', start: req.query.start }], _page: { count: 1 } },
    }));
    const created = await client.mappingSets.create({
      mappings: [{ sourceAttribute: 'a', destinationXdmPath: '_t.a' }],
    });
    expect(created.id).toBe('59c0e53a2dc84f7791ecc1b3d6e51d5e');
    expect(await client.mappingSets.list({ start: 5, limit: 2 })).toEqual([{ id: 'm', start: ['5'] }]);
  });

  it('catalog dataSets: create reads the id from ["@/dataSets/{id}"]; get and list unwrap the id-keyed map', async () => {
    route.set('POST /data/foundation/catalog/dataSets', () => ({
      status: 201,
      body: ['@/dataSets/63ec807d3f5ce91bd2d06c65'],
    }));
    route.set('GET /data/foundation/catalog/dataSets/63ec807d3f5ce91bd2d06c65', () => ({
      status: 200,
      body: { '63ec807d3f5ce91bd2d06c65': { name: 'ds', schemaRef: { id: 's', contentType: 'c' } } },
    }));
    route.set('GET /data/foundation/catalog/dataSets', () => ({
      status: 200,
      body: { a: { name: 'A' }, b: { name: 'B' } },
    }));
    expect(
      await client.catalog.dataSets.create({ name: 'ds', schemaRef: { id: 's', contentType: 'c' } }),
    ).toEqual({
      id: '63ec807d3f5ce91bd2d06c65',
    });
    expect(await client.catalog.dataSets.get('63ec807d3f5ce91bd2d06c65')).toMatchObject({
      id: '63ec807d3f5ce91bd2d06c65',
      name: 'ds',
    });
    expect(await client.catalog.dataSets.list()).toEqual([
      { id: 'a', name: 'A' },
      { id: 'b', name: 'B' },
    ]);
  });

  it('schema registry: create, get with the full Accept header, stats', async () => {
    const id = 'https://ns.adobe.com/extconndev/schemas/945546112b746524bfd9f1264b26c2b7d8e7f5b7fadb953a';
    route.set('POST /data/foundation/schemaregistry/tenant/schemas', (req) => ({
      status: 201,
      body: { $id: id, ...(req.body as object) },
    }));
    route.set(`GET /data/foundation/schemaregistry/tenant/schemas/${encodeURIComponent(id)}`, (req) => ({
      status: req.headers.accept === 'application/vnd.adobe.xed-full+json; version=1' ? 200 : 406,
      body: { $id: id, title: 'T' },
    }));
    route.set('GET /data/foundation/schemaregistry/stats', () => ({
      status: 200,
      body: { tenantId: 'extconndev' },
    }));
    const created = await client.schemaRegistry.schemas.create({
      type: 'object',
      title: 'T',
      description: 'd',
      allOf: [{ $ref: 'https://ns.adobe.com/xdm/context/experienceevent' }],
    });
    expect(created.$id).toBe(id);
    expect(await client.schemaRegistry.schemas.get(id)).toMatchObject({ title: 'T' });
    expect((await client.schemaRegistry.stats()).tenantId).toBe('extconndev');
  });
});
