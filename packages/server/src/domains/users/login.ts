/**
 * The login path: throttling per source address, lockout per user name (known or not, so the lock
 * does not reveal which names exist), Argon2id in constant time either way, the second factor with
 * replay protection, restricted sessions for users who must enrol 2FA, and session resolution.
 */
import { hash, verify } from '@node-rs/argon2';
import { randomBytes } from 'node:crypto';
import { AppError, Errors } from '../../errors.js';
import { newId, newSecret, sha256Hex } from '../../ids.js';
import type { Principal } from '../../platform/caller.js';
import type { SecretBox } from '../../platform/secret-box.js';
import type { Limiter } from '../../platform/limits/limits.js';
import { createMemoryLimiter } from '../../platform/limits/memory.js';
import { limitDetails, rateLimited } from '../../platform/limits/refusal.js';
import type { Permission } from '../access/access.js';
import { resolveGrants } from '../access/policy.js';
import type { AuditSink } from '../audit/audit.js';
import type { UserSecrets, UserStore } from './store.js';
import { normaliseRecoveryCode, totpStep } from './totp.js';
import {
  LOCKOUT_FAILURES,
  LOCKOUT_MS,
  LOCKOUT_WINDOW_MS,
  SESSION_TOKEN_PREFIX,
  type LoginInput,
  type LoginResult,
  type UserService,
} from './users.js';

/** OWASP's Argon2id minimum: 19 MiB memory, 2 iterations, 1 lane. */
export const ARGON2_OPTIONS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
export const hashPassword = (password: string) => hash(password, ARGON2_OPTIONS);
/** What a user name can be (invitations enforce it): a name outside it is never locked. */
const POSSIBLE_USERNAME = /^[A-Za-z0-9_.@+-]{1,128}$/;
/**
 * Wrong second factors given with the right password through a lock are counted under this key, which
 * no user name can be (no ':'): past LOCKOUT_FAILURES of them even a right one waits for the lock to
 * end (or an administrator), so a known password does not buy unlimited one-time-code guesses.
 */
export const secondFactorLockKey = (username: string) => `2fa:${username}`;

/** Sessions record their last use at most this often. */
const TOUCH_INTERVAL_MS = 60_000;

export interface LoginDeps {
  store: UserStore;
  box: SecretBox;
  sessionTtlMs: number;
  requireTotp(tenantId: string): Promise<boolean>;
  customPermissions(tenantId: string): Promise<ReadonlyMap<string, readonly Permission[]>>;
  /** One audit record per login attempt that reached the credential check. */
  record?: AuditSink;
  /**
   * Runs `fn` in one store transaction: a successful login's session and its audit record commit
   * together. The password check runs before it, so a failed attempt never holds the store.
   */
  transaction?<T>(fn: () => Promise<T>): Promise<T>;
  /** Counts failed logins per source address (`auth.failed_logins_per_address`); a node-local one if absent. */
  limits?: Limiter;
  now: () => number;
}

export function createLoginPath(deps: LoginDeps): Pick<UserService, 'login' | 'logout' | 'authenticate'> & {
  checkPassword(found: UserSecrets | undefined, password: string): Promise<boolean>;
  secondFactor(found: UserSecrets, input: { totp?: string; recoveryCode?: string }): Promise<boolean>;
} {
  const { store, box, now } = deps;
  // Verified against when the user does not exist, so a login takes the same time either way.
  const dummyHash = hashPassword(randomBytes(16).toString('hex'));
  const limits = deps.limits ?? createMemoryLimiter();

  async function checkPassword(found: UserSecrets | undefined, password: string) {
    const ok = await verify(found?.passwordHash ?? (await dummyHash), password).catch(() => false);
    return ok && found !== undefined;
  }

  async function secondFactor(found: UserSecrets, input: { totp?: string; recoveryCode?: string }) {
    if (input.totp !== undefined && found.totpSecret) {
      const step = totpStep(box.open(found.totpSecret), input.totp.trim(), now());
      return step !== undefined && (await store.useTotpStep(found.user.id, step));
    }
    if (input.recoveryCode !== undefined)
      return store.useRecoveryCode(found.user.id, sha256Hex(normaliseRecoveryCode(input.recoveryCode)));
    return false;
  }

  /**
   * An address that failed too often waits for its window to end before any login from it is tried:
   * checked before the password hash, which is the costly part. Only failures count.
   */
  async function throttleAddress(source: string | null) {
    if (!source) return;
    const d = await limits.peek('auth.failed_logins_per_address', { key: source });
    if (!d.allowed) throw rateLimited(d, `failed logins from ${source}`);
  }

  async function countAddressFailure(source: string | null) {
    if (!source) return;
    await limits.consume('auth.failed_logins_per_address', { key: source });
  }

  function audit(
    found: UserSecrets | undefined,
    username: string,
    source: string | null,
    outcome: 'success' | 'failure',
    reason?: string,
  ) {
    deps.record?.({
      tenantId: found?.user.tenantId ?? '',
      actor:
        found && outcome === 'success'
          ? found.user.platformAdmin
            ? `admin:${found.user.id}`
            : `user:${found.user.id}`
          : 'anonymous',
      action: 'auth.login',
      target: username,
      outcome,
      source,
      changes: reason ? { reason } : null,
    });
  }

  async function fail(
    found: UserSecrets | undefined,
    username: string,
    source: string | null,
    error: AppError,
    reason: string,
  ): Promise<never> {
    await countAddressFailure(source);
    const r = POSSIBLE_USERNAME.test(username)
      ? await store.recordFailure(username, now(), LOCKOUT_WINDOW_MS, LOCKOUT_FAILURES, LOCKOUT_MS)
      : { failures: 0, lockedUntil: null };
    audit(found, username, source, 'failure', r.lockedUntil ? `${reason}; user name locked` : reason);
    if (r.lockedUntil)
      deps.record?.({
        tenantId: found?.user.tenantId ?? '',
        actor: 'anonymous',
        action: 'auth.lockout',
        target: username,
        outcome: 'failure',
        source,
        changes: { failures: r.failures, lockedUntil: r.lockedUntil },
      });
    error.details.attemptsLeft = Math.max(0, LOCKOUT_FAILURES - r.failures);
    throw error;
  }

  /**
   * A locked user name still lets its owner in with the password and a second factor: anyone can lock
   * a name, only the holder of both factors can pass. Every other attempt is refused the same way,
   * whether the password was right or not, and does not extend the lock.
   */
  async function throughLock(
    input: LoginInput,
    source: string | null,
    lock: { lockedUntil: number; failures: number },
  ): Promise<UserSecrets> {
    const t = now();
    const { lockedUntil } = lock;
    const refuse = () => {
      const retryAfterMs = lockedUntil - t;
      return new AppError(
        'ACCOUNT_LOCKED',
        `logins for this user name are locked for ${Math.ceil(retryAfterMs / 60_000)} min after ${LOCKOUT_FAILURES} failures; a correct password with a one-time code or recovery code still gets through, or an administrator can lift the lock`,
        {
          details: limitDetails({
            limit: 'auth.failed_logins_per_user_name',
            configured: LOCKOUT_FAILURES,
            observed: lock.failures,
            retryAfterMs,
          }),
        },
      );
    };
    if (input.totp === undefined && input.recoveryCode === undefined) {
      audit(undefined, input.username, source, 'failure', 'locked');
      throw refuse();
    }
    // The password is checked whether or not the name exists or has 2FA: the time says nothing.
    const found = await store.byUsername(input.username);
    const ok = await checkPassword(found, input.password);
    if (found && ok && !found.user.disabled && found.user.totpEnabled) {
      const key = secondFactorLockKey(input.username);
      const guesses = await store.lockState(key);
      const exhausted = guesses?.lockedUntil != null && guesses.lockedUntil > t;
      if (!exhausted && (await secondFactor(found, input))) {
        await store.clearFailures(key);
        return found;
      }
      if (!exhausted)
        await store.recordFailure(key, t, LOCKOUT_WINDOW_MS, LOCKOUT_FAILURES, Math.max(0, lockedUntil - t));
    }
    await countAddressFailure(source);
    audit(found, input.username, source, 'failure', 'locked');
    throw refuse();
  }

  return {
    checkPassword,
    secondFactor,
    async login(input: LoginInput, source, userAgent): Promise<LoginResult> {
      await throttleAddress(source);
      const t = now();
      const lock = await store.lockState(input.username);
      const locked = lock?.lockedUntil && lock.lockedUntil > t ? lock.lockedUntil : undefined;
      const found = locked
        ? await throughLock(input, source, {
            lockedUntil: locked,
            failures: lock?.failures ?? LOCKOUT_FAILURES,
          })
        : await store.byUsername(input.username);
      const ok = locked !== undefined || (await checkPassword(found, input.password));
      if (!found || !ok || found.user.disabled)
        return fail(
          found,
          input.username,
          source,
          Errors.invalidCredentials(),
          found?.user.disabled ? 'user disabled' : 'wrong user name or password',
        );
      if (found.user.totpEnabled && locked === undefined) {
        if (input.totp === undefined && input.recoveryCode === undefined)
          throw new AppError(
            'TOTP_REQUIRED',
            'send the one-time code of your authenticator app as `totp`, or a `recoveryCode`',
          );
        if (!(await secondFactor(found, input)))
          return fail(found, input.username, source, new AppError('TOTP_INVALID'), 'wrong one-time code');
      }
      await store.clearFailures(input.username);
      const restricted =
        !found.user.platformAdmin &&
        !found.user.totpEnabled &&
        found.user.tenantId !== null &&
        (await deps.requireTotp(found.user.tenantId));
      const token = newSecret(SESSION_TOKEN_PREFIX);
      const expiresAt = t + deps.sessionTtlMs;
      const inTransaction = deps.transaction ?? (<T>(fn: () => Promise<T>) => fn());
      const sessionId = newId('ses');
      await inTransaction(async () => {
        await store.insertSession(
          found.user.id,
          { id: sessionId, createdAt: t, expiresAt, lastSeenAt: t, source, userAgent, restricted },
          sha256Hex(token),
        );
        await store.recordLogin(found.user.id, t);
        audit(
          found,
          input.username,
          source,
          'success',
          [
            ...(locked !== undefined ? ['through a lockout with the second factor'] : []),
            ...(input.recoveryCode !== undefined ? ['recovery code used'] : []),
          ].join('; ') || undefined,
        );
      });
      return {
        token,
        sessionId,
        expiresAt,
        user: { ...found.user, lastLoginAt: t },
        totpEnrollmentRequired: restricted,
        passwordChangeRequired: found.user.passwordChangeRequired,
      };
    },

    async logout(token) {
      await store.revokeSessionByToken(sha256Hex(token), now());
    },

    async authenticate(token): Promise<Principal> {
      const t = now();
      const found = token.startsWith(`${SESSION_TOKEN_PREFIX}_`)
        ? await store.findSession(sha256Hex(token), t)
        : undefined;
      if (!found) throw new AppError('INVALID_CREDENTIALS', 'the session is unknown, expired or ended');
      const { user } = found.user;
      if (t - (found.session.lastSeenAt ?? 0) > TOUCH_INTERVAL_MS)
        await store.touchSession(found.session.id, t);
      const mustChange = user.passwordChangeRequired ? { passwordChangeRequired: true } : {};
      if (user.platformAdmin)
        return { kind: 'platform-admin', userId: user.id, sessionId: found.session.id, ...mustChange };
      if (!user.tenantId) throw Errors.invalidCredentials();
      const customs = await deps.customPermissions(user.tenantId);
      return {
        kind: 'user',
        userId: user.id,
        tenantId: user.tenantId,
        grants: found.session.restricted ? [] : resolveGrants(user.grants, customs),
        sessionId: found.session.id,
        ...(found.session.restricted ? { restricted: true } : {}),
        ...mustChange,
      };
    },
  };
}
