import { createHash } from 'node:crypto';
import { clampLimit, type Cursors } from '../../platform/pagination.js';
import type { Db } from '../../store/db.js';
import {
  GENESIS_HASH,
  type AuditEntry,
  type AuditQuery,
  type AuditRecord,
  type AuditService,
  type AuditVerification,
} from './audit.js';

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

export function createAuditService(deps: {
  db: Db;
  /** Signs and checks pagination cursors. */
  cursors: Cursors;
  now?: () => number;
}): AuditService {
  const { db } = deps;
  const now = deps.now ?? Date.now;

  async function listChain(tenantId: string, q: AuditQuery) {
    const limit = clampLimit(q.limit);
    const after = deps.cursors.decode(q.cursor, isNumber);
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
    return deps.cursors.pageOf(rows, limit, toRecord, (r) => Number(r.seq));
  }

  async function verifyChain(tenantId: string): Promise<AuditVerification> {
    // The head first, then the records up to it: a record appended meanwhile (the head and its
    // records commit together) is past the head read here, and is not taken for a break.
    const [head] = await db.query<{
      seq: number;
      hash: string;
      floor_seq: number;
      floor_hash: string | null;
    }>('SELECT seq, hash, floor_seq, floor_hash FROM audit_heads WHERE tenant_id = $1', [tenantId]);
    const rows = (
      await db.query<Row>('SELECT * FROM audit_records WHERE tenant_id = $1 AND seq <= $2 ORDER BY seq', [
        tenantId,
        head ? Number(head.seq) : 0,
      ])
    ).map(toRecord);
    const breaks: { seq: number; reason: string }[] = [];
    // Retention removed the records up to the floor; the chain continues from the last removed hash.
    const floorSeq = head ? Number(head.floor_seq) : 0;
    let prevHash = head?.floor_hash ?? GENESIS_HASH;
    let expectedSeq = floorSeq + 1;
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
    // A record past the head was added outside the chain: every record commits with its head, so the
    // head read after this one is at least as far as any record it saw.
    const [last] = await db.query<{ seq: number | null }>(
      'SELECT max(seq) AS seq FROM audit_records WHERE tenant_id = $1',
      [tenantId],
    );
    const [headNow] = await db.query<{ seq: number }>('SELECT seq FROM audit_heads WHERE tenant_id = $1', [
      tenantId,
    ]);
    if (last?.seq != null && Number(last.seq) > (headNow ? Number(headNow.seq) : 0))
      breaks.push({
        seq: Number(last.seq),
        reason: `records past the chain's head (${headNow ? Number(headNow.seq) : 0}) were added outside it`,
      });
    return {
      intact: breaks.length === 0,
      records: rows.length,
      ...(floorSeq > 0 ? { retainedFrom: floorSeq + 1 } : {}),
      breaks,
    };
  }

  /**
   * Appends entries in order, in one transaction (or savepoint of the ambient one), each tenant's head
   * locked once. Heads are locked in tenant order before any record is written, so that two writers
   * covering the same tenants cannot deadlock.
   */
  async function appendAll(entries: readonly AuditEntry[]): Promise<AuditRecord[]> {
    if (entries.length === 0) return [];
    return db.transaction(async (tx) => {
      const heads = new Map<string, { seq: number; hash: string }>();
      for (const tenantId of [...new Set(entries.map((e) => e.tenantId))].sort()) {
        await tx.query(
          `INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT DO NOTHING`,
          [tenantId, GENESIS_HASH],
        );
        const [row] = await tx.query<{ seq: number; hash: string }>(
          'SELECT seq, hash FROM audit_heads WHERE tenant_id = $1 FOR UPDATE',
          [tenantId],
        );
        heads.set(tenantId, { seq: Number(row!.seq), hash: row!.hash });
      }
      const out: AuditRecord[] = [];
      for (const entry of entries) {
        const head = heads.get(entry.tenantId)!;
        const seq = head.seq + 1;
        const base = { ...entry, seq, at: now() };
        const hash = recordHash(head.hash, base);
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
            head.hash,
            hash,
          ],
        );
        out.push({ ...base, prevHash: head.hash, hash });
        heads.set(entry.tenantId, { seq, hash });
      }
      for (const [tenantId, head] of heads)
        await tx.query('UPDATE audit_heads SET seq = $2, hash = $3 WHERE tenant_id = $1', [
          tenantId,
          head.seq,
          head.hash,
        ]);
      return out;
    });
  }

  return {
    list: (caller, q) => listChain(caller.tenantId, q),
    verify: (caller) => verifyChain(caller.tenantId),
    listPlatform: (_caller, q) => listChain('', q),
    verifyPlatform: () => verifyChain(''),

    async applyRetention() {
      const tenants = await db.query<{ id: string; days: number }>(
        'SELECT id, audit_retention_days AS days FROM tenants WHERE audit_retention_days IS NOT NULL',
      );
      let removed = 0;
      for (const t of tenants) {
        const cutoff = now() - t.days * 86_400_000;
        removed += await db.transaction(async (tx) => {
          const [head] = await tx.query<{ seq: number }>(
            'SELECT seq FROM audit_heads WHERE tenant_id = $1 FOR UPDATE',
            [t.id],
          );
          if (!head) return 0;
          // Never the newest record: the head must stay checkable against a stored record.
          const [last] = await tx.query<{ seq: number; hash: string }>(
            `SELECT seq, hash FROM audit_records WHERE tenant_id = $1 AND at < $2 AND seq < $3
              ORDER BY seq DESC LIMIT 1`,
            [t.id, cutoff, head.seq],
          );
          if (!last) return 0;
          const gone = await tx.query(
            'DELETE FROM audit_records WHERE tenant_id = $1 AND seq <= $2 RETURNING seq',
            [t.id, last.seq],
          );
          await tx.query('UPDATE audit_heads SET floor_seq = $2, floor_hash = $3 WHERE tenant_id = $1', [
            t.id,
            last.seq,
            last.hash,
          ]);
          return gone.length;
        });
      }
      return removed;
    },

    async record(entry) {
      const [r] = await appendAll([entry]);
      return r!;
    },
    recordMany: (entries) => appendAll(entries),
  };
}
