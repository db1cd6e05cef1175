/** Logging in and the logged-in user's own account: password, sessions, second factor; one-time links. */
import { Type } from '@sinclair/typebox';
import { selfCaller, type RoutePlugin } from '../context.js';
import { describeGrants } from '../../../domains/access/policy.js';

const Secret = Type.String({ minLength: 1, maxLength: 256 });
const Login = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 128 }),
    password: Secret,
    totp: Type.Optional(
      Type.String({ minLength: 1, maxLength: 16, description: 'the 6-digit code of the authenticator app' }),
    ),
    recoveryCode: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  },
  { additionalProperties: false },
);
const PasswordChange = Type.Object(
  { currentPassword: Secret, newPassword: Secret },
  { additionalProperties: false },
);
const Code = Type.Object(
  { code: Type.String({ minLength: 1, maxLength: 16 }) },
  { additionalProperties: false },
);
const TotpOff = Type.Object(
  { password: Secret, code: Type.String({ minLength: 1, maxLength: 16 }) },
  { additionalProperties: false },
);
const Accept = Type.Object(
  {
    token: Secret,
    username: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.@+-]+$' }),
    password: Secret,
  },
  { additionalProperties: false },
);
const Reset = Type.Object({ token: Secret, newPassword: Secret }, { additionalProperties: false });
const SessionParams = Type.Object({ sessionId: Type.String({ maxLength: 64 }) });

export const authRoutes: RoutePlugin = (app, { services }) => {
  const tags = ['auth'];
  const open = { auth: 'none' as const };
  const session = { auth: 'session' as const };
  const { users } = services;

  app.post<{ Body: typeof Login.static }>(
    '/v1/auth/login',
    {
      config: open,
      schema: {
        tags,
        summary: 'Log in and open a session (with `totp` or `recoveryCode` when the account has 2FA)',
        body: Login,
        security: [],
      },
    },
    async (request) => {
      const r = await users.login(
        request.body,
        request.ip,
        request.headers['user-agent']?.slice(0, 256) ?? null,
      );
      return {
        token: r.token,
        expiresAt: r.expiresAt,
        user: r.user,
        totpEnrollmentRequired: r.totpEnrollmentRequired,
        passwordChangeRequired: r.passwordChangeRequired,
      };
    },
  );
  app.post(
    '/v1/auth/logout',
    { config: open, schema: { tags, summary: 'End the current session' } },
    async (request, reply) => {
      const h = request.headers.authorization;
      if (h?.startsWith('Bearer ')) await users.logout(h.slice(7).trim());
      return reply.code(204).send();
    },
  );
  app.post<{ Body: typeof Accept.static }>(
    '/v1/auth/invitations/accept',
    {
      config: { ...open, recordedByService: true },
      schema: { tags, summary: 'Open an account from an invitation token', body: Accept, security: [] },
    },
    async (request, reply) => {
      const { token, ...input } = request.body;
      return reply.code(201).send(await users.acceptInvitation(token, input));
    },
  );
  app.post<{ Body: typeof Reset.static }>(
    '/v1/auth/password-reset',
    {
      config: { ...open, recordedByService: true },
      schema: {
        tags,
        summary: 'Set a new password from an admin-issued reset token (ends all sessions)',
        body: Reset,
        security: [],
      },
    },
    async (request, reply) => {
      await users.resetPassword(request.body.token, request.body.newPassword);
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/auth/me',
    { config: session, schema: { tags, summary: 'The logged-in user and what it may do' } },
    async (request) => {
      const user = await users.me(selfCaller(request));
      const p = request.principal;
      return {
        user,
        restricted: p?.kind === 'user' && p.restricted === true,
        grants: p?.kind === 'user' ? describeGrants(p.grants) : [],
      };
    },
  );
  app.post<{ Body: typeof PasswordChange.static }>(
    '/v1/auth/password',
    {
      config: session,
      schema: {
        tags,
        summary: "Change the logged-in user's password (ends all of its sessions)",
        body: PasswordChange,
      },
    },
    async (request, reply) => {
      await users.changePassword(selfCaller(request), request.body.currentPassword, request.body.newPassword);
      return reply.code(204).send();
    },
  );
  app.get(
    '/v1/auth/sessions',
    { config: session, schema: { tags, summary: "The logged-in user's live sessions" } },
    async (request) => ({ items: await users.mySessions(selfCaller(request)) }),
  );
  app.delete<{ Params: typeof SessionParams.static }>(
    '/v1/auth/sessions/:sessionId',
    { config: session, schema: { tags, summary: 'End one of your sessions', params: SessionParams } },
    async (request, reply) => {
      await users.revokeMySession(selfCaller(request), request.params.sessionId);
      return reply.code(204).send();
    },
  );
  app.post(
    '/v1/auth/totp',
    {
      config: session,
      schema: { tags, summary: 'Start 2FA enrolment: a TOTP secret and its otpauth:// URI (shown once)' },
    },
    async (request) => users.beginTotp(selfCaller(request)),
  );
  app.post<{ Body: typeof Code.static }>(
    '/v1/auth/totp/confirm',
    {
      config: session,
      schema: {
        tags,
        summary: 'Confirm 2FA with a first code; returns recovery codes (shown once) and ends all sessions',
        body: Code,
      },
    },
    async (request) => users.confirmTotp(selfCaller(request), request.body.code),
  );
  app.post<{ Body: typeof TotpOff.static }>(
    '/v1/auth/totp/disable',
    {
      config: session,
      schema: { tags, summary: 'Turn 2FA off with the password and a current code', body: TotpOff },
    },
    async (request, reply) => {
      await users.disableTotp(selfCaller(request), request.body.password, request.body.code);
      return reply.code(204).send();
    },
  );
};
