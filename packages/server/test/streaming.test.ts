import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { customerioSignature } from '@inflow/connector-customerio';
import { CUSTOMER_IO_SAMPLE_EVENT } from '@inflow/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { call, startTestServer, type TestServer } from './helpers.js';
import { rawConnection } from './raw-http.js';
import {
  createCustomerioFlow,
  createInlet,
  createRawFlow,
  createSchemaAndDataset,
  envelope,
  eventually,
  expectCatalogCounts,
  readDataset,
} from './streaming-helpers.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

const SIGNING_KEY = 'cio-signing-key-for-tests';
let t: TestServer;
let dataDir: string;
let schemaId: string;
let datasetId: string;
let open: { connectionId: string; inletId: string; inletUrl: string };
let authed: { connectionId: string; inletId: string };

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'inflow-streaming-test-'));
  t = await startTestServer({
    dataDir,
    bootstrap: { clientSecret: 'streaming-secret', tenantId: 'extconndev' },
    streaming: { flushMs: 100 },
  });
  ({ schemaId, datasetId } = await createSchemaAndDataset(t));
  open = await createInlet(t);
  authed = await createInlet(t, true);
}, 120_000);
afterAll(async () => {
  await t?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const stream = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  call(t.url, 'POST', path, { body, headers });

describe('POST /collection/{inletId}', () => {
  it('acks an XDM message with {inletId, xactionId, receivedTimeMs} and lands it in the dataset', async () => {
    const res = await stream(
      `/collection/${open.inletId}`,
      envelope(schemaId, datasetId, { _extconndev: { email: 'one@example.com', seq: 1 } }),
    );
    expect(res.status).toBe(200);
    // Validated asynchronously: the body says so (reference §6.3).
    expect(Object.keys(res.body as object).sort()).toEqual([
      'inletId',
      'receivedTimeMs',
      'syncValidation',
      'xactionId',
    ]);
    expect(res.body).toMatchObject({
      inletId: open.inletId,
      xactionId: expect.stringMatching(/^\d+:\d+:\d+$/),
      syncValidation: { skipped: true },
    });
    expect(open.inletUrl).toBe(`${t.url}/collection/${open.inletId}`);
    const { rows } = await eventually(async () => {
      const d = await readDataset(dataDir, datasetId);
      return d.rows.some((r) => (r._extconndev as { seq?: number })?.seq === 1) ? d : undefined;
    });
    expect(rows.find((r) => (r._extconndev as { seq?: number }).seq === 1)).toMatchObject({
      _extconndev: { email: 'one@example.com', seq: 1 },
    });
  });

  it('refuses envelopes that break the documented rules, in the streaming service’s 400 shape', async () => {
    const prefix = `inletId: [${open.inletId}] imsOrgId: [${t.orgId}]`;
    const cases: [unknown, RegExp][] = [
      [{ hello: 'world' }, /Message has unknown xdm format$/],
      [
        {
          ...envelope(schemaId, datasetId, {}),
          header: { ...envelope(schemaId, datasetId, {}).header, imsOrgId: 'x@AdobeOrg' },
        },
        /absent or wrong ims org/,
      ],
      [envelope(schemaId, 'nosuchdataset', {}), /datasetId nosuchdataset that does not exist/],
      [envelope('https://ns.adobe.com/extconndev/schemas/other', datasetId, {}), /not the schema of dataset/],
    ];
    for (const [body, message] of cases) {
      const res = await stream(`/collection/${open.inletId}`, body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({
        type: 'http://ns.adobe.com/adobecloud/problem/data-collection-service/inlet',
        status: 400,
        title: 'Invalid XDM Message Format',
        report: { message: expect.stringMatching(message) },
      });
      expect((res.body as { report: { message: string } }).report.message.startsWith(prefix)).toBe(true);
    }
    const notJson = await call(t.url, 'POST', `/collection/${open.inletId}`, {
      raw: '{"header":',
      headers: { 'content-type': 'application/json' },
    });
    expect(notJson.status).toBe(400);
    expect(notJson.body).toMatchObject({
      status: 400,
      report: { message: expect.stringMatching(/not valid JSON/) },
    });
    const noType = await call(t.url, 'POST', `/collection/${open.inletId}`, {
      raw: '{}',
      headers: { 'content-type': 'text/plain' },
    });
    expect(noType.status).toBe(400);
    expect(noType.body).toMatchObject({
      status: 400,
      report: { message: expect.stringMatching(/content-type/i) },
    });
  });

  it('answers the same through Fastify (inject) as over HTTP, where node:http answers directly', async () => {
    const message = envelope(schemaId, datasetId, { _extconndev: { seq: 3 } });
    const overHttp = await stream(`/collection/${open.inletId}?syncValidation=true`, message);
    const injected = await t.server.app.inject({
      method: 'POST',
      url: `/collection/${open.inletId}?syncValidation=true`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(message),
    });
    for (const [status, headers, body] of [
      [overHttp.status, overHttp.headers, overHttp.body],
      [injected.statusCode, injected.headers, injected.json()],
    ] as const) {
      expect(status).toBe(200);
      expect(String(headers['content-type'])).toMatch(/^application\/json/);
      expect(headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(Object.keys(body as object).sort()).toEqual(['inletId', 'receivedTimeMs', 'xactionId']);
    }
    const bad = { header: { schemaRef: { id: schemaId } }, body: {} };
    const badHttp = await stream(`/collection/batch/${open.inletId}`, { messages: [bad, message] });
    const badInjected = await t.server.app.inject({
      method: 'POST',
      url: `/collection/batch/${open.inletId}`,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      payload: JSON.stringify({ messages: [bad, message] }),
    });
    expect(badHttp.status).toBe(207);
    expect(badInjected.statusCode).toBe(207);
    const shape = (b: unknown) =>
      (b as { responses: Record<string, unknown>[] }).responses.map((r) => Object.keys(r).sort());
    expect(shape(badHttp.body)).toEqual([['message', 'statusCode'], ['xactionId']]);
    expect(shape(badInjected.json())).toEqual(shape(badHttp.body));
    // No body at all is a 400 (the 413 test above goes through node:http too).
    const empty = await call(t.url, 'POST', `/collection/${open.inletId}`, {
      raw: '',
      headers: { 'content-type': 'application/json' },
    });
    expect(empty.status).toBe(400);
    expect(empty.body).toMatchObject({ report: { message: expect.stringMatching(/empty/) } });
  });

  it('answers 404 for an unknown inlet id', async () => {
    for (const id of ['0'.repeat(64), 'not-an-inlet']) {
      const res = await stream(`/collection/${id}`, envelope(schemaId, datasetId, {}));
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ status: 404, report: { message: expect.stringContaining(id) } });
    }
  });

  it('refuses a payload above 1 MB with 413, on both endpoints', async () => {
    const big = {
      messages: [envelope(schemaId, datasetId, { _extconndev: { email: 'x'.repeat(1024 * 1024) } })],
    };
    for (const path of [`/collection/${open.inletId}`, `/collection/batch/${open.inletId}`]) {
      const res = await stream(path, path.includes('batch') ? big : big.messages[0]);
      expect(res.status).toBe(413);
      expect(res.body).toMatchObject({ status: 413, title: 'Payload Too Large' });
    }
  });

  it('needs no Platform headers for an open inlet; an authenticated inlet answers seed 001’s 401 without a token', async () => {
    const message = envelope(schemaId, datasetId, { _extconndev: { seq: 2 } });
    const missing = await stream(`/collection/${authed.inletId}`, message);
    expect(missing.status).toBe(401);
    expect(missing.body).toEqual({
      type: 'https://ns.adobe.com/adobecloud/problem/data-collection-service-authorization',
      status: '401',
      title: 'Authorization',
      report: { message: `[${authed.inletId}] Ims service token is empty` },
    });
    const bad = await stream(`/collection/${authed.inletId}`, message, { authorization: 'Bearer nope' });
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ status: '401', title: 'Authorization' });
    const batch = await stream(`/collection/batch/${authed.inletId}`, { messages: [message] });
    expect(batch.status).toBe(401);
    const ok = await stream(`/collection/${authed.inletId}`, message, { authorization: `Bearer ${t.token}` });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ inletId: authed.inletId });
  });

  it('validates before acking with ?syncValidation=true and returns the documented report', async () => {
    const wrong = envelope(schemaId, datasetId, { _extconndev: { seq: 'three', timestampx: 1.5 } });
    const res = await stream(`/collection/${open.inletId}?syncValidation=true`, wrong);
    expect(res.status).toBe(400);
    const body = res.body as {
      report: {
        message: string;
        cause: { _streamingValidation: { causingExceptions: unknown[]; message: string }[] };
      };
    };
    expect(body).toMatchObject({
      type: 'http://ns.adobe.com/adobecloud/problem/data-collection-service/inlet',
      status: 400,
      title: 'Invalid XDM Message Format',
      report: { message: `inletId: [${open.inletId}] imsOrgId: [${t.orgId}] Message is invalid` },
    });
    const validation = body.report.cause._streamingValidation[0];
    expect(validation?.message).toBe('2 schema violations found');
    expect(validation?.causingExceptions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          pointerToViolation: '#/_extconndev/seq',
          keyword: 'type',
          message: 'expected type: Integer, found: String',
        }),
        expect.objectContaining({ pointerToViolation: '#/_extconndev/timestampx', keyword: 'type' }),
      ]),
    );
    const good = await stream(
      `/collection/${open.inletId}?syncValidation=true`,
      envelope(schemaId, datasetId, { _extconndev: { seq: 3 } }),
    );
    expect(good.status).toBe(200);
  });
});

describe('POST /collection/batch/{inletId}', () => {
  it('answers 207 with one response per message; good ones land, bad ones are refused; invalid ones land as failures', async () => {
    const before = await readDataset(dataDir, datasetId);
    const messages = [
      envelope(schemaId, datasetId, { _extconndev: { seq: 100, email: 'a@example.com' } }),
      { nope: true },
      envelope(schemaId, datasetId, { _extconndev: { seq: 'not a number' } }),
      {
        ...envelope(schemaId, datasetId, {}),
        header: { ...envelope(schemaId, datasetId, {}).header, imsOrgId: 'other@AdobeOrg' },
      },
      envelope(schemaId, datasetId, { _extconndev: { seq: 101 } }),
    ];
    const res = await stream(`/collection/batch/${open.inletId}`, { messages });
    expect(res.status).toBe(207);
    const body = res.body as {
      inletId: string;
      batchId: string;
      receivedTimeMs: number;
      responses: Record<string, unknown>[];
    };
    expect(body.inletId).toBe(open.inletId);
    expect(body.batchId).toMatch(/^\d+:\d+:\d+$/);
    expect(typeof body.receivedTimeMs).toBe('number');
    expect(body.responses).toHaveLength(5);
    expect(body.responses[0]).toEqual({ xactionId: `${body.batchId}:0` });
    expect(body.responses[1]).toEqual({
      statusCode: 400,
      message: `inletId: [${open.inletId}] imsOrgId: [${t.orgId}] Message has unknown xdm format`,
    });
    expect(body.responses[2]).toEqual({ xactionId: `${body.batchId}:2` });
    expect(body.responses[3]).toMatchObject({
      statusCode: 400,
      message: expect.stringMatching(/wrong ims org/),
    });
    expect(body.responses[4]).toEqual({ xactionId: `${body.batchId}:4` });

    const after = await eventually(async () => {
      const d = await readDataset(dataDir, datasetId);
      return d.rows.some((r) => (r._extconndev as { seq?: number })?.seq === 101) &&
        d.failures.length > before.failures.length
        ? d
        : undefined;
    });
    const seqs = after.rows.map((r) => (r._extconndev as { seq?: number })?.seq);
    expect(seqs.filter((s) => s === 100 || s === 101)).toEqual([100, 101]);
    const failure = after.failures.at(-1) as { reason?: string; record?: unknown };
    expect(JSON.stringify(failure)).toMatch(/seq/);

    const notBatch = await stream(`/collection/batch/${open.inletId}`, [1, 2]);
    expect(notBatch.status).toBe(400);
    expect(notBatch.body).toMatchObject({
      status: 400,
      report: { message: expect.stringMatching(/messages/) },
    });
  });
});

describe('raw JSON addressed to a flow', () => {
  it('maps it with the flow’s mapping set (x-adobe-flow-id header or query)', async () => {
    const flowId = await createRawFlow(t, open.connectionId, schemaId, datasetId);
    const event = (id: string) => ({
      event_id: id,
      object_type: 'email',
      metric: 'opened',
      timestamp: 1613063089,
      data: { identifiers: { id: '42', email: 'raw@example.com', cio_id: 'cio42' } },
    });
    const byHeader = await stream(`/collection/${open.inletId}`, event('raw-1'), {
      'x-adobe-flow-id': flowId,
    });
    expect(byHeader.status).toBe(200);
    const byQuery = await stream(`/collection/${open.inletId}?x-adobe-flow-id=${flowId}`, event('raw-2'));
    expect(byQuery.status).toBe(200);
    const batch = await stream(`/collection/batch/${open.inletId}?x-adobe-flow-id=${flowId}`, {
      messages: [event('raw-3'), 'not an object'],
    });
    expect(batch.status).toBe(207);
    expect((batch.body as { responses: unknown[] }).responses[1]).toMatchObject({ statusCode: 400 });
    const unknownFlow = await stream(`/collection/${open.inletId}`, event('x'), {
      'x-adobe-flow-id': '00000000-0000-0000-0000-000000000000',
    });
    expect(unknownFlow.status).toBe(400);
    // A flow id the Catalog cannot even look up (NUL): the same 400, not a 500 (fuzzing, session 9).
    for (const path of [`/collection/${open.inletId}`, `/collection/batch/${open.inletId}`]) {
      const nul = await stream(`${path}?x-adobe-flow-id=a%00b`, event('nul'));
      expect(nul.status).toBe(400);
      expect(nul.body).toMatchObject({ status: 400, report: { message: expect.stringMatching(/NUL/) } });
    }

    const { rows } = await eventually(async () => {
      const d = await readDataset(dataDir, datasetId);
      const ids = d.rows.map((r) => (r._extconndev as { event_id0?: string })?.event_id0);
      return ['raw-1', 'raw-2', 'raw-3'].every((id) => ids.includes(id)) ? d : undefined;
    });
    expect(rows.find((r) => (r._extconndev as { event_id0?: string })?.event_id0 === 'raw-1')).toMatchObject({
      _extconndev: {
        cio_id: 'cio42',
        email: 'raw@example.com',
        event_id0: 'raw-1',
        metricx: 'opened',
        object_type1: 'email',
        timestampx: 1613063089,
      },
    });
  });
});

describe('Customer.io webhooks (seed 004)', () => {
  it('lands signed events with the mapped _extconndev fields; a bad or missing signature is 401 and lands nothing', async () => {
    const cio = await createSchemaAndDataset(t, 'cio');
    const flow = await createCustomerioFlow(t, cio.schemaId, cio.datasetId, SIGNING_KEY);
    expect(flow.inletUrl).toMatch(/\/collection\/[0-9a-f]{64}$/);
    const path = `/collection/${flow.inletId}?x-adobe-flow-id=${flow.flowId}`;
    const event = CUSTOMER_IO_SAMPLE_EVENT;
    const raw = JSON.stringify(event);
    const now = String(Math.floor(Date.now() / 1000));
    const send = (headers: Record<string, string>, body = raw) =>
      call(t.url, 'POST', path, { raw: body, headers: { 'content-type': 'application/json', ...headers } });

    const unsigned = await send({});
    expect(unsigned.status).toBe(401);
    expect(unsigned.body).toMatchObject({
      type: 'https://ns.adobe.com/adobecloud/problem/data-collection-service-authorization',
      status: '401',
      report: { message: expect.stringMatching(/X-CIO-Timestamp/) },
    });
    const wrong = await send({
      'x-cio-timestamp': now,
      'x-cio-signature': customerioSignature('other-key', now, raw),
    });
    expect(wrong.status).toBe(401);
    const tampered = await send(
      { 'x-cio-timestamp': now, 'x-cio-signature': customerioSignature(SIGNING_KEY, now, raw) },
      raw.replace('subscribed', 'unsubscribed'),
    );
    expect(tampered.status).toBe(401);
    const stale = String(Number(now) - 600);
    expect(
      (
        await send({
          'x-cio-timestamp': stale,
          'x-cio-signature': customerioSignature(SIGNING_KEY, stale, raw),
        })
      ).status,
    ).toBe(401);

    const signed = await send({
      'x-cio-timestamp': now,
      'x-cio-signature': customerioSignature(SIGNING_KEY, now, raw),
    });
    expect(signed.status).toBe(200);
    expect(signed.body).toMatchObject({ inletId: flow.inletId, xactionId: expect.any(String) });

    const landed = await eventually(async () => {
      const d = await readDataset(dataDir, cio.datasetId);
      return d.rows.length > 0 ? d : undefined;
    });
    expect(landed.rows).toEqual([
      {
        _extconndev: {
          cio_id: 'd9c106000001',
          email: 'test@example.com',
          event_id0: '01E4C4CT6YDC7Y5M7FE1GWWPQJ',
          metricx: 'subscribed',
          object_type1: 'customer',
          timestampx: 1613063089,
        },
      },
    ]);
    expect(landed.failures).toEqual([]);
    await expectCatalogCounts(t, cio.datasetId, 1, 0);
  });
});

describe('the log behind the inlets', () => {
  it('shares fsyncs between concurrent requests and deletes consumed segments', async () => {
    const streaming = t.server.app.streaming;
    if (!streaming) throw new Error('streaming is not open');
    const fsyncsBefore = streaming.log.stats.fsyncs;
    const n = 200;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        stream(
          `/collection/${open.inletId}`,
          envelope(schemaId, datasetId, { _extconndev: { seq: 10_000 + i } }),
        ),
      ),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(streaming.log.stats.fsyncs - fsyncsBefore).toBeLessThan(n);
    await streaming.consumer.idle();
    const { rows } = await readDataset(dataDir, datasetId);
    const seqs = new Set(rows.map((r) => (r._extconndev as { seq?: number })?.seq));
    for (let i = 0; i < n; i++) expect(seqs.has(10_000 + i)).toBe(true);
    expect(readdirSync(join(dataDir, 'streaming', 'log')).filter((f) => f.endsWith('.log'))).toHaveLength(1);
  });
});

describe('review fixes (issue 5)', () => {
  it('logs a batch request in about its own size: accepted messages as a bitmap, xactionIds derived (item 7)', async () => {
    const streaming = t.server.app.streaming;
    if (!streaming) throw new Error('streaming is not open');
    const flowId = await createRawFlow(t, open.connectionId, schemaId, datasetId);
    const messages = Array.from({ length: 20_000 }, (_, i) => (i % 1000 === 999 ? 'refused' : {}));
    const raw = JSON.stringify({ messages });
    const before = streaming.log.stats.bytes;
    const res = await call(t.url, 'POST', `/collection/batch/${open.inletId}?x-adobe-flow-id=${flowId}`, {
      raw,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(207);
    const body = res.body as { batchId: string; responses: Record<string, unknown>[] };
    expect(body.responses).toHaveLength(20_000);
    expect(body.responses[0]).toEqual({ xactionId: `${body.batchId}:0` });
    expect(body.responses[999]).toMatchObject({ statusCode: 400 });
    expect(body.responses[19_998]).toEqual({ xactionId: `${body.batchId}:19998` });
    // One frame: the body's bytes and a header of a few hundred bytes (it was one xactionId string
    // per message, ~25 bytes each: 8× this body).
    expect(streaming.log.stats.bytes - before).toBeLessThan(Buffer.byteLength(raw) + 4096);

    // XDM envelopes to two datasets, with refused ones between: each lands where it was addressed.
    const other = await createSchemaAndDataset(t, 'second');
    const res2 = await stream(`/collection/batch/${open.inletId}`, {
      messages: [
        envelope(schemaId, datasetId, { _extconndev: { seq: 300 } }),
        { nope: true },
        envelope(other.schemaId, other.datasetId, { _extconndev: { seq: 301 } }),
        envelope(other.schemaId, other.datasetId, { _extconndev: { seq: 302 } }),
        envelope(schemaId, datasetId, { _extconndev: { seq: 303 } }),
      ],
    });
    expect(
      (res2.body as { responses: Record<string, unknown>[] }).responses.map((r) => Object.keys(r)),
    ).toEqual([['xactionId'], ['statusCode', 'message'], ['xactionId'], ['xactionId'], ['xactionId']]);
    await streaming.consumer.idle();
    const seqs = (rows: Record<string, unknown>[]) =>
      rows
        .map((r) => (r._extconndev as { seq?: number })?.seq)
        .filter((s) => s !== undefined && s >= 300 && s < 400);
    expect(seqs((await readDataset(dataDir, datasetId)).rows).sort()).toEqual([300, 303]);
    expect(seqs((await readDataset(dataDir, other.datasetId)).rows).sort()).toEqual([301, 302]);
  });

  it('refuses a header.flowId of another inlet or of a disabled flow, and a repeated x-adobe-flow-id', async () => {
    const prefix = `inletId: [${open.inletId}] imsOrgId: [${t.orgId}]`;
    const foreign = await createRawFlow(t, authed.connectionId, schemaId, datasetId);
    const disabled = await createRawFlow(t, open.connectionId, schemaId, datasetId);
    const mine = await createRawFlow(t, open.connectionId, schemaId, datasetId);
    const etag = (
      (await call(t.url, 'GET', `/data/foundation/flowservice/flows/${disabled}`, { headers: t.headers }))
        .body as { items: { etag: string }[] }
    ).items[0]?.etag as string;
    const off = await call(
      t.url,
      'POST',
      `/data/foundation/flowservice/flows/${disabled}/action?op=disable`,
      {
        headers: { ...t.headers, 'if-match': etag },
      },
    );
    expect(off.status).toBe(200);
    const withFlow = (flowId: string) => {
      const e = envelope(schemaId, datasetId, { _extconndev: { seq: 400 } });
      return { ...e, header: { ...e.header, flowId } };
    };
    for (const [flowId, why] of [
      [foreign, /is not a flow of this inlet/],
      [disabled, /is disabled/],
      ['00000000-0000-0000-0000-000000000000', /is not a flow of this inlet/],
    ] as const) {
      const res = await stream(`/collection/${open.inletId}`, withFlow(flowId));
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ status: 400, title: 'Invalid XDM Message Format' });
      const message = (res.body as { report: { message: string } }).report.message;
      expect(message.startsWith(`${prefix} Message has a header.flowId`)).toBe(true);
      expect(message).toMatch(why);
      const batch = await stream(`/collection/batch/${open.inletId}`, { messages: [withFlow(flowId)] });
      expect((batch.body as { responses: unknown[] }).responses[0]).toMatchObject({
        statusCode: 400,
        message: expect.stringMatching(why),
      });
    }
    expect((await stream(`/collection/${open.inletId}`, withFlow(mine))).status).toBe(200);

    const event = { event_id: 'twice', object_type: 'email', metric: 'opened', timestamp: 1 };
    for (const path of [`/collection/${open.inletId}`, `/collection/batch/${open.inletId}`]) {
      const body = path.includes('batch') ? { messages: [event] } : event;
      const repeated = await stream(`${path}?x-adobe-flow-id=${mine}&x-adobe-flow-id=${mine}`, body);
      expect(repeated.status).toBe(400);
      expect(repeated.body).toMatchObject({ report: { message: expect.stringMatching(/more than once/) } });
      const disagree = await stream(`${path}?x-adobe-flow-id=${mine}`, body, { 'x-adobe-flow-id': disabled });
      expect(disagree.status).toBe(400);
    }
  });

  it('stops reading an oversized chunked body after the 413 and closes the connection', async () => {
    const { socket, ended } = await rawConnection(t.url);
    socket.write(
      `POST /collection/${open.inletId} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    // Up to 256 MB, as fast as the server takes it: before the fix it read (and dropped) all of it.
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const frame = Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}\r\n`),
      chunk,
      Buffer.from('\r\n'),
    ]);
    let sent = 0;
    while (!socket.destroyed && sent < 256 * 1024 * 1024) {
      if (!socket.write(frame)) {
        await Promise.race([once(socket, 'drain'), ended]);
      }
      sent += chunk.length;
    }
    const answer = await ended;
    expect(sent).toBeLessThan(64 * 1024 * 1024);
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.toLowerCase()).toContain('connection: close');
    expect(answer).toContain('"title":"Payload Too Large"');
  });

  it('answers 409 naming the source connection when its stored params no longer parse or decrypt', async () => {
    const cio = await createSchemaAndDataset(t, 'cio-broken');
    for (const damage of [
      { webhookSigningKey: ['not', 'a', 'string'] },
      { webhookSigningKey: `enc:v1:${Buffer.alloc(40, 7).toString('base64url')}` },
    ]) {
      const flow = await createCustomerioFlow(t, cio.schemaId, cio.datasetId, SIGNING_KEY);
      const got = await call(t.url, 'GET', `/data/foundation/flowservice/flows/${flow.flowId}`, {
        headers: t.headers,
      });
      const sourceId = (got.body as { items: { sourceConnectionIds: string[] }[] }).items[0]
        ?.sourceConnectionIds[0] as string;
      await t.server.services.store.db.query(
        `update resources set doc = jsonb_set(doc, '{params}', $1::jsonb), body = null where kind = 'sourceConnections' and id = $2`,
        [JSON.stringify(damage), sourceId],
      );
      const now = String(Math.floor(Date.now() / 1000));
      const raw = JSON.stringify({
        event_id: 'e',
        object_type: 'customer',
        metric: 'subscribed',
        timestamp: 1,
      });
      const res = await call(t.url, 'POST', `/collection/${flow.inletId}?x-adobe-flow-id=${flow.flowId}`, {
        raw,
        headers: {
          'content-type': 'application/json',
          'x-cio-timestamp': now,
          'x-cio-signature': customerioSignature(SIGNING_KEY, now, raw),
        },
      });
      expect(res.status, res.text).toBe(409);
      expect(res.body).toMatchObject({
        status: 409,
        title: 'Conflict',
        report: { message: expect.stringContaining(`source connection ${sourceId}`) },
      });
    }
  });
});
