/** SQL for users, sessions, login failures, invitations and password-reset links. */
import type { Queryable } from '../../store/db.js';
import { mapUniqueViolation } from '../../store/db.js';
import type { Grant } from '../access/access.js';
import type { Invitation, Session, User } from './users.js';

interface UserRow {
  id: string;
  tenant_id: string | null;
  username: string;
  password_hash: string;
  platform_admin: boolean;
  grants: Grant[];
  created_at: number;
  disabled_at: number | null;
  totp_secret: string | null;
  totp_enabled_at: number | null;
  totp_last_step: number | null;
  recovery_codes: string[];
  last_login_at: number | null;
  password_change_required: boolean;
}

export interface UserSecrets {
  user: User;
  passwordHash: string;
  /** Sealed TOTP secret (enrolling or enrolled). */
  totpSecret: string | null;
  totpLastStep: number | null;
  recoveryCodes: string[];
}

const toUser = (r: UserRow): User => ({
  id: r.id,
  tenantId: r.tenant_id,
  username: r.username,
  platformAdmin: r.platform_admin,
  grants: r.grants,
  totpEnabled: r.totp_enabled_at !== null,
  disabled: r.disabled_at !== null,
  passwordChangeRequired: r.password_change_required,
  createdAt: r.created_at,
  lastLoginAt: r.last_login_at,
});
const toSecrets = (r: UserRow): UserSecrets => ({
  user: toUser(r),
  passwordHash: r.password_hash,
  totpSecret: r.totp_secret,
  totpLastStep: r.totp_last_step,
  recoveryCodes: r.recovery_codes,
});

interface SessionRow {
  id: string;
  created_at: number;
  expires_at: number;
  last_seen_at: number | null;
  source: string | null;
  user_agent: string | null;
  restricted: boolean;
}
const toSession = (r: SessionRow): Session => ({
  id: r.id,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  lastSeenAt: r.last_seen_at,
  source: r.source,
  userAgent: r.user_agent,
  restricted: r.restricted,
});

interface InvitationRow {
  id: string;
  tenant_id: string;
  grants: Grant[];
  note: string | null;
  created_by: string;
  created_at: number;
  expires_at: number;
  accepted_at: number | null;
  accepted_user_id: string | null;
  revoked_at: number | null;
}
const toInvitation = (r: InvitationRow): Invitation => ({
  id: r.id,
  tenantId: r.tenant_id,
  grants: r.grants,
  note: r.note,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  acceptedAt: r.accepted_at,
  acceptedUserId: r.accepted_user_id,
  revokedAt: r.revoked_at,
});

export function userStore(db: Queryable) {
  return {
    async insertUser(u: User, passwordHash: string): Promise<User> {
      await db
        .query(
          `INSERT INTO users (id, tenant_id, username, password_hash, platform_admin, grants, created_at,
                              password_change_required)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [
            u.id,
            u.tenantId,
            u.username,
            passwordHash,
            u.platformAdmin,
            JSON.stringify(u.grants),
            u.createdAt,
            u.passwordChangeRequired,
          ],
        )
        .catch((e) => mapUniqueViolation(e, `user '${u.username}'`));
      return u;
    },
    async byUsername(username: string): Promise<UserSecrets | undefined> {
      const [r] = await db.query<UserRow>('SELECT * FROM users WHERE username = $1', [username]);
      return r && toSecrets(r);
    },
    async byId(id: string): Promise<UserSecrets | undefined> {
      const [r] = await db.query<UserRow>('SELECT * FROM users WHERE id = $1', [id]);
      return r && toSecrets(r);
    },
    async inTenant(tenantId: string, id: string): Promise<User | undefined> {
      const [r] = await db.query<UserRow>('SELECT * FROM users WHERE tenant_id = $1 AND id = $2', [
        tenantId,
        id,
      ]);
      return r && toUser(r);
    },
    async list(tenantId: string): Promise<User[]> {
      return (
        await db.query<UserRow>('SELECT * FROM users WHERE tenant_id = $1 ORDER BY id', [tenantId])
      ).map(toUser);
    },
    async update(
      tenantId: string,
      id: string,
      patch: { grants?: Grant[]; disabledAt?: number | null },
    ): Promise<User | undefined> {
      const [r] = await db.query<UserRow>(
        `UPDATE users SET grants = coalesce($3::jsonb, grants),
                disabled_at = CASE WHEN $4::boolean THEN $5::bigint ELSE disabled_at END
          WHERE tenant_id = $1 AND id = $2 RETURNING *`,
        [
          tenantId,
          id,
          patch.grants ? JSON.stringify(patch.grants) : null,
          patch.disabledAt !== undefined,
          patch.disabledAt ?? null,
        ],
      );
      return r && toUser(r);
    },
    async deleteUser(tenantId: string, id: string): Promise<boolean> {
      return (
        (await db.query('DELETE FROM users WHERE tenant_id = $1 AND id = $2 RETURNING id', [tenantId, id]))
          .length > 0
      );
    },
    /** Sets a password the user chose (a one-time one is then spent). */
    async setPassword(userId: string, passwordHash: string): Promise<void> {
      await db.query('UPDATE users SET password_hash = $2, password_change_required = false WHERE id = $1', [
        userId,
        passwordHash,
      ]);
    },
    async requirePasswordChange(userId: string): Promise<void> {
      await db.query('UPDATE users SET password_change_required = true WHERE id = $1', [userId]);
    },
    async countPlatformAdmins(): Promise<number> {
      const [r] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE platform_admin');
      return r?.n ?? 0;
    },
    async recordLogin(userId: string, now: number): Promise<void> {
      await db.query('UPDATE users SET last_login_at = $2 WHERE id = $1', [userId, now]);
    },

    // Second factor
    async setTotpSecret(userId: string, sealed: string | null): Promise<void> {
      await db.query(
        `UPDATE users SET totp_secret = $2, totp_enabled_at = NULL, totp_last_step = NULL, recovery_codes = '[]'
          WHERE id = $1`,
        [userId, sealed],
      );
    },
    async enableTotp(userId: string, now: number, step: number, recoveryHashes: string[]): Promise<boolean> {
      const rows = await db.query(
        `UPDATE users SET totp_enabled_at = $2, totp_last_step = $3, recovery_codes = $4
          WHERE id = $1 AND totp_secret IS NOT NULL AND totp_enabled_at IS NULL RETURNING id`,
        [userId, now, step, JSON.stringify(recoveryHashes)],
      );
      return rows.length > 0;
    },
    /** Accepts a time step once: false when it (or a later one) was used already. */
    async useTotpStep(userId: string, step: number): Promise<boolean> {
      const rows = await db.query(
        `UPDATE users SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)
          RETURNING id`,
        [userId, step],
      );
      return rows.length > 0;
    },
    /** Spends a recovery code once: false when it is not (or no longer) one of the user's. */
    async useRecoveryCode(userId: string, codeHash: string): Promise<boolean> {
      const rows = await db.query(
        `UPDATE users SET recovery_codes = recovery_codes - $2::text
          WHERE id = $1 AND recovery_codes ? $2::text RETURNING id`,
        [userId, codeHash],
      );
      return rows.length > 0;
    },

    // Sessions
    async insertSession(userId: string, s: Session, tokenHash: string): Promise<void> {
      await db.query(
        `INSERT INTO sessions (id, user_id, token_hash, created_at, expires_at, last_seen_at, source, user_agent, restricted)
         VALUES ($1, $2, $3, $4, $5, $4, $6, $7, $8)`,
        [s.id, userId, tokenHash, s.createdAt, s.expiresAt, s.source, s.userAgent, s.restricted],
      );
    },
    async findSession(
      tokenHash: string,
      now: number,
    ): Promise<{ user: UserSecrets; session: Session } | undefined> {
      const [r] = await db.query<
        UserRow & {
          s_id: string;
          s_created_at: number;
          s_expires_at: number;
          s_last_seen_at: number | null;
          s_source: string | null;
          s_user_agent: string | null;
          s_restricted: boolean;
        }
      >(
        `SELECT u.*, s.id AS s_id, s.created_at AS s_created_at, s.expires_at AS s_expires_at,
                s.last_seen_at AS s_last_seen_at, s.source AS s_source, s.user_agent AS s_user_agent,
                s.restricted AS s_restricted
           FROM sessions s JOIN users u ON u.id = s.user_id
          WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.disabled_at IS NULL`,
        [tokenHash, now],
      );
      if (!r) return undefined;
      return {
        user: toSecrets(r),
        session: {
          id: r.s_id,
          createdAt: r.s_created_at,
          expiresAt: r.s_expires_at,
          lastSeenAt: r.s_last_seen_at,
          source: r.s_source,
          userAgent: r.s_user_agent,
          restricted: r.s_restricted,
        },
      };
    },
    async touchSession(id: string, now: number): Promise<void> {
      await db.query('UPDATE sessions SET last_seen_at = $2 WHERE id = $1', [id, now]);
    },
    async listSessions(userId: string, now: number): Promise<Session[]> {
      return (
        await db.query<SessionRow>(
          `SELECT id, created_at, expires_at, last_seen_at, source, user_agent, restricted FROM sessions
            WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC`,
          [userId, now],
        )
      ).map(toSession);
    },
    /** Ends one session of a user (or all when `sessionId` is undefined); returns how many ended. */
    async revokeSessions(userId: string, now: number, sessionId?: string): Promise<number> {
      const rows = await db.query(
        `UPDATE sessions SET revoked_at = $2
          WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND ($3::text IS NULL OR id = $3)
          RETURNING id`,
        [userId, now, sessionId ?? null],
      );
      return rows.length;
    },
    async revokeSessionByToken(tokenHash: string, now: number): Promise<void> {
      await db.query('UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL', [
        tokenHash,
        now,
      ]);
    },

    // Login failures
    async lockState(
      username: string,
    ): Promise<{ failures: number; firstFailureAt: number; lockedUntil: number | null } | undefined> {
      const [r] = await db.query<{ failures: number; first_failure_at: number; locked_until: number | null }>(
        'SELECT failures, first_failure_at, locked_until FROM login_failures WHERE username = $1',
        [username],
      );
      return r && { failures: r.failures, firstFailureAt: r.first_failure_at, lockedUntil: r.locked_until };
    },
    /** Counts a failure in the window (a new window after it passes); locks at the threshold. */
    async recordFailure(
      username: string,
      now: number,
      windowMs: number,
      threshold: number,
      lockMs: number,
    ): Promise<{ failures: number; lockedUntil: number | null }> {
      const [r] = await db.query<{ failures: number; locked_until: number | null }>(
        `INSERT INTO login_failures (username, failures, first_failure_at) VALUES ($1, 1, $2)
         ON CONFLICT (username) DO UPDATE SET
           failures = CASE WHEN login_failures.first_failure_at < $2 - $3 THEN 1 ELSE login_failures.failures + 1 END,
           first_failure_at = CASE WHEN login_failures.first_failure_at < $2 - $3 THEN $2 ELSE login_failures.first_failure_at END,
           locked_until = NULL
         RETURNING failures, locked_until`,
        [username, now, windowMs],
      );
      if (r && r.failures >= threshold) {
        await db.query('UPDATE login_failures SET locked_until = $2 WHERE username = $1', [
          username,
          now + lockMs,
        ]);
        return { failures: r.failures, lockedUntil: now + lockMs };
      }
      return { failures: r?.failures ?? 1, lockedUntil: null };
    },
    async clearFailures(username: string): Promise<void> {
      await db.query('DELETE FROM login_failures WHERE username = $1', [username]);
    },

    // Invitations and reset links
    async insertInvitation(i: Invitation, tokenHash: string): Promise<void> {
      await db.query(
        `INSERT INTO invitations (id, tenant_id, token_hash, grants, note, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          i.id,
          i.tenantId,
          tokenHash,
          JSON.stringify(i.grants),
          i.note,
          i.createdBy,
          i.createdAt,
          i.expiresAt,
        ],
      );
    },
    async listInvitations(tenantId: string): Promise<Invitation[]> {
      return (
        await db.query<InvitationRow>('SELECT * FROM invitations WHERE tenant_id = $1 ORDER BY id', [
          tenantId,
        ])
      ).map(toInvitation);
    },
    async getInvitation(tenantId: string, id: string): Promise<Invitation | undefined> {
      const [r] = await db.query<InvitationRow>(
        'SELECT * FROM invitations WHERE tenant_id = $1 AND id = $2',
        [tenantId, id],
      );
      return r && toInvitation(r);
    },
    async revokeInvitation(tenantId: string, id: string, now: number): Promise<boolean> {
      const rows = await db.query(
        `UPDATE invitations SET revoked_at = coalesce(revoked_at, $3)
          WHERE tenant_id = $1 AND id = $2 AND accepted_at IS NULL RETURNING id`,
        [tenantId, id, now],
      );
      return rows.length > 0;
    },
    /** Marks an open invitation accepted, once; undefined when it is not open. */
    async acceptInvitation(tokenHash: string, now: number, userId: string): Promise<Invitation | undefined> {
      const [r] = await db.query<InvitationRow>(
        `UPDATE invitations SET accepted_at = $2, accepted_user_id = $3
          WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 RETURNING *`,
        [tokenHash, now, userId],
      );
      return r && toInvitation(r);
    },
    /** Undoes an acceptance whose account could not be made. */
    async releaseInvitation(id: string): Promise<void> {
      await db.query('UPDATE invitations SET accepted_at = NULL, accepted_user_id = NULL WHERE id = $1', [
        id,
      ]);
    },
    async insertReset(
      r: {
        id: string;
        tenantId: string;
        userId: string;
        createdBy: string;
        createdAt: number;
        expiresAt: number;
      },
      tokenHash: string,
    ): Promise<void> {
      // An earlier open link for the user stops working: only the newest one counts.
      await db.query('UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL', [
        r.userId,
        r.createdAt,
      ]);
      await db.query(
        `INSERT INTO password_resets (id, tenant_id, user_id, token_hash, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [r.id, r.tenantId, r.userId, tokenHash, r.createdBy, r.createdAt, r.expiresAt],
      );
    },
    /** The user an open reset link is for, without spending it. */
    async openReset(tokenHash: string, now: number): Promise<string | undefined> {
      const [r] = await db.query<{ user_id: string }>(
        'SELECT user_id FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2',
        [tokenHash, now],
      );
      return r?.user_id;
    },
    /** Spends an open reset link once; the user it is for, or undefined. */
    async useReset(
      tokenHash: string,
      now: number,
    ): Promise<{ userId: string; tenantId: string } | undefined> {
      const [r] = await db.query<{ user_id: string; tenant_id: string }>(
        `UPDATE password_resets SET used_at = $2
          WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id, tenant_id`,
        [tokenHash, now],
      );
      return r && { userId: r.user_id, tenantId: r.tenant_id };
    },
  };
}
export type UserStore = ReturnType<typeof userStore>;
