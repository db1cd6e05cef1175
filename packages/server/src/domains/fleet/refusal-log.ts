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
 * logged and dropped (the refusal notice and the metric went out anyway). The mechanism is the
 * platform's coalescing log (platform/coalescing-log.ts); this file says what a refusal's row and key are.
 */
import type { DeviceIdentity } from '../../platform/caller.js';
import {
  COALESCING_WINDOW_MS,
  createCoalescingLog,
  type CoalescingLog,
} from '../../platform/coalescing-log.js';
import type { RefusalRow } from './problems-store.js';

export const REFUSAL_WINDOW_MS = COALESCING_WINDOW_MS;
/** How long refusals are kept: housekeeping deletes older rows. */
export const REFUSAL_RETENTION_MS = 30 * 86_400_000;
const TEXT_MAX = 512;

export interface Refusal {
  kind: RefusalRow['kind'];
  code: string;
  topic: string | null;
  message: string;
}

export interface RefusalLog extends Omit<CoalescingLog<RefusalRow>, 'record'> {
  /** The broker refused the device something. Returns whether a row is written for it now. */
  refused(device: DeviceIdentity, refusal: Refusal): boolean;
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
  const now = deps.now ?? Date.now;
  const { record, ...log } = createCoalescingLog<RefusalRow>({
    insert: (rows) => deps.store.insertRefusals(rows),
    purgeBefore: (before, limit) => deps.store.purgeRefusals(before, limit),
    retentionMs: REFUSAL_RETENTION_MS,
    onError: deps.onError,
    name: 'refusal',
    now,
    ...(deps.windowMs !== undefined ? { windowMs: deps.windowMs } : {}),
    ...(deps.timer !== undefined ? { timer: deps.timer } : {}),
  });
  return {
    ...log,
    refused(device, r) {
      return record(`${device.tenantId}\u0000${device.deviceId}\u0000${r.kind}\u0000${r.code}`, {
        tenantId: device.tenantId,
        deviceId: device.deviceId,
        at: now(),
        kind: r.kind,
        code: r.code,
        topic: r.topic === null ? null : cut(r.topic),
        message: cut(r.message),
        suppressed: 0,
      });
    },
  };
}
