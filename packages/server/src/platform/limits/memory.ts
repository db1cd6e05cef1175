/**
 * The limiter on one node: counts in memory, in fixed windows, with rate-limiter-flexible's
 * RateLimiterMemory (one per limit). The same library has Redis and PostgreSQL limiters with the same
 * calls (`penalty`, `get`, `delete`), so a shared backend for several nodes replaces only this file.
 *
 * The library is used as a windowed counter (`penalty` counts without judging) and the judging is
 * done here against the value the resolver gives, so a per-tenant or per-device override changes a
 * subject's limit without a limiter of its own. State is lost on restart, which errs on the side of
 * letting clients in.
 *
 * Caps (no window: connections open at once) are plain counts per subject here, taken by `acquire`
 * and given back by their holder; a subject whose count falls to 0 is forgotten, so the map holds only
 * subjects with places taken.
 */
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { LIMITS, DEFAULT_LIMIT_VALUES, type LimitName, type LimitValues } from './catalogue.js';
import type {
  LimitContext,
  LimitDecision,
  LimitHold,
  LimitResolver,
  Limiter,
  LimitSubject,
} from './limits.js';

/** The resolver with no overrides: the configured defaults, and the catalogue's for the rest. */
export function defaultsResolver(values: LimitValues = DEFAULT_LIMIT_VALUES): LimitResolver {
  return (limit) => (values as Partial<Record<LimitName, number>>)[limit] ?? LIMITS[limit].defaultValue;
}

export function createMemoryLimiter(resolve: LimitResolver = defaultsResolver()): Limiter {
  const counters = new Map<LimitName, RateLimiterMemory>();
  /** Places taken under caps: limit → subject key → places. */
  const held = new Map<LimitName, Map<string, number>>();

  function counter(limit: LimitName): RateLimiterMemory {
    let c = counters.get(limit);
    if (!c) {
      const { windowMs, defaultValue } = LIMITS[limit];
      if (windowMs === null)
        throw new Error(
          `${limit} is a cap counted by its owner, not a windowed limit: use acquire() or configured()`,
        );
      c = new RateLimiterMemory({ keyPrefix: limit, points: defaultValue, duration: windowMs / 1000 });
      counters.set(limit, c);
    }
    return c;
  }

  async function configured(limit: LimitName, context: LimitContext = {}) {
    return resolve(limit, context);
  }

  function decide(
    limit: LimitName,
    value: number,
    observed: number,
    msBeforeNext: number,
    allowed: boolean,
  ): LimitDecision {
    return {
      limit,
      scope: LIMITS[limit].scope,
      allowed,
      observed,
      configured: value,
      remaining: Math.max(0, value - observed),
      retryAfterMs: allowed || LIMITS[limit].windowMs === null ? 0 : Math.max(1, msBeforeNext),
    };
  }

  const refusedHold = (decision: LimitDecision): LimitHold => ({ decision, release: () => undefined });

  const contextOf = (s: LimitSubject): LimitContext => ({
    ...(s.tenantId !== undefined ? { tenantId: s.tenantId } : {}),
    ...(s.deviceId !== undefined ? { deviceId: s.deviceId } : {}),
  });

  return {
    configured,
    async consume(limit, subject, cost = 1) {
      const c = counter(limit);
      const value = await configured(limit, contextOf(subject));
      const res = await c.penalty(subject.key, cost);
      return decide(limit, value, res.consumedPoints, res.msBeforeNext, res.consumedPoints <= value);
    },
    async peek(limit, subject, cost = 1) {
      const c = counter(limit);
      const value = await configured(limit, contextOf(subject));
      const res = await c.get(subject.key);
      const observed = res?.consumedPoints ?? 0;
      return decide(limit, value, observed, res?.msBeforeNext ?? 0, observed + cost <= value);
    },
    async reset(limit, subject) {
      await counter(limit).delete(subject.key);
    },
    async acquire(limit, subject, options = {}) {
      if (LIMITS[limit].windowMs !== null)
        throw new Error(`${limit} is a windowed limit, not a cap: use consume()`);
      const value = await configured(limit, contextOf(subject));
      let counts = held.get(limit);
      if (!counts) held.set(limit, (counts = new Map()));
      const { key } = subject;
      const taken = counts.get(key) ?? 0;
      const observed = taken + 1;
      if (observed - (options.replacing ? 1 : 0) > value)
        return refusedHold(decide(limit, value, observed, 0, false));
      counts.set(key, observed);
      let released = false;
      return {
        decision: decide(limit, value, observed, 0, true),
        release() {
          if (released) return;
          released = true;
          const left = (counts.get(key) ?? 1) - 1;
          if (left > 0) counts.set(key, left);
          else counts.delete(key);
        },
      };
    },
  };
}
