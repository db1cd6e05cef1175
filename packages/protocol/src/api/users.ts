/** A tenant's users, invitations, password-reset links, sessions, and custom roles. */
import { Type } from '@sinclair/typebox';
import {
  Answer,
  EpochMs,
  IdParam,
  ItemsOf,
  NoContent,
  Nullable,
  NullableEpochMs,
  operation,
} from './common.js';
import { GrantList, GrantSchema, PermissionList, RoleDefinition, RoleName } from './access.js';

export const User = Answer({
  id: Type.String(),
  tenantId: Nullable(Type.String()),
  username: Type.String(),
  platformAdmin: Type.Boolean(),
  grants: Type.Array(GrantSchema),
  totpEnabled: Type.Boolean(),
  disabled: Type.Boolean(),
  passwordChangeRequired: Type.Boolean(),
  createdAt: EpochMs,
  lastLoginAt: NullableEpochMs,
});
export const Session = Answer({
  id: Type.String(),
  createdAt: EpochMs,
  expiresAt: EpochMs,
  lastSeenAt: NullableEpochMs,
  source: Nullable(Type.String()),
  userAgent: Nullable(Type.String()),
  restricted: Type.Boolean(),
});
export const Invitation = Answer({
  id: Type.String(),
  tenantId: Type.String(),
  grants: Type.Array(GrantSchema),
  note: Nullable(Type.String()),
  createdBy: Type.String(),
  createdAt: EpochMs,
  expiresAt: EpochMs,
  acceptedAt: NullableEpochMs,
  acceptedUserId: Nullable(Type.String()),
  revokedAt: NullableEpochMs,
});

export const UserParams = Type.Object({ userId: IdParam });
export const UserSessionParams = Type.Object({ userId: IdParam, sessionId: IdParam });
export const UserPatch = Type.Object(
  { grants: Type.Optional(GrantList), disabled: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);
export const Invite = Type.Object(
  {
    grants: GrantList,
    note: Type.Optional(Type.String({ maxLength: 256 })),
    expiresInHours: Type.Optional(Type.Integer({ minimum: 1, maximum: 720 })),
  },
  { additionalProperties: false },
);
export const InvitationParams = Type.Object({ invitationId: IdParam });
export const RoleParams = Type.Object({ name: RoleName });
export const RoleCreate = Type.Object(
  {
    name: RoleName,
    description: Type.Optional(Type.String({ maxLength: 256 })),
    permissions: PermissionList,
  },
  { additionalProperties: false },
);
export const RoleUpdate = Type.Object(
  { description: Type.Optional(Type.String({ maxLength: 256 })), permissions: PermissionList },
  { additionalProperties: false },
);

export const userOperations = {
  listUsers: operation({ method: 'GET', path: '/v1/users', responses: { 200: ItemsOf(User) } }),
  getUser: operation({
    method: 'GET',
    path: '/v1/users/{userId}',
    params: UserParams,
    responses: { 200: User },
  }),
  updateUser: operation({
    method: 'PATCH',
    path: '/v1/users/{userId}',
    params: UserParams,
    body: UserPatch,
    responses: { 200: User },
  }),
  deleteUser: operation({
    method: 'DELETE',
    path: '/v1/users/{userId}',
    params: UserParams,
    responses: { 204: NoContent },
  }),
  issuePasswordReset: operation({
    method: 'POST',
    path: '/v1/users/{userId}/password-reset',
    params: UserParams,
    responses: {
      201: Answer({ token: Type.String({ description: 'one-time; shown once' }), expiresAt: EpochMs }),
    },
  }),
  listUserSessions: operation({
    method: 'GET',
    path: '/v1/users/{userId}/sessions',
    params: UserParams,
    responses: { 200: ItemsOf(Session) },
  }),
  endUserSessions: operation({
    method: 'DELETE',
    path: '/v1/users/{userId}/sessions',
    params: UserParams,
    responses: {
      200: Answer({ ended: Type.Integer({ minimum: 0, description: 'how many sessions ended' }) }),
    },
  }),
  endUserSession: operation({
    method: 'DELETE',
    path: '/v1/users/{userId}/sessions/{sessionId}',
    params: UserSessionParams,
    responses: { 204: NoContent },
  }),
  resetUserTotp: operation({
    method: 'DELETE',
    path: '/v1/users/{userId}/totp',
    params: UserParams,
    responses: { 204: NoContent },
  }),
  unlockUser: operation({
    method: 'DELETE',
    path: '/v1/users/{userId}/lockout',
    params: UserParams,
    responses: { 204: NoContent },
  }),
  listInvitations: operation({
    method: 'GET',
    path: '/v1/invitations',
    responses: { 200: ItemsOf(Invitation) },
  }),
  createInvitation: operation({
    method: 'POST',
    path: '/v1/invitations',
    body: Invite,
    responses: {
      201: Answer({ invitation: Invitation, token: Type.String({ description: 'one-time; shown once' }) }),
    },
  }),
  revokeInvitation: operation({
    method: 'DELETE',
    path: '/v1/invitations/{invitationId}',
    params: InvitationParams,
    responses: { 204: NoContent },
  }),
  listRoles: operation({ method: 'GET', path: '/v1/roles', responses: { 200: ItemsOf(RoleDefinition) } }),
  createRole: operation({
    method: 'POST',
    path: '/v1/roles',
    body: RoleCreate,
    responses: { 201: RoleDefinition },
  }),
  updateRole: operation({
    method: 'PUT',
    path: '/v1/roles/{name}',
    params: RoleParams,
    body: RoleUpdate,
    responses: { 200: RoleDefinition },
  }),
  deleteRole: operation({
    method: 'DELETE',
    path: '/v1/roles/{name}',
    params: RoleParams,
    responses: { 204: NoContent },
  }),
};
