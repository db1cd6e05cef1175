/** Logging in and the logged-in user's own account: password, sessions, second factor; one-time links. */
import { Type } from '@sinclair/typebox';
import { Answer, EpochMs, IdParam, ItemsOf, NoContent, operation } from './common.js';
import { EffectiveGrant } from './access.js';
import { Session, User } from './users.js';

const Secret = Type.String({ minLength: 1, maxLength: 256 });
export const Login = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 128 }),
    password: Secret,
    totp: Type.Optional(
      Type.String({ minLength: 1, maxLength: 16, description: 'the 6-digit code of the authenticator app' }),
    ),
    recoveryCode: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    session: Type.Optional(
      Type.Union([Type.Literal('token'), Type.Literal('cookie')], {
        description:
          'token (the default): the answer carries the session token. cookie (the web console): the token is set as the HttpOnly cookie `mooring_session` and the answer carries the CSRF token to send with every change instead',
      }),
    ),
  },
  { additionalProperties: false },
);
export const PasswordChange = Type.Object(
  { currentPassword: Secret, newPassword: Secret },
  { additionalProperties: false },
);
export const TotpCode = Type.Object(
  { code: Type.String({ minLength: 1, maxLength: 16 }) },
  { additionalProperties: false },
);
export const TotpOff = Type.Object(
  { password: Secret, code: Type.String({ minLength: 1, maxLength: 16 }) },
  { additionalProperties: false },
);
export const InvitationAccept = Type.Object(
  {
    token: Secret,
    username: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.@+-]+$' }),
    password: Secret,
  },
  { additionalProperties: false },
);
export const PasswordReset = Type.Object(
  { token: Secret, newPassword: Secret },
  { additionalProperties: false },
);
export const SessionParams = Type.Object({ sessionId: IdParam });

/** The session's CSRF token: what a cookie-authenticated change sends as `X-CSRF-Token`. */
const CsrfToken = Type.String({
  description: 'send it as X-CSRF-Token with every cookie-authenticated request that is not GET or HEAD',
});
export const LoginResult = Answer({
  token: Type.Optional(
    Type.String({
      description: 'the session token (mst_…): send it as a bearer credential. Absent with `session: cookie`',
    }),
  ),
  csrfToken: Type.Optional(CsrfToken),
  expiresAt: EpochMs,
  user: User,
  totpEnrollmentRequired: Type.Boolean({
    description: 'the tenant requires 2FA and the user has none: the session can only enrol it',
  }),
  passwordChangeRequired: Type.Boolean({
    description: 'the password was a one-time one: the session can only change it',
  }),
});
export const Me = Answer({
  user: User,
  restricted: Type.Boolean({ description: 'the session may only enrol 2FA or change the password' }),
  grants: Type.Array(EffectiveGrant),
  csrfToken: Type.Optional(
    Type.String({
      description:
        "the session's CSRF token, present when the request was authenticated by the session cookie",
    }),
  ),
});
export const MySession = Answer({ ...Session.properties, current: Type.Boolean() });

export const authOperations = {
  login: operation({
    method: 'POST',
    path: '/v1/auth/login',
    body: Login,
    responses: { 200: LoginResult },
  }),
  logout: operation({ method: 'POST', path: '/v1/auth/logout', responses: { 204: NoContent } }),
  acceptInvitation: operation({
    method: 'POST',
    path: '/v1/auth/invitations/accept',
    body: InvitationAccept,
    responses: { 201: User },
  }),
  resetPassword: operation({
    method: 'POST',
    path: '/v1/auth/password-reset',
    body: PasswordReset,
    responses: { 204: NoContent },
  }),
  me: operation({ method: 'GET', path: '/v1/auth/me', responses: { 200: Me } }),
  changePassword: operation({
    method: 'POST',
    path: '/v1/auth/password',
    body: PasswordChange,
    responses: { 204: NoContent },
  }),
  listMySessions: operation({
    method: 'GET',
    path: '/v1/auth/sessions',
    responses: { 200: ItemsOf(MySession) },
  }),
  endMySession: operation({
    method: 'DELETE',
    path: '/v1/auth/sessions/{sessionId}',
    params: SessionParams,
    responses: { 204: NoContent },
  }),
  beginTotp: operation({
    method: 'POST',
    path: '/v1/auth/totp',
    responses: {
      200: Answer({
        secret: Type.String({ description: 'base32; shown once' }),
        uri: Type.String({ description: 'otpauth:// URI for the authenticator app' }),
      }),
    },
  }),
  confirmTotp: operation({
    method: 'POST',
    path: '/v1/auth/totp/confirm',
    body: TotpCode,
    responses: { 200: Answer({ recoveryCodes: Type.Array(Type.String(), { description: 'shown once' }) }) },
  }),
  disableTotp: operation({
    method: 'POST',
    path: '/v1/auth/totp/disable',
    body: TotpOff,
    responses: { 204: NoContent },
  }),
};
