import {
  ApiCallError,
  type HttpLogEvent,
  InflowError,
  InflowNetworkError,
  PlatformTransport,
  type PlatformTransportOptions,
  RetryExhaustedError,
} from '@inflow/core';
import { type RecordingServer, startRecordingServer } from '@inflow/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const CANARY = 'CANARY-token-5b1e7d';

let server: RecordingServer;
beforeEach(async () => {
  server = await startRecordingServer();
});
afterEach(async () => {
  await server.close();
});

function transport(
  options: Partial<PlatformTransportOptions> = {},
  delays: number[] = [],
): PlatformTransport {
  const { retry, ...extra } = options;
  return new PlatformTransport({
    endpoint: server.url,
    apiKey: 'my-client',
    orgId: 'ORG@AdobeOrg',
    sandboxName: 'prod',
    token: CANARY,
    retry: {
      baseDelayMs: 8,
      maxDelayMs: 50,
      random: () => 0.5,
      sleep: async (ms) => {
        delays.push(ms);
      },
      ...retry,
    },
    ...extra,
  });
}

describe('PlatformTransport headers and bodies', () => {
  it('sends the Platform headers, JSON body, If-Match and a user-agent', async () => {
    server.handle(() => ({ status: 201, body: { id: 'c1', etag: '"e1"' } }));
    const res = await transport({ userAgent: 'inflow-connector-s3/0.1.0' }).send({
      method: 'PATCH',
      service: 'flowservice',
      path: '/connections/c1',
      body: [{ op: 'replace', path: '/name', value: 'x' }],
      ifMatch: '"e0"',
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: 'c1', etag: '"e1"' });
    const [req] = server.requests;
    expect(req?.method).toBe('PATCH');
    expect(req?.path).toBe('/data/foundation/flowservice/connections/c1');
    expect(req?.headers).toMatchObject({
      authorization: `Bearer ${CANARY}`,
      'x-api-key': 'my-client',
      'x-gw-ims-org-id': 'ORG@AdobeOrg',
      'x-sandbox-name': 'prod',
      'content-type': 'application/json',
      'if-match': '"e0"',
      'user-agent': 'inflow-connector-s3/0.1.0',
    });
    expect(req?.body).toEqual([{ op: 'replace', path: '/name', value: 'x' }]);
  });

  it('repeats array query parameters and leaves out undefined ones; GETs carry no Content-Type', async () => {
    server.handle(() => ({ status: 200, body: { items: [] } }));
    await transport().send({
      method: 'GET',
      service: 'flowservice',
      path: '/flows',
      query: { property: ['state==enabled', 'name=="a b"'], limit: 2, orderby: undefined },
    });
    const [req] = server.requests;
    expect(req?.query).toEqual({ property: ['state==enabled', 'name=="a b"'], limit: ['2'] });
    expect(req?.headers['content-type']).toBeUndefined();
    expect(req?.headers['user-agent']).toMatch(/^inflow-core\/\d+\.\d+\.\d+/);
  });

  it('rejects an endpoint that is not a URL with an InflowError that says what to use', () => {
    expect(() => new PlatformTransport({ endpoint: 'platform.adobe.io' })).toThrow(/is not a URL/);
  });
});

describe('PlatformTransport retries', () => {
  it('waits as long as Retry-After says on a 429, then succeeds', async () => {
    let n = 0;
    server.handle(() =>
      ++n === 1
        ? {
            status: 429,
            headers: { 'retry-after': '2' },
            body: { error_code: '429050', message: 'Too many requests' },
          }
        : { status: 200, body: { items: [{ id: 'x' }] } },
    );
    const delays: number[] = [];
    const res = await transport({}, delays).send({
      method: 'GET',
      service: 'flowservice',
      path: '/connections',
    });
    expect(res.body).toEqual({ items: [{ id: 'x' }] });
    expect(server.requests).toHaveLength(2);
    expect(delays).toEqual([2000]);
  });

  it('retries a 503 with exponential backoff and jitter, then succeeds', async () => {
    let n = 0;
    server.handle(() =>
      ++n <= 2 ? { status: 503, body: 'unavailable' } : { status: 200, body: { ok: true } },
    );
    const delays: number[] = [];
    await transport({}, delays).send({ method: 'GET', service: 'flowservice', path: '/flows' });
    expect(server.requests).toHaveLength(3);
    // random() = 0.5 of a ceiling that doubles: 8 → 16.
    expect(delays).toEqual([4, 8]);
  });

  it('does not retry a POST by default, and does when the caller opts in', async () => {
    server.handle(() => ({ status: 503, body: { error_code: '503', message: 'down' } }));
    const err = await transport()
      .send({ method: 'POST', service: 'flowservice', path: '/connections', body: { name: 'x' } })
      .catch((e: unknown) => e);
    expect(ApiCallError.isInstance(err)).toBe(true);
    expect((err as ApiCallError).status).toBe(503);
    expect(server.requests).toHaveLength(1);

    let n = 0;
    server.handle(() => (++n === 1 ? { status: 503 } : { status: 201, body: { id: 'c', etag: '"e"' } }));
    const res = await transport().send({
      method: 'POST',
      service: 'flowservice',
      path: '/connections',
      body: { name: 'x' },
      retryNonIdempotent: true,
    });
    expect(res.status).toBe(201);
    expect(server.requests).toHaveLength(3);
  });

  it('gives up with a clear error when the attempts run out', async () => {
    server.handle(() => ({ status: 502, body: { error_code: '502', message: 'bad gateway' } }));
    const err = await transport({ retry: { maxAttempts: 3 } })
      .send({ method: 'GET', service: 'flowservice', path: '/runs' })
      .catch((e: unknown) => e);
    expect(RetryExhaustedError.isInstance(err)).toBe(true);
    expect(InflowError.isInstance(err)).toBe(true);
    const e = err as RetryExhaustedError;
    expect(e.attempts).toBe(3);
    expect(e.status).toBe(502);
    expect(e.message).toMatch(/gave up after 3 attempts/);
    expect(ApiCallError.isInstance(e.cause)).toBe(true);
    expect(server.requests).toHaveLength(3);
  });

  it('gives up before a wait that would overrun the budget', async () => {
    server.handle(() => ({ status: 429, headers: { 'retry-after': '120' } }));
    const delays: number[] = [];
    const err = await transport({ retry: { budgetMs: 5_000 } }, delays)
      .send({ method: 'GET', service: 'flowservice', path: '/runs' })
      .catch((e: unknown) => e);
    expect(RetryExhaustedError.isInstance(err)).toBe(true);
    expect((err as Error).message).toMatch(/120000 ms would exceed the 5000 ms retry budget/);
    expect(delays).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it('does not retry a 400, 404 or 500', async () => {
    for (const status of [400, 404, 500]) {
      server.requests.length = 0;
      server.handle(() => ({ status }));
      const err = await transport()
        .send({ method: 'GET', service: 'flowservice', path: '/flows/x' })
        .catch((e: unknown) => e);
      expect((err as ApiCallError).status).toBe(status);
      expect(server.requests).toHaveLength(1);
    }
  });

  it('names the host when nothing listens, after retrying the connection', async () => {
    const closed = await startRecordingServer();
    const url = closed.url;
    await closed.close();
    const delays: number[] = [];
    const t = new PlatformTransport({
      endpoint: url,
      token: CANARY,
      retry: { maxAttempts: 2, sleep: async (ms) => void delays.push(ms), random: () => 0 },
    });
    const err = await t
      .send({ method: 'POST', service: 'flowservice', path: '/connections', body: {} })
      .catch((e: unknown) => e);
    expect(RetryExhaustedError.isInstance(err)).toBe(true);
    const cause = (err as RetryExhaustedError).lastError;
    expect(InflowNetworkError.isInstance(cause)).toBe(true);
    expect((cause as InflowNetworkError).code).toBe('ECONNREFUSED');
    expect((err as Error).message).toContain(new URL(url).host);
    // A refused connection sent nothing, so even a POST is retried.
    expect(delays).toHaveLength(1);
  });
});

describe('PlatformTransport errors', () => {
  it('turns a Flow Service problem into an ApiCallError with code, request id and a fix', async () => {
    server.handle(() => ({
      status: 412,
      headers: { 'x-request-id': 'req-9' },
      body: {
        type: 'https://ns.adobe.com/aep/errors/FLOW-1404-412',
        title: 'Version not matching',
        status: 412,
        report: { 'detailed-message': 'The supplied version does not match', 'request-id': 'req-9' },
        errorMessage: 'The supplied version does not match',
      },
    }));
    const err = (await transport()
      .send({ method: 'PATCH', service: 'flowservice', path: '/flows/f1', body: [], ifMatch: '"old"' })
      .catch((e: unknown) => e)) as ApiCallError;
    expect(ApiCallError.isInstance(err)).toBe(true);
    expect(err.status).toBe(412);
    expect(err.requestId).toBe('req-9');
    expect(err.problem).toMatchObject({
      kind: 'flow-service',
      code: '1404-412',
      title: 'Version not matching',
    });
    expect(err.message).toBe(
      'PATCH /data/foundation/flowservice/flows/f1 failed with HTTP 412 (1404-412 Version not matching): The supplied version does not match. Fix: the etag is stale: GET the resource again and retry with its current etag [request id req-9]',
    );
    expect(err.isRetryable).toBe(false);
  });

  it('never puts the token or a registered secret in an error, its body or a log line', async () => {
    const secret = 'CANARY-client-secret-91c2';
    server.handle((req) => ({
      status: 400,
      body: { errorMessage: `echo ${req.headers.authorization} and ${secret}` },
    }));
    const lines: HttpLogEvent[] = [];
    const err = (await transport({ secrets: [secret], log: (e) => lines.push(e) })
      .send({ method: 'GET', service: 'flowservice', path: '/connections', query: { q: secret } })
      .catch((e: unknown) => e)) as ApiCallError;
    const everything = JSON.stringify([err.message, err.stack, err.body, err.problem, err.url, lines]);
    expect(everything).not.toContain(CANARY);
    expect(everything).not.toContain(secret);
    expect(err.message).toContain('[REDACTED]');
    expect(lines.length).toBeGreaterThan(0);
  });
});
