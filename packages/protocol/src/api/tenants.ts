/** Tenants (platform administrators) and a tenant's own security settings. */
import { Type } from '@sinclair/typebox';
import { Answer, EpochMs, IdParam, ItemsOf, Nullable, operation } from './common.js';
import { ApiKeyCreate, GrantList, UsernameField } from './access.js';
import { User } from './users.js';
import { ApiKeyWithSecret } from './api-keys.js';

export const Tenant = Answer({
  id: Type.String(),
  name: Type.String(),
  createdAt: EpochMs,
  requireTotp: Type.Boolean({ description: 'every user must log in with a second factor' }),
  auditRetentionDays: Nullable(
    Type.Integer({ minimum: 0, maximum: 36500, description: 'null: audit records are kept forever' }),
  ),
});

const Name = Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f]+$' });
export const TenantCreate = Type.Object({ name: Name }, { additionalProperties: false });
export const TenantParams = Type.Object({ tenantId: IdParam });
export const TenantUserCreate = Type.Object(
  {
    username: UsernameField,
    password: Type.String({ minLength: 1, maxLength: 256 }),
    grants: Type.Optional(GrantList),
  },
  { additionalProperties: false },
);
export const TenantSettings = Type.Object(
  {
    requireTotp: Type.Optional(Type.Boolean()),
    auditRetentionDays: Type.Optional(
      Type.Union([Type.Integer({ minimum: 30, maximum: 3650 }), Type.Null()]),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const tenantOperations = {
  createTenant: operation({
    method: 'POST',
    path: '/v1/tenants',
    body: TenantCreate,
    responses: { 201: Tenant },
  }),
  listTenants: operation({ method: 'GET', path: '/v1/tenants', responses: { 200: ItemsOf(Tenant) } }),
  getTenant: operation({
    method: 'GET',
    path: '/v1/tenants/{tenantId}',
    params: TenantParams,
    responses: { 200: Tenant },
  }),
  createTenantUser: operation({
    method: 'POST',
    path: '/v1/tenants/{tenantId}/users',
    params: TenantParams,
    body: TenantUserCreate,
    responses: { 201: User },
  }),
  createTenantApiKey: operation({
    method: 'POST',
    path: '/v1/tenants/{tenantId}/api-keys',
    params: TenantParams,
    body: ApiKeyCreate,
    responses: { 201: ApiKeyWithSecret },
  }),
  getCurrentTenant: operation({ method: 'GET', path: '/v1/tenant', responses: { 200: Tenant } }),
  updateTenantSettings: operation({
    method: 'PATCH',
    path: '/v1/tenant',
    body: TenantSettings,
    responses: { 200: Tenant },
  }),
};
