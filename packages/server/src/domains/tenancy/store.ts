/** SQL for tenancy. Every tenant-owned row is read and written with its tenant id. */
import type { Queryable } from '../../store/db.js';
import { mapUniqueViolation } from '../../store/db.js';
import type { ApiKey, Tenant, User } from './tenancy.js';

interface TenantRow {
  id: string;
  name: string;
  created_at: number;
}
interface UserRow {
  id: string;
  tenant_id: string | null;
  username: string;
  password_hash: string;
  platform_admin: boolean;
  created_at: number;
}
interface ApiKeyRow {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

const toTenant = (r: TenantRow): Tenant => ({ id: r.id, name: r.name, createdAt: r.created_at });
const toUser = (r: UserRow): User => ({
  id: r.id,
  tenantId: r.tenant_id,
  username: r.username,
  platformAdmin: r.platform_admin,
  createdAt: r.created_at,
});
const toApiKey = (r: ApiKeyRow): ApiKey => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  prefix: r.prefix,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});

export function tenancyStore(db: Queryable) {
  return {
    async insertTenant(t: Tenant): Promise<Tenant> {
      await db
        .query('INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)', [t.id, t.name, t.createdAt])
        .catch((e) => mapUniqueViolation(e, `tenant '${t.name}'`));
      return t;
    },
    async listTenants(): Promise<Tenant[]> {
      return (await db.query<TenantRow>('SELECT * FROM tenants ORDER BY id')).map(toTenant);
    },
    async getTenant(id: string): Promise<Tenant | undefined> {
      const [r] = await db.query<TenantRow>('SELECT * FROM tenants WHERE id = $1', [id]);
      return r && toTenant(r);
    },
    async insertUser(u: User, passwordHash: string): Promise<User> {
      await db
        .query(
          'INSERT INTO users (id, tenant_id, username, password_hash, platform_admin, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
          [u.id, u.tenantId, u.username, passwordHash, u.platformAdmin, u.createdAt],
        )
        .catch((e) => mapUniqueViolation(e, `user '${u.username}'`));
      return u;
    },
    async findUserByUsername(username: string): Promise<{ user: User; passwordHash: string } | undefined> {
      const [r] = await db.query<UserRow>('SELECT * FROM users WHERE username = $1', [username]);
      return r && { user: toUser(r), passwordHash: r.password_hash };
    },
    async findUserById(id: string): Promise<{ user: User; passwordHash: string } | undefined> {
      const [r] = await db.query<UserRow>('SELECT * FROM users WHERE id = $1', [id]);
      return r && { user: toUser(r), passwordHash: r.password_hash };
    },
    async setPassword(userId: string, passwordHash: string, now: number): Promise<void> {
      await db.query('UPDATE users SET password_hash = $2 WHERE id = $1', [userId, passwordHash]);
      await db.query('UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL', [
        userId,
        now,
      ]);
    },
    async countPlatformAdmins(): Promise<number> {
      const [r] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE platform_admin');
      return r?.n ?? 0;
    },
    async insertSession(s: {
      id: string;
      userId: string;
      tokenHash: string;
      createdAt: number;
      expiresAt: number;
    }) {
      await db.query(
        'INSERT INTO sessions (id, user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)',
        [s.id, s.userId, s.tokenHash, s.createdAt, s.expiresAt],
      );
    },
    async revokeSession(tokenHash: string, now: number): Promise<void> {
      await db.query('UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL', [
        tokenHash,
        now,
      ]);
    },
    async findSession(tokenHash: string, now: number): Promise<User | undefined> {
      const [r] = await db.query<UserRow>(
        `SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id
          WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2`,
        [tokenHash, now],
      );
      return r && toUser(r);
    },
    async insertApiKey(k: ApiKey, keyHash: string): Promise<ApiKey> {
      await db.query(
        'INSERT INTO api_keys (id, tenant_id, name, key_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [k.id, k.tenantId, k.name, keyHash, k.prefix, k.createdAt],
      );
      return k;
    },
    async listApiKeys(tenantId: string): Promise<ApiKey[]> {
      return (
        await db.query<ApiKeyRow>(
          'SELECT id, tenant_id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys WHERE tenant_id = $1 ORDER BY id',
          [tenantId],
        )
      ).map(toApiKey);
    },
    async revokeApiKey(tenantId: string, keyId: string, now: number): Promise<boolean> {
      const rows = await db.query(
        'UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3) WHERE tenant_id = $1 AND id = $2 RETURNING id',
        [tenantId, keyId, now],
      );
      return rows.length > 0;
    },
    /** Finds a live key by digest and records its use (at most once a minute, to keep writes off the hot path). */
    async useApiKey(keyHash: string, now: number): Promise<ApiKey | undefined> {
      const [r] = await db.query<ApiKeyRow>(
        'SELECT id, tenant_id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL',
        [keyHash],
      );
      if (r && (r.last_used_at === null || now - r.last_used_at > 60_000)) {
        await db.query('UPDATE api_keys SET last_used_at = $2 WHERE id = $1', [r.id, now]);
      }
      return r && toApiKey(r);
    },
  };
}
export type TenancyStore = ReturnType<typeof tenancyStore>;
