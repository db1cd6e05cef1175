/** A tenant's API keys: scoped grants, expiry, rotation with overlap, revocation. */
import type { ApiKeyCreate, ApiKeyParams, ApiKeyRotate } from '@mooring/protocol';
import { tenantCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';

export const apiKeyRoutes: RoutePlugin = (app, { services }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['api-keys'];
  const keys = services.apiKeys;
  app.get(
    '/v1/api-keys',
    {
      config,
      schema: {
        ...api('listApiKeys', config.auth),
        tags,
        summary: "List the tenant's API keys",
      },
    },
    async (request) => ({
      items: await keys.list(tenantCaller(request)),
    }),
  );
  app.post<{ Body: typeof ApiKeyCreate.static }>(
    '/v1/api-keys',
    {
      config,
      schema: {
        ...api('createApiKey', config.auth),
        tags,
        summary:
          'Create an API key with a role, permissions or grants (nothing by default; secret shown once)',
      },
    },
    async (request, reply) => reply.code(201).send(await keys.create(tenantCaller(request), request.body)),
  );
  app.get<{ Params: typeof ApiKeyParams.static }>(
    '/v1/api-keys/:keyId',
    {
      config,
      schema: {
        ...api('getApiKey', config.auth),
        tags,
        summary: 'Get an API key (never its secret)',
      },
    },
    async (request) => keys.get(tenantCaller(request), request.params.keyId),
  );
  app.post<{ Params: typeof ApiKeyParams.static; Body: typeof ApiKeyRotate.static }>(
    '/v1/api-keys/:keyId/rotate',
    {
      config,
      schema: {
        ...api('rotateApiKey', config.auth),
        tags,
        summary: 'A new secret for the key; the old one works for overlapSeconds more',
      },
    },
    async (request) => keys.rotate(tenantCaller(request), request.params.keyId, request.body.overlapSeconds),
  );
  app.delete<{ Params: typeof ApiKeyParams.static }>(
    '/v1/api-keys/:keyId',
    {
      config,
      schema: {
        ...api('revokeApiKey', config.auth),
        tags,
        summary: 'Revoke an API key (at once)',
      },
    },
    async (request, reply) => {
      await keys.revoke(tenantCaller(request), request.params.keyId);
      return reply.code(204).send();
    },
  );
};
