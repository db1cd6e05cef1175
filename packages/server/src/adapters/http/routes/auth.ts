import { Type } from '@sinclair/typebox';
import { AppError } from '../../../errors.js';
import type { RoutePlugin } from '../context.js';

const Login = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 128 }),
    password: Type.String({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
);

const PasswordChange = Type.Object(
  {
    currentPassword: Type.String({ minLength: 1, maxLength: 256 }),
    newPassword: Type.String({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
);

export const authRoutes: RoutePlugin = (app, { services }) => {
  app.post<{ Body: typeof Login.static }>(
    '/v1/auth/login',
    {
      config: { auth: 'none' },
      schema: { tags: ['auth'], summary: 'Log in and open a session', body: Login, security: [] },
    },
    async (request) => {
      const r = await services.tenancy.login(request.body.username, request.body.password);
      return { token: r.token, expiresAt: r.expiresAt, user: r.user };
    },
  );
  app.post(
    '/v1/auth/logout',
    { config: { auth: 'none' }, schema: { tags: ['auth'], summary: 'End the current session' } },
    async (request, reply) => {
      const h = request.headers.authorization;
      if (h?.startsWith('Bearer ')) await services.tenancy.logout(h.slice(7).trim());
      return reply.code(204).send();
    },
  );
  app.post<{ Body: typeof PasswordChange.static }>(
    '/v1/auth/password',
    {
      config: { auth: 'session' },
      schema: {
        tags: ['auth'],
        summary: "Change the logged-in user's password (ends all of its sessions)",
        body: PasswordChange,
      },
    },
    async (request, reply) => {
      const p = request.principal;
      if (!p || (p.kind !== 'user' && p.kind !== 'platform-admin')) throw new AppError('FORBIDDEN');
      await services.tenancy.changePassword(p.userId, request.body.currentPassword, request.body.newPassword);
      return reply.code(204).send();
    },
  );
};
