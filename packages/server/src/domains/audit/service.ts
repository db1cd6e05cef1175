import { createHash } from 'node:crypto';
import { clampLimit, type Cursors } from '../../platform/pagination.js';
import type { Transaction } from '../../store/db.js';
import {
  GENESIS_HASH,
  type AuditEntry,
  type AuditQuery,
  type AuditRecord,
  type AuditService,
  type AuditVerification,
} from './audit.js';
import { toRecord, type AuditStore } from './store.js';

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
/** Where a page ends: a seq (oldest first) or `{ before: seq }` (newest first). */
const isPlace = (v: unknown): v is number | { before: number } =>
  isNumber(v) || (typeof v === 'object' && v !== null && isNumber((v as { before?: unknown }).before));

function jsonChanges(entry: AuditEntry): Pick<AuditEntry, 'changes'> {
  if (entry.changes === null) return { changes: null };
  return { changes: JSON.parse(JSON.stringify(entry.changes)) as AuditEntry['changes'] };
}

export function createAuditService(deps: {
  store: AuditStore;
  transaction: Transaction<AuditStore>;
  /** Signs and checks pagination cursors. */
  cursors: Cursors;
  now?: () => number;
}): AuditService {
  const { store, transaction } = deps;
  const now = deps.now ?? Date.now;

  async function listChain(tenantId: string, q: AuditQuery) {
    const limit = clampLimit(q.limit);
    // A cursor carries the order of the page it came from (newest first: `{ before: seq }`), so that
    // it pages on in that order whatever the next request's `order` says.
    const at = deps.cursors.decode(q.cursor, isPlace);
    const newest = at === undefined ? q.order === 'newest' : typeof at !== 'number';
    const { cursor: _c, limit: _l, ...filters } = q;
    const rows = await store.list(tenantId, {
      ...filters,
      order: newest ? 'newest' : 'oldest',
      ...(at !== undefined ? { afterSeq: typeof at === 'number' ? at : at.before } : {}),
      limit,
    });
    return deps.cursors.pageOf(rows, limit, toRecord, (r) =>
      newest ? { before: Number(r.seq) } : Number(r.seq),
    );
  }

  async function verifyChain(tenantId: string): Promise<AuditVerification> {
    // The head first, then the records up to it: a record appended meanwhile (the head and its
    // records commit together) is past the head read here, and is not taken for a break.
    const head = await store.head(tenantId);
    const rows = await store.upTo(tenantId, head ? Number(head.seq) : 0);
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
    const last = await store.lastSeq(tenantId);
    const headNow = await store.headSeq(tenantId);
    const headNowSeq = headNow !== undefined ? Number(headNow) : 0;
    if (last != null && Number(last) > headNowSeq)
      breaks.push({
        seq: Number(last),
        reason: `records past the chain's head (${headNowSeq}) were added outside it`,
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
    return transaction(async (tx) => {
      const heads = new Map<string, { seq: number; hash: string }>();
      for (const tenantId of [...new Set(entries.map((e) => e.tenantId))].sort()) {
        const row = await tx.lockHead(tenantId, GENESIS_HASH);
        heads.set(tenantId, { seq: Number(row.seq), hash: row.hash });
      }
      const out: AuditRecord[] = [];
      for (const entry of entries) {
        const head = heads.get(entry.tenantId)!;
        const seq = head.seq + 1;
        // The changes as the store gives them back (JSON: no undefined members, no functions), so
        // that the hash taken now is the hash a verification computes from the stored record.
        const base = { ...entry, ...jsonChanges(entry), seq, at: now() };
        const hash = recordHash(head.hash, base);
        const record = { ...base, prevHash: head.hash, hash };
        await tx.insert(record);
        out.push(record);
        heads.set(entry.tenantId, { seq, hash });
      }
      for (const [tenantId, head] of heads) await tx.setHead(tenantId, head.seq, head.hash);
      return out;
    });
  }

  return {
    list: (caller, q) => listChain(caller.tenantId, q),
    verify: (caller) => verifyChain(caller.tenantId),
    listPlatform: (_caller, q) => listChain('', q),
    verifyPlatform: () => verifyChain(''),

    async applyRetention() {
      const tenants = await store.retentionPolicies();
      let removed = 0;
      for (const t of tenants) {
        const cutoff = now() - t.days * 86_400_000;
        removed += await transaction(async (tx) => {
          const headSeq = await tx.lockHeadSeq(t.id);
          if (headSeq === undefined) return 0;
          // Never the newest record: the head must stay checkable against a stored record.
          const last = await tx.lastBefore(t.id, cutoff, headSeq);
          if (!last) return 0;
          return tx.removeUpTo(t.id, last.seq, last.hash);
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
