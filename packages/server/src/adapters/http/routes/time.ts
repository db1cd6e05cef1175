/** Signed server time for devices that have no clock yet (no credential needed: it reveals nothing). */
import { Type } from '@sinclair/typebox';
import { NONCE_PATTERN } from '../../../domains/time/signer.js';
import type { RoutePlugin } from '../context.js';

const Query = Type.Object(
  {
    nonce: Type.String({
      pattern: NONCE_PATTERN.source,
      description: '16–128 random base64url characters chosen by the device',
    }),
  },
  { additionalProperties: false },
);

export const timeRoutes: RoutePlugin = (app, { services }) => {
  const tags = ['device-api'];
  app.get<{ Querystring: typeof Query.static }>(
    '/v1/time',
    {
      config: { auth: 'none' },
      schema: {
        tags,
        summary: 'Server time signed with Ed25519 together with your nonce',
        querystring: Query,
        security: [],
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return services.time.sign(request.query.nonce);
    },
  );
  app.get(
    '/v1/time/key',
    {
      config: { auth: 'none' },
      schema: {
        tags,
        summary: 'The public key (SPKI PEM) that signs /v1/time; pin it in firmware',
        security: [],
      },
    },
    async (_request, reply) => reply.type('application/x-pem-file').send(services.time.publicKeyPem),
  );
};
