/**
 * Limit events kept, bounded: a refusal by a limit is recorded without holding up the answer (queued,
 * written in batches, a failed write logged and dropped), and a subject refused in a loop cannot turn
 * each refusal into a row: per tenant, limit and subject at most one row per window (10 s). Refusals in
 * a window after its stored one are counted, not stored; the count goes with the next row of that
 * subject, or with a row of the last of them when the window closes (the same scheme as the broker's
 * refusals, domains/fleet/refusal-log.ts: both are the platform's coalescing log,
 * platform/coalescing-log.ts). So the rows' `1 + suppressed` add up to the refusals this
 * node saw, and a flood costs at most one row per subject and window.
 */
import {
  COALESCING_WINDOW_MS,
  createCoalescingLog,
  type CoalescingLog,
} from '../../platform/coalescing-log.js';
import type { LimitEventRow } from './store.js';
import type { LimitEventRecorder } from './limits.js';

export const LIMIT_EVENT_WINDOW_MS = COALESCING_WINDOW_MS;
/** How long limit events are kept: housekeeping deletes older rows. */
export const LIMIT_EVENT_RETENTION_MS = 30 * 86_400_000;

export type { LimitEventSubject } from './limits.js';

export interface LimitEventLog extends Omit<CoalescingLog<LimitEventRow>, 'record'>, LimitEventRecorder {}

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
  const now = deps.now ?? Date.now;
  const { record, ...log } = createCoalescingLog<LimitEventRow>({
    insert: (rows) => deps.store.insertEvents(rows),
    purgeBefore: (before, limit) => deps.store.purgeEvents(before, limit),
    retentionMs: LIMIT_EVENT_RETENTION_MS,
    onError: deps.onError,
    name: 'limit event',
    now,
    ...(deps.windowMs !== undefined ? { windowMs: deps.windowMs } : {}),
    ...(deps.timer !== undefined ? { timer: deps.timer } : {}),
  });
  return {
    ...log,
    exceeded(who, d) {
      const subject = who.subject.slice(0, 200);
      return record(`${who.tenantId}\u0000${d.limit}\u0000${subject}`, {
        tenantId: who.tenantId,
        deviceId: who.deviceId ?? null,
        at: now(),
        limit: d.limit,
        scope: d.scope,
        subject,
        configured: d.configured,
        observed: d.observed,
        suppressed: 0,
      });
    },
  };
}
