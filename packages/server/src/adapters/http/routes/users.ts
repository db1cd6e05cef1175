/** A tenant's users, invitations, password-reset links, sessions, and custom roles. */
import type {
  InvitationParams,
  Invite,
  RoleCreate,
  RoleParams,
  RoleUpdate,
  UserParams,
  UserPatch,
  UserSessionParams,
} from '@mooring/protocol';
import { tenantCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';

export const userRoutes: RoutePlugin = (app, { services }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['users'];
  const { users, roles } = services;

  app.get(
    '/v1/users',
    {
      config,
      schema: {
        ...api('listUsers', config.auth),
        tags,
        summary: "List the tenant's users",
      },
    },
    async (request) => ({
      items: await users.list(tenantCaller(request)),
    }),
  );
  app.get<{ Params: typeof UserParams.static }>(
    '/v1/users/:userId',
    {
      config,
      schema: {
        ...api('getUser', config.auth),
        tags,
        summary: 'Get a user',
      },
    },
    async (request) => users.get(tenantCaller(request), request.params.userId),
  );
  app.patch<{ Params: typeof UserParams.static; Body: typeof UserPatch.static }>(
    '/v1/users/:userId',
    {
      config,
      schema: {
        ...api('updateUser', config.auth),
        tags,
        summary: "Change a user's grants, or disable it (ends its sessions)",
      },
    },
    async (request) => users.update(tenantCaller(request), request.params.userId, request.body),
  );
  app.delete<{ Params: typeof UserParams.static }>(
    '/v1/users/:userId',
    {
      config,
      schema: {
        ...api('deleteUser', config.auth),
        tags,
        summary: 'Delete a user',
      },
    },
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
        ...api('issuePasswordReset', config.auth),
        tags,
        summary: 'Issue a one-time password-reset token (valid 1 h; shown once)',
      },
    },
    async (request, reply) =>
      reply.code(201).send(await users.issuePasswordReset(tenantCaller(request), request.params.userId)),
  );
  app.get<{ Params: typeof UserParams.static }>(
    '/v1/users/:userId/sessions',
    {
      config,
      schema: {
        ...api('listUserSessions', config.auth),
        tags,
        summary: "A user's live sessions",
      },
    },
    async (request) => ({ items: await users.listSessions(tenantCaller(request), request.params.userId) }),
  );
  app.delete<{ Params: typeof UserParams.static }>(
    '/v1/users/:userId/sessions',
    {
      config,
      schema: {
        ...api('endUserSessions', config.auth),
        tags,
        summary: "End all of a user's sessions",
      },
    },
    async (request) => ({ ended: await users.revokeSessions(tenantCaller(request), request.params.userId) }),
  );
  app.delete<{ Params: typeof UserSessionParams.static }>(
    '/v1/users/:userId/sessions/:sessionId',
    {
      config,
      schema: {
        ...api('endUserSession', config.auth),
        tags,
        summary: "End one of a user's sessions",
      },
    },
    async (request, reply) => {
      await users.revokeSessions(tenantCaller(request), request.params.userId, request.params.sessionId);
      return reply.code(204).send();
    },
  );
  app.delete<{ Params: typeof UserParams.static }>(
    '/v1/users/:userId/totp',
    {
      config,
      schema: {
        ...api('resetUserTotp', config.auth),
        tags,
        summary: "Remove a user's second factor (lost device)",
      },
    },
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
        ...api('unlockUser', config.auth),
        tags,
        summary: "Lift the login lockout of a user's name (after repeated failed logins)",
      },
    },
    async (request, reply) => {
      await users.unlock(tenantCaller(request), request.params.userId);
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/invitations',
    {
      config,
      schema: {
        ...api('listInvitations', config.auth),
        tags,
        summary: 'List invitations',
      },
    },
    async (request) => ({
      items: await users.listInvitations(tenantCaller(request)),
    }),
  );
  app.post<{ Body: typeof Invite.static }>(
    '/v1/invitations',
    {
      config,
      schema: {
        ...api('createInvitation', config.auth),
        tags,
        summary: 'Invite a user with grants (the token is shown once)',
      },
    },
    async (request, reply) => reply.code(201).send(await users.invite(tenantCaller(request), request.body)),
  );
  app.delete<{ Params: typeof InvitationParams.static }>(
    '/v1/invitations/:invitationId',
    {
      config,
      schema: {
        ...api('revokeInvitation', config.auth),
        tags,
        summary: 'Revoke an open invitation',
      },
    },
    async (request, reply) => {
      await users.revokeInvitation(tenantCaller(request), request.params.invitationId);
      return reply.code(204).send();
    },
  );

  const roleTags = ['roles'];
  app.get(
    '/v1/roles',
    {
      config,
      schema: {
        ...api('listRoles', config.auth),
        tags: roleTags,
        summary: 'Built-in and custom roles',
      },
    },
    async (request) => ({
      items: await roles.list(tenantCaller(request)),
    }),
  );
  app.post<{ Body: typeof RoleCreate.static }>(
    '/v1/roles',
    {
      config,
      schema: {
        ...api('createRole', config.auth),
        tags: roleTags,
        summary: 'Create a custom role',
      },
    },
    async (request, reply) => reply.code(201).send(await roles.create(tenantCaller(request), request.body)),
  );
  app.put<{ Params: typeof RoleParams.static; Body: typeof RoleUpdate.static }>(
    '/v1/roles/:name',
    {
      config,
      schema: {
        ...api('updateRole', config.auth),
        tags: roleTags,
        summary: 'Change a custom role',
      },
    },
    async (request) => roles.update(tenantCaller(request), request.params.name, request.body),
  );
  app.delete<{ Params: typeof RoleParams.static }>(
    '/v1/roles/:name',
    {
      config,
      schema: {
        ...api('deleteRole', config.auth),
        tags: roleTags,
        summary: 'Delete a custom role',
      },
    },
    async (request, reply) => {
      await roles.delete(tenantCaller(request), request.params.name);
      return reply.code(204).send();
    },
  );
};
