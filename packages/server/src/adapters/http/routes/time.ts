/** Signed server time for devices that have no clock yet (no credential needed: it reveals nothing). */
import type { TimeQuery } from '@mooring/protocol';
import type { RoutePlugin } from '../context.js';
import { api } from '../openapi.js';

export const timeRoutes: RoutePlugin = (app, { services }) => {
  const tags = ['device-api'];
  app.get<{ Querystring: typeof TimeQuery.static }>(
    '/v1/time',
    {
      config: { auth: 'none' },
      schema: {
        ...api('getTime', 'none'),
        tags,
        summary: 'Server time signed with Ed25519 together with your nonce',
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
        ...api('getTimeKey', 'none'),
        tags,
        summary: 'The public key (SPKI PEM) that signs /v1/time; pin it in firmware',
        security: [],
      },
    },
    async (_request, reply) => reply.type('application/x-pem-file').send(services.time.publicKeyPem),
  );
};
