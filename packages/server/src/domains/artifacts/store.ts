/** SQL for artifacts and update keys. Every row is read and written with its tenant id. */
import { artifactSignedText } from '@mooring/protocol';
import type { Queryable } from '../../store/db.js';
import type { Artifact, UpdateKey, UpdateKeyKind } from './artifacts.js';

interface ArtifactRow {
  id: string;
  tenant_id: string;
  version: string;
  hardware_class: string;
  min_version: string | null;
  sequence: string | number;
  size: string | number;
  sha256: string;
  signature: string;
  key_id: string;
  key_kind: UpdateKeyKind;
  created_at: string | number;
  created_by: string | null;
}

interface KeyRow {
  id: string;
  tenant_id: string;
  kind: UpdateKeyKind;
  status: UpdateKey['status'];
  name: string | null;
  public_key: string;
  private_key_sealed: string | null;
  created_at: string | number;
  retired_at: string | number | null;
  revoked_at: string | number | null;
}

const ARTIFACT_COLUMNS = `a.id, a.tenant_id, a.version, a.hardware_class, a.min_version, a.sequence, a.size,
  a.sha256, a.signature, a.key_id, k.kind AS key_kind, a.created_at, a.created_by`;
const FROM_ARTIFACTS = 'FROM artifacts a JOIN update_keys k ON k.id = a.key_id';
const KEY_COLUMNS = `id, tenant_id, kind, status, name, public_key, private_key_sealed, created_at, retired_at,
  revoked_at`;

const num = (v: string | number): number => Number(v);
const numOrNull = (v: string | number | null): number | null => (v === null ? null : Number(v));

export const toArtifact = (r: ArtifactRow): Artifact => {
  const manifest = {
    artifactId: r.id,
    tenantId: r.tenant_id,
    version: r.version,
    hardwareClass: r.hardware_class,
    minVersion: r.min_version,
    sequence: num(r.sequence),
    size: num(r.size),
    sha256: r.sha256,
    createdAt: num(r.created_at),
  };
  return {
    id: r.id,
    manifest,
    signature: r.signature,
    signedBytes: artifactSignedText(manifest),
    keyId: r.key_id,
    keyKind: r.key_kind,
    createdBy: r.created_by,
  };
};

const toKey = (r: KeyRow): UpdateKey & { privateKeySealed: string | null } => ({
  id: r.id,
  tenantId: r.tenant_id,
  kind: r.kind,
  status: r.status,
  name: r.name,
  publicKey: r.public_key,
  createdAt: num(r.created_at),
  retiredAt: numOrNull(r.retired_at),
  revokedAt: numOrNull(r.revoked_at),
  privateKeySealed: r.private_key_sealed,
});

export function artifactStore(db: Queryable) {
  return {
    /** Serialises the uploads of one tenant at the point where their sequences are compared. */
    async lockTenant(tenantId: string): Promise<void> {
      await db.query('SELECT id FROM tenants WHERE id = $1 FOR UPDATE', [tenantId]);
    },
    /** The highest sequence of the tenant and hardware class, deleted artifacts included. */
    async latestSequence(tenantId: string, hardwareClass: string): Promise<number | null> {
      const [r] = await db.query<{ max: string | number | null }>(
        'SELECT max(sequence) AS max FROM artifacts WHERE tenant_id = $1 AND hardware_class = $2',
        [tenantId, hardwareClass],
      );
      return r?.max === null || r?.max === undefined ? null : Number(r.max);
    },
    async insert(a: Artifact): Promise<void> {
      const m = a.manifest;
      await db.query(
        `INSERT INTO artifacts (id, tenant_id, version, hardware_class, min_version, sequence, size, sha256,
                                signature, key_id, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          a.id,
          m.tenantId,
          m.version,
          m.hardwareClass,
          m.minVersion,
          m.sequence,
          m.size,
          m.sha256,
          a.signature,
          a.keyId,
          m.createdAt,
          a.createdBy,
        ],
      );
    },
    async get(tenantId: string, id: string): Promise<Artifact | undefined> {
      const [r] = await db.query<ArtifactRow>(
        `SELECT ${ARTIFACT_COLUMNS} ${FROM_ARTIFACTS}
          WHERE a.tenant_id = $1 AND a.id = $2 AND a.deleted_at IS NULL`,
        [tenantId, id],
      );
      return r && toArtifact(r);
    },
    /** Newest first; `before` is the last id of the previous page. */
    async list(
      tenantId: string,
      hardwareClass: string | undefined,
      before: string | undefined,
      limit: number,
    ): Promise<ArtifactRow[]> {
      return db.query<ArtifactRow>(
        `SELECT ${ARTIFACT_COLUMNS} ${FROM_ARTIFACTS}
          WHERE a.tenant_id = $1 AND a.deleted_at IS NULL
            AND ($2::text IS NULL OR a.hardware_class = $2) AND ($3::text IS NULL OR a.id < $3)
          ORDER BY a.id DESC LIMIT $4`,
        [tenantId, hardwareClass ?? null, before ?? null, limit],
      );
    },
    async markDeleted(tenantId: string, id: string, now: number): Promise<boolean> {
      const rows = await db.query(
        `UPDATE artifacts SET deleted_at = $3 WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL
         RETURNING id`,
        [tenantId, id, now],
      );
      return rows.length > 0;
    },

    async insertKey(k: UpdateKey, privateKeySealed: string | null): Promise<boolean> {
      const rows = await db.query(
        `INSERT INTO update_keys (id, tenant_id, kind, status, name, public_key, private_key_sealed, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT DO NOTHING RETURNING id`,
        [k.id, k.tenantId, k.kind, k.status, k.name, k.publicKey, privateKeySealed, k.createdAt],
      );
      return rows.length > 0;
    },
    async keys(tenantId: string) {
      return (
        await db.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM update_keys WHERE tenant_id = $1 ORDER BY id`, [
          tenantId,
        ])
      ).map(toKey);
    },
    async activeServerKey(tenantId: string) {
      const [r] = await db.query<KeyRow>(
        `SELECT ${KEY_COLUMNS} FROM update_keys WHERE tenant_id = $1 AND kind = 'server' AND status = 'active'`,
        [tenantId],
      );
      return r && toKey(r);
    },
    async retireServerKey(tenantId: string, now: number): Promise<void> {
      await db.query(
        `UPDATE update_keys SET status = 'retired', retired_at = $2
          WHERE tenant_id = $1 AND kind = 'server' AND status = 'active'`,
        [tenantId, now],
      );
    },
    async revokeKey(tenantId: string, id: string, now: number): Promise<boolean> {
      const rows = await db.query(
        `UPDATE update_keys SET status = 'revoked', revoked_at = coalesce(revoked_at, $3)
          WHERE tenant_id = $1 AND id = $2 RETURNING id`,
        [tenantId, id, now],
      );
      return rows.length > 0;
    },
  };
}
export type ArtifactStore = ReturnType<typeof artifactStore>;
export type ArtifactRowOf = Awaited<ReturnType<ArtifactStore['list']>>[number];
