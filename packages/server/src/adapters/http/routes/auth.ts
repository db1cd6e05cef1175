/** Logging in and the logged-in user's own account: password, sessions, second factor; one-time links. */
import type {
  InvitationAccept,
  Login,
  PasswordChange,
  PasswordReset,
  SessionParams,
  TotpCode,
  TotpOff,
} from '@mooring/protocol';
import { selfCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';
import { describeGrants } from '../../../domains/access/policy.js';
import { AppError } from '../../../errors.js';
import { CSRF_HEADER, clearSessionCookie, sessionCookieOf, setSessionCookie } from '../session-cookie.js';

export const authRoutes: RoutePlugin = (app, { services, csrf }) => {
  const tags = ['auth'];
  const open = { auth: 'none' as const };
  const session = { auth: 'session' as const };
  const { users } = services;

  app.post<{ Body: typeof Login.static }>(
    '/v1/auth/login',
    {
      config: open,
      schema: {
        ...api('login', 'none'),
        tags,
        summary: 'Log in and open a session (with `totp` or `recoveryCode` when the account has 2FA)',
        security: [],
      },
    },
    async (request, reply) => {
      const { session, ...input } = request.body;
      const r = await users.login(input, request.ip, request.headers['user-agent']?.slice(0, 256) ?? null);
      const common = {
        expiresAt: r.expiresAt,
        user: r.user,
        totpEnrollmentRequired: r.totpEnrollmentRequired,
        passwordChangeRequired: r.passwordChangeRequired,
      };
      if (session !== 'cookie') return { token: r.token, ...common };
      // The console's login: the token goes where its scripts cannot read it; they get the CSRF token.
      setSessionCookie(reply, r.token, r.expiresAt);
      return { csrfToken: csrf.tokenFor(r.sessionId), ...common };
    },
  );
  app.post(
    '/v1/auth/logout',
    {
      config: open,
      schema: {
        ...api('logout', 'none'),
        tags,
        summary: 'End the current session',
      },
    },
    async (request, reply) => {
      const h = request.headers.authorization;
      if (h?.startsWith('Bearer ')) await users.logout(h.slice(7).trim());
      const cookie = h === undefined ? sessionCookieOf(request) : undefined;
      if (cookie !== undefined) {
        // Ending a live cookie session is a change like any other: it needs the CSRF token. A cookie
        // whose session is over already is only dropped.
        const live = await services.authenticateBearer(cookie, request.ip).catch(() => undefined);
        const sessionId = live && 'sessionId' in live ? live.sessionId : undefined;
        if (sessionId !== undefined) {
          const given = request.headers[CSRF_HEADER];
          if (!csrf.matches(sessionId, typeof given === 'string' ? given : undefined))
            throw new AppError(
              'CSRF_TOKEN_INVALID',
              'logging out with the session cookie needs X-CSRF-Token',
            );
          await users.logout(cookie);
        }
        clearSessionCookie(reply);
      }
      return reply.code(204).send();
    },
  );
  app.post<{ Body: typeof InvitationAccept.static }>(
    '/v1/auth/invitations/accept',
    {
      config: { ...open, recordedByService: true },
      schema: {
        ...api('acceptInvitation', 'none'),
        tags,
        summary: 'Open an account from an invitation token',
        security: [],
      },
    },
    async (request, reply) => {
      const { token, ...input } = request.body;
      return reply.code(201).send(await users.acceptInvitation(token, input));
    },
  );
  app.post<{ Body: typeof PasswordReset.static }>(
    '/v1/auth/password-reset',
    {
      config: { ...open, recordedByService: true },
      schema: {
        ...api('resetPassword', 'none'),
        tags,
        summary: 'Set a new password from an admin-issued reset token (ends all sessions)',
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
    {
      config: session,
      schema: {
        ...api('me', 'session'),
        tags,
        summary: 'The logged-in user and what it may do',
      },
    },
    async (request) => {
      const self = selfCaller(request);
      const user = await users.me(self);
      const p = request.principal;
      return {
        user,
        restricted: p?.kind === 'user' && p.restricted === true,
        grants: p?.kind === 'user' ? describeGrants(p.grants) : [],
        // A console that was reloaded has its cookie but no longer the CSRF token: it reads it here.
        ...(request.sessionCookie ? { csrfToken: csrf.tokenFor(self.sessionId) } : {}),
      };
    },
  );
  app.post<{ Body: typeof PasswordChange.static }>(
    '/v1/auth/password',
    {
      config: session,
      schema: {
        ...api('changePassword', 'session'),
        tags,
        summary: "Change the logged-in user's password (ends all of its sessions)",
      },
    },
    async (request, reply) => {
      await users.changePassword(selfCaller(request), request.body.currentPassword, request.body.newPassword);
      // Every session of the user has ended, the cookie's too.
      if (request.sessionCookie) clearSessionCookie(reply);
      return reply.code(204).send();
    },
  );
  app.get(
    '/v1/auth/sessions',
    {
      config: session,
      schema: {
        ...api('listMySessions', 'session'),
        tags,
        summary: "The logged-in user's live sessions",
      },
    },
    async (request) => ({ items: await users.mySessions(selfCaller(request)) }),
  );
  app.delete<{ Params: typeof SessionParams.static }>(
    '/v1/auth/sessions/:sessionId',
    {
      config: session,
      schema: {
        ...api('endMySession', 'session'),
        tags,
        summary: 'End one of your sessions',
      },
    },
    async (request, reply) => {
      await users.revokeMySession(selfCaller(request), request.params.sessionId);
      return reply.code(204).send();
    },
  );
  app.post(
    '/v1/auth/totp',
    {
      config: session,
      schema: {
        ...api('beginTotp', 'session'),
        tags,
        summary: 'Start 2FA enrolment: a TOTP secret and its otpauth:// URI (shown once)',
      },
    },
    async (request) => users.beginTotp(selfCaller(request)),
  );
  app.post<{ Body: typeof TotpCode.static }>(
    '/v1/auth/totp/confirm',
    {
      config: session,
      schema: {
        ...api('confirmTotp', 'session'),
        tags,
        summary: 'Confirm 2FA with a first code; returns recovery codes (shown once) and ends all sessions',
      },
    },
    async (request, reply) => {
      const r = await users.confirmTotp(selfCaller(request), request.body.code);
      // Every session of the user has ended, the cookie's too.
      if (request.sessionCookie) clearSessionCookie(reply);
      return r;
    },
  );
  app.post<{ Body: typeof TotpOff.static }>(
    '/v1/auth/totp/disable',
    {
      config: session,
      schema: {
        ...api('disableTotp', 'session'),
        tags,
        summary: 'Turn 2FA off with the password and a current code',
      },
    },
    async (request, reply) => {
      await users.disableTotp(selfCaller(request), request.body.password, request.body.code);
      return reply.code(204).send();
    },
  );
};
