/** Tenants (platform administrators) and a tenant's own security settings. */
import type {
  ApiKeyCreate,
  TenantCreate,
  TenantParams,
  TenantSettings,
  TenantUserCreate,
} from '@mooring/protocol';
import { platformCaller, platformCallerFor, tenantCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';

export const tenantRoutes: RoutePlugin = (app, { services }) => {
  const admin = { auth: 'platform-admin' as const };
  const tags = ['tenants'];
  app.post<{ Body: typeof TenantCreate.static }>(
    '/v1/tenants',
    {
      config: admin,
      schema: {
        ...api('createTenant', 'platform-admin'),
        tags,
        summary: 'Create a tenant',
      },
    },
    async (request, reply) =>
      reply.code(201).send(await services.tenancy.createTenant(platformCaller(request), request.body.name)),
  );
  app.get(
    '/v1/tenants',
    {
      config: admin,
      schema: {
        ...api('listTenants', 'platform-admin'),
        tags,
        summary: 'List tenants',
      },
    },
    async (request) => ({
      items: await services.tenancy.listTenants(platformCaller(request)),
    }),
  );
  app.get<{ Params: typeof TenantParams.static }>(
    '/v1/tenants/:tenantId',
    {
      config: admin,
      schema: {
        ...api('getTenant', 'platform-admin'),
        tags,
        summary: 'Get a tenant',
      },
    },
    async (request) => services.tenancy.getTenant(platformCaller(request), request.params.tenantId),
  );
  app.post<{ Params: typeof TenantParams.static; Body: typeof TenantUserCreate.static }>(
    '/v1/tenants/:tenantId/users',
    {
      config: admin,
      schema: {
        ...api('createTenantUser', 'platform-admin'),
        tags,
        summary: "Create a tenant's user with a password (default grant: owner)",
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
        ...api('createTenantApiKey', 'platform-admin'),
        tags,
        summary: 'Create an API key for a tenant (default grant: owner; secret shown once)',
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
    {
      config: tenant,
      schema: {
        ...api('getCurrentTenant', 'tenant'),
        tags,
        summary: "The caller's tenant and its security settings",
      },
    },
    async (request) => services.tenancy.current(tenantCaller(request)),
  );
  app.patch<{ Body: typeof TenantSettings.static }>(
    '/v1/tenant',
    {
      config: tenant,
      schema: {
        ...api('updateTenantSettings', 'tenant'),
        tags,
        summary: 'Change the security settings (2FA policy, audit retention)',
      },
    },
    async (request) => services.tenancy.updateSettings(tenantCaller(request), request.body),
  );
};
