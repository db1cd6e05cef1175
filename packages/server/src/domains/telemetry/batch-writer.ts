/**
 * Group commit for telemetry and events. Messages queue while a commit is in flight; the next commit
 * takes everything queued (up to `maxRows`) in one transaction. Each message's promise resolves only
 * after the transaction holding it commits, in the order messages were queued — so a QoS 1 PUBACK or
 * an HTTP 2xx is never sent for data that is not durable, and PUBACKs keep the order of their PUBLISHes
 * [MQTT-4.6.0-2].
 */
import type { DeviceEvent, TelemetryValue } from '@mooring/protocol';
import { outsideTransaction } from '../../store/ambient.js';
import type { Db, Queryable } from '../../store/db.js';
import type { CommittedMessage } from './telemetry.js';

export interface TelemetryRow {
  tenantId: string;
  deviceId: string;
  key: string;
  ts: number;
  value: TelemetryValue;
}

interface Entry {
  tenantId: string;
  deviceId: string;
  received: number;
  rows: TelemetryRow[];
  event: DeviceEvent | undefined;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export interface BatchStats {
  /** Called after each commit with the number of messages and rows and the commit time in ms. */
  onCommit?(messages: number, rows: number, ms: number): void;
  /**
   * Writes, inside the commit's transaction, what must exist exactly when the batch does (what
   * integrations forward). It should cost nothing for tenants nobody forwards for.
   */
  inCommit?(tx: Queryable, messages: readonly CommittedMessage[]): Promise<void>;
}

export interface BatchWriter {
  write(
    tenantId: string,
    deviceId: string,
    received: number,
    rows: TelemetryRow[],
    event?: DeviceEvent,
  ): Promise<void>;
  /** Rows queued and not yet committed. */
  readonly queuedRows: number;
  /** Resolves once everything queued so far is committed (or failed). */
  drain(): Promise<void>;
}

/** Below this many queued rows the writer waits COALESCE_MS before committing. */
const COALESCE_BELOW_ROWS = 200;
const COALESCE_MS = 2;

export function createBatchWriter(db: Db, maxRows: number, stats: BatchStats = {}): BatchWriter {
  let queue: Entry[] = [];
  let queuedRows = 0;
  let running: Promise<void> | undefined;

  function take(): Entry[] {
    let rows = 0;
    let n = 0;
    while (n < queue.length) {
      const size = Math.max(1, queue[n]!.rows.length);
      if (n > 0 && rows + size > maxRows) break;
      rows += size;
      n++;
    }
    const batch = queue.slice(0, n);
    queue = queue.slice(n);
    queuedRows -= rows;
    return batch;
  }

  async function loop(): Promise<void> {
    // Let the current tick's messages join the first batch.
    await new Promise<void>((r) => setImmediate(r));
    while (queue.length > 0) {
      // A commit costs about the same for 1 row as for 100: when little is queued, wait a moment for
      // more rather than commit a trickle, which at moderate rates kept a core busy.
      if (queuedRows < COALESCE_BELOW_ROWS) await new Promise<void>((r) => setTimeout(r, COALESCE_MS));
      const batch = take();
      const started = performance.now();
      try {
        // Only `tx` is used inside: not an ambient transaction (see TransactionOptions).
        const rows = await db.transaction(
          async (tx) => {
            const n = await commit(tx, batch);
            await stats.inCommit?.(tx, batch);
            return n;
          },
          { ambient: false },
        );
        stats.onCommit?.(batch.length, rows, performance.now() - started);
        for (const e of batch) e.resolve();
      } catch (err) {
        for (const e of batch) e.reject(err);
      }
    }
    running = undefined;
  }

  return {
    write(tenantId, deviceId, received, rows, event) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ tenantId, deviceId, received, rows, event, resolve, reject });
        queuedRows += Math.max(1, rows.length);
        // The commit loop serves every writer: it never joins (or waits behind) the caller's transaction.
        running ??= outsideTransaction(loop);
      });
    },
    get queuedRows() {
      return queuedRows;
    },
    async drain() {
      while (running) await running;
    },
  };
}

async function commit(tx: Queryable, batch: Entry[]): Promise<number> {
  const tenant: string[] = [];
  const device: string[] = [];
  const key: string[] = [];
  const ts: number[] = [];
  const num: (number | null)[] = [];
  const str: (string | null)[] = [];
  const bool: (boolean | null)[] = [];
  const received: number[] = [];
  const latest = new Map<string, TelemetryRow>();
  const lastSeen = new Map<string, { tenantId: string; at: number }>();
  const events: Entry[] = [];

  for (const e of batch) {
    const seen = lastSeen.get(e.deviceId);
    if (!seen || seen.at < e.received) lastSeen.set(e.deviceId, { tenantId: e.tenantId, at: e.received });
    if (e.event) events.push(e);
    for (const r of e.rows) {
      tenant.push(r.tenantId);
      device.push(r.deviceId);
      key.push(r.key);
      ts.push(r.ts);
      num.push(typeof r.value === 'number' ? r.value : null);
      str.push(typeof r.value === 'string' ? r.value : null);
      bool.push(typeof r.value === 'boolean' ? r.value : null);
      received.push(e.received);
      const lk = `${r.deviceId}\u0000${r.key}`;
      const prev = latest.get(lk);
      if (!prev || prev.ts <= r.ts) latest.set(lk, r);
    }
  }

  if (key.length > 0) {
    await tx.query(
      `INSERT INTO telemetry (tenant_id, device_id, key, ts, num, str, bool, received_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::float8[], $6::text[], $7::bool[], $8::bigint[])`,
      [tenant, device, key, ts, num, str, bool, received],
    );
    const l = [...latest.values()];
    await tx.query(
      `INSERT INTO telemetry_latest (tenant_id, device_id, key, ts, num, str, bool)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::float8[], $6::text[], $7::bool[])
       ON CONFLICT (device_id, key) DO UPDATE SET ts = excluded.ts, num = excluded.num, str = excluded.str, bool = excluded.bool
       WHERE telemetry_latest.ts <= excluded.ts`,
      [
        l.map((r) => r.tenantId),
        l.map((r) => r.deviceId),
        l.map((r) => r.key),
        l.map((r) => r.ts),
        l.map((r) => (typeof r.value === 'number' ? r.value : null)),
        l.map((r) => (typeof r.value === 'string' ? r.value : null)),
        l.map((r) => (typeof r.value === 'boolean' ? r.value : null)),
      ],
    );
  }
  if (events.length > 0) {
    await tx.query(
      `INSERT INTO device_events (tenant_id, device_id, ts, type, severity, message, data, received_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::bigint[])`,
      [
        events.map((e) => e.tenantId),
        events.map((e) => e.deviceId),
        events.map((e) => e.event!.ts),
        events.map((e) => e.event!.type),
        events.map((e) => e.event!.severity),
        events.map((e) => e.event!.message),
        events.map((e) => (e.event!.data === null ? null : JSON.stringify(e.event!.data))),
        events.map((e) => e.received),
      ],
    );
  }
  const seen = [...lastSeen.entries()];
  await tx.query(
    `UPDATE devices d SET last_seen_at = v.at
       FROM unnest($1::text[], $2::text[], $3::bigint[]) AS v(tenant_id, id, at)
      WHERE d.id = v.id AND d.tenant_id = v.tenant_id AND (d.last_seen_at IS NULL OR d.last_seen_at < v.at)`,
    [seen.map(([, s]) => s.tenantId), seen.map(([id]) => id), seen.map(([, s]) => s.at)],
  );
  return key.length;
}
