import { createHash } from 'node:crypto';
import { clampLimit, decodeCursor, pageOf } from '../../platform/pagination.js';
import type { Db } from '../../store/db.js';
import { GENESIS_HASH, type AuditRecord, type AuditService } from './audit.js';

interface Row {
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

const toRecord = (r: Row): AuditRecord => ({
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

/** Canonical JSON: object keys sorted, so that a stored jsonb round trip hashes the same. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

export function recordHash(prevHash: string, r: Omit<AuditRecord, 'hash' | 'prevHash'>): string {
  const body = canonical({
    tenantId: r.tenantId,
    seq: r.seq,
    at: r.at,
    actor: r.actor,
    action: r.action,
    target: r.target,
    outcome: r.outcome,
    source: r.source,
    changes: r.changes,
  });
  return createHash('sha256').update(`${prevHash}\n${body}`).digest('hex');
}

const isNumber = (v: unknown): v is number => typeof v === 'number';

export function createAuditService(deps: { db: Db; now?: () => number }): AuditService {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  return {
    async record(entry) {
      return db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING`,
          [entry.tenantId, GENESIS_HASH],
        );
        const [head] = await tx.query<{ seq: number; hash: string }>(
          'SELECT seq, hash FROM audit_heads WHERE tenant_id = $1 FOR UPDATE',
          [entry.tenantId],
        );
        const seq = Number(head!.seq) + 1;
        const base = { ...entry, seq, at: now() };
        const hash = recordHash(head!.hash, base);
        await tx.query(
          `INSERT INTO audit_records (tenant_id, seq, at, actor, action, target, outcome, source, changes, prev_hash, hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
          [
            entry.tenantId,
            seq,
            base.at,
            entry.actor,
            entry.action,
            entry.target,
            entry.outcome,
            entry.source,
            entry.changes === null ? null : JSON.stringify(entry.changes),
            head!.hash,
            hash,
          ],
        );
        await tx.query('UPDATE audit_heads SET seq = $2, hash = $3 WHERE tenant_id = $1', [
          entry.tenantId,
          seq,
          hash,
        ]);
        return { ...base, prevHash: head!.hash, hash };
      });
    },

    async list(tenantId, q) {
      const limit = clampLimit(q.limit);
      const after = decodeCursor(q.cursor, isNumber);
      const params: unknown[] = [tenantId];
      let where = 'tenant_id = $1';
      if (q.action) where += ` AND action = $${params.push(q.action)}`;
      if (q.actor) where += ` AND actor = $${params.push(q.actor)}`;
      if (q.target) where += ` AND target = $${params.push(q.target)}`;
      if (q.from !== undefined) where += ` AND at >= $${params.push(q.from)}`;
      if (q.to !== undefined) where += ` AND at < $${params.push(q.to)}`;
      if (after !== undefined) where += ` AND seq > $${params.push(after)}`;
      const rows = await db.query<Row>(
        `SELECT * FROM audit_records WHERE ${where} ORDER BY seq LIMIT $${params.push(limit + 1)}`,
        params,
      );
      return pageOf(rows, limit, toRecord, (r) => Number(r.seq));
    },

    async verify(tenantId) {
      const rows = (
        await db.query<Row>('SELECT * FROM audit_records WHERE tenant_id = $1 ORDER BY seq', [tenantId])
      ).map(toRecord);
      const [head] = await db.query<{ seq: number; hash: string }>(
        'SELECT seq, hash FROM audit_heads WHERE tenant_id = $1',
        [tenantId],
      );
      const breaks: { seq: number; reason: string }[] = [];
      let prevHash = GENESIS_HASH;
      let expectedSeq = 1;
      for (const r of rows) {
        if (r.seq !== expectedSeq)
          breaks.push({ seq: expectedSeq, reason: `record ${expectedSeq} is missing (next is ${r.seq})` });
        if (r.prevHash !== prevHash)
          breaks.push({
            seq: r.seq,
            reason: 'the link to the previous record is broken (deleted, inserted or reordered records)',
          });
        const { hash, prevHash: _p, ...content } = r;
        if (recordHash(r.prevHash, content) !== hash)
          breaks.push({ seq: r.seq, reason: 'the record was altered: its content does not match its hash' });
        prevHash = hash;
        expectedSeq = r.seq + 1;
      }
      const headSeq = head ? Number(head.seq) : 0;
      if (headSeq !== expectedSeq - 1 || (head && head.hash !== prevHash)) {
        breaks.push({
          seq: expectedSeq,
          reason: `the chain ends at ${expectedSeq - 1} but its head says ${headSeq}: records were removed from the end`,
        });
      }
      return { intact: breaks.length === 0, records: rows.length, breaks };
    },
  };
}
