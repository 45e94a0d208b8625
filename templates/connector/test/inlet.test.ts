import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { __camelId__Connector as connector } from '../src/index.js';

const SECRET = 'a-{{id}}-signing-secret';
const body = Buffer.from(JSON.stringify({ id: 'evt_1', type: 'created' }));
const sign = (raw: Buffer) => createHmac('sha256', SECRET).update(raw).digest('hex');

function inlet(
  rawBody: Buffer,
  headers: Record<string, string> = {},
  params: object = { signingSecret: SECRET },
) {
  if (!connector.inlet) throw new Error('the connector has no inlet');
  return connector.inlet({
    headers,
    query: {},
    rawBody,
    params: connector.parseSourceParams(params),
    now: Date.now(),
  });
}

describe('{{displayName}} inlet', () => {
  it('lands a signed event as one record', async () => {
    expect(await inlet(body, { 'x-signature': sign(body) })).toEqual({
      ok: true,
      records: [{ id: 'evt_1', type: 'created' }],
    });
  });

  it('refuses a missing or wrong signature with 401', async () => {
    expect(await inlet(body)).toMatchObject({ ok: false, status: 401 });
    expect(await inlet(body, { 'x-signature': sign(Buffer.from('{}')) })).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it('accepts unsigned events when no signing secret is set, and refuses bodies that are not events', async () => {
    expect(await inlet(body, {}, {})).toMatchObject({ ok: true });
    expect(await inlet(Buffer.from('[{"id":1},{"id":2}]'), {}, {})).toMatchObject({
      ok: true,
      records: [{ id: 1 }, { id: 2 }],
    });
    expect(await inlet(Buffer.from('not json'), {}, {})).toMatchObject({ ok: false, status: 400 });
    expect(await inlet(Buffer.from('[1]'), {}, {})).toMatchObject({ ok: false, status: 400 });
  });
});
