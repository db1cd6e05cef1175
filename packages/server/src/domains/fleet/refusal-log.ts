/**
 * The broker's refusals of a device, kept (`device_refusals`) so that an operator sees them later
 * (`GET /v1/fleet/problems`), and bounded so that a device refusing in a loop cannot turn each refused
 * packet into a write: per device, kind and code, at most one row per window (10 s). The refusals in
 * a window after its stored one are counted, not stored; the count goes with the next row of that
 * device and code (`suppressed`), or, when none comes, with a row of the last of them written when the
 * window closes. So every refusal is counted once: the rows' `1 + suppressed` add up to the refusals
 * this node saw (each node bounds its own connections).
 *
 * Writes do not hold up the broker: they are queued, written in batches, and a failed write is
 * logged and dropped (the refusal notice and the metric went out anyway).
 */
import type { DeviceIdentity } from '../../platform/caller.js';
import type { RefusalRow } from './problems-store.js';

export const REFUSAL_WINDOW_MS = 10_000;
/** How long refusals are kept: housekeeping deletes older rows. */
export const REFUSAL_RETENTION_MS = 30 * 86_400_000;
/** At most this many rows wait to be written; past it new ones are dropped (and counted as dropped). */
const MAX_QUEUED = 10_000;
const TEXT_MAX = 512;

export interface Refusal {
  kind: RefusalRow['kind'];
  code: string;
  topic: string | null;
  message: string;
}

export interface RefusalLog {
  /** The broker refused the device something. Returns whether a row is written for it now. */
  refused(device: DeviceIdentity, refusal: Refusal): boolean;
  /** Closes the windows that ended and writes what waits; resolves once written. */
  flush(): Promise<void>;
  /** Stops the timer and writes every open window's count. */
  close(): Promise<void>;
  /** Deletes rows past their keeping; how many. */
  purge(): Promise<number>;
}

interface Window {
  until: number;
  device: DeviceIdentity;
  /** Refusals counted in this window and not stored. */
  suppressed: number;
  last?: { at: number; refusal: Refusal };
}

const cut = (text: string) => (text.length > TEXT_MAX ? `${text.slice(0, TEXT_MAX - 1)}…` : text);

export function createRefusalLog(deps: {
  store: {
    insertRefusals(rows: readonly RefusalRow[]): Promise<void>;
    purgeRefusals(before: number, limit: number): Promise<number>;
  };
  onError(err: unknown, dropped: number): void;
  windowMs?: number;
  now?: () => number;
  /** Whether a timer closes windows by itself (tests call `flush`). */
  timer?: boolean;
}): RefusalLog {
  const windowMs = deps.windowMs ?? REFUSAL_WINDOW_MS;
  const now = deps.now ?? Date.now;
  const windows = new Map<string, Window>();
  let queued: RefusalRow[] = [];
  let writing: Promise<void> = Promise.resolve();

  const row = (device: DeviceIdentity, at: number, r: Refusal, suppressed: number): RefusalRow => ({
    tenantId: device.tenantId,
    deviceId: device.deviceId,
    at,
    kind: r.kind,
    code: r.code,
    topic: r.topic === null ? null : cut(r.topic),
    message: cut(r.message),
    suppressed,
  });

  function queue(r: RefusalRow) {
    if (queued.length >= MAX_QUEUED) return deps.onError(new Error('refusal queue full'), 1);
    queued.push(r);
    if (queued.length === 1) queueMicrotask(write);
  }

  function write() {
    const rows = queued;
    queued = [];
    if (rows.length === 0) return;
    writing = writing.then(() =>
      deps.store.insertRefusals(rows).catch((err: unknown) => deps.onError(err, rows.length)),
    );
  }

  /** Closes windows that ended by `at` (all of them with `all`): their counts become rows. */
  function sweep(at: number, all = false) {
    for (const [key, w] of windows) {
      if (!all && w.until > at) continue;
      windows.delete(key);
      if (w.last) queue(row(w.device, w.last.at, w.last.refusal, w.suppressed - 1));
    }
  }

  const timer = deps.timer === false ? undefined : setInterval(() => sweep(now()), windowMs);
  timer?.unref();

  return {
    refused(device, refusal) {
      const at = now();
      const key = `${device.tenantId}\u0000${device.deviceId}\u0000${refusal.kind}\u0000${refusal.code}`;
      const w = windows.get(key);
      if (w && at < w.until) {
        w.suppressed += 1;
        w.last = { at, refusal };
        return false;
      }
      // A new window: this refusal is stored, carrying the count of the last window's unstored ones.
      windows.set(key, { until: at + windowMs, device, suppressed: 0 });
      queue(row(device, at, refusal, w?.suppressed ?? 0));
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
      const before = now() - REFUSAL_RETENTION_MS;
      let purged = 0;
      for (;;) {
        const n = await deps.store.purgeRefusals(before, 1000);
        purged += n;
        if (n < 1000) return purged;
      }
    },
  };
}
