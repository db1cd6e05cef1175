import { AppError, Errors } from '../../errors.js';
import {
  CONFIGURABLE_LIMITS,
  LIMITS,
  isLimitName,
  overridableAt,
  type LimitName,
  type LimitValues,
} from '../../platform/limits/catalogue.js';
import { clampLimit, type Cursors } from '../../platform/pagination.js';
import type { LimitService, LimitValue, LimitOverrideInput } from './limits.js';
import type { OverrideCache, TenantOverrides } from './resolver.js';
import type { EventRecord, LimitStore } from './store.js';

const DAY = 86_400_000;
const MAX_WINDOW_MS = 30 * DAY;

const isPlace = (v: unknown): v is { at: number; id: string } => {
  const p = v as { at?: unknown; id?: unknown } | null;
  return (
    typeof p === 'object' &&
    p !== null &&
    Number.isSafeInteger(p.at) &&
    typeof p.id === 'string' &&
    /^\d{1,19}$/.test(p.id)
  );
};

export function createLimitService(deps: {
  store: LimitStore;
  cache: OverrideCache;
  defaults: LimitValues;
  cursors: Cursors;
  now?: () => number;
}): LimitService {
  const { store, cache, cursors } = deps;
  const now = deps.now ?? Date.now;
  const base = (limit: LimitName) =>
    (deps.defaults as Partial<Record<LimitName, number>>)[limit] ?? LIMITS[limit].defaultValue;

  function values(o: TenantOverrides, deviceId?: string): LimitValue[] {
    const device =
      deviceId === undefined ? undefined : (o.devices.get(deviceId) ?? new Map<string, number>());
    return CONFIGURABLE_LIMITS.filter((l) => deviceId === undefined || overridableAt(l) === 'device').map(
      (limit) => {
        const spec = LIMITS[limit];
        const overridable = overridableAt(limit);
        const tenantOverride = overridable ? (o.tenant.get(limit) ?? null) : null;
        const deviceOverride = device ? (device.get(limit) ?? null) : null;
        return {
          limit,
          scope: spec.scope,
          unit: spec.unit,
          windowMs: spec.windowMs,
          description: spec.description,
          overridable,
          default: base(limit),
          tenantOverride,
          ...(device ? { deviceOverride } : {}),
          effective: deviceOverride ?? tenantOverride ?? base(limit),
        };
      },
    );
  }

  /** Every item checked before anything is written: an unknown name or a value out of range is a 400 with its path. */
  function check(input: LimitOverrideInput, level: 'tenant' | 'device') {
    const errors: { path: string; message: string }[] = [];
    input.items.forEach((item, i) => {
      if (!isLimitName(item.limit)) {
        errors.push({ path: `/items/${i}/limit`, message: `unknown limit ${item.limit}` });
        return;
      }
      const at = overridableAt(item.limit);
      if (at === null || (level === 'device' && at !== 'device')) {
        errors.push({
          path: `/items/${i}/limit`,
          message: `${item.limit} cannot be overridden per ${level}`,
        });
        return;
      }
      const ceiling = base(item.limit);
      if (item.value !== null && (item.value < 1 || item.value > ceiling))
        errors.push({
          path: `/items/${i}/value`,
          message: `${item.limit} may be set from 1 to ${ceiling} (the server's value): a tenant can tighten a limit, not loosen it`,
        });
    });
    if (errors.length > 0) throw Errors.validation('limit overrides refused', errors);
  }

  async function requireDevice(tenantId: string, deviceId: string) {
    if (!(await store.deviceExists(tenantId, deviceId))) throw Errors.deviceNotFound(deviceId);
  }

  async function write(tenantId: string, deviceId: string | null, input: LimitOverrideInput) {
    const at = now();
    for (const item of input.items) await store.setOverride(tenantId, deviceId, item.limit, item.value, at);
    // Forgotten on this node now; other nodes read it when their entry expires (resolver.ts).
    cache.invalidate(tenantId);
  }

  const fresh = async (tenantId: string) => {
    cache.invalidate(tenantId);
    return cache.get(tenantId);
  };

  const toEvent = (r: EventRecord) => ({
    id: r.id,
    at: Number(r.at),
    limit: r.limit_name,
    scope: r.scope,
    subject: r.subject,
    deviceId: r.device_id,
    configured: Number(r.configured),
    observed: Number(r.observed),
    count: 1 + Number(r.suppressed),
  });

  return {
    async tenantLimits(caller) {
      return values(await fresh(caller.tenantId));
    },
    async setTenantLimits(caller, input) {
      check(input, 'tenant');
      await write(caller.tenantId, null, input);
      return values(await fresh(caller.tenantId));
    },
    async deviceLimits(caller, deviceId) {
      await requireDevice(caller.tenantId, deviceId);
      return values(await fresh(caller.tenantId), deviceId);
    },
    async setDeviceLimits(caller, deviceId, input) {
      await requireDevice(caller.tenantId, deviceId);
      check(input, 'device');
      await write(caller.tenantId, deviceId, input);
      return values(await fresh(caller.tenantId), deviceId);
    },
    async events(caller, q) {
      const t = now();
      if (q.from !== undefined && q.from > t) throw Errors.invalidTimeRange('from is in the future');
      const from = q.from === undefined ? t - DAY : Math.max(q.from, t - MAX_WINDOW_MS);
      if (q.name !== undefined && !isLimitName(q.name))
        throw new AppError('VALIDATION_FAILED', `unknown limit ${q.name}`, {
          errors: [{ path: '/name', message: `unknown limit ${q.name}` }],
        });
      const limit = clampLimit(q.limit);
      const after = cursors.decode(q.cursor, isPlace);
      const rows = await store.events({
        tenantId: caller.tenantId,
        from,
        name: q.name,
        deviceId: q.deviceId,
        visible: caller.visible,
        after,
        limit,
      });
      return cursors.pageOf(rows, limit, toEvent, (r) => ({ at: Number(r.at), id: r.id }));
    },
  };
}
