import { parseSeedCurls, readSeed } from '@inflow/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestServer, type TestServer } from './helpers.js';

const PREVIEW = '/data/foundation/conversion/mappingSets/preview';
let t: TestServer;

const post = (body: unknown, headers: Record<string, string> = {}) =>
  call(t.url, 'POST', PREVIEW, { headers: { ...t.headers, ...headers }, body });
const detail = (r: { body: unknown }) =>
  (r.body as { report?: { 'detailed-message'?: string } }).report?.['detailed-message'];

/** Seed 004's mapping set body, as the tutorial sends it. */
function customerIoMappingSet(): unknown {
  const request = parseSeedCurls(readSeed('004')).find(
    (r) => r.method === 'POST' && r.path.endsWith('/conversion/mappingSets'),
  );
  if (!request) throw new Error('seed 004 has no POST /mappingSets');
  return request.body;
}

const EVENT = {
  event_id: '01E4C4CT6YDC7Y5M7FE1GWWPQJ',
  object_type: 'email',
  metric: 'opened',
  timestamp: 1613063089,
  data: { identifiers: { id: '12345', email: 'test@example.com', cio_id: 'cio_03000001' } },
};

// Starting a server (PGlite) can take a while on a loaded machine.
beforeAll(async () => {
  t = await startTestServer({ bootstrap: { clientSecret: 'preview-secret' } });
}, 120_000);
afterAll(async () => {
  await t.close();
});

describe('POST /mappingSets/preview', () => {
  it('maps each record with seed 004 mapping set, in order', async () => {
    const res = await post({ data: [EVENT, { metric: 'sent' }], mappingSet: customerIoMappingSet() });
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      {
        data: {
          _extconndev: {
            cio_id: 'cio_03000001',
            email: 'test@example.com',
            event_id0: '01E4C4CT6YDC7Y5M7FE1GWWPQJ',
            metricx: 'opened',
            object_type1: 'email',
            timestampx: 1613063089,
          },
        },
        errors: null,
      },
      { data: { _extconndev: { metricx: 'sent' } }, errors: null },
    ]);
  });

  it('reports a field that cannot be mapped, with the rest of the record', async () => {
    const res = await post({
      data: [{ age: 'abc', name: 'ada' }],
      mappingSet: {
        outputSchema: { schemaRef: { id: 'https://ns.adobe.com/acme/schemas/1' } },
        mappings: [
          { sourceType: 'EXPRESSION', source: 'to_integer(age)', destination: 'person.age' },
          { sourceType: 'EXPRESSION', source: 'upper(name)', destination: 'person.name' },
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      {
        data: { person: { name: 'ADA' } },
        errors: [{ path: 'person.age', reason: 'to_integer: "abc" is not a number', mapping: 0 }],
      },
    ]);
  });

  it('a mapping that does not parse is a 400 naming the mapping and the position', async () => {
    const res = await post({
      data: [{}],
      mappingSet: {
        outputSchema: { schemaRef: { id: 'https://ns.adobe.com/acme/schemas/1' } },
        mappings: [{ sourceType: 'EXPRESSION', source: 'upper(a', destination: '_acme.x' }],
      },
    });
    expect(res.status).toBe(400);
    expect(detail(res)).toBe(
      'mappingSet.mappings[0] (→ _acme.x): unexpected end of expression at 1:8: expected "," or ")"',
    );
    expect((res.body as { report: Record<string, unknown> }).report).toMatchObject({
      field: 'mappingSet.mappings.0',
      line: 1,
      column: 8,
    });
  });

  it('an unknown function is a 400', async () => {
    const res = await post({
      data: [{}],
      mappingSet: {
        outputSchema: { schemaRef: { id: 'https://ns.adobe.com/acme/schemas/1' } },
        mappings: [{ sourceType: 'EXPRESSION', source: 'shout(a)', destination: 'x' }],
      },
    });
    expect(res.status).toBe(400);
    expect(detail(res)).toContain('unknown function "shout" at 1:1');
  });

  it('an invalid mapping set is a 400 naming the field', async () => {
    const res = await post({
      data: [{}],
      mappingSet: { outputSchema: { schemaRef: { id: 's' } }, mappings: [] },
    });
    expect(res.status).toBe(400);
    expect(detail(res)).toBe('mappingSet.mappings: must have at least one mapping');
  });

  it('bad bodies are 400s, never 500s', async () => {
    const mappingSet = customerIoMappingSet();
    for (const body of [
      {},
      { data: [{}] },
      { mappingSet },
      { data: 'x', mappingSet },
      { data: [1], mappingSet },
      { data: [{}], mappingSet: 'x' },
      { data: Array.from({ length: 1001 }, () => ({})), mappingSet },
    ]) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
    }
  });

  it('needs the Platform headers', async () => {
    const res = await call(t.url, 'POST', PREVIEW, {
      body: { data: [], mappingSet: customerIoMappingSet() },
    });
    // The gateway refuses a call without an API key before any route runs (reference §1.4).
    expect(res.status).toBe(403);
  });
});

// Issue 5, item 1: a preview body once carried its own expression tree, whose array "index" was
// pasted into the generated code, and the server ran it.
describe('POST /mappingSets/preview: an expression tree in the body is never code', () => {
  const FLAG = '__inflowPreviewPwned';
  const flag = () => (globalThis as Record<string, unknown>)[FLAG];
  const attack = (index: string) => ({
    mappings: [
      {
        sourceType: 'ATTRIBUTE',
        source: 'a',
        destination: 'b',
        expression: { kind: 'path', segments: [{ kind: 'index', index }] },
      },
    ],
  });
  /** The review's payload, verbatim: it read /etc/hostname into the preview's output. */
  const HOSTNAME =
    '0]; const x = process.getBuiltinModule("fs").readFileSync("/etc/hostname","utf8"); v0 = x; if(0) r?.[0';
  /** The same shape, setting a flag this test can see (the server runs in this process). */
  const SET_FLAG = `0]; globalThis.${FLAG} = 1; if(0) r?.[0`;
  const problem = (res: { status: number; body: unknown }) => {
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      type: 'https://ns.adobe.com/aep/errors/FLOW-1460-400',
      status: 400,
      report: { field: 'mappingSet.outputSchema.schemaRef.id' },
    });
  };

  it('the review payload is a 400 problem (not a 200 with the host name, not a 500)', async () => {
    const res = await post({ data: [{ a: 1 }], mappingSet: attack(HOSTNAME) });
    problem(res);
    expect(detail(res)).toBe(
      'mappingSet.outputSchema.schemaRef.id: is required (or xdmSchema in the legacy form)',
    );
    const flagged = await post({ data: [{ a: 1 }], mappingSet: attack(SET_FLAG) });
    problem(flagged);
    expect(flag()).toBeUndefined();
  });

  it('preview refuses what create refuses: the same normalisation', async () => {
    const created = await call(t.url, 'POST', '/data/foundation/conversion/mappingSets', {
      headers: t.headers,
      body: attack(SET_FLAG),
    });
    expect(created.status).toBe(400);
    expect(detail(created)).toBe('outputSchema.schemaRef.id: is required (or xdmSchema in the legacy form)');
    expect(flag()).toBeUndefined();
  });

  it('with an outputSchema the tree is ignored: the source text is mapped as data', async () => {
    const res = await post({
      data: [{ a: 'kept' }],
      mappingSet: {
        outputSchema: { schemaRef: { id: 'https://ns.adobe.com/acme/schemas/1' } },
        ...attack(SET_FLAG),
      },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual([{ data: { b: 'kept' }, errors: null }]);
    expect(flag()).toBeUndefined();
  });
});
