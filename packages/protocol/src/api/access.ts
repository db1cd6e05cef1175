/** Permissions, roles and grants as the API carries them. */
import { Type } from '@sinclair/typebox';
import { Answer, MAX_EPOCH_MS, Tag } from './common.js';

/** Every permission, with what it allows. The order is the order of `docs/access-control.md`. */
export const PERMISSIONS = {
  'tenant:read': 'read the tenant and its security settings',
  'tenant:manage': 'change the security settings (2FA policy, audit retention)',
  'users:read': 'list users, invitations, sessions and roles',
  'users:manage': 'invite users, change their grants, reset passwords and 2FA, end sessions',
  'roles:manage': 'create, change and delete custom roles',
  'keys:read': 'list API keys',
  'keys:manage': 'create, rotate and revoke API keys',
  'devices:read': 'read devices, their presence and command history',
  'devices:write': 'register devices and change their name, tags, metadata and status',
  'devices:delete': 'delete devices and their data',
  'devices:credentials': "issue and revoke a device's access keys and registration tokens",
  'devices:command': 'send commands to devices',
  'config:write': "change devices' desired configuration",
  'config:manage': 'create, change and delete configuration schemas',
  'telemetry:read': 'read telemetry, aggregates and device events',
  'alerts:read': 'read alert rules and the alerts of devices',
  'alerts:manage': 'create, change and delete alert rules; acknowledge and resolve alerts',
  'provisioning:read': 'list provisioning operations and provisioning tokens',
  'provisioning:approve': 'approve or reject pending provisioning operations',
  'provisioning:manage': 'create and revoke provisioning tokens',
  'factory:provision': 'run factory bulk-provisioning batches',
  'certificates:read': "read devices' certificates and the tenant's certificate authorities",
  'certificates:manage': 'revoke certificates, register and disable manufacturer CAs',
  'ownership:transfer': 'release devices to another tenant and claim released devices',
  'audit:read': 'query, export and verify the audit trail',
  'integrations:read': 'list webhooks and MQTT bridges, their deliveries and status',
  'integrations:manage':
    'create, change and delete webhooks and MQTT bridges, rotate their secrets, replay deliveries',
  'firmware:read': 'list firmware artifacts and update-signing keys',
  'firmware:manage': 'upload and delete firmware artifacts, add, rotate and revoke update-signing keys',
  'firmware:deploy':
    'create deployments, pause, resume, abort and stop them, and the tenant OTA emergency stop',
} as const;

export type Permission = keyof typeof PERMISSIONS;
export const ALL_PERMISSIONS = Object.keys(PERMISSIONS) as Permission[];

export const UsernameField = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.@+-]+$' });
export const RoleName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9_-]*$' });
export const PermissionField = Type.Union(ALL_PERMISSIONS.map((p) => Type.Literal(p)));
export const PermissionList = Type.Array(PermissionField, { minItems: 1, maxItems: 64, uniqueItems: true });

export const GrantSchema = Type.Object(
  {
    role: Type.Optional(RoleName),
    permissions: Type.Optional(PermissionList),
    scope: Type.Optional(
      Type.Union([
        Type.Object({}, { additionalProperties: false }),
        Type.Object({ tag: Tag }, { additionalProperties: false }),
        Type.Object(
          { deviceId: Type.String({ minLength: 1, maxLength: 64 }) },
          { additionalProperties: false },
        ),
      ]),
    ),
  },
  {
    additionalProperties: false,
    description: 'a role or a list of permissions, over the tenant (no scope), a tag or a device',
  },
);
export const GrantList = Type.Array(GrantSchema, { minItems: 1, maxItems: 32 });

/** A grant as it applies: the permissions a role resolved to, over a scope. */
export const EffectiveGrant = Answer({
  permissions: Type.Array(PermissionField),
  scope: Type.Union([Answer({}), Answer({ tag: Type.String() }), Answer({ deviceId: Type.String() })]),
});

export const RoleDefinition = Answer({
  name: Type.String(),
  description: Type.String(),
  permissions: Type.Array(PermissionField),
  builtIn: Type.Boolean(),
});

export const ApiKeyCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f]+$' }),
    role: Type.Optional(RoleName),
    permissions: Type.Optional(PermissionList),
    grants: Type.Optional(GrantList),
    expiresAt: Type.Optional(
      Type.Integer({ minimum: 0, maximum: MAX_EPOCH_MS, description: 'epoch milliseconds' }),
    ),
  },
  { additionalProperties: false },
);
