/** SQL for API keys. Every row is read and written with its tenant id. */
import type { Queryable } from '../../store/db.js';
import type { Grant } from '../access/access.js';
import type { ApiKey } from './api-keys.js';

interface ApiKeyRow {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  grants: Grant[];
  created_at: number;
  created_by: string | null;
  expires_at: number | null;
  last_used_at: number | null;
  last_used_address: string | null;
  revoked_at: number | null;
  rotated_at: number | null;
  previous_expires_at: number | null;
}

const COLUMNS = `id, tenant_id, name, prefix, grants, created_at, created_by, expires_at, last_used_at,
  last_used_address, revoked_at, rotated_at, previous_expires_at`;

const toApiKey = (r: ApiKeyRow): ApiKey => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  prefix: r.prefix,
  grants: r.grants,
  createdAt: r.created_at,
  createdBy: r.created_by,
  expiresAt: r.expires_at,
  lastUsedAt: r.last_used_at,
  lastUsedAddress: r.last_used_address,
  revokedAt: r.revoked_at,
  rotatedAt: r.rotated_at,
  previousExpiresAt: r.previous_expires_at,
});

export function apiKeyStore(db: Queryable) {
  return {
    async insert(k: ApiKey, keyHash: string): Promise<void> {
      await db.query(
        `INSERT INTO api_keys (id, tenant_id, name, key_hash, prefix, grants, created_at, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          k.id,
          k.tenantId,
          k.name,
          keyHash,
          k.prefix,
          JSON.stringify(k.grants),
          k.createdAt,
          k.createdBy,
          k.expiresAt,
        ],
      );
    },
    async list(tenantId: string): Promise<ApiKey[]> {
      return (
        await db.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY id`, [
          tenantId,
        ])
      ).map(toApiKey);
    },
    async get(tenantId: string, id: string): Promise<ApiKey | undefined> {
      const [r] = await db.query<ApiKeyRow>(
        `SELECT ${COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id = $2`,
        [tenantId, id],
      );
      return r && toApiKey(r);
    },
    /** Moves the current digest to `previous_key_hash` (valid until `previousExpiresAt`) and sets a new one. */
    async rotate(
      tenantId: string,
      id: string,
      keyHash: string,
      prefix: string,
      now: number,
      previousExpiresAt: number,
    ): Promise<ApiKey | undefined> {
      const [r] = await db.query<ApiKeyRow>(
        `UPDATE api_keys SET previous_key_hash = key_hash, previous_expires_at = $6, key_hash = $3, prefix = $4,
                rotated_at = $5
          WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL RETURNING ${COLUMNS}`,
        [tenantId, id, keyHash, prefix, now, previousExpiresAt],
      );
      return r && toApiKey(r);
    },
    async revoke(tenantId: string, id: string, now: number): Promise<boolean> {
      const rows = await db.query(
        'UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3) WHERE tenant_id = $1 AND id = $2 RETURNING id',
        [tenantId, id, now],
      );
      return rows.length > 0;
    },
    /** A live key by the digest of its current secret, or of its previous one while the overlap lasts. */
    async findLive(keyHash: string, now: number): Promise<ApiKey | undefined> {
      const [r] = await db.query<ApiKeyRow>(
        `SELECT ${COLUMNS} FROM api_keys
          WHERE (key_hash = $1 OR (previous_key_hash = $1 AND previous_expires_at > $2))
            AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)`,
        [keyHash, now],
      );
      return r && toApiKey(r);
    },
    /** Whether a digest is the key's previous secret (valid only during the rotation overlap). */
    async isPrevious(id: string, keyHash: string): Promise<boolean> {
      const rows = await db.query('SELECT 1 FROM api_keys WHERE id = $1 AND previous_key_hash = $2', [
        id,
        keyHash,
      ]);
      return rows.length > 0;
    },
    async recordUse(id: string, now: number, address: string | null): Promise<void> {
      await db.query('UPDATE api_keys SET last_used_at = $2, last_used_address = $3 WHERE id = $1', [
        id,
        now,
        address,
      ]);
    },
  };
}
export type ApiKeyStore = ReturnType<typeof apiKeyStore>;
