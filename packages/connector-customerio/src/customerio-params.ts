import { secret } from '@inflow/core';
import { z } from 'zod';

/**
 * The source connection's `params`. With a signing key, the inlet verifies every webhook's
 * `X-CIO-Signature` (HMAC-SHA256 of `v0:{X-CIO-Timestamp}:{body}`) and refuses the rest.
 */
export const customerioSourceParams = z.object({
  webhookSigningKey: secret('The Reporting Webhook signing key from Customer.io').optional(),
});

export type CustomerioSourceParams = z.output<typeof customerioSourceParams>;
