/** A tenant's users, invitations, password-reset links, sessions, and custom roles. */
import { Type } from '@sinclair/typebox';
import { tenantCaller, type RoutePlugin } from '../context.js';
import { GrantList, PermissionList, RoleName } from './schemas.js';

const UserParams = Type.Object({ userId: Type.String({ maxLength: 64 }) });
const UserSessionParams = Type.Object({
  userId: Type.String({ maxLength: 64 }),
  sessionId: Type.String({ maxLength: 64 }),
});
const UserPatch = Type.Object(
  { grants: Type.Optional(GrantList), disabled: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);
const Invite = Type.Object(
  {
    grants: GrantList,
    note: Type.Optional(Type.String({ maxLength: 256 })),
    expiresInHours: Type.Optional(Type.Integer({ minimum: 1, maximum: 720 })),
  },
  { additionalProperties: false },
);
const InvitationParams = Type.Object({ invitationId: Type.String({ maxLength: 64 }) });
const RoleParams = Type.Object({ name: RoleName });
const RoleCreate = Type.Object(
  {
    name: RoleName,
    description: Type.Optional(Type.String({ maxLength: 256 })),
    permissions: PermissionList,
  },
  { additionalProperties: false },
);
const RoleUpdate = Type.Object(
  { description: Type.Optional(Type.String({ maxLength: 256 })), permissions: PermissionList },
  { additionalProperties: false },
);

export const userRoutes: RoutePlugin = (app, { services }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['users'];
  const { users, roles } = services;

  app.get('/v1/users', { config, schema: { tags, summary: "List the tenant's users" } }, async (request) => ({
    items: await users.list(tenantCaller(request)),
  }));
  app.get<{ Params: typeof UserParams.static }>(
    '/v1/users/:userId',
    { config, schema: { tags, summary: 'Get a user', params: UserParams } },
    async (request) => users.get(tenantCaller(request), request.params.userId),
  );
  app.patch<{ Params: typeof UserParams.static; Body: typeof UserPatch.static }>(
    '/v1/users/:userId',
    {
      config,
      schema: {
        tags,
        summary: "Change a user's grants, or disable it (ends its sessions)",
        params: UserParams,
        body: UserPatch,
      },
    },
    async (request) => users.update(tenantCaller(request), request.params.userId, request.body),
  );
  app.delete<{ Params: typeof UserParams.static }>(
    '/v1/users/:userId',
    { config, schema: { tags, summary: 'Delete a user', params: UserParams } },
    async (request, reply) => {
      await users.delete(tenantCaller(request), request.params.userId);
      return reply.code(204).send();
    },
  );
  app.post<{ Params: typeof UserParams.static }>(
    '/v1/users/:userId/password-reset',
    {
      config,
      schema: {
        tags,
        summary: 'Issue a one-time password-reset token (valid 1 h; shown once)',
        params: UserParams,
      },
    },
    async (request, reply) =>
      reply.code(201).send(await users.issuePasswordReset(tenantCaller(request), request.params.userId)),
  );
  app.get<{ Params: typeof UserParams.static }>(
    '/v1/users/:userId/sessions',
    { config, schema: { tags, summary: "A user's live sessions", params: UserParams } },
    async (request) => ({ items: await users.listSessions(tenantCaller(request), request.params.userId) }),
  );
  app.delete<{ Params: typeof UserParams.static }>(
    '/v1/users/:userId/sessions',
    { config, schema: { tags, summary: "End all of a user's sessions", params: UserParams } },
    async (request) => ({ ended: await users.revokeSessions(tenantCaller(request), request.params.userId) }),
  );
  app.delete<{ Params: typeof UserSessionParams.static }>(
    '/v1/users/:userId/sessions/:sessionId',
    { config, schema: { tags, summary: "End one of a user's sessions", params: UserSessionParams } },
    async (request, reply) => {
      await users.revokeSessions(tenantCaller(request), request.params.userId, request.params.sessionId);
      return reply.code(204).send();
    },
  );
  app.delete<{ Params: typeof UserParams.static }>(
    '/v1/users/:userId/totp',
    { config, schema: { tags, summary: "Remove a user's second factor (lost device)", params: UserParams } },
    async (request, reply) => {
      await users.resetTotp(tenantCaller(request), request.params.userId);
      return reply.code(204).send();
    },
  );
  app.delete<{ Params: typeof UserParams.static }>(
    '/v1/users/:userId/lockout',
    {
      config,
      schema: {
        tags,
        summary: "Lift the login lockout of a user's name (after repeated failed logins)",
        params: UserParams,
      },
    },
    async (request, reply) => {
      await users.unlock(tenantCaller(request), request.params.userId);
      return reply.code(204).send();
    },
  );

  app.get('/v1/invitations', { config, schema: { tags, summary: 'List invitations' } }, async (request) => ({
    items: await users.listInvitations(tenantCaller(request)),
  }));
  app.post<{ Body: typeof Invite.static }>(
    '/v1/invitations',
    {
      config,
      schema: { tags, summary: 'Invite a user with grants (the token is shown once)', body: Invite },
    },
    async (request, reply) => reply.code(201).send(await users.invite(tenantCaller(request), request.body)),
  );
  app.delete<{ Params: typeof InvitationParams.static }>(
    '/v1/invitations/:invitationId',
    { config, schema: { tags, summary: 'Revoke an open invitation', params: InvitationParams } },
    async (request, reply) => {
      await users.revokeInvitation(tenantCaller(request), request.params.invitationId);
      return reply.code(204).send();
    },
  );

  const roleTags = ['roles'];
  app.get(
    '/v1/roles',
    { config, schema: { tags: roleTags, summary: 'Built-in and custom roles' } },
    async (request) => ({
      items: await roles.list(tenantCaller(request)),
    }),
  );
  app.post<{ Body: typeof RoleCreate.static }>(
    '/v1/roles',
    { config, schema: { tags: roleTags, summary: 'Create a custom role', body: RoleCreate } },
    async (request, reply) => reply.code(201).send(await roles.create(tenantCaller(request), request.body)),
  );
  app.put<{ Params: typeof RoleParams.static; Body: typeof RoleUpdate.static }>(
    '/v1/roles/:name',
    {
      config,
      schema: { tags: roleTags, summary: 'Change a custom role', params: RoleParams, body: RoleUpdate },
    },
    async (request) => roles.update(tenantCaller(request), request.params.name, request.body),
  );
  app.delete<{ Params: typeof RoleParams.static }>(
    '/v1/roles/:name',
    { config, schema: { tags: roleTags, summary: 'Delete a custom role', params: RoleParams } },
    async (request, reply) => {
      await roles.delete(tenantCaller(request), request.params.name);
      return reply.code(204).send();
    },
  );
};
