/** SQL for provisioning tokens and operations; every query names the tenant or the token's digest. */
import type { JWK } from 'jose';
import type { Queryable } from '../../store/db.js';
import type {
  ApprovalPolicy,
  OperationStatus,
  ProvisioningOperation,
  ProvisioningToken,
  TokenKind,
} from './provisioning.js';

export interface TokenRow {
  id: string;
  tenant_id: string;
  name: string;
  kind: TokenKind;
  serial: string | null;
  max_uses: number;
  uses: number;
  approval: ApprovalPolicy;
  device_tags: string[];
  expires_at: number | null;
  created_at: number;
  revoked_at: number | null;
  prefix: string;
  suspicious_at: number | null;
  suspicious_reason: string | null;
}

export interface OperationRow {
  id: string;
  tenant_id: string;
  token_id: string;
  serial: string;
  attributes: Record<string, unknown>;
  verification_code_hash: string | null;
  wrong_code_attempts: number;
  status: OperationStatus;
  reprovision: boolean;
  device_id: string | null;
  sealed_registration_token: string | null;
  csr_pem: string | null;
  /** JSON {certificate, chain} once issued. */
  certificate_pem: string | null;
  registration_token_expires_at: number | null;
  pickup_until: number | null;
  reason: string | null;
  decided_by: string | null;
  created_at: number;
  expires_at: number;
  decided_at: number | null;
}

export const toToken = (r: TokenRow): ProvisioningToken => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  serial: r.serial,
  maxUses: r.max_uses,
  uses: r.uses,
  approval: r.approval,
  deviceTags: r.device_tags,
  expiresAt: r.expires_at,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  prefix: r.prefix,
  suspicious: r.suspicious_at === null ? null : { at: r.suspicious_at, reason: r.suspicious_reason ?? '' },
});

export const toOperation = (r: OperationRow): ProvisioningOperation => ({
  id: r.id,
  tokenId: r.token_id,
  serial: r.serial,
  attributes: r.attributes,
  status: r.status,
  reprovision: r.reprovision,
  hasVerificationCode: r.verification_code_hash !== null,
  hasCsr: r.csr_pem !== null,
  wrongCodeAttempts: r.wrong_code_attempts,
  deviceId: r.device_id,
  reason: r.reason,
  decidedBy: r.decided_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  decidedAt: r.decided_at,
});

export function provisioningStore(db: Queryable) {
  return {
    async insertToken(tenantId: string, t: ProvisioningToken, tokenHash: string): Promise<void> {
      await db.query(
        `INSERT INTO provisioning_tokens (id, tenant_id, name, token_hash, prefix, kind, serial, max_uses, approval, device_tags, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          t.id,
          tenantId,
          t.name,
          tokenHash,
          t.prefix,
          t.kind,
          t.serial,
          t.maxUses,
          t.approval,
          t.deviceTags,
          t.expiresAt,
          t.createdAt,
        ],
      );
    },
    async listTokens(tenantId: string): Promise<TokenRow[]> {
      return db.query<TokenRow>('SELECT * FROM provisioning_tokens WHERE tenant_id = $1 ORDER BY id', [
        tenantId,
      ]);
    },
    async getToken(tenantId: string, id: string, forUpdate = false): Promise<TokenRow | undefined> {
      const [r] = await db.query<TokenRow>(
        `SELECT * FROM provisioning_tokens WHERE tenant_id = $1 AND id = $2${forUpdate ? ' FOR UPDATE' : ''}`,
        [tenantId, id],
      );
      return r;
    },
    async tokenByHash(tokenHash: string): Promise<TokenRow | undefined> {
      const [r] = await db.query<TokenRow>('SELECT * FROM provisioning_tokens WHERE token_hash = $1', [
        tokenHash,
      ]);
      return r;
    },
    async revokeToken(tenantId: string, id: string, now: number): Promise<boolean> {
      const rows = await db.query(
        'UPDATE provisioning_tokens SET revoked_at = coalesce(revoked_at, $3) WHERE tenant_id = $1 AND id = $2 RETURNING id',
        [tenantId, id, now],
      );
      return rows.length > 0;
    },
    async flagSuspicious(id: string, now: number, reason: string): Promise<void> {
      await db.query(
        'UPDATE provisioning_tokens SET suspicious_at = coalesce(suspicious_at, $2), suspicious_reason = coalesce(suspicious_reason, $3) WHERE id = $1',
        [id, now, reason],
      );
    },
    async countRecentOperations(tokenId: string, since: number): Promise<number> {
      const [r] = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM provisioning_operations WHERE token_id = $1 AND created_at >= $2',
        [tokenId, since],
      );
      return r?.n ?? 0;
    },
    async countPending(tokenId: string, now: number): Promise<number> {
      const [r] = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM provisioning_operations WHERE token_id = $1 AND status = 'pending' AND expires_at > $2`,
        [tokenId, now],
      );
      return r?.n ?? 0;
    },
    async supersedePending(tokenId: string, serial: string, now: number): Promise<void> {
      await db.query(
        `UPDATE provisioning_operations SET status = 'superseded', decided_at = $3, reason = 'the device started a new operation'
          WHERE token_id = $1 AND serial = $2 AND status = 'pending'`,
        [tokenId, serial, now],
      );
    },
    async insertOperation(r: OperationRow): Promise<void> {
      await db.query(
        `INSERT INTO provisioning_operations (id, tenant_id, token_id, serial, attributes, verification_code_hash, status, reprovision, created_at, expires_at, csr_pem)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [
          r.id,
          r.tenant_id,
          r.token_id,
          r.serial,
          JSON.stringify(r.attributes),
          r.verification_code_hash,
          r.status,
          r.reprovision,
          r.created_at,
          r.expires_at,
          r.csr_pem,
        ],
      );
    },
    async getOperation(tenantId: string, id: string, forUpdate = false): Promise<OperationRow | undefined> {
      const [r] = await db.query<OperationRow>(
        `SELECT * FROM provisioning_operations WHERE tenant_id = $1 AND id = $2${forUpdate ? ' FOR UPDATE' : ''}`,
        [tenantId, id],
      );
      return r;
    },
    async operationForToken(tokenId: string, id: string): Promise<OperationRow | undefined> {
      const [r] = await db.query<OperationRow>(
        'SELECT * FROM provisioning_operations WHERE token_id = $1 AND id = $2',
        [tokenId, id],
      );
      return r;
    },
    async setOperation(id: string, fields: Partial<OperationRow>): Promise<void> {
      const keys = Object.keys(fields) as (keyof OperationRow)[];
      if (keys.length === 0) return;
      const sets = keys.map((k, i) => `${k} = $${i + 2}`);
      await db.query(`UPDATE provisioning_operations SET ${sets.join(', ')} WHERE id = $1`, [
        id,
        ...keys.map((k) => fields[k]),
      ]);
    },
    async listOperations(
      tenantId: string,
      q: {
        status?: OperationStatus;
        serial?: string;
        tag?: string;
        createdBefore?: number;
        afterId?: string;
        limit: number;
      },
    ): Promise<OperationRow[]> {
      const where = ['o.tenant_id = $1'];
      const params: unknown[] = [tenantId];
      if (q.status) where.push(`o.status = $${params.push(q.status)}`);
      if (q.serial) where.push(`o.serial = $${params.push(q.serial)}`);
      if (q.tag) where.push(`t.device_tags @> ARRAY[$${params.push(q.tag)}]::text[]`);
      if (q.createdBefore !== undefined) where.push(`o.created_at <= $${params.push(q.createdBefore)}`);
      if (q.afterId) where.push(`o.id > $${params.push(q.afterId)}`);
      return db.query<OperationRow>(
        `SELECT o.* FROM provisioning_operations o JOIN provisioning_tokens t ON t.id = o.token_id
          WHERE ${where.join(' AND ')} ORDER BY o.id LIMIT $${params.push(q.limit + 1)}`,
        params,
      );
    },
    async rejectPendingOfToken(tokenId: string, now: number, reason: string): Promise<string[]> {
      const rows = await db.query<{ id: string }>(
        `UPDATE provisioning_operations SET status = 'rejected', decided_at = $2, reason = $3, decided_by = 'system'
          WHERE token_id = $1 AND status = 'pending' RETURNING id`,
        [tokenId, now, reason],
      );
      return rows.map((r) => r.id);
    },
    async expireDue(now: number): Promise<string[]> {
      const expired = await db.query<{ id: string }>(
        `UPDATE provisioning_operations SET status = 'expired', decided_at = expires_at WHERE status = 'pending' AND expires_at <= $1 RETURNING id`,
        [now],
      );
      // Uncollected registration tokens are not kept past their pickup window.
      await db.query(
        `UPDATE provisioning_operations SET sealed_registration_token = NULL WHERE sealed_registration_token IS NOT NULL AND pickup_until <= $1`,
        [now],
      );
      return expired.map((r) => r.id);
    },
    /** Locks a token's row: starts with one token run one at a time. */
    async lockToken(id: string): Promise<void> {
      await db.query('SELECT id FROM provisioning_tokens WHERE id = $1 FOR UPDATE', [id]);
    },
    async countUse(tokenId: string): Promise<void> {
      await db.query('UPDATE provisioning_tokens SET uses = uses + 1 WHERE id = $1', [tokenId]);
    },
    /** Reads and locks an operation's status. */
    async lockOperationStatus(id: string): Promise<OperationRow['status'] | undefined> {
      const [current] = await db.query<{ status: OperationRow['status'] }>(
        'SELECT status FROM provisioning_operations WHERE id = $1 FOR UPDATE',
        [id],
      );
      return current?.status;
    },
    /**
     * Reserves a verification-code attempt of a pending operation, atomically; the attempts made with
     * it, or undefined when none is left (or the operation is no longer pending).
     */
    async reserveCodeAttempt(id: string, maxAttempts: number): Promise<number | undefined> {
      const [slot] = await db.query<{ wrong_code_attempts: number }>(
        `UPDATE provisioning_operations SET wrong_code_attempts = wrong_code_attempts + 1
          WHERE id = $1 AND status = 'pending' AND wrong_code_attempts < $2 RETURNING wrong_code_attempts`,
        [id, maxAttempts],
      );
      return slot?.wrong_code_attempts;
    },
    async releaseCodeAttempt(id: string): Promise<void> {
      await db.query(
        'UPDATE provisioning_operations SET wrong_code_attempts = wrong_code_attempts - 1 WHERE id = $1',
        [id],
      );
    },
    // Registration-token signing keys (platform-wide)

    async signingKeys(): Promise<
      {
        kid: string;
        public_jwk: JWK;
        sealed_private_jwk: string;
        created_at: number;
        retired_at: number | null;
      }[]
    > {
      return db.query('SELECT * FROM signing_keys ORDER BY created_at');
    },
    async retireSigningKeys(at: number): Promise<void> {
      await db.query('UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL', [at]);
    },
    async insertSigningKey(k: {
      kid: string;
      alg: string;
      publicJwk: JWK;
      sealedPrivateJwk: string;
      createdAt: number;
    }): Promise<void> {
      await db.query(
        'INSERT INTO signing_keys (kid, alg, public_jwk, sealed_private_jwk, created_at) VALUES ($1, $2, $3, $4, $5)',
        [k.kid, k.alg, JSON.stringify(k.publicJwk), k.sealedPrivateJwk, k.createdAt],
      );
    },
  };
}
export type ProvisioningStore = ReturnType<typeof provisioningStore>;
