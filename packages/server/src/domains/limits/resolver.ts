/**
 * The values the limiter counts against: the configured default, the tenant's override, or the
 * device's override, whichever is most specific. A tenant's overrides are read from the store at
 * most once per `ttlMs` on this node (they are few and read on every count) and forgotten at once
 * when this node writes them, so the next count after a change uses it.
 *
 * Several nodes: another node's cache keeps the old value until its entry expires (`ttlMs`). When the
 * limiter's counts move to a shared store, the invalidation should go with them (a notification per
 * write, e.g. PostgreSQL LISTEN/NOTIFY or the shared store's pub/sub) instead of relying on the TTL.
 */
import { LIMITS, overridableAt, type LimitName, type LimitValues } from '../../platform/limits/catalogue.js';
import type { LimitContext, LimitResolver } from '../../platform/limits/limits.js';
import type { OverrideRow } from './store.js';

export const OVERRIDE_CACHE_MS = 2000;

export interface TenantOverrides {
  tenant: Map<string, number>;
  devices: Map<string, Map<string, number>>;
}

export interface OverrideCache {
  get(tenantId: string): Promise<TenantOverrides>;
  invalidate(tenantId: string): void;
}

export function createOverrideCache(deps: {
  read(tenantId: string): Promise<OverrideRow[]>;
  ttlMs?: number;
  now?: () => number;
}): OverrideCache {
  const ttl = deps.ttlMs ?? OVERRIDE_CACHE_MS;
  const now = deps.now ?? Date.now;
  const entries = new Map<string, { until: number; value: Promise<TenantOverrides> }>();
  return {
    get(tenantId) {
      const t = now();
      const hit = entries.get(tenantId);
      if (hit && hit.until > t) return hit.value;
      const value = deps.read(tenantId).then((rows) => {
        const o: TenantOverrides = { tenant: new Map(), devices: new Map() };
        for (const r of rows) {
          if (r.deviceId === null) o.tenant.set(r.limit, r.value);
          else {
            let d = o.devices.get(r.deviceId);
            if (!d) o.devices.set(r.deviceId, (d = new Map()));
            d.set(r.limit, r.value);
          }
        }
        return o;
      });
      // A failed read is not kept: the next count asks again.
      value.catch(() => entries.delete(tenantId));
      entries.set(tenantId, { until: t + ttl, value });
      // Entries of tenants no longer counted go when they would be read again; keep the map bounded.
      if (entries.size > 10_000) for (const [k, e] of entries) if (e.until <= t) entries.delete(k);
      return value;
    },
    invalidate(tenantId) {
      entries.delete(tenantId);
    },
  };
}

/**
 * The resolver over the configured defaults and the stored overrides. When the overrides cannot be
 * read, the default applies (a store outage must not turn every request into a 500 here), and
 * `onError` says so.
 */
export function storeResolver(deps: {
  defaults: LimitValues;
  cache: OverrideCache;
  onError(err: unknown): void;
}): LimitResolver {
  const base = (limit: LimitName) =>
    (deps.defaults as Partial<Record<LimitName, number>>)[limit] ?? LIMITS[limit].defaultValue;
  return async (limit: LimitName, ctx: LimitContext) => {
    const at = overridableAt(limit);
    if (at === null || ctx.tenantId === undefined) return base(limit);
    let o: TenantOverrides;
    try {
      o = await deps.cache.get(ctx.tenantId);
    } catch (err) {
      deps.onError(err);
      return base(limit);
    }
    const device = at === 'device' && ctx.deviceId !== undefined ? o.devices.get(ctx.deviceId) : undefined;
    return device?.get(limit) ?? o.tenant.get(limit) ?? base(limit);
  };
}
