/** SQL for the audit chains: each tenant's records and its head (platform records: tenant ''). */
import type { Queryable } from '../../store/db.js';
import type { AuditQuery, AuditRecord } from './audit.js';

export interface Row {
  tenant_id: string;
  seq: number;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  outcome: 'success' | 'failure';
  source: string | null;
  changes: Record<string, unknown> | null;
  prev_hash: string;
  hash: string;
}

export const toRecord = (r: Row): AuditRecord => ({
  tenantId: r.tenant_id,
  seq: Number(r.seq),
  at: Number(r.at),
  actor: r.actor,
  action: r.action,
  target: r.target,
  outcome: r.outcome,
  source: r.source,
  changes: r.changes,
  prevHash: r.prev_hash,
  hash: r.hash,
});

export function auditStore(db: Queryable) {
  return {
    /** A page of a chain in order (oldest or newest first), one row more than `limit` when there are more. */
    async list(
      tenantId: string,
      q: Omit<AuditQuery, 'cursor' | 'limit'> & { afterSeq?: number; limit: number },
    ): Promise<Row[]> {
      const params: unknown[] = [tenantId];
      let where = 'tenant_id = $1';
      if (q.action) where += ` AND action = $${params.push(q.action)}`;
      if (q.actor) where += ` AND actor = $${params.push(q.actor)}`;
      if (q.target) where += ` AND target = $${params.push(q.target)}`;
      if (q.deviceId) {
        const d = `$${params.push(q.deviceId)}`;
        // Two arms, one index each (migration 027).
        where += ` AND (target = ${d} OR (changes ? 'deviceId' AND changes ->> 'deviceId' = ${d}))`;
      }
      if (q.from !== undefined) where += ` AND at >= $${params.push(q.from)}`;
      if (q.to !== undefined) where += ` AND at < $${params.push(q.to)}`;
      const newest = q.order === 'newest';
      // "After" in the page's order: a lower seq when newest first.
      if (q.afterSeq !== undefined) where += ` AND seq ${newest ? '<' : '>'} $${params.push(q.afterSeq)}`;
      return db.query<Row>(
        `SELECT * FROM audit_records WHERE ${where} ORDER BY seq ${newest ? 'DESC' : 'ASC'} LIMIT $${params.push(q.limit + 1)}`,
        params,
      );
    },
    async head(
      tenantId: string,
    ): Promise<{ seq: number; hash: string; floor_seq: number; floor_hash: string | null } | undefined> {
      const [head] = await db.query<{
        seq: number;
        hash: string;
        floor_seq: number;
        floor_hash: string | null;
      }>('SELECT seq, hash, floor_seq, floor_hash FROM audit_heads WHERE tenant_id = $1', [tenantId]);
      return head;
    },
    /** The chain's records up to `seq`, in order. */
    async upTo(tenantId: string, seq: number): Promise<AuditRecord[]> {
      return (
        await db.query<Row>('SELECT * FROM audit_records WHERE tenant_id = $1 AND seq <= $2 ORDER BY seq', [
          tenantId,
          seq,
        ])
      ).map(toRecord);
    },
    async lastSeq(tenantId: string): Promise<number | null> {
      const [last] = await db.query<{ seq: number | null }>(
        'SELECT max(seq) AS seq FROM audit_records WHERE tenant_id = $1',
        [tenantId],
      );
      return last?.seq ?? null;
    },
    async headSeq(tenantId: string): Promise<number | undefined> {
      const [head] = await db.query<{ seq: number }>('SELECT seq FROM audit_heads WHERE tenant_id = $1', [
        tenantId,
      ]);
      return head?.seq;
    },
    /** Creates the tenant's head when it has none, then reads and locks it. */
    async lockHead(tenantId: string, genesisHash: string): Promise<{ seq: number; hash: string }> {
      await db.query(
        `INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING`,
        [tenantId, genesisHash],
      );
      const [row] = await db.query<{ seq: number; hash: string }>(
        'SELECT seq, hash FROM audit_heads WHERE tenant_id = $1 FOR UPDATE',
        [tenantId],
      );
      return row!;
    },
    async insert(r: AuditRecord): Promise<void> {
      await db.query(
        `INSERT INTO audit_records (tenant_id, seq, at, actor, action, target, outcome, source, changes, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [
          r.tenantId,
          r.seq,
          r.at,
          r.actor,
          r.action,
          r.target,
          r.outcome,
          r.source,
          r.changes === null ? null : JSON.stringify(r.changes),
          r.prevHash,
          r.hash,
        ],
      );
    },
    async setHead(tenantId: string, seq: number, hash: string): Promise<void> {
      await db.query('UPDATE audit_heads SET seq = $2, hash = $3 WHERE tenant_id = $1', [
        tenantId,
        seq,
        hash,
      ]);
    },
    async retentionPolicies(): Promise<{ id: string; days: number }[]> {
      return db.query<{ id: string; days: number }>(
        'SELECT id, audit_retention_days AS days FROM tenants WHERE audit_retention_days IS NOT NULL',
      );
    },
    /** Locks the head and returns its seq; undefined when the tenant has no chain. */
    async lockHeadSeq(tenantId: string): Promise<number | undefined> {
      const [head] = await db.query<{ seq: number }>(
        'SELECT seq FROM audit_heads WHERE tenant_id = $1 FOR UPDATE',
        [tenantId],
      );
      return head?.seq;
    },
    /** The newest record older than `cutoff` and before `beforeSeq`. */
    async lastBefore(
      tenantId: string,
      cutoff: number,
      beforeSeq: number,
    ): Promise<{ seq: number; hash: string } | undefined> {
      const [last] = await db.query<{ seq: number; hash: string }>(
        `SELECT seq, hash FROM audit_records WHERE tenant_id = $1 AND at < $2 AND seq < $3
          ORDER BY seq DESC LIMIT 1`,
        [tenantId, cutoff, beforeSeq],
      );
      return last;
    },
    /** Removes the records up to `seq` and moves the chain's floor there; how many it removed. */
    async removeUpTo(tenantId: string, seq: number, hash: string): Promise<number> {
      const gone = await db.query(
        'DELETE FROM audit_records WHERE tenant_id = $1 AND seq <= $2 RETURNING seq',
        [tenantId, seq],
      );
      await db.query('UPDATE audit_heads SET floor_seq = $2, floor_hash = $3 WHERE tenant_id = $1', [
        tenantId,
        seq,
        hash,
      ]);
      return gone.length;
    },
  };
}
export type AuditStore = ReturnType<typeof auditStore>;
