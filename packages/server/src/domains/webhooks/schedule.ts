/**
 * When a failed delivery is tried again: the Standard Webhooks schedule stretched to about three days
 * (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h after the attempts before: 75.6 h in all),
 * each delay moved by up to ±20 % so that the deliveries of an endpoint that was down do not all come
 * back in the same second. After the last one a delivery is dead (a dead letter, replayable).
 */
export const RETRY_DELAYS_MS = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3600_000,
  5 * 3600_000,
  10 * 3600_000,
  14 * 3600_000,
  20 * 3600_000,
  24 * 3600_000,
] as const;

/** Attempts a delivery gets in all: the first and one per delay. */
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;

/** Longest `Retry-After` honoured: a receiver cannot park a delivery for longer than a day. */
export const MAX_RETRY_AFTER_MS = 24 * 3600_000;

/**
 * The delay before attempt `attempts + 1`, or undefined when `attempts` were all it gets. `scale`
 * compresses the schedule (tests); `random` in [0, 1).
 */
export function retryDelayMs(
  attempts: number,
  scale = 1,
  random: () => number = Math.random,
): number | undefined {
  const base = RETRY_DELAYS_MS[attempts - 1];
  if (base === undefined) return undefined;
  return Math.round(base * scale * (0.8 + 0.4 * random()));
}

/** A `Retry-After` header (seconds or an HTTP date) in ms from `now`; undefined when absent or unreadable. */
export function retryAfterMs(header: string | string[] | undefined, now: number): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - now;
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}
