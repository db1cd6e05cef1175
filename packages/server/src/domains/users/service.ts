import { randomBytes } from 'node:crypto';
import { AppError, Errors } from '../../errors.js';
import { newId, newSecret, sha256Hex } from '../../ids.js';
import { principalName, type TenantCaller } from '../../platform/caller.js';
import type { SecretBox } from '../../platform/secret-box.js';
import type { Limiter } from '../../platform/limits/limits.js';
import type { Grant, RoleService } from '../access/access.js';
import type { AuditSink } from '../audit/audit.js';
import { checkDelegation, checkHolds } from '../access/delegation.js';
import { createLoginPath, hashPassword, secondFactorLockKey } from './login.js';
import { checkPassword as checkPasswordPolicy } from './password-policy.js';
import type { UserStore } from './store.js';
import { newRecoveryCodes, newTotpSecret, normaliseRecoveryCode, totpStep } from './totp.js';
import { BOOTSTRAP_ADMIN_USERNAME, LINK_TOKEN_PREFIX, type User, type UserService } from './users.js';

export interface UserDeps {
  store: UserStore;
  box: SecretBox;
  roles: Pick<RoleService, 'customPermissions'>;
  sessionTtlMs: number;
  requireTenant(tenantId: string): Promise<{ requireTotp: boolean }>;
  /** Audit records for what happens without a logged-in caller: logins, invitations accepted, resets. */
  record?: AuditSink;
  /** Runs `fn` in one store transaction (a login's session with its record). */
  transaction?<T>(fn: () => Promise<T>): Promise<T>;
  /** A user whose password was a one-time one chose its own (the bootstrap file can go). */
  onOneTimePasswordSpent?(user: User): void;
  /** Counts failed logins per address; a node-local limiter with the default values if absent. */
  limits?: Limiter;
  now?: () => number;
}

const INVITATION_HOURS_DEFAULT = 72;
const INVITATION_HOURS_MAX = 30 * 24;
const RESET_LINK_MS = 60 * 60_000;

export function createUserService(deps: UserDeps): UserService {
  const { store, box, roles } = deps;
  const now = deps.now ?? Date.now;
  const loginPath = createLoginPath({
    store,
    box,
    sessionTtlMs: deps.sessionTtlMs,
    requireTotp: async (tenantId) => (await deps.requireTenant(tenantId)).requireTotp,
    customPermissions: (tenantId) => roles.customPermissions(tenantId),
    ...(deps.record ? { record: deps.record } : {}),
    ...(deps.transaction ? { transaction: deps.transaction } : {}),
    ...(deps.limits ? { limits: deps.limits } : {}),
    now,
  });

  async function inTenant(caller: TenantCaller, userId: string): Promise<User> {
    const user = await store.inTenant(caller.tenantId, userId);
    if (!user) throw Errors.userNotFound(userId);
    return user;
  }

  async function self(userId: string) {
    const found = await store.byId(userId);
    if (!found) throw Errors.unauthenticated();
    return found;
  }

  /** The user behind a self-service call other than reading itself or changing its password. */
  async function selfBeyondPasswordChange(userId: string) {
    const found = await self(userId);
    if (found.user.passwordChangeRequired) throw Errors.passwordChangeRequired();
    return found;
  }

  /** Changing another user needs to hold everything that user holds: no lever over a stronger account. */
  async function checkOver(caller: TenantCaller, target: User) {
    if (caller.principal.kind === 'user' && caller.principal.userId === target.id)
      throw Errors.forbidden('change your own account through /v1/auth, not the user administration');
    await checkHolds(roles, caller, target.grants, `change user ${target.id}`);
  }

  async function createAccount(tenantId: string, username: string, password: string, grants: Grant[]) {
    checkPasswordPolicy(password, username);
    const user: User = {
      id: newId('usr'),
      tenantId,
      username,
      platformAdmin: false,
      grants,
      totpEnabled: false,
      disabled: false,
      passwordChangeRequired: false,
      createdAt: now(),
      lastLoginAt: null,
    };
    return store.insertUser(user, await hashPassword(password));
  }

  const service: UserService = {
    async createUser(caller, input) {
      await deps.requireTenant(caller.tenantId);
      const grants = input.grants ?? [{ role: 'owner' }];
      await checkDelegation(roles, caller, grants);
      return createAccount(caller.tenantId, input.username, input.password, grants);
    },
    list: (caller) => store.list(caller.tenantId),
    get: inTenant,
    async update(caller, userId, patch) {
      const user = await inTenant(caller, userId);
      await checkOver(caller, user);
      if (patch.grants) await checkDelegation(roles, caller, patch.grants);
      const t = now();
      const updated = await store.update(caller.tenantId, userId, {
        ...(patch.grants ? { grants: patch.grants } : {}),
        ...(patch.disabled !== undefined ? { disabledAt: patch.disabled ? t : null } : {}),
      });
      if (!updated) throw Errors.userNotFound(userId);
      if (patch.disabled) await store.revokeSessions(userId, t);
      return updated;
    },
    async delete(caller, userId) {
      await checkOver(caller, await inTenant(caller, userId));
      if (!(await store.deleteUser(caller.tenantId, userId))) throw Errors.userNotFound(userId);
    },

    async invite(caller, input) {
      await checkDelegation(roles, caller, input.grants);
      const hours = input.expiresInHours ?? INVITATION_HOURS_DEFAULT;
      if (hours <= 0 || hours > INVITATION_HOURS_MAX)
        throw Errors.validation(`expiresInHours must be 1 to ${INVITATION_HOURS_MAX}`);
      const token = newSecret(LINK_TOKEN_PREFIX);
      const t = now();
      const invitation = {
        id: newId('inv'),
        tenantId: caller.tenantId,
        grants: input.grants,
        note: input.note ?? null,
        createdBy: principalName(caller.principal),
        createdAt: t,
        expiresAt: t + hours * 3600_000,
        acceptedAt: null,
        acceptedUserId: null,
        revokedAt: null,
      };
      await store.insertInvitation(invitation, sha256Hex(token));
      return { invitation, token };
    },
    listInvitations: (caller) => store.listInvitations(caller.tenantId),
    async revokeInvitation(caller, invitationId) {
      const invitation = await store.getInvitation(caller.tenantId, invitationId);
      if (invitation) await checkHolds(roles, caller, invitation.grants, `revoke invitation ${invitationId}`);
      if (!(await store.revokeInvitation(caller.tenantId, invitationId, now())))
        throw new AppError('INVITATION_NOT_FOUND', `no open invitation ${invitationId}`);
    },
    async issuePasswordReset(caller, userId) {
      const user = await inTenant(caller, userId);
      await checkOver(caller, user);
      const token = newSecret(LINK_TOKEN_PREFIX);
      const t = now();
      const expiresAt = t + RESET_LINK_MS;
      await store.insertReset(
        {
          id: newId('pwr'),
          tenantId: caller.tenantId,
          userId,
          createdBy: principalName(caller.principal),
          createdAt: t,
          expiresAt,
        },
        sha256Hex(token),
      );
      return { token, expiresAt };
    },
    async listSessions(caller, userId) {
      await inTenant(caller, userId);
      return store.listSessions(userId, now());
    },
    async revokeSessions(caller, userId, sessionId) {
      await checkOver(caller, await inTenant(caller, userId));
      const n = await store.revokeSessions(userId, now(), sessionId);
      if (sessionId && n === 0) throw new AppError('SESSION_NOT_FOUND', `no live session ${sessionId}`);
      return n;
    },
    async resetTotp(caller, userId) {
      await checkOver(caller, await inTenant(caller, userId));
      await store.setTotpSecret(userId, null);
      await store.revokeSessions(userId, now());
    },

    async unlock(caller, userId) {
      const user = await inTenant(caller, userId);
      await checkOver(caller, user);
      await store.clearFailures(user.username);
      await store.clearFailures(secondFactorLockKey(user.username));
    },

    async acceptInvitation(token, input) {
      const digest = sha256Hex(token);
      const id = newId('usr');
      // A refused password does not spend the invitation.
      checkPasswordPolicy(input.password, input.username);
      // Claim the invitation first: two accepts of one link make one account.
      const invitation = token.startsWith(`${LINK_TOKEN_PREFIX}_`)
        ? await store.acceptInvitation(digest, now(), id)
        : undefined;
      if (!invitation)
        throw new AppError('LINK_INVALID', 'the invitation is unknown, used, revoked or expired');
      const user: User = {
        id,
        tenantId: invitation.tenantId,
        username: input.username,
        platformAdmin: false,
        grants: invitation.grants,
        totpEnabled: false,
        disabled: false,
        passwordChangeRequired: false,
        createdAt: now(),
        lastLoginAt: null,
      };
      // A taken user name gives the invitation back, so that the invitee can choose another.
      const created = await store
        .insertUser(user, await hashPassword(input.password))
        .catch(async (e: unknown) => {
          await store.releaseInvitation(invitation.id);
          throw e;
        });
      deps.record?.({
        tenantId: invitation.tenantId,
        actor: `user:${id}`,
        action: 'invitation.accept',
        target: invitation.id,
        changes: { username: input.username, grants: invitation.grants },
      });
      return created;
    },
    async resetPassword(token, newPassword) {
      const digest = sha256Hex(token);
      const invalid = () => new AppError('LINK_INVALID', 'the reset link is unknown, used or expired');
      const userId = token.startsWith(`${LINK_TOKEN_PREFIX}_`)
        ? await store.openReset(digest, now())
        : undefined;
      const found = userId ? await store.byId(userId) : undefined;
      if (!found) throw invalid();
      // A refused password does not spend the link.
      checkPasswordPolicy(newPassword, found.user.username, '/newPassword');
      const used = await store.useReset(digest, now());
      if (!used) throw invalid();
      await store.setPassword(used.userId, await hashPassword(newPassword));
      await store.revokeSessions(used.userId, now());
      await store.clearFailures(found.user.username);
      deps.record?.({
        tenantId: used.tenantId,
        actor: `user:${used.userId}`,
        action: 'auth.password-reset',
        target: used.userId,
        changes: null,
      });
    },

    ...loginPath,

    async me(s) {
      return (await self(s.userId)).user;
    },
    async changePassword(s, currentPassword, newPassword) {
      const found = await self(s.userId);
      if (!(await loginPath.checkPassword(found, currentPassword))) throw Errors.invalidCredentials();
      checkPasswordPolicy(newPassword, found.user.username, '/newPassword');
      if (newPassword === currentPassword)
        throw new AppError('PASSWORD_TOO_WEAK', 'choose a password other than the current one', {
          errors: [{ path: '/newPassword', message: 'is the current password' }],
        });
      await store.setPassword(s.userId, await hashPassword(newPassword));
      await store.revokeSessions(s.userId, now());
      if (found.user.passwordChangeRequired) deps.onOneTimePasswordSpent?.(found.user);
    },
    async mySessions(s) {
      await selfBeyondPasswordChange(s.userId);
      return (await store.listSessions(s.userId, now())).map((x) => ({
        ...x,
        current: x.id === s.sessionId,
      }));
    },
    async revokeMySession(s, sessionId) {
      await selfBeyondPasswordChange(s.userId);
      if ((await store.revokeSessions(s.userId, now(), sessionId)) === 0)
        throw new AppError('SESSION_NOT_FOUND', `no live session ${sessionId}`);
    },
    async beginTotp(s) {
      const found = await selfBeyondPasswordChange(s.userId);
      if (found.user.totpEnabled) throw new AppError('TOTP_STATE', 'two-factor authentication is already on');
      const enrol = newTotpSecret(found.user.username);
      await store.setTotpSecret(s.userId, box.seal(enrol.secret));
      return enrol;
    },
    async confirmTotp(s, code) {
      const found = await selfBeyondPasswordChange(s.userId);
      if (found.user.totpEnabled || !found.totpSecret)
        throw new AppError(
          'TOTP_STATE',
          found.user.totpEnabled ? 'already confirmed' : 'start enrolment first',
        );
      const step = totpStep(box.open(found.totpSecret), code.trim(), now());
      if (step === undefined) throw new AppError('TOTP_INVALID');
      const codes = newRecoveryCodes();
      if (
        !(await store.enableTotp(
          s.userId,
          now(),
          step,
          codes.map((c) => sha256Hex(normaliseRecoveryCode(c))),
        ))
      )
        throw new AppError('TOTP_STATE', 'enrolment changed meanwhile; start again');
      // Sessions opened before (including restricted ones) end: log in again with the second factor.
      await store.revokeSessions(s.userId, now());
      return { recoveryCodes: codes };
    },
    async disableTotp(s, password, code) {
      const found = await selfBeyondPasswordChange(s.userId);
      if (!found.user.totpEnabled) throw new AppError('TOTP_STATE', 'two-factor authentication is off');
      if (found.user.tenantId && (await deps.requireTenant(found.user.tenantId)).requireTotp)
        throw new AppError('TOTP_STATE', 'the tenant requires two-factor authentication');
      if (!(await loginPath.checkPassword(found, password))) throw Errors.invalidCredentials();
      if (!(await loginPath.secondFactor(found, { totp: code }))) throw new AppError('TOTP_INVALID');
      await store.setTotpSecret(s.userId, null);
    },

    async ensureBootstrapAdmin() {
      if ((await store.countPlatformAdmins()) > 0) return null;
      const password = randomBytes(24).toString('base64url');
      await store.insertUser(
        {
          id: newId('usr'),
          tenantId: null,
          username: BOOTSTRAP_ADMIN_USERNAME,
          platformAdmin: true,
          grants: [],
          totpEnabled: false,
          disabled: false,
          passwordChangeRequired: true,
          createdAt: now(),
          lastLoginAt: null,
        },
        await hashPassword(password),
      );
      return { username: BOOTSTRAP_ADMIN_USERNAME, password };
    },
    async reconcileBootstrapCredential(credential) {
      const found = await store.byUsername(credential.username);
      if (!found || !(await loginPath.checkPassword(found, credential.password))) return 'spent';
      if (!found.user.passwordChangeRequired) await store.requirePasswordChange(found.user.id);
      return 'pending';
    },
  };
  return service;
}
