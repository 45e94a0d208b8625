import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, FS, S3_SPEC, startTestServer, type TestServer, tokenFor } from './helpers.js';

const XDM_FULL = 'application/vnd.adobe.xed-full+json;version=1';
let t: TestServer;
let otherOrg: Record<string, string>;
let devSandbox: Record<string, string>;
const made: Record<string, string> = {};

beforeAll(async () => {
  t = await startTestServer({ bootstrap: { clientSecret: 'iso-secret', tenantId: 'acme' } });
  const post = async (path: string, body: unknown) => {
    const r = await call(t.url, 'POST', path, { headers: t.headers, body });
    expect(r.status, `${path}: ${r.text}`).toBeLessThan(300);
    return r.body as { id: string; $id: string } & string[];
  };
  made.schema = (
    await post('/data/foundation/schemaregistry/tenant/schemas', {
      type: 'object',
      title: 'iso',
      description: 'iso',
      allOf: [{ $ref: 'https://ns.adobe.com/xdm/context/profile' }],
    })
  ).$id;
  made.dataSet = (
    (
      await post('/data/foundation/catalog/dataSets', {
        name: 'd',
        schemaRef: { id: made.schema, contentType: XDM_FULL },
      })
    )[0] as string
  ).replace('@/dataSets/', '');
  made.mapping = (
    await post('/data/foundation/conversion/mappingSets', {
      outputSchema: { schemaRef: { id: made.schema, contentType: XDM_FULL } },
      mappings: [{ sourceType: 'ATTRIBUTE', source: 'id', destination: '_id' }],
    })
  ).id;
  made.connection = (
    await post(`${FS}/connections`, {
      name: 'c',
      auth: { specName: 'Access Key', params: { s3AccessKey: 'a', s3SecretKey: 'b' } },
      connectionSpec: { id: S3_SPEC },
    })
  ).id;
  made.source = (
    await post(`${FS}/sourceConnections`, {
      name: 's',
      baseConnectionId: made.connection,
      params: { path: '/b/f' },
      connectionSpec: { id: S3_SPEC },
    })
  ).id;
  made.target = (
    await post(`${FS}/targetConnections`, {
      name: 't',
      params: { dataSetId: made.dataSet },
      connectionSpec: { id: 'c604ff05-7f1a-43c0-8e18-33bf874cb11c' },
    })
  ).id;
  made.flow = (
    await post(`${FS}/flows`, {
      name: 'f',
      flowSpec: { id: '9753525b-82c7-4dce-8a9b-5ccfce2b9876' },
      sourceConnectionIds: [made.source],
      targetConnectionIds: [made.target],
      transformations: [{ name: 'Mapping', params: { mappingId: made.mapping, mappingVersion: 0 } }],
    })
  ).id;
  await t.server.services.store.insert(
    'runs',
    { orgId: t.orgId, sandbox: 'prod' },
    { id: 'run-1', flowId: made.flow },
    '0',
    Date.now(),
  );
  made.run = 'run-1';

  await t.server.services.tenancy.ensureOrg('OTHER@AdobeOrg');
  await t.server.services.tenancy.ensureSandbox('OTHER@AdobeOrg', 'prod', 'production');
  await t.server.services.tenancy.createClient('OTHER@AdobeOrg', 'other', 'other-secret', 'test');
  const token = await tokenFor(t.url, 'other', 'other-secret');
  otherOrg = {
    Authorization: `Bearer ${token}`,
    'x-api-key': 'other',
    'x-gw-ims-org-id': 'OTHER@AdobeOrg',
    'x-sandbox-name': 'prod',
  };
  await t.server.services.tenancy.createSandbox(t.orgId, 'dev', 'development');
  devSandbox = { ...t.headers, 'x-sandbox-name': 'dev' };
});
afterAll(async () => {
  await t.close();
});

const byId = () => [
  [`${FS}/connections/${made.connection}`, `${FS}/connections`],
  [`${FS}/sourceConnections/${made.source}`, `${FS}/sourceConnections`],
  [`${FS}/targetConnections/${made.target}`, `${FS}/targetConnections`],
  [`${FS}/flows/${made.flow}`, `${FS}/flows`],
  [`${FS}/runs/${made.run}`, `${FS}/runs`],
  [`/data/foundation/conversion/mappingSets/${made.mapping}`, '/data/foundation/conversion/mappingSets'],
  [`/data/foundation/catalog/dataSets/${made.dataSet}`, '/data/foundation/catalog/dataSets'],
  [
    `/data/foundation/schemaregistry/tenant/schemas/${encodeURIComponent(made.schema as string)}`,
    '/data/foundation/schemaregistry/tenant/schemas',
  ],
];

describe('isolation between orgs and sandboxes, on every resource', () => {
  it('the owner sees each resource', async () => {
    for (const [one] of byId()) {
      const r = await call(t.url, 'GET', one as string, {
        headers: { ...t.headers, Accept: 'application/vnd.adobe.xed-full+json; version=1' },
      });
      expect(r.status, one).toBe(200);
    }
  });

  for (const [who, headers] of [
    ['another org', () => otherOrg],
    ['another sandbox of the same org', () => devSandbox],
  ] as const) {
    it(`${who} gets 404 for each, and lists none of them`, async () => {
      for (const [one, list] of byId()) {
        const r = await call(t.url, 'GET', one as string, {
          headers: { ...headers(), Accept: 'application/vnd.adobe.xed-full+json; version=1' },
        });
        expect(r.status, one).toBe(404);
        const all = await call(t.url, 'GET', list as string, { headers: headers() });
        expect(all.status, list).toBe(200);
        for (const id of Object.values(made)) expect(all.text, list).not.toContain(id);
      }
      const del = await call(t.url, 'DELETE', `${FS}/flows/${made.flow}`, { headers: headers() });
      expect(del.status).toBe(404);
      const action = await call(t.url, 'POST', `${FS}/flows/${made.flow}/action?op=disable`, {
        headers: headers(),
      });
      expect(action.status).toBe(404);
      const flow = await call(t.url, 'POST', `${FS}/flows`, {
        headers: headers(),
        body: {
          name: 'steal',
          flowSpec: { id: '9753525b-82c7-4dce-8a9b-5ccfce2b9876' },
          sourceConnectionIds: [made.source],
          targetConnectionIds: [made.target],
        },
      });
      expect(flow.status).toBe(400);
    });
  }
});
