import { createHmac, timingSafeEqual } from 'node:crypto';
import type { InletRequest, InletResult } from '@inflow/core';
import type { CustomerioSourceParams } from './customerio-params.js';

/** How far `X-CIO-Timestamp` may be from the server's clock, either way: 5 minutes, in ms. */
export const CUSTOMERIO_REPLAY_WINDOW_MS = 5 * 60 * 1000;

const SIGNATURE_HEADER = 'x-cio-signature';
const TIMESTAMP_HEADER = 'x-cio-timestamp';
/** A hex SHA-256 digest: 32 bytes; either case, as senders differ. */
const HEX_DIGEST = /^[0-9a-fA-F]{64}$/;
/** Unix seconds; 12 digits is far beyond any real clock and keeps the arithmetic exact. */
const UNIX_SECONDS = /^\d{1,12}$/;

/**
 * `X-CIO-Signature` for a body: hex HMAC-SHA256 under the signing key of
 * `v0:{timestamp}:{raw body}`. Exported for clients and examples that sign test webhooks.
 */
export function customerioSignature(signingKey: string, timestamp: string, rawBody: Buffer | string): string {
  return createHmac('sha256', signingKey).update(`v0:${timestamp}:`).update(rawBody).digest('hex');
}

/** A header by name in any case: Node lowercases names, other callers may not. */
function header(headers: InletRequest<unknown>['headers'], name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}

const refuse = (status: 400 | 401, message: string): InletResult => ({ ok: false, status, message });

/**
 * Checks the signature headers against the key. The signature is verified before the timestamp
 * is trusted (it covers the timestamp), then the timestamp must be within the replay window.
 * Messages name the header at fault and never carry the key or the expected signature.
 */
function verify(request: InletRequest<CustomerioSourceParams>, signingKey: string): InletResult | undefined {
  const timestamp = header(request.headers, TIMESTAMP_HEADER)?.trim();
  const signature = header(request.headers, SIGNATURE_HEADER)?.trim();
  if (!timestamp) {
    return refuse(
      401,
      'the X-CIO-Timestamp header is missing: this source connection has a webhookSigningKey, so only webhooks signed by Customer.io are accepted',
    );
  }
  if (!signature) {
    return refuse(
      401,
      'the X-CIO-Signature header is missing: this source connection has a webhookSigningKey, so only webhooks signed by Customer.io are accepted',
    );
  }
  if (!UNIX_SECONDS.test(timestamp)) {
    return refuse(401, 'the X-CIO-Timestamp header is not a Unix time in seconds');
  }
  if (!HEX_DIGEST.test(signature)) {
    return refuse(401, 'the X-CIO-Signature header is not a hex HMAC-SHA256 (64 hex digits)');
  }
  const expected = createHmac('sha256', signingKey)
    .update(`v0:${timestamp}:`)
    .update(request.rawBody)
    .digest();
  // Both are 32 bytes (the regex above), as timingSafeEqual requires.
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
    return refuse(
      401,
      'the X-CIO-Signature header does not match the body: check that webhookSigningKey on the source connection is the signing key of this Customer.io Reporting Webhook',
    );
  }
  const skew = Number(timestamp) * 1000 - request.now;
  if (skew < -CUSTOMERIO_REPLAY_WINDOW_MS) {
    return refuse(
      401,
      'the X-CIO-Timestamp header is more than 5 minutes old: a replayed webhook, or the sender’s clock is behind',
    );
  }
  if (skew > CUSTOMERIO_REPLAY_WINDOW_MS) {
    return refuse(
      401,
      'the X-CIO-Timestamp header is more than 5 minutes in the future: the sender’s clock is ahead',
    );
  }
  return undefined;
}

/**
 * The Customer.io inlet: one Reporting Webhook event (a JSON object) per request, landed as one
 * record. With `webhookSigningKey` set, unsigned, mis-signed and stale requests are refused
 * (401) before the body is read; without it every well-formed event is accepted, since there
 * is nothing to check the signature against.
 */
export async function customerioInlet(request: InletRequest<CustomerioSourceParams>): Promise<InletResult> {
  const signingKey = request.params.webhookSigningKey;
  if (signingKey) {
    const refused = verify(request, signingKey);
    if (refused) return refused;
  }
  let event: unknown;
  try {
    event = JSON.parse(request.rawBody.toString('utf8'));
  } catch (error) {
    return refuse(400, `the body is not JSON: ${(error as Error).message}`);
  }
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    const got = event === null ? 'null' : Array.isArray(event) ? 'an array' : `a ${typeof event}`;
    return refuse(400, `a Customer.io webhook body is one event object, got ${got}`);
  }
  return { ok: true, records: [event as Record<string, unknown>] };
}
