/**
 * Limit events kept, bounded: a refusal by a limit is recorded without holding up the answer (queued,
 * written in batches, a failed write logged and dropped), and a subject refused in a loop cannot turn
 * each refusal into a row: per tenant, limit and subject at most one row per window (10 s). Refusals in
 * a window after its stored one are counted, not stored; the count goes with the next row of that
 * subject, or with a row of the last of them when the window closes (the same scheme as the broker's
 * refusals, domains/fleet/refusal-log.ts). So the rows' `1 + suppressed` add up to the refusals this
 * node saw, and a flood costs at most one row per subject and window.
 */
import type { LimitDecision } from '../../platform/limits/limits.js';
import type { LimitEventRow } from './store.js';

export const LIMIT_EVENT_WINDOW_MS = 10_000;
/** How long limit events are kept: housekeeping deletes older rows. */
export const LIMIT_EVENT_RETENTION_MS = 30 * 86_400_000;
const MAX_QUEUED = 10_000;
/** Windows open at once; past it, new subjects are counted in the metric only (a flood of subjects). */
const MAX_WINDOWS = 50_000;

/** Whose refusal: the tenant, the count's subject (api-key:ID, user:ID, device:ID), the device if any. */
export interface LimitEventSubject {
  tenantId: string;
  subject: string;
  deviceId?: string | undefined;
}

export interface LimitEventLog {
  /** A refusal by a limit. Returns whether a row is written for it now. */
  exceeded(who: LimitEventSubject, decision: LimitDecision): boolean;
  flush(): Promise<void>;
  close(): Promise<void>;
  purge(): Promise<number>;
}

interface Window {
  until: number;
  suppressed: number;
  last?: LimitEventRow;
}

export function createLimitEventLog(deps: {
  store: {
    insertEvents(rows: readonly LimitEventRow[]): Promise<void>;
    purgeEvents(before: number, limit: number): Promise<number>;
  };
  onError(err: unknown, dropped: number): void;
  windowMs?: number;
  now?: () => number;
  timer?: boolean;
}): LimitEventLog {
  const windowMs = deps.windowMs ?? LIMIT_EVENT_WINDOW_MS;
  const now = deps.now ?? Date.now;
  const windows = new Map<string, Window>();
  let queued: LimitEventRow[] = [];
  let writing: Promise<void> = Promise.resolve();

  function queue(r: LimitEventRow) {
    if (queued.length >= MAX_QUEUED) return deps.onError(new Error('limit event queue full'), 1);
    queued.push(r);
    if (queued.length === 1) queueMicrotask(write);
  }

  function write() {
    const rows = queued;
    queued = [];
    if (rows.length === 0) return;
    writing = writing.then(() =>
      deps.store.insertEvents(rows).catch((err: unknown) => deps.onError(err, rows.length)),
    );
  }

  function sweep(at: number, all = false) {
    for (const [key, w] of windows) {
      if (!all && w.until > at) continue;
      windows.delete(key);
      if (w.last) queue({ ...w.last, suppressed: w.suppressed - 1 });
    }
  }

  const timer = deps.timer === false ? undefined : setInterval(() => sweep(now()), windowMs);
  timer?.unref();

  return {
    exceeded(who, d) {
      const at = now();
      const row: LimitEventRow = {
        tenantId: who.tenantId,
        deviceId: who.deviceId ?? null,
        at,
        limit: d.limit,
        scope: d.scope,
        subject: who.subject.slice(0, 200),
        configured: d.configured,
        observed: d.observed,
        suppressed: 0,
      };
      const key = `${who.tenantId}\u0000${d.limit}\u0000${row.subject}`;
      const w = windows.get(key);
      if (w && at < w.until) {
        w.suppressed += 1;
        w.last = row;
        return false;
      }
      if (!w && windows.size >= MAX_WINDOWS) {
        sweep(at);
        if (windows.size >= MAX_WINDOWS) {
          deps.onError(new Error('too many limit event windows'), 1);
          return false;
        }
      }
      windows.set(key, { until: at + windowMs, suppressed: 0 });
      queue({ ...row, suppressed: w?.suppressed ?? 0 });
      return true;
    },
    async flush() {
      sweep(now());
      write();
      await writing;
    },
    async close() {
      if (timer) clearInterval(timer);
      sweep(now(), true);
      write();
      await writing;
    },
    async purge() {
      const before = now() - LIMIT_EVENT_RETENTION_MS;
      let purged = 0;
      for (;;) {
        const n = await deps.store.purgeEvents(before, 1000);
        purged += n;
        if (n < 1000) return purged;
      }
    },
  };
}
