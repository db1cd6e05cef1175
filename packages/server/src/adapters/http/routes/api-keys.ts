/** A tenant's API keys: scoped grants, expiry, rotation with overlap, revocation. */
import { Type } from '@sinclair/typebox';
import { MAX_ROTATION_OVERLAP_SECONDS } from '../../../domains/api-keys/api-keys.js';
import { tenantCaller, type RoutePlugin } from '../context.js';
import { ApiKeyCreate } from './schemas.js';

const KeyParams = Type.Object({ keyId: Type.String({ maxLength: 64 }) });
const Rotate = Type.Object(
  {
    overlapSeconds: Type.Integer({
      minimum: 0,
      maximum: MAX_ROTATION_OVERLAP_SECONDS,
      description: 'how long the previous secret keeps working',
    }),
  },
  { additionalProperties: false },
);

export const apiKeyRoutes: RoutePlugin = (app, { services }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['api-keys'];
  const keys = services.apiKeys;
  app.get(
    '/v1/api-keys',
    { config, schema: { tags, summary: "List the tenant's API keys" } },
    async (request) => ({
      items: await keys.list(tenantCaller(request)),
    }),
  );
  app.post<{ Body: typeof ApiKeyCreate.static }>(
    '/v1/api-keys',
    {
      config,
      schema: {
        tags,
        summary:
          'Create an API key with a role, permissions or grants (nothing by default; secret shown once)',
        body: ApiKeyCreate,
      },
    },
    async (request, reply) => reply.code(201).send(await keys.create(tenantCaller(request), request.body)),
  );
  app.get<{ Params: typeof KeyParams.static }>(
    '/v1/api-keys/:keyId',
    { config, schema: { tags, summary: 'Get an API key (never its secret)', params: KeyParams } },
    async (request) => keys.get(tenantCaller(request), request.params.keyId),
  );
  app.post<{ Params: typeof KeyParams.static; Body: typeof Rotate.static }>(
    '/v1/api-keys/:keyId/rotate',
    {
      config,
      schema: {
        tags,
        summary: 'A new secret for the key; the old one works for overlapSeconds more',
        params: KeyParams,
        body: Rotate,
      },
    },
    async (request) => keys.rotate(tenantCaller(request), request.params.keyId, request.body.overlapSeconds),
  );
  app.delete<{ Params: typeof KeyParams.static }>(
    '/v1/api-keys/:keyId',
    { config, schema: { tags, summary: 'Revoke an API key (at once)', params: KeyParams } },
    async (request, reply) => {
      await keys.revoke(tenantCaller(request), request.params.keyId);
      return reply.code(204).send();
    },
  );
};
