/** Request schemas shared by several route modules. */
import { Type } from '@sinclair/typebox';
import { ALL_PERMISSIONS } from '../../../domains/access/access.js';

/**
 * Every number a request carries declares its range, so that no value past what the store or the
 * clock can hold reaches a service (a test walks the OpenAPI document for this). Services apply their
 * own, usually lower, limits on top.
 */
/** Longest lifetime or age a request may name (ten years), in seconds. */
export const MAX_DURATION_SECONDS = 10 * 365 * 86_400;
/** Latest instant a request may name, 9999-12-31T23:59:59.999Z, in epoch milliseconds. */
export const MAX_EPOCH_MS = 253_402_300_799_999;

export const UsernameField = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.@+-]+$' });
export const RoleName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9_-]*$' });
export const PermissionField = Type.Union(ALL_PERMISSIONS.map((p) => Type.Literal(p)));
export const PermissionList = Type.Array(PermissionField, { minItems: 1, maxItems: 64, uniqueItems: true });
const Tag = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:=-]+$' });

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
