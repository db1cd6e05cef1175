/**
 * The outbox: facts that must not be lost. A service writes a fact in the same transaction as the
 * change it follows (`add` joins the ambient transaction, see `store/ambient.ts`), so the fact exists
 * exactly when the change does; a crash after the commit cannot lose it. The outbox worker
 * (`workers/outbox.ts`) later hands each fact to the handlers registered for its type, at least once:
 * a row is marked done only after its handler succeeded, a failure is retried with backoff (attempts
 * and the last error are kept on the row), and a node that dies while handling a row leaves it to come
 * due again. Handlers must therefore be idempotent, and must not rely on facts arriving in order.
 * The worker claims due facts in batches (one statement for up to 200); a batch handler
 * (`handleBatch`) takes a type's share of them at once, so that handing on a thousand device events
 * costs a handful of statements instead of thousands. A batch that fails is retried, after its
 * backoff, one fact at a time.
 *
 * Notices that only need to reach the nodes alive now go through the notifier (`notifier.ts`) instead.
 */
import { randomBytes } from 'node:crypto';
import { whenCommitted, inTransaction } from '../store/ambient.js';
import type { Db, Queryable } from '../store/db.js';

/** Every fact type and its payload (JSON). A later fact (webhooks, OTA, alerts) adds a line here. */
export interface OutboxFacts {
  /** A device record was deleted: its certificates are to be revoked. */
  /** `tags`: what the device had (absent in facts written before they were recorded). */
  'device.deleted': { tenantId: string; deviceId: string; tags?: string[] };
  /** A device's OTA operation changed state (docs/ota.md): for webhooks and the MQTT bridge. */
  'ota.operation.changed': {
    tenantId: string;
    deploymentId: string;
    deviceId: string;
    operationId: string;
    attempt: number;
    previous: string;
    state: string;
    at: number;
  };
  /** A deployment changed status (paused, resumed, completed, aborted, stopped) and why. */
  'deployment.status.changed': {
    tenantId: string;
    deploymentId: string;
    previous: string;
    status: string;
    code: string;
    reason: string | null;
    at: number;
  };
  /**
   * A device certificate was issued (provisioning, renewal, factory, just-in-time registration),
   * written by the statement that records it (`domains/pki/store.ts`).
   */
  'certificate.issued': {
    tenantId: string;
    deviceId: string;
    serial: string;
    caId: string;
    fingerprint: string;
    notBefore: number;
    notAfter: number;
    /** Registered just in time and waiting for an operator's approval. */
    pending: boolean;
    at: number;
  };
  /** A device certificate was revoked (its first revocation), by the statement that revokes it. */
  'certificate.revoked': { tenantId: string; deviceId: string; serial: string; reason: string; at: number };
  /**
   * A device credential was revoked by an operator: one access key, or every registration token the
   * device holds (`credentialId` null).
   */
  'credential.revoked': {
    tenantId: string;
    deviceId: string;
    kind: 'access-key' | 'registration-tokens';
    credentialId: string | null;
    at: number;
  };
  /** A pending provisioning operation was approved, rejected or locked (docs/provisioning.md). */
  'provisioning.decided': {
    tenantId: string;
    /** The provisioned device when approved; null otherwise. */
    deviceId: string | null;
    operationId: string;
    serial: string;
    status: string;
    decidedBy: string;
    reason: string | null;
    reprovisioned: boolean;
    certificateSerial: string | null;
    at: number;
  };
  /** A device event, written only for tenants that forward device events (docs/integrations.md). */
  'device.event': {
    tenantId: string;
    deviceId: string;
    ts: number;
    type: string;
    severity: string;
    message: string | null;
    data: Record<string, unknown> | null;
    at: number;
  };
  /** A device answered a command (docs/integrations.md: command.result). */
  'command.result': {
    tenantId: string;
    deviceId: string;
    commandId: string;
    name: string;
    status: string;
    result: unknown;
    error: string | null;
    at: number;
  };
  /** A device session started (docs/integrations.md: device.connected). */
  'device.connected': {
    tenantId: string;
    deviceId: string;
    sessionId: string;
    remoteAddress: string | null;
    transport: string;
    at: number;
  };
  /** A device session ended, and why; a node's restart ends the sessions it held (sessionId null). */
  'device.disconnected': {
    tenantId: string;
    deviceId: string;
    sessionId: string | null;
    reason: string;
    remoteAddress: string | null;
    transport: string | null;
    at: number;
  };
  /** A device's desired configuration changed (docs/config.md). */
  'config.desired.changed': ConfigChangedFact;
  /** A device's reported configuration changed. */
  'config.reported.changed': ConfigChangedFact;
  /**
   * An alert changed state (docs/alerts.md): fired (`previous` null), acknowledged or resolved. For
   * webhooks and the MQTT bridge (alert.fired, alert.acknowledged, alert.resolved).
   */
  'alert.changed': {
    tenantId: string;
    alertId: string;
    ruleId: string;
    deviceId: string;
    state: 'firing' | 'acknowledged' | 'resolved';
    previous: 'firing' | 'acknowledged' | 'resolved' | null;
    severity: string;
    value: number | null;
    at: number;
  };
}

/** One change of a configuration document: the merge patch as applied, its new version, who made it. */
export interface ConfigChangedFact {
  tenantId: string;
  deviceId: string;
  version: number;
  patch: Record<string, unknown>;
  actor: string;
  at: number;
}

export type FactType = keyof OutboxFacts;

/** What a handler learns about the row besides its payload. */
export interface FactInfo {
  readonly id: string;
  readonly type: FactType;
  /** This attempt's number, from 1. */
  readonly attempt: number;
}

export type FactHandler<K extends FactType> = (payload: OutboxFacts[K], fact: FactInfo) => Promise<void>;

/** One fact of a batch: its payload and what the handler learns about its row. */
export interface FactItem<K extends FactType> {
  readonly payload: OutboxFacts[K];
  readonly fact: FactInfo;
}

/**
 * Handles several facts of one type at once (in the order they were written), e.g. in one
 * transaction: the batch succeeds or fails as a whole. A failed batch is retried one fact at a time,
 * so one fact that always fails holds back no other.
 */
export type FactBatchHandler<K extends FactType> = (items: readonly FactItem<K>[]) => Promise<void>;

/** The side services see: writing facts. */
export interface FactWriter {
  /**
   * Writes a fact in the ambient transaction (it commits or rolls back with the change). Refused
   * outside a transaction: written after the change committed, a crash in between would lose it.
   */
  add<K extends FactType>(type: K, payload: OutboxFacts[K]): Promise<void>;
  /** Writes several facts of one type in one statement, like `add`. */
  addMany<K extends FactType>(type: K, payloads: readonly OutboxFacts[K][]): Promise<void>;
}

export interface Outbox extends FactWriter {
  /**
   * Writes facts in a transaction the caller holds outside the ambient ones (the telemetry group
   * commit); the caller calls `wake` once it committed.
   */
  addIn<K extends FactType>(tx: Queryable, type: K, payloads: readonly OutboxFacts[K][]): Promise<void>;
  /** Nudges this node's worker now, for facts of `type` committed through `addIn`. */
  wake(type: FactType): void;
  /**
   * Registers a handler of a fact type (revocation and the event fan-out both take `device.deleted`):
   * a fact is done once every handler of its type succeeded. Facts of types with no handler here stay
   * for other nodes.
   */
  handle<K extends FactType>(type: K, handler: FactHandler<K>): void;
  /** Registers a handler that takes the due facts of a type in batches (see `FactBatchHandler`). */
  handleBatch<K extends FactType>(type: K, handler: FactBatchHandler<K>): void;
  /** Called (after the commit) whenever a fact was written on this node: the worker's nudge. */
  onAdded(listener: () => void): void;
  /**
   * Claims due facts in batches and hands them to their handlers, until none is due or `max` were
   * handled; resolves with how many were handled (successfully or not). It yields to the event loop
   * between batches.
   */
  deliver(max?: number): Promise<number>;
  /** Deletes facts done for longer than `olderThanMs`; resolves with how many. */
  purgeDone(olderThanMs: number): Promise<number>;
}

export interface OutboxLogger {
  warn(obj: object, msg: string): void;
}

export interface OutboxOptions {
  db: Db;
  logger?: OutboxLogger;
  /**
   * This node's id: claims are marked `<nodeId>:<run>`, and the first delivery of a run frees the
   * claims an earlier run of the same node left when it died. Two live nodes must not share one.
   */
  nodeId?: string;
  /**
   * How long a claimed row is kept from other nodes while its handler runs (ms); renewed while it
   * runs, so a dead node's row comes due again after at most this long.
   */
  claimMs?: number;
  /** The delay before attempt `attempts + 1` after `attempts` failed ones (ms). */
  retryDelayMs?: (attempts: number) => number;
  /** How many due facts one claim takes (default 200). */
  batchSize?: number;
}

const DEFAULT_CLAIM_MS = 60_000;
const DEFAULT_BATCH_SIZE = 200;
/** Facts one run of `deliver` hands on at most, by default. */
const DEFAULT_MAX_PER_RUN = 1_000;
/** 1 s, 2 s, 4 s… up to 15 minutes: a handler whose dependency is down is retried for ever, slowly. */
export const defaultRetryDelayMs = (attempts: number) =>
  Math.min(1000 * 2 ** Math.max(0, attempts - 1), 15 * 60_000);
/** Errors kept on the row are cut to this length. */
const MAX_ERROR_LENGTH = 1000;

interface Row {
  id: string;
  type: FactType;
  payload: unknown;
  attempts: number;
}

export function createOutbox(options: OutboxOptions): Outbox {
  const { db } = options;
  const claimMs = options.claimMs ?? DEFAULT_CLAIM_MS;
  const retryDelayMs = options.retryDelayMs ?? defaultRetryDelayMs;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  // Each type's handlers; `of` is what was registered (a handler registers once).
  const handlers = new Map<FactType, { of: unknown; batch: FactBatchHandler<FactType> }[]>();
  const listeners: (() => void)[] = [];
  // Without a node id, every outbox is a node of its own: it frees no one's claims.
  const nodeId = options.nodeId ?? `node-${randomBytes(6).toString('hex')}`;
  const holder = `${nodeId}:${randomBytes(4).toString('hex')}`;
  let released = false;

  /** Facts an earlier run of this node claimed and never finished (it died) are due now. */
  async function releaseEarlierClaims(): Promise<void> {
    await db.query(
      `UPDATE outbox SET next_attempt_at = now(), claimed_by = NULL
        WHERE done_at IS NULL AND left(claimed_by, length($1) + 1) = $1 || ':' AND claimed_by <> $2`,
      [nodeId, holder],
    );
  }

  /**
   * The next due rows of handled types (up to `limit`), claimed: no other node takes them while the
   * claim lasts. In the order they came due, then were written.
   */
  async function claim(limit: number): Promise<Row[]> {
    const rows = await db.query<Row & { due: string }>(
      `UPDATE outbox o SET attempts = o.attempts + 1, claimed_by = $3,
              next_attempt_at = now() + $2::double precision * interval '1 millisecond'
         FROM (SELECT id, next_attempt_at FROM outbox
                WHERE done_at IS NULL AND next_attempt_at <= now() AND type = ANY($1::text[])
                ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) due
        WHERE o.id = due.id
        RETURNING o.id::text AS id, o.type, o.payload, o.attempts, due.next_attempt_at AS due`,
      [[...handlers.keys()], claimMs, holder, limit],
    );
    const time = (r: { due: unknown }) => new Date(r.due as string).getTime();
    return rows.sort((a, b) => time(a) - time(b) || Number(BigInt(a.id) - BigInt(b.id)));
  }

  /** Keeps claimed rows from other nodes while their handlers run (renewed every third of the claim). */
  function renewing(ids: readonly string[]): () => void {
    const renew = setInterval(() => {
      db.query(
        `UPDATE outbox SET next_attempt_at = now() + $2::double precision * interval '1 millisecond'
          WHERE id = ANY($1::bigint[]) AND done_at IS NULL`,
        [ids, claimMs],
      ).catch(() => undefined);
    }, claimMs / 3);
    renew.unref();
    return () => clearInterval(renew);
  }

  const itemOf = (row: Row): FactItem<FactType> => ({
    payload: (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as never,
    fact: { id: row.id, type: row.type, attempt: row.attempts },
  });

  async function markDone(rows: readonly Row[]): Promise<void> {
    await db.query(
      'UPDATE outbox SET done_at = now(), last_error = NULL, claimed_by = NULL WHERE id = ANY($1::bigint[])',
      [rows.map((r) => r.id)],
    );
  }

  /** Rows that failed on the same attempt (one row, or a batch): each waits for its backoff. */
  async function markFailed(rows: readonly Row[], failure: unknown): Promise<void> {
    const message = (failure instanceof Error ? failure.message : String(failure)).slice(0, MAX_ERROR_LENGTH);
    const { attempts, type } = rows[0]!;
    const delayMs = retryDelayMs(attempts);
    options.logger?.warn(
      { err: failure, facts: rows.map((r) => r.id), type, attempt: attempts, retryInMs: delayMs },
      rows.length > 1
        ? 'an outbox fact handler failed on a batch; its facts will be retried one at a time'
        : 'an outbox fact handler failed; it will be retried',
    );
    await db.query(
      `UPDATE outbox SET last_error = $2, claimed_by = NULL,
              next_attempt_at = now() + $3::double precision * interval '1 millisecond'
        WHERE id = ANY($1::bigint[])`,
      [rows.map((r) => r.id), message, delayMs],
    );
  }

  /** Every handler of the type, in registration order; a failure fails the rows (they are idempotent). */
  async function runHandlers(rows: readonly Row[]): Promise<void> {
    const items = rows.map(itemOf);
    for (const { batch } of handlers.get(rows[0]!.type)!) await batch(items);
  }

  /** Rows handled together: done together, or failed together. */
  async function handleTogether(rows: readonly Row[]): Promise<void> {
    try {
      await runHandlers(rows);
    } catch (err) {
      await markFailed(rows, err);
      return;
    }
    await markDone(rows);
  }

  /**
   * Rows of one type: those on their first attempt together; those that failed before (in a batch or
   * alone) one at a time, so that a fact that always fails holds back no other for longer than one
   * backoff.
   */
  async function handleRows(rows: readonly Row[]): Promise<void> {
    const stop = renewing(rows.map((r) => r.id));
    try {
      const fresh = rows.filter((r) => r.attempts === 1);
      if (fresh.length > 0) await handleTogether(fresh);
      for (const row of rows) if (row.attempts > 1) await handleTogether([row]);
    } finally {
      stop();
    }
  }

  /**
   * Wakes this node's worker after the commit, only for a type this node handles: a fact nobody here
   * handles (the OTA facts, for now) would only make the worker claim nothing, and a rollout writes
   * one per device report (measured: 6,000 empty job runs of 5 statements each in a 1,000-device
   * rollout, docs/benchmarks.md). Another node that handles it finds it on its own runs.
   */
  function nudge(type: FactType): void {
    if (!handlers.has(type)) return;
    whenCommitted(() => {
      for (const listener of listeners) listener();
    });
  }

  async function addMany<K extends FactType>(type: K, payloads: readonly OutboxFacts[K][]): Promise<void> {
    if (payloads.length === 0) return;
    if (!inTransaction())
      throw new Error(`outbox facts ${type} written outside a transaction: they must join their change's`);
    await insert(db, type, payloads);
    nudge(type);
  }

  async function insert(q: Queryable, type: FactType, payloads: readonly unknown[]): Promise<void> {
    await q.query('INSERT INTO outbox (type, payload) SELECT $1, p FROM unnest($2::jsonb[]) AS p', [
      type,
      payloads.map((p) => JSON.stringify(p)),
    ]);
  }

  function register<K extends FactType>(type: K, of: unknown, batch: FactBatchHandler<K>): void {
    const list = handlers.get(type) ?? [];
    if (list.some((h) => h.of === of))
      throw new Error(`this handler of outbox facts ${type} is registered already`);
    handlers.set(type, [...list, { of, batch: batch as unknown as FactBatchHandler<FactType> }]);
  }

  return {
    add: (type, payload) => addMany(type, [payload]),
    addMany,
    async addIn(tx, type, payloads) {
      if (payloads.length > 0) await insert(tx, type, payloads);
    },
    wake(type) {
      if (handlers.has(type)) for (const listener of listeners) listener();
    },

    handle(type, handler) {
      register(type, handler, async (items) => {
        for (const { payload, fact } of items) await handler(payload, fact);
      });
    },
    handleBatch(type, handler) {
      register(type, handler, handler);
    },

    onAdded(listener) {
      listeners.push(listener);
    },

    async deliver(max = DEFAULT_MAX_PER_RUN) {
      if (handlers.size === 0) return 0;
      if (!released) {
        await releaseEarlierClaims();
        released = true;
      }
      let handled = 0;
      while (handled < max) {
        // The embedded store runs on this event loop: between batches, PUBACKs and requests go first.
        if (handled > 0) await new Promise((resolve) => setImmediate(resolve));
        const want = Math.min(batchSize, max - handled);
        const rows = await claim(want);
        if (rows.length === 0) break;
        handled += rows.length;
        // A batch handler sees one type at a time, its facts in order.
        const byType = new Map<FactType, Row[]>();
        for (const row of rows) {
          const list = byType.get(row.type);
          if (list) list.push(row);
          else byType.set(row.type, [row]);
        }
        for (const list of byType.values()) await handleRows(list);
        if (rows.length < want) break;
      }
      return handled;
    },

    async purgeDone(olderThanMs) {
      const rows = await db.query(
        `DELETE FROM outbox WHERE done_at IS NOT NULL
            AND done_at < now() - $1::double precision * interval '1 millisecond' RETURNING id`,
        [olderThanMs],
      );
      return rows.length;
    },
  };
}
