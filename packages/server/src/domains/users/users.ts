/**
 * Users: people who log in. Tenant users hold grants (roles over scopes); platform administrators
 * manage tenants. Argon2id passwords under a policy, TOTP second factors with recovery codes (required
 * per tenant policy), login throttling per source address and lockout per user name, sessions that can
 * be listed and ended, invitations and admin-issued password-reset links (one-time, expiring). The
 * contract; `service.ts` implements the administration, `login.ts` the login path, over `store.ts`.
 */
import type { Grant } from '../access/access.js';
import type { Principal, TenantCaller } from '../../platform/caller.js';

export interface User {
  id: string;
  tenantId: string | null;
  username: string;
  platformAdmin: boolean;
  grants: Grant[];
  totpEnabled: boolean;
  disabled: boolean;
  /** The password was handed out to be used once: it must be changed before anything else. */
  passwordChangeRequired: boolean;
  createdAt: number;
  lastLoginAt: number | null;
}

export interface Session {
  id: string;
  createdAt: number;
  expiresAt: number;
  lastSeenAt: number | null;
  source: string | null;
  userAgent: string | null;
  restricted: boolean;
}

export interface Invitation {
  id: string;
  tenantId: string;
  grants: Grant[];
  note: string | null;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  acceptedAt: number | null;
  acceptedUserId: string | null;
  revokedAt: number | null;
}

export interface LoginInput {
  username: string;
  password: string;
  totp?: string;
  recoveryCode?: string;
}

export interface LoginResult {
  token: string;
  /** The session's id (`ses_…`): what a cookie session's CSRF token is derived from. */
  sessionId: string;
  expiresAt: number;
  user: User;
  /** The tenant requires 2FA and the user has none: the session can only enrol it. */
  totpEnrollmentRequired: boolean;
  /** The password was a one-time one: the session can only change it (then log in again). */
  passwordChangeRequired: boolean;
}

/** The user behind a login session, for self-service calls. */
export interface SelfCaller {
  userId: string;
  sessionId: string;
}

export interface UserService {
  /** A tenant's user with a password, made by a platform administrator (default grant: owner). */
  createUser(
    caller: TenantCaller,
    input: { username: string; password: string; grants?: Grant[] },
  ): Promise<User>;
  list(caller: TenantCaller): Promise<User[]>;
  get(caller: TenantCaller, userId: string): Promise<User>;
  /** Changes grants (only what the caller holds itself) or disables the user (its sessions end). */
  update(
    caller: TenantCaller,
    userId: string,
    patch: { grants?: Grant[]; disabled?: boolean },
  ): Promise<User>;
  delete(caller: TenantCaller, userId: string): Promise<void>;
  invite(
    caller: TenantCaller,
    input: { grants: Grant[]; note?: string; expiresInHours?: number },
  ): Promise<{ invitation: Invitation; token: string }>;
  listInvitations(caller: TenantCaller): Promise<Invitation[]>;
  revokeInvitation(caller: TenantCaller, invitationId: string): Promise<void>;
  /** A one-time link token that sets a new password; it ends the user's sessions and lockout when used. */
  issuePasswordReset(caller: TenantCaller, userId: string): Promise<{ token: string; expiresAt: number }>;
  listSessions(caller: TenantCaller, userId: string): Promise<Session[]>;
  /** Ends one session of the user, or all of them. */
  revokeSessions(caller: TenantCaller, userId: string, sessionId?: string): Promise<number>;
  /** Removes a user's second factor (lost phone); the tenant policy then makes it enrol again. */
  resetTotp(caller: TenantCaller, userId: string): Promise<void>;
  /** Lifts the login lockout of a user's name (and forgets its failed attempts). */
  unlock(caller: TenantCaller, userId: string): Promise<void>;

  /** Opens an account from an invitation token; LINK_INVALID when it is not open. */
  acceptInvitation(token: string, input: { username: string; password: string }): Promise<User>;
  /** Sets a password from a reset token; LINK_INVALID when it is not open. */
  resetPassword(token: string, newPassword: string): Promise<void>;

  login(input: LoginInput, source: string | null, userAgent: string | null): Promise<LoginResult>;
  logout(token: string): Promise<void>;
  /** Resolves a session token to its principal, or INVALID_CREDENTIALS. */
  authenticate(token: string): Promise<Principal>;

  me(self: SelfCaller): Promise<User>;
  changePassword(self: SelfCaller, currentPassword: string, newPassword: string): Promise<void>;
  mySessions(self: SelfCaller): Promise<(Session & { current: boolean })[]>;
  revokeMySession(self: SelfCaller, sessionId: string): Promise<void>;
  /** Starts TOTP enrolment: a new secret and its otpauth:// URI for the authenticator app. */
  beginTotp(self: SelfCaller): Promise<{ secret: string; uri: string }>;
  /** Confirms enrolment with a first code; returns ten one-time recovery codes, shown once. */
  confirmTotp(self: SelfCaller, code: string): Promise<{ recoveryCodes: string[] }>;
  /** Removes the second factor, with the password and a current code; refused when the tenant requires 2FA. */
  disableTotp(self: SelfCaller, password: string, code: string): Promise<void>;

  /**
   * On an empty store, creates the platform administrator and returns its one-time password: the
   * password must be changed at the first login, and stops working when it is.
   */
  ensureBootstrapAdmin(): Promise<{ username: string; password: string } | null>;
  /**
   * Whether a bootstrap credential found on disk is spent (its password no longer works); one that
   * still works (a data directory from before passwords were one-time) is made one-time.
   */
  reconcileBootstrapCredential(credential: {
    username: string;
    password: string;
  }): Promise<'pending' | 'spent'>;
}

export const SESSION_TOKEN_PREFIX = 'mst';
export const LINK_TOKEN_PREFIX = 'mlk';
export const BOOTSTRAP_ADMIN_USERNAME = 'admin';
/** The file in the data directory that holds the bootstrap administrator's one-time password. */
export const BOOTSTRAP_CREDENTIAL_FILE = 'bootstrap-admin.json';

/** Failed logins for one user name within `LOCKOUT_WINDOW_MS` that lock it for `LOCKOUT_MS`. */
export const LOCKOUT_FAILURES = 5;
export const LOCKOUT_WINDOW_MS = 15 * 60_000;
export const LOCKOUT_MS = 15 * 60_000;
