import { customerioConnector } from '@inflow/connector-customerio';
import { SetupRunner } from '@inflow/core';
import { fillPlaceholders, parseSeedCurls, readSeed, seedResponses } from '@inflow/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  call,
  FS,
  type RawResponse,
  S3_SPEC,
  startTestServer,
  type TestServer,
  tokenFor,
} from './helpers.js';

const SR = '/data/foundation/schemaregistry';
const XDM_FULL = 'application/vnd.adobe.xed-full+json;version=1';
let t: TestServer;
let schemaId: string;
let dataSetId: string;

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  call(t.url, 'POST', path, { headers: { ...t.headers, ...headers }, body });
const get = (path: string, headers: Record<string, string> = {}) =>
  call(t.url, 'GET', path, { headers: { ...t.headers, ...headers } });
const typeOf = (r: { body: unknown }) => (r.body as { type?: string }).type;
const detail = (r: { body: unknown }) =>
  (r.body as { report?: { 'detailed-message'?: string } }).report?.['detailed-message'];

/** The Customer.io tutorial's target: an ExperienceEvent schema with the webhook fields under _extconndev. */
const CIO_SCHEMA = {
  type: 'object',
  title: 'Customer.io webhook events',
  description: 'Reporting webhook events from Customer.io',
  allOf: [{ $ref: 'https://ns.adobe.com/xdm/context/experienceevent' }, { $ref: '#/definitions/cio' }],
  definitions: {
    cio: {
      properties: {
        _extconndev: {
          type: 'object',
          properties: Object.fromEntries(
            ['cio_id', 'email', 'event_id0', 'metricx', 'object_type1', 'timestampx'].map((f) => [
              f,
              { type: 'string' },
            ]),
          ),
        },
      },
    },
  },
};

beforeAll(async () => {
  t = await startTestServer({ bootstrap: { clientSecret: 'flows-secret', tenantId: 'extconndev' } });
  const schema = await post(`${SR}/tenant/schemas`, CIO_SCHEMA);
  expect(schema.status).toBe(201);
  schemaId = (schema.body as { $id: string }).$id;
  const dataSet = await post('/data/foundation/catalog/dataSets', {
    name: 'cio events',
    schemaRef: { id: schemaId, contentType: XDM_FULL },
  });
  expect(dataSet.status).toBe(201);
  dataSetId = ((dataSet.body as string[])[0] as string).replace('@/dataSets/', '');
});
afterAll(async () => {
  await t.close();
});

describe('schema registry and catalog, as the Customer.io tutorial needs them', () => {
  it('serves the tenant schema raw and resolved, and the dataset keyed by id', async () => {
    expect(schemaId).toMatch(/^https:\/\/ns\.adobe\.com\/extconndev\/schemas\/[0-9a-f]+$/);
    const full = await get(`${SR}/tenant/schemas/${encodeURIComponent(schemaId)}`, {
      Accept: 'application/vnd.adobe.xed-full+json; version=1',
    });
    expect(full.status).toBe(200);
    const props = (full.body as { properties: Record<string, { properties?: Record<string, unknown> }> })
      .properties;
    expect(Object.keys(props._extconndev?.properties ?? {})).toEqual([
      'cio_id',
      'email',
      'event_id0',
      'metricx',
      'object_type1',
      'timestampx',
    ]);
    expect(props).toHaveProperty('timestamp');
    const noAccept = await get(`${SR}/tenant/schemas/${encodeURIComponent(schemaId)}`);
    expect(noAccept.status).toBe(406);
    expect(await get(`${SR}/stats`)).toMatchObject({ status: 200, body: { tenantId: 'extconndev' } });
    const ds = await get(`/data/foundation/catalog/dataSets/${dataSetId}`);
    expect(ds.body).toMatchObject({ [dataSetId]: { name: 'cio events', schemaRef: { id: schemaId } } });
    expect(dataSetId).toMatch(/^[0-9a-f]{24}$/);
  });

  it('refuses an invalid schema, a dataset of an unknown schema, a mapping with a bad expression', async () => {
    const bad = await post(`${SR}/tenant/schemas`, { ...CIO_SCHEMA, title: 'other', allOf: [] });
    expect(bad.status).toBe(400);
    expect(typeOf(bad)).toMatch(/^http:\/\/ns\.adobe\.com\/aep\/errors\/XDM-/);
    const dup = await post(`${SR}/tenant/schemas`, CIO_SCHEMA);
    expect(typeOf(dup)).toMatch(/XDM-1521-400$/);
    const ds = await post('/data/foundation/catalog/dataSets', {
      name: 'x',
      schemaRef: { id: 'https://ns.adobe.com/extconndev/schemas/none', contentType: XDM_FULL },
    });
    expect(ds.status).toBe(400);
    expect(detail(ds)).toMatch(/^schemaRef\.id /);
    const mapping = await post('/data/foundation/conversion/mappingSets', {
      outputSchema: { schemaRef: { id: schemaId, contentType: XDM_FULL } },
      mappings: [{ sourceType: 'EXPRESSION', source: 'concat(a, )', destination: '_extconndev.email' }],
    });
    expect(mapping.status).toBe(400);
    expect(detail(mapping)).toMatch(/^mappings\.0\.source: .*1:\d+/);
  });
});

describe('seed 004: Customer.io', () => {
  it('runs through the connector setup steps and serves the documented flow', async () => {
    const runner = new SetupRunner(customerioConnector, t.client);
    const { outputs } = await runner.apply({ dataSetId, schemaId, tenantId: 'extconndev' });
    expect(outputs.mappingId).toMatch(/^[0-9a-f]{32}$/);
    expect(outputs.inletUrl).toMatch(new RegExp(`^${t.url}/collection/[0-9a-f]{64}$`));
    const flow = await t.client.flows.get(outputs.flowId as string);
    const [, , , , documented] = seedResponses(readSeed('004')) as { items: Record<string, unknown>[] }[];
    const shape = documented?.items[0] as Record<string, unknown>;
    expect(Object.keys(flow).sort()).toEqual(expect.arrayContaining(Object.keys(shape).sort()));
    expect(flow).toMatchObject({
      name: 'Streaming Dataflow for Customer.io',
      flowSpec: { id: 'e77fde5a-22a8-11ed-861d-0242ac120002', version: '1.0' },
      state: 'enabled',
      sourceConnectionIds: [outputs.sourceConnectionId],
      targetConnectionIds: [outputs.targetConnectionId],
      inheritedAttributes: {
        properties: { isSourceFlow: true },
        sourceConnections: [
          {
            id: outputs.sourceConnectionId,
            connectionSpec: { id: '96479064-7b8a-4d69-b9ed-21c5683837ea', version: '1.0' },
          },
        ],
        targetConnections: [
          {
            id: outputs.targetConnectionId,
            connectionSpec: { id: 'c604ff05-7f1a-43c0-8e18-33bf874cb11c', version: '1.0' },
          },
        ],
      },
      options: { inletUrl: outputs.inletUrl },
      transformations: [{ name: 'Mapping', params: { mappingId: outputs.mappingId, mappingVersion: 0 } }],
      runs: `/runs?property=flowId==${outputs.flowId}`,
      lastOperation: { operation: 'create' },
    });
  });

  it('accepts the seed requests verbatim (ids of this server in place of the docs ones)', async () => {
    const seeds = parseSeedCurls(readSeed('004'));
    const base = {
      ACCESS_TOKEN: t.token,
      API_KEY: t.clientId,
      ORG_ID: t.orgId,
      SANDBOX_NAME: 'prod',
      TENANT_ID: 'extconndev',
    };
    const swap = (v: unknown, pairs: [string, string][]) =>
      JSON.parse(pairs.reduce((s, [a, b]) => s.split(a).join(b), JSON.stringify(v)));
    const send = async (i: number, pairs: [string, string][] = []) => {
      const req = swap(fillPlaceholders(seeds[i], base), pairs) as (typeof seeds)[number];
      const url = new URL(req.url);
      // Seed 004's POST /flows has no Authorization header (a doc bug); the real service needs one.
      const headers = { Authorization: `Bearer ${t.token}`, ...req.headers };
      return call(t.url, req.method, url.pathname + url.search, { headers, body: req.body });
    };
    const docSchema =
      'https://ns.adobe.com/extconndev/schemas/945546112b746524bfd9f1264b26c2b7d8e7f5b7fadb953a';
    const ids: [string, string][] = [
      [docSchema, schemaId],
      ['63ec807d3f5ce91bd2d06c65', dataSetId],
    ];
    const source = await send(0);
    expect(source.status).toBe(201);
    const target = await send(1, ids);
    expect(target.status).toBe(201);
    const mapping = await send(2, ids);
    expect(mapping.status).toBe(200);
    expect(mapping.body).toMatchObject({ version: 0, createdBy: t.clientId, modifiedBy: t.clientId });
    expect(Object.keys(mapping.body as object).sort()).toEqual([
      'createdBy',
      'createdDate',
      'id',
      'modifiedBy',
      'modifiedDate',
      'version',
    ]);
    const flowIds: [string, string][] = [
      ['133bb51f-f310-4b4a-b8b2-731aef1e223c', (source.body as { id: string }).id],
      ['da8b75ad-f6ee-4991-95df-291e62936e98', (target.body as { id: string }).id],
      ['59c0e53a2dc84f7791ecc1b3d6e51d5e', (mapping.body as { id: string }).id],
    ];
    const flow = await send(3, flowIds);
    expect(flow.status).toBe(201);
    const got = await send(4, [['4982698b-e6b3-48c2-8dcf-040e20121fd2', (flow.body as { id: string }).id]]);
    expect(got.status).toBe(200);
    expect((got.body as { items: { options: { inletUrl: string } }[] }).items[0]?.options.inletUrl).toMatch(
      /\/collection\/[0-9a-f]{64}$/,
    );
  });
});

describe('batch flows, actions and deletion', () => {
  async function s3Flow(scheduleParams?: Record<string, unknown>) {
    const conn = await t.client.connections.create({
      name: 's3',
      auth: { specName: 'Access Key', params: { s3AccessKey: 'AK', s3SecretKey: 'SK' } },
      connectionSpec: { id: S3_SPEC, version: '1.0' },
    });
    const src = await t.client.sourceConnections.create({
      name: 'files',
      baseConnectionId: conn.id,
      data: { format: 'delimited' },
      params: { path: '/bucket/folder', type: 'folder' },
      connectionSpec: { id: S3_SPEC, version: '1.0' },
    });
    const tgt = await t.client.targetConnections.create({
      name: 'lake',
      data: { schema: { id: schemaId, version: XDM_FULL } },
      params: { dataSetId },
      connectionSpec: { id: 'c604ff05-7f1a-43c0-8e18-33bf874cb11c', version: '1.0' },
    });
    const body = {
      name: 's3 flow',
      flowSpec: { id: '9753525b-82c7-4dce-8a9b-5ccfce2b9876', version: '1.0' },
      sourceConnectionIds: [src.id],
      targetConnectionIds: [tgt.id],
      ...(scheduleParams ? { scheduleParams } : {}),
    };
    return { conn, src, tgt, body, res: await post(`${FS}/flows`, body) };
  }

  it('validates scheduleParams by the flow spec (minute needs interval ≥ 15; once takes none)', async () => {
    const ok = await s3Flow({
      startTime: '1612310466',
      frequency: 'minute',
      interval: '15',
      backfill: 'true',
    });
    expect(ok.res.status).toBe(201);
    const fast = await s3Flow({ startTime: 1612310466, frequency: 'minute', interval: 5 });
    expect(detail(fast.res)).toBe('scheduleParams.interval must be >= 15');
    const once = await s3Flow({ startTime: 1612310466, frequency: 'once', interval: 1 });
    expect(detail(once.res)).toMatch(/^scheduleParams must not have interval or backfill/);
    const missing = await s3Flow({ frequency: 'day', interval: 1 });
    expect(detail(missing.res)).toBe('scheduleParams.startTime is required');
    const weird = await s3Flow({ startTime: 1, frequency: 'fortnight', interval: 1 });
    expect(detail(weird.res)).toMatch(/^scheduleParams\.frequency /);
  });

  it('refuses a source the flow spec does not take and a missing target', async () => {
    const { body } = await s3Flow();
    const wrongSpec = await post(`${FS}/flows`, {
      ...body,
      flowSpec: { id: '14518937-270c-4525-bdec-c2ba7cce3860' },
    });
    expect(detail(wrongSpec)).toMatch(/^sourceConnectionIds\.0 is a source of spec ecadc60c/);
    const noTarget = await post(`${FS}/flows`, {
      ...body,
      targetConnectionIds: ['00000000-0000-4000-8000-000000000000'],
    });
    expect(detail(noTarget)).toMatch(/^targetConnectionIds\.0 .* is not a target connection/);
    const badMapping = await post(`${FS}/flows`, {
      ...body,
      transformations: [{ name: 'Mapping', params: { mappingId: 'nope', mappingVersion: 0 } }],
    });
    expect(detail(badMapping)).toMatch(/^transformations\.0\.params\.mappingId nope is not a mapping set/);
  });

  it('enables and disables (1422 for a transition to the current state), and protects used connections (1418)', async () => {
    const { conn, src, res } = await s3Flow();
    const { id } = res.body as { id: string };
    const disable = await post(`${FS}/flows/${id}/action?op=disable`, undefined);
    expect(disable.status).toBe(200);
    expect((await t.client.flows.get(id)).state).toBe('disabled');
    const again = await post(`${FS}/flows/${id}/action?op=disable`, undefined);
    expect(typeOf(again)).toMatch(/FLOW-1422-400$/);
    expect((await post(`${FS}/flows/${id}/action?op=enable`, undefined)).status).toBe(200);
    const used = await call(t.url, 'DELETE', `${FS}/connections/${conn.id}`, { headers: t.headers });
    expect(typeOf(used)).toMatch(/FLOW-1418-400$/);
    const usedSource = await call(t.url, 'DELETE', `${FS}/sourceConnections/${src.id}`, {
      headers: t.headers,
    });
    expect(typeOf(usedSource)).toMatch(/FLOW-1447-400$/);
    expect((await call(t.url, 'DELETE', `${FS}/flows/${id}`, { headers: t.headers })).status).toBe(204);
    expect(
      (await call(t.url, 'DELETE', `${FS}/sourceConnections/${src.id}`, { headers: t.headers })).status,
    ).toBe(204);
    expect((await call(t.url, 'DELETE', `${FS}/connections/${conn.id}`, { headers: t.headers })).status).toBe(
      204,
    );
  });

  it('lists flows by property filters through the client', async () => {
    const { src } = await s3Flow();
    const mine = await t.client.flows.list({ property: [`sourceConnectionIds[]==${src.id}`] });
    expect(mine).toHaveLength(1);
    const enabled = await t.client.flows.count({ property: 'state==enabled' });
    expect(enabled).toBeGreaterThan(0);
  });

  it('never puts back an older lastRunDetails: a run that writes it between a PATCH’s (or an action’s) read and its write keeps its value', async () => {
    const { res } = await s3Flow();
    const { id, etag } = res.body as { id: string; etag: string };
    const store = t.server.services.store;
    const scope = { orgId: t.orgId, sandbox: 'prod' };
    const replace = store.replace.bind(store);
    // What runs/executor.ts does when a run starts or ends: lastRunDetails set, etag and updatedAt kept.
    const runWrites = async (details: Record<string, unknown>) => {
      const flow = await store.get('flows', scope, id);
      if (!flow) throw new Error(`flow ${id} is gone`);
      const doc = { ...flow.doc, lastRunDetails: details };
      expect(await replace('flows', scope, doc, flow.etag, flow.etag, flow.updatedAt)).toBe('ok');
    };
    // The run's write lands after the client's `write` has read the flow, just before it writes.
    const runWritesBetween = async (details: Record<string, unknown>, write: () => Promise<RawResponse>) => {
      const spy = vi.spyOn(store, 'replace').mockImplementationOnce(async (...args) => {
        await runWrites(details);
        return replace(...args);
      });
      try {
        const res = await write();
        expect(spy).toHaveBeenCalled();
        return res;
      } finally {
        spy.mockRestore();
      }
    };
    const served = async () => {
      const r = await get(`${FS}/flows/${id}`);
      expect(r.text.split('"lastRunDetails"')).toHaveLength(2);
      return (r.body as { items: Record<string, unknown>[] }).items[0] as Record<string, unknown>;
    };
    const listed = async (property: string) =>
      (await t.client.flows.list({ property })).map((f) => f.id).includes(id);

    const patchFlow = (ifMatch: string, op: Record<string, unknown>) =>
      call(t.url, 'PATCH', `${FS}/flows/${id}`, {
        headers: { ...t.headers, 'If-Match': ifMatch },
        body: [op],
      });

    // The first run starts while a PATCH of a flow that never ran is under way.
    const first = { id: 'run-1', state: 'inProgress', startedAtUTC: 1_700_000_000_000 };
    const renamed = await runWritesBetween(first, () =>
      patchFlow(etag, { op: 'replace', path: '/name', value: 'renamed' }),
    );
    expect(renamed.status).toBe(200);
    const renamedEtag = (renamed.body as { etag: string }).etag;
    expect(await served()).toMatchObject({ name: 'renamed', etag: renamedEtag, lastRunDetails: first });
    expect(await listed('lastRunDetails.id==run-1')).toBe(true);

    // A run in progress when the PATCH reads the flow ends before the PATCH writes.
    await runWrites({ id: 'run-2', state: 'inProgress', startedAtUTC: 1_700_000_100_000 });
    const ended = {
      id: 'run-2',
      state: 'success',
      startedAtUTC: 1_700_000_100_000,
      completedAtUTC: 1_700_000_200_000,
    };
    const described = await runWritesBetween(ended, () =>
      patchFlow(renamedEtag, { op: 'add', path: '/description', value: 'nightly' }),
    );
    expect(described.status).toBe(200);
    const describedEtag = (described.body as { etag: string }).etag;
    expect(await served()).toMatchObject({
      name: 'renamed',
      description: 'nightly',
      etag: describedEtag,
      lastRunDetails: ended,
    });
    expect(await listed('lastRunDetails.state==success')).toBe(true);
    expect(await listed('lastRunDetails.state==inProgress')).toBe(false);

    // The same for disable: the next run starts between the action's read and write.
    const next = { id: 'run-3', state: 'inProgress', startedAtUTC: 1_700_000_300_000 };
    const disabled = await runWritesBetween(next, () =>
      post(`${FS}/flows/${id}/action?op=disable`, undefined, { 'If-Match': describedEtag }),
    );
    expect(disabled.status).toBe(200);
    expect(await served()).toMatchObject({
      state: 'disabled',
      description: 'nightly',
      etag: (disabled.body as { etag: string }).etag,
      lastRunDetails: next,
    });
    expect(await listed('lastRunDetails.id==run-3')).toBe(true);
  });
});

describe('options.inletUrl is the service’s (review item 3)', () => {
  /** An S3 flow in the org of `headers` that sends its own `options.inletUrl`. */
  async function s3FlowClaiming(headers: Record<string, string>, inletUrl: string) {
    const send = async (path: string, body: unknown) => {
      const res = await call(t.url, 'POST', path, { headers, body });
      expect(res.status, res.text).toBeLessThan(300);
      return (res.body as { id: string }).id;
    };
    const conn = await send(`${FS}/connections`, {
      name: 's3',
      auth: { specName: 'Access Key', params: { s3AccessKey: 'AK', s3SecretKey: 'SK' } },
      connectionSpec: { id: S3_SPEC, version: '1.0' },
    });
    const src = await send(`${FS}/sourceConnections`, {
      name: 'files',
      baseConnectionId: conn,
      data: { format: 'delimited' },
      params: { path: '/bucket/folder', type: 'folder' },
      connectionSpec: { id: S3_SPEC, version: '1.0' },
    });
    const schema = await call(t.url, 'POST', `${SR}/tenant/schemas`, {
      headers,
      body: {
        type: 'object',
        title: `claiming ${inletUrl}`,
        description: 'a schema with no fields of its own',
        allOf: [{ $ref: 'https://ns.adobe.com/xdm/context/profile' }],
      },
    });
    expect(schema.status, schema.text).toBe(201);
    const ownSchema = (schema.body as { $id: string }).$id;
    const dataSet = await call(t.url, 'POST', '/data/foundation/catalog/dataSets', {
      headers,
      body: { name: 'landing', schemaRef: { id: ownSchema, contentType: XDM_FULL } },
    });
    expect(dataSet.status, dataSet.text).toBe(201);
    const tgt = await send(`${FS}/targetConnections`, {
      name: 'lake',
      data: { schema: { id: ownSchema, version: XDM_FULL } },
      params: { dataSetId: ((dataSet.body as string[])[0] as string).replace('@/dataSets/', '') },
      connectionSpec: { id: 'c604ff05-7f1a-43c0-8e18-33bf874cb11c', version: '1.0' },
    });
    return send(`${FS}/flows`, {
      name: 's3 flow claiming an inlet',
      flowSpec: { id: '9753525b-82c7-4dce-8a9b-5ccfce2b9876', version: '1.0' },
      sourceConnectionIds: [src],
      targetConnectionIds: [tgt],
      options: { inletUrl, errorDiagnosticsEnabled: true },
    });
  }

  const flowOf = async (id: string, headers = t.headers) =>
    (
      (await call(t.url, 'GET', `${FS}/flows/${id}`, { headers })).body as {
        items: Record<string, unknown>[];
      }
    ).items[0] as { etag: string; options?: Record<string, unknown> };

  it('ignores a client’s inletUrl on create and PATCH, so a crafted one receives nothing, in any org', async () => {
    const crafted = 'ab'.repeat(32);
    const hijacker = await s3FlowClaiming(t.headers, `http://evil/collection/${crafted}`);
    expect((await flowOf(hijacker)).options).toEqual({ errorDiagnosticsEnabled: true });
    const hit = await call(t.url, 'POST', `/collection/${crafted}`, { body: { any: 'thing' } });
    expect(hit.status).toBe(404);

    // A webhook flow's inlet, claimed from another org (on create) and from its own org (on PATCH).
    const runner = new SetupRunner(customerioConnector, t.client);
    const { outputs } = await runner.apply({ dataSetId, schemaId, tenantId: 'extconndev' });
    const victimUrl = outputs.inletUrl as string;
    const victimInlet = victimUrl.split('/').pop() as string;
    await t.server.services.tenancy.ensureOrg('THIEF@AdobeOrg');
    await t.server.services.tenancy.ensureSandbox('THIEF@AdobeOrg', 'prod', 'production');
    await t.server.services.tenancy.createClient('THIEF@AdobeOrg', 'thief', 'thief-secret', 'test');
    const thief = {
      Authorization: `Bearer ${await tokenFor(t.url, 'thief', 'thief-secret')}`,
      'x-api-key': 'thief',
      'x-gw-ims-org-id': 'THIEF@AdobeOrg',
      'x-sandbox-name': 'prod',
    };
    const foreign = await s3FlowClaiming(thief, victimUrl);
    expect((await flowOf(foreign, thief)).options).toEqual({ errorDiagnosticsEnabled: true });
    const patchedS3 = await call(t.url, 'PATCH', `${FS}/flows/${hijacker}`, {
      headers: { ...t.headers, 'if-match': (await flowOf(hijacker)).etag },
      body: [{ op: 'replace', path: '/options', value: { inletUrl: victimUrl } }],
    });
    expect(patchedS3.status, patchedS3.text).toBe(200);
    expect((await flowOf(hijacker)).options).toEqual({});
    const webhook = outputs.flowId as string;
    const patched = await call(t.url, 'PATCH', `${FS}/flows/${webhook}`, {
      headers: { ...t.headers, 'if-match': (await flowOf(webhook)).etag },
      body: [{ op: 'replace', path: '/options/inletUrl', value: `${t.url}/collection/${'cd'.repeat(32)}` }],
    });
    expect(patched.status, patched.text).toBe(200);
    expect((await flowOf(webhook)).options).toEqual({ inletUrl: victimUrl });

    // The inlet is still exactly the victim's flow, in the victim's org.
    const inlet = await t.server.app.streaming?.inlets.inlet(victimInlet);
    expect(inlet).toMatchObject({ flowId: webhook, scope: { orgId: t.orgId, sandbox: 'prod' } });
    const event = { event_id: 'e1', object_type: 'customer', metric: 'subscribed', timestamp: 1613063089 };
    const sent = await call(t.url, 'POST', `/collection/${victimInlet}?x-adobe-flow-id=${webhook}`, {
      body: event,
    });
    expect(sent.status, sent.text).toBe(200);
    expect(sent.body).toMatchObject({ inletId: victimInlet });
  });
});
