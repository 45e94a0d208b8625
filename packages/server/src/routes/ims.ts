import { randomUUID } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { signToken } from '../crypto.js';
import type { RouteTable } from '../http/route.js';
import type { Services } from '../services.js';

const oauthError = (reply: FastifyReply, status: number, error: string, description: string) =>
  reply.code(status).send({ error, error_description: description });

/** `POST /ims/token/v3`: OAuth server-to-server client credentials, as Adobe IMS answers them. */
export function registerIms(table: RouteTable, services: Services): void {
  table.add({
    method: 'POST',
    url: '/ims/token/v3',
    operationId: 'imsToken',
    summary: 'Get an access token with client credentials (form-encoded; query parameters also accepted)',
    tag: 'IMS',
    auth: 'none',
    body: z.object({
      grant_type: z.literal('client_credentials'),
      client_id: z.string(),
      client_secret: z.string(),
      scope: z.string().optional(),
    }),
    responses: {
      200: { description: '{access_token, token_type, expires_in (seconds)}' },
      400: { description: 'invalid_request / unsupported_grant_type' },
      401: { description: 'invalid_client' },
    },
    handler: async (req, reply) => {
      const fields = {
        ...(req.query as Record<string, string>),
        ...((req.body as Record<string, unknown> | undefined) ?? {}),
      };
      const grant = fields.grant_type;
      if (grant !== 'client_credentials') {
        return oauthError(
          reply,
          400,
          grant ? 'unsupported_grant_type' : 'invalid_request',
          'grant_type must be client_credentials',
        );
      }
      const clientId = typeof fields.client_id === 'string' ? fields.client_id : '';
      const secret = typeof fields.client_secret === 'string' ? fields.client_secret : '';
      if (!clientId) return oauthError(reply, 400, 'invalid_request', 'missing client_id parameter');
      if (!secret) return oauthError(reply, 400, 'invalid_request', 'missing client_secret parameter');
      const client = await services.tenancy.verifyClient(clientId, secret);
      if (!client)
        return oauthError(reply, 401, 'invalid_client', 'invalid client_id or client_secret parameter');
      const iat = Math.floor(services.now() / 1000);
      const ttl = services.config.tokenTtlSeconds;
      const token = signToken(services.keys.tokenKey, {
        client: clientId,
        org: client.orgId,
        iat,
        exp: iat + ttl,
        jti: randomUUID(),
      });
      return { access_token: token, token_type: 'bearer', expires_in: ttl };
    },
  });
}
