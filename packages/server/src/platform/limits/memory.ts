/**
 * The limiter on one node: counts in memory, in fixed windows, with rate-limiter-flexible's
 * RateLimiterMemory (one per limit). The same library has Redis and PostgreSQL limiters with the same
 * calls (`penalty`, `get`, `delete`), so a shared backend for several nodes replaces only this file.
 *
 * The library is used as a windowed counter (`penalty` counts without judging) and the judging is
 * done here against the value the resolver gives, so a per-tenant or per-device override changes a
 * subject's limit without a limiter of its own. State is lost on restart, which errs on the side of
 * letting clients in.
 */
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { LIMITS, DEFAULT_LIMIT_VALUES, type LimitName, type LimitValues } from './catalogue.js';
import type { LimitContext, LimitDecision, LimitResolver, Limiter, LimitSubject } from './limits.js';

/** The resolver with no overrides: the configured defaults, and the catalogue's for the rest. */
export function defaultsResolver(values: LimitValues = DEFAULT_LIMIT_VALUES): LimitResolver {
  return (limit) => (values as Partial<Record<LimitName, number>>)[limit] ?? LIMITS[limit].defaultValue;
}

export function createMemoryLimiter(resolve: LimitResolver = defaultsResolver()): Limiter {
  const counters = new Map<LimitName, RateLimiterMemory>();

  function counter(limit: LimitName): RateLimiterMemory {
    let c = counters.get(limit);
    if (!c) {
      const { windowMs, defaultValue } = LIMITS[limit];
      if (windowMs === null)
        throw new Error(`${limit} is a cap counted by its owner, not a windowed limit: use configured()`);
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
      retryAfterMs: allowed ? 0 : Math.max(1, msBeforeNext),
    };
  }

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
  };
}
