import { parseFirmwareReport, parseSemver } from '@mooring/protocol';
import { AppError, Errors } from '../../errors.js';
import type { FleetService } from './fleet.js';
import type { FleetStore } from './store.js';

export interface FleetDeps {
  store: FleetStore;
  now?: () => number;
}

export function createFleetService(deps: FleetDeps): FleetService {
  const { store } = deps;
  const now = deps.now ?? Date.now;
  return {
    report(device, payload, received = now()) {
      const parsed = parseFirmwareReport(payload);
      if (!parsed.ok) {
        const { code, message, path } = parsed.error;
        throw new AppError(code, message, { errors: [{ path, message }] });
      }
      const r = parsed.value;
      return store.setFirmware(device.tenantId, device.deviceId, r, received).then((found) => {
        if (!found) throw Errors.deviceNotFound(device.deviceId);
        return { version: r.version, hardwareClass: r.hardwareClass, reportedAt: received };
      });
    },

    async versions(caller, query) {
      const scope = {
        ...(caller.visible ? { visible: caller.visible } : {}),
        ...(query.tag ? { tag: query.tag } : {}),
      };
      const byTag = query.by === 'tag';
      const [counts, policies, below, states] = await Promise.all([
        byTag
          ? store.distributionByTag(caller.tenantId, scope)
          : store.distribution(caller.tenantId, scope).then((plain) => ({ plain, byTag: plain })),
        store.policies(caller.tenantId),
        store.belowMinimum(caller.tenantId, scope),
        store.states(caller.tenantId, scope),
      ]);
      // Split by tag, a device counts once per tag: the totals come from the plain counts.
      const { plain, byTag: items } = counts;
      const policy = policies.map((p) => ({ ...p, belowMinimum: below.get(p.hardwareClass) ?? 0 }));
      return {
        total: plain.reduce((n, i) => n + i.count, 0),
        neverReported: plain.filter((i) => i.version === null).reduce((n, i) => n + i.count, 0),
        ...states,
        belowMinimum: policy.reduce((n, p) => n + p.belowMinimum, 0),
        items,
        policy,
      };
    },

    policy: (caller) => store.policies(caller.tenantId),

    async setPolicy(caller, input) {
      let min: { version: string; key: ReturnType<typeof keyOf> } | null = null;
      if (input.minVersion !== null) min = { version: input.minVersion, key: keyOf(input.minVersion) };
      await store.setPolicy(caller.tenantId, input.hardwareClass, min, now());
      return store.policies(caller.tenantId);
    },
  };
}

function keyOf(version: string) {
  const parsed = parseSemver(version);
  if (!parsed.ok)
    throw new AppError('INVALID_FIRMWARE_REPORT', parsed.message, {
      errors: [{ path: '/minVersion', message: parsed.message }],
    });
  return parsed.key;
}
