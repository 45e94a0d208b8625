import { createHmac } from 'node:crypto';
import {
  CUSTOMERIO_REPLAY_WINDOW_MS,
  customerioConnector,
  customerioSignature,
} from '@inflow/connector-customerio';
import type { InletResult } from '@inflow/core';
import { CUSTOMER_IO_SAMPLE_EVENT } from '@inflow/testkit';
import { describe, expect, it } from 'vitest';

const KEY = 'CANARY-cio-inlet-signing-key-5d1c0e';
const NOW = Date.UTC(2025, 1, 11, 17, 4, 49);
const NOW_SECONDS = String(Math.floor(NOW / 1000));

/** The verbatim sample of reference §10.2 (the one Adobe uses to define the source schema). */
const EVENT = CUSTOMER_IO_SAMPLE_EVENT;
const BODY = Buffer.from(JSON.stringify(EVENT));

/** Computed here with node:crypto, independently of the connector's own helper. */
const hmac = (key: string, timestamp: string, body: Buffer) =>
  createHmac('sha256', key)
    .update(Buffer.concat([Buffer.from(`v0:${timestamp}:`), body]))
    .digest('hex');

const inlet = customerioConnector.inlet;
if (!inlet) throw new Error('the Customer.io connector has no inlet verb');

function call(
  options: {
    headers?: Record<string, string | undefined>;
    body?: Buffer;
    key?: string | undefined;
    now?: number;
  } = {},
): Promise<InletResult> {
  const params = customerioConnector.parseSourceParams(
    options.key === undefined ? {} : { webhookSigningKey: options.key },
  );
  return inlet!({
    headers: options.headers ?? {},
    query: {},
    rawBody: options.body ?? BODY,
    params,
    now: options.now ?? NOW,
  });
}

const signed = (body: Buffer = BODY, timestamp = NOW_SECONDS, key = KEY) => ({
  'x-cio-timestamp': timestamp,
  'x-cio-signature': hmac(key, timestamp, body),
});

function expectRefused(result: InletResult, status: number, pattern: RegExp): void {
  expect(result).toMatchObject({ ok: false, status });
  if (result.ok) return;
  expect(result.message).toMatch(pattern);
  expect(result.message).not.toContain(KEY);
}

describe('Customer.io inlet with a signing key', () => {
  it('accepts a correctly signed event and returns it as one record', async () => {
    const result = await call({ key: KEY, headers: signed() });
    expect(result).toEqual({ ok: true, records: [EVENT] });
  });

  it('signs exactly as the exported helper does', () => {
    expect(customerioSignature(KEY, NOW_SECONDS, BODY)).toBe(hmac(KEY, NOW_SECONDS, BODY));
  });

  it('accepts the signature in upper-case hex and the header names in any case', async () => {
    const headers = signed();
    const result = await call({
      key: KEY,
      headers: {
        'X-CIO-Timestamp': headers['x-cio-timestamp'],
        'X-Cio-Signature': headers['x-cio-signature'].toUpperCase(),
      },
    });
    expect(result).toEqual({ ok: true, records: [EVENT] });
  });

  it('refuses a body changed after signing (one byte), with 401', async () => {
    const tampered = Buffer.from(JSON.stringify({ ...EVENT, metric: 'unsubscribed' }));
    expectRefused(
      await call({ key: KEY, headers: signed(BODY), body: tampered }),
      401,
      /X-CIO-Signature .*does not match.*webhookSigningKey/,
    );
    const spaced = Buffer.concat([BODY, Buffer.from(' ')]);
    expectRefused(await call({ key: KEY, headers: signed(BODY), body: spaced }), 401, /does not match/);
  });

  it('refuses a signature made with another key', async () => {
    const headers = signed(BODY, NOW_SECONDS, 'some-other-signing-key');
    expectRefused(await call({ key: KEY, headers }), 401, /does not match/);
  });

  it('refuses a signature whose timestamp header was changed', async () => {
    const headers = { ...signed(), 'x-cio-timestamp': String(Number(NOW_SECONDS) - 1) };
    expectRefused(await call({ key: KEY, headers }), 401, /does not match/);
  });

  it('refuses a correctly signed but stale timestamp (replay) and accepts the edge of the window', async () => {
    const windowSeconds = CUSTOMERIO_REPLAY_WINDOW_MS / 1000;
    const stale = String(Number(NOW_SECONDS) - windowSeconds - 1);
    expectRefused(
      await call({ key: KEY, headers: signed(BODY, stale) }),
      401,
      /X-CIO-Timestamp .*more than 5 minutes old/,
    );
    const edge = String(Number(NOW_SECONDS) - windowSeconds);
    expect(await call({ key: KEY, headers: signed(BODY, edge) })).toMatchObject({ ok: true });
  });

  it('refuses a correctly signed timestamp more than 5 minutes in the future', async () => {
    const windowSeconds = CUSTOMERIO_REPLAY_WINDOW_MS / 1000;
    const future = String(Number(NOW_SECONDS) + windowSeconds + 1);
    expectRefused(
      await call({ key: KEY, headers: signed(BODY, future) }),
      401,
      /X-CIO-Timestamp .*in the future/,
    );
    const edge = String(Number(NOW_SECONDS) + windowSeconds);
    expect(await call({ key: KEY, headers: signed(BODY, edge) })).toMatchObject({ ok: true });
  });

  it('says which header is missing', async () => {
    const { 'x-cio-signature': signature, 'x-cio-timestamp': timestamp } = signed();
    expectRefused(await call({ key: KEY, headers: {} }), 401, /X-CIO-Timestamp header is missing/);
    expectRefused(
      await call({ key: KEY, headers: { 'x-cio-signature': signature } }),
      401,
      /X-CIO-Timestamp header is missing/,
    );
    expectRefused(
      await call({ key: KEY, headers: { 'x-cio-timestamp': timestamp } }),
      401,
      /X-CIO-Signature header is missing/,
    );
    expectRefused(
      await call({ key: KEY, headers: { 'x-cio-timestamp': timestamp, 'x-cio-signature': '' } }),
      401,
      /X-CIO-Signature header is missing/,
    );
  });

  it('refuses malformed headers: a signature that is not 64 hex digits, a timestamp that is not seconds', async () => {
    const good = signed();
    for (const bad of [good['x-cio-signature'].slice(2), `${good['x-cio-signature']}00`, 'zz'.repeat(32)]) {
      expectRefused(
        await call({ key: KEY, headers: { ...good, 'x-cio-signature': bad } }),
        401,
        /X-CIO-Signature header is not a hex HMAC-SHA256/,
      );
    }
    for (const bad of ['2025-02-11T17:04:49Z', '-1', '1.5']) {
      expectRefused(
        await call({ key: KEY, headers: signed(BODY, bad) }),
        401,
        /X-CIO-Timestamp header is not a Unix time in seconds/,
      );
    }
  });

  it('refuses before reading the body: an unsigned non-JSON body is 401, not 400', async () => {
    expectRefused(await call({ key: KEY, body: Buffer.from('not json') }), 401, /missing/);
  });

  it('refuses a correctly signed body that is not JSON (400)', async () => {
    const body = Buffer.from('event_id=01E4C4CT6YDC7Y5M7FE1GWWPQJ');
    expectRefused(await call({ key: KEY, headers: signed(body), body }), 400, /the body is not JSON/);
  });
});

describe('Customer.io inlet without a signing key', () => {
  it('accepts an unsigned event: there is no key to check a signature against', async () => {
    expect(await call()).toEqual({ ok: true, records: [EVENT] });
  });

  it('ignores signature headers, even wrong ones', async () => {
    const headers = { 'x-cio-timestamp': '1', 'x-cio-signature': 'ab'.repeat(32) };
    expect(await call({ headers })).toEqual({ ok: true, records: [EVENT] });
  });

  it('refuses a body that is not JSON, or not one event object, with 400', async () => {
    expectRefused(await call({ body: Buffer.from('{"event_id":') }), 400, /the body is not JSON/);
    expectRefused(await call({ body: Buffer.from('') }), 400, /the body is not JSON/);
    expectRefused(await call({ body: Buffer.from(JSON.stringify([EVENT])) }), 400, /got an array/);
    expectRefused(await call({ body: Buffer.from('null') }), 400, /got null/);
    expectRefused(await call({ body: Buffer.from('"customer_subscribed"') }), 400, /got a string/);
  });
});
