import { Type } from '@sinclair/typebox';
import { tenantCaller, type RoutePlugin } from '../context.js';

const Name = Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f]+$' });
const TenantCreate = Type.Object({ name: Name }, { additionalProperties: false });
const TenantParams = Type.Object({ tenantId: Type.String({ maxLength: 64 }) });
const UserCreate = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.@+-]+$' }),
    password: Type.String({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
);
const ApiKeyCreate = Type.Object({ name: Name }, { additionalProperties: false });
const KeyParams = Type.Object({ keyId: Type.String({ maxLength: 64 }) });

export const tenantRoutes: RoutePlugin = (app, { services }) => {
  const admin = { auth: 'platform-admin' as const };
  app.post<{ Body: typeof TenantCreate.static }>(
    '/v1/tenants',
    { config: admin, schema: { tags: ['tenants'], summary: 'Create a tenant', body: TenantCreate } },
    async (request, reply) => reply.code(201).send(await services.tenancy.createTenant(request.body.name)),
  );
  app.get(
    '/v1/tenants',
    { config: admin, schema: { tags: ['tenants'], summary: 'List tenants' } },
    async () => ({
      items: await services.tenancy.listTenants(),
    }),
  );
  app.get<{ Params: typeof TenantParams.static }>(
    '/v1/tenants/:tenantId',
    { config: admin, schema: { tags: ['tenants'], summary: 'Get a tenant', params: TenantParams } },
    async (request) => services.tenancy.getTenant(request.params.tenantId),
  );
  app.post<{ Params: typeof TenantParams.static; Body: typeof UserCreate.static }>(
    '/v1/tenants/:tenantId/users',
    {
      config: admin,
      schema: {
        tags: ['tenants'],
        summary: 'Create a user in a tenant',
        params: TenantParams,
        body: UserCreate,
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await services.tenancy.createUser({ tenantId: request.params.tenantId, ...request.body })),
  );
  app.post<{ Params: typeof TenantParams.static; Body: typeof ApiKeyCreate.static }>(
    '/v1/tenants/:tenantId/api-keys',
    {
      config: admin,
      schema: {
        tags: ['tenants'],
        summary: 'Create an API key for a tenant (secret shown once)',
        params: TenantParams,
        body: ApiKeyCreate,
      },
    },
    async (request, reply) =>
      reply.code(201).send(await services.tenancy.createApiKey(request.params.tenantId, request.body.name)),
  );

  const tenant = { auth: 'tenant' as const };
  app.get(
    '/v1/api-keys',
    { config: tenant, schema: { tags: ['api-keys'], summary: "List the tenant's API keys" } },
    async (request) => ({
      items: await services.tenancy.listApiKeys(tenantCaller(request).tenantId),
    }),
  );
  app.post<{ Body: typeof ApiKeyCreate.static }>(
    '/v1/api-keys',
    {
      config: tenant,
      schema: { tags: ['api-keys'], summary: 'Create an API key (secret shown once)', body: ApiKeyCreate },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await services.tenancy.createApiKey(tenantCaller(request).tenantId, request.body.name)),
  );
  app.delete<{ Params: typeof KeyParams.static }>(
    '/v1/api-keys/:keyId',
    { config: tenant, schema: { tags: ['api-keys'], summary: 'Revoke an API key', params: KeyParams } },
    async (request, reply) => {
      await services.tenancy.revokeApiKey(tenantCaller(request).tenantId, request.params.keyId);
      return reply.code(204).send();
    },
  );
};
