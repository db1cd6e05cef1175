/**
 * A record of refusals kept, bounded: each refusal is recorded without holding up the answer (queued,
 * written in batches, a failed write logged and dropped), and a subject refused in a loop cannot turn
 * each refusal into a row: per key, at most one row per window (10 s by default). Refusals in a window
 * after its stored one are counted, not stored; the count goes with the next row of that key
 * (`suppressed`), or, when none comes, with a row of the last of them written when the window closes.
 * So the rows' `1 + suppressed` add up to the refusals this node saw, and a flood costs at most one row
 * per key and window. Open windows are capped too: past the cap a new key is counted in `onError` only.
 *
 * The broker's refusals of devices (domains/fleet/refusal-log.ts) and the limit events
 * (domains/limits/event-log.ts) are two such logs.
 *
 * The writes run outside any ambient transaction (store/ambient.ts): a refusal is often recorded by a
 * request whose transaction its own refusal then rolls back, and the record must outlive it.
 */
import { outsideTransaction } from '../store/ambient.js';

export interface CoalescedRow {
  at: number;
  /** Refusals of the same key counted and not stored before this row. */
  suppressed: number;
}

export interface CoalescingLog<Row extends CoalescedRow> {
  /** A refusal under `key`. Returns whether a row is written for it now. */
  record(key: string, row: Row): boolean;
  /** Closes the windows that ended and writes what waits; resolves once written. */
  flush(): Promise<void>;
  /** Stops the timer and writes every open window's count. */
  close(): Promise<void>;
  /** Deletes rows past their keeping; how many. */
  purge(): Promise<number>;
}

export interface CoalescingLogOptions<Row> {
  insert(rows: readonly Row[]): Promise<void>;
  /** Deletes at most `limit` rows older than `before`; how many. */
  purgeBefore(before: number, limit: number): Promise<number>;
  /** How long rows are kept (ms). */
  retentionMs: number;
  /** What is dropped: a failed write, a full queue, a key past the window cap. */
  onError(err: unknown, dropped: number): void;
  /** What the log holds, for the errors it reports ("refusal", "limit event"). */
  name: string;
  windowMs?: number;
  now?: () => number;
  /** Whether a timer closes windows by itself (tests call `flush`). */
  timer?: boolean;
}

export const COALESCING_WINDOW_MS = 10_000;
/** At most this many rows wait to be written; past it new ones are dropped (and reported). */
const MAX_QUEUED = 10_000;
/** Windows open at once; past it, new keys are reported only (a flood of subjects). */
const MAX_WINDOWS = 50_000;
const PURGE_BATCH = 1000;

interface Window<Row> {
  until: number;
  suppressed: number;
  last?: Row;
}

export function createCoalescingLog<Row extends CoalescedRow>(
  options: CoalescingLogOptions<Row>,
): CoalescingLog<Row> {
  const windowMs = options.windowMs ?? COALESCING_WINDOW_MS;
  const now = options.now ?? Date.now;
  const windows = new Map<string, Window<Row>>();
  let queued: Row[] = [];
  let writing: Promise<void> = Promise.resolve();

  function queue(r: Row) {
    if (queued.length >= MAX_QUEUED) return options.onError(new Error(`${options.name} queue full`), 1);
    queued.push(r);
    if (queued.length === 1) queueMicrotask(() => outsideTransaction(write));
  }

  function write() {
    const rows = queued;
    queued = [];
    if (rows.length === 0) return;
    writing = writing.then(() =>
      options.insert(rows).catch((err: unknown) => options.onError(err, rows.length)),
    );
  }

  /** Closes windows that ended by `at` (all of them with `all`): their counts become rows. */
  function sweep(at: number, all = false) {
    for (const [key, w] of windows) {
      if (!all && w.until > at) continue;
      windows.delete(key);
      if (w.last) queue({ ...w.last, suppressed: w.suppressed - 1 });
    }
  }

  const timer = options.timer === false ? undefined : setInterval(() => sweep(now()), windowMs);
  timer?.unref();

  return {
    record(key, row) {
      const at = row.at;
      const w = windows.get(key);
      if (w && at < w.until) {
        w.suppressed += 1;
        w.last = row;
        return false;
      }
      if (!w && windows.size >= MAX_WINDOWS) {
        sweep(at);
        if (windows.size >= MAX_WINDOWS) {
          options.onError(new Error(`too many ${options.name} windows`), 1);
          return false;
        }
      }
      // A new window: this refusal is stored, carrying the count of the last window's unstored ones.
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
      const before = now() - options.retentionMs;
      let purged = 0;
      for (;;) {
        const n = await options.purgeBefore(before, PURGE_BATCH);
        purged += n;
        if (n < PURGE_BATCH) return purged;
      }
    },
  };
}
