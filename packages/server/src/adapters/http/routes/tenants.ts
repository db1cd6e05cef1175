/** Tenants (platform administrators) and a tenant's own security settings. */
import { Type } from '@sinclair/typebox';
import { platformCaller, platformCallerFor, tenantCaller, type RoutePlugin } from '../context.js';
import { ApiKeyCreate, GrantList, UsernameField } from './schemas.js';

const Name = Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f]+$' });
const TenantCreate = Type.Object({ name: Name }, { additionalProperties: false });
const TenantParams = Type.Object({ tenantId: Type.String({ maxLength: 64 }) });
const UserCreate = Type.Object(
  {
    username: UsernameField,
    password: Type.String({ minLength: 1, maxLength: 256 }),
    grants: Type.Optional(GrantList),
  },
  { additionalProperties: false },
);
const Settings = Type.Object(
  {
    requireTotp: Type.Optional(Type.Boolean()),
    auditRetentionDays: Type.Optional(
      Type.Union([Type.Integer({ minimum: 30, maximum: 3650 }), Type.Null()]),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const tenantRoutes: RoutePlugin = (app, { services }) => {
  const admin = { auth: 'platform-admin' as const };
  const tags = ['tenants'];
  app.post<{ Body: typeof TenantCreate.static }>(
    '/v1/tenants',
    { config: admin, schema: { tags, summary: 'Create a tenant', body: TenantCreate } },
    async (request, reply) =>
      reply.code(201).send(await services.tenancy.createTenant(platformCaller(request), request.body.name)),
  );
  app.get('/v1/tenants', { config: admin, schema: { tags, summary: 'List tenants' } }, async (request) => ({
    items: await services.tenancy.listTenants(platformCaller(request)),
  }));
  app.get<{ Params: typeof TenantParams.static }>(
    '/v1/tenants/:tenantId',
    { config: admin, schema: { tags, summary: 'Get a tenant', params: TenantParams } },
    async (request) => services.tenancy.getTenant(platformCaller(request), request.params.tenantId),
  );
  app.post<{ Params: typeof TenantParams.static; Body: typeof UserCreate.static }>(
    '/v1/tenants/:tenantId/users',
    {
      config: admin,
      schema: {
        tags,
        summary: "Create a tenant's user with a password (default grant: owner)",
        params: TenantParams,
        body: UserCreate,
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await services.users.createUser(platformCallerFor(request, request.params.tenantId), request.body),
        ),
  );
  app.post<{ Params: typeof TenantParams.static; Body: typeof ApiKeyCreate.static }>(
    '/v1/tenants/:tenantId/api-keys',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Create an API key for a tenant (default grant: owner; secret shown once)',
        params: TenantParams,
        body: ApiKeyCreate,
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await services.apiKeys.create(platformCallerFor(request, request.params.tenantId), request.body),
        ),
  );

  const tenant = { auth: 'tenant' as const };
  app.get(
    '/v1/tenant',
    { config: tenant, schema: { tags, summary: "The caller's tenant and its security settings" } },
    async (request) => services.tenancy.current(tenantCaller(request)),
  );
  app.patch<{ Body: typeof Settings.static }>(
    '/v1/tenant',
    {
      config: tenant,
      schema: { tags, summary: 'Change the security settings (2FA policy, audit retention)', body: Settings },
    },
    async (request) => services.tenancy.updateSettings(tenantCaller(request), request.body),
  );
};
