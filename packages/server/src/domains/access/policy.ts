/**
 * The access decisions, as pure functions over grants: which permissions a grant carries, whether a
 * caller holds a permission over the tenant or only over some devices, whether a device is covered,
 * and whether a caller may hand a grant on (never more than it holds itself).
 */
import { Errors } from '../../errors.js';
import type { DeviceVisibility, EffectiveGrant } from '../../platform/caller.js';
import {
  ALL_PERMISSIONS,
  BUILT_IN_ROLES,
  DEVICE_PERMISSIONS,
  type Grant,
  type Permission,
} from './access.js';

const KNOWN = new Set<string>(ALL_PERMISSIONS);

/** Resolves stored grants to effective ones. A role that no longer exists grants nothing. */
export function resolveGrants(
  grants: readonly Grant[],
  customRoles: ReadonlyMap<string, readonly Permission[]>,
): EffectiveGrant[] {
  return grants.map((g) => {
    const listed =
      g.permissions ?? (g.role ? (BUILT_IN_ROLES[g.role]?.permissions ?? customRoles.get(g.role) ?? []) : []);
    const scoped = g.scope && ('tag' in g.scope || 'deviceId' in g.scope);
    const permissions = new Set<string>(listed.filter((p) => !scoped || DEVICE_PERMISSIONS.has(p)));
    return {
      permissions,
      ...(g.scope && 'tag' in g.scope ? { tag: g.scope.tag } : {}),
      ...(g.scope && 'deviceId' in g.scope ? { deviceId: g.scope.deviceId } : {}),
    };
  });
}

/** Refuses a list naming an unknown permission; `path` is where the list sits in the request. */
export function checkPermissionNames(permissions: readonly string[], path: string): void {
  for (const p of permissions)
    if (!KNOWN.has(p))
      throw Errors.validation(`unknown permission '${p}'`, [{ path, message: `unknown permission '${p}'` }]);
}

/** Refuses grants that name an unknown role or permission, or are neither a role nor permissions. */
export function validateGrants(grants: readonly Grant[], customRoleNames: ReadonlySet<string>): void {
  grants.forEach((g, i) => {
    const path = `/grants/${i}`;
    if ((g.role === undefined) === (g.permissions === undefined))
      throw Errors.validation('a grant names either a role or a list of permissions', [
        { path, message: 'set exactly one of role, permissions' },
      ]);
    if (g.role !== undefined && !BUILT_IN_ROLES[g.role] && !customRoleNames.has(g.role))
      throw Errors.validation(`unknown role '${g.role}'`, [
        { path: `${path}/role`, message: 'unknown role' },
      ]);
    checkPermissionNames(g.permissions ?? [], `${path}/permissions`);
    const scope = g.scope ?? {};
    const kinds = Object.keys(scope);
    if (kinds.length > 1)
      throw Errors.validation('a grant scope is one tag or one device', [
        { path: `${path}/scope`, message: 'set at most one of tag, deviceId' },
      ]);
  });
}

const isTenantWide = (g: EffectiveGrant) => g.tag === undefined && g.deviceId === undefined;

/** How far a caller holds a permission: over the tenant, over some devices, or not at all. */
export function reach(
  grants: readonly EffectiveGrant[],
  permission: Permission,
): { kind: 'tenant' } | { kind: 'devices'; grants: EffectiveGrant[] } | { kind: 'none' } {
  const holding = grants.filter((g) => g.permissions.has(permission));
  if (holding.length === 0) return { kind: 'none' };
  if (holding.some(isTenantWide)) return { kind: 'tenant' };
  return { kind: 'devices', grants: holding };
}

/** Whether scoped grants cover a device with this id and these tags. */
export function coversDevice(
  grants: readonly EffectiveGrant[],
  deviceId: string,
  tags: readonly string[],
): boolean {
  return grants.some(
    (g) =>
      (g.deviceId !== undefined && g.deviceId === deviceId) || (g.tag !== undefined && tags.includes(g.tag)),
  );
}

/** The devices scoped grants make visible in a list. */
export function visibility(grants: readonly EffectiveGrant[]): DeviceVisibility {
  return {
    tags: grants.flatMap((g) => (g.tag !== undefined ? [g.tag] : [])),
    deviceIds: grants.flatMap((g) => (g.deviceId !== undefined ? [g.deviceId] : [])),
  };
}

/**
 * What a holder lacks to hand on `wanted`: each permission of each wanted grant must be held over a
 * scope that contains the wanted one (the tenant contains every scope; a tag or device only itself).
 * Returns the missing `permission@scope` names; empty when the delegation is allowed.
 */
export function missingForDelegation(
  holder: readonly EffectiveGrant[],
  wanted: readonly EffectiveGrant[],
): string[] {
  const missing: string[] = [];
  for (const w of wanted) {
    for (const p of w.permissions) {
      const ok = holder.some(
        (h) =>
          h.permissions.has(p) &&
          (isTenantWide(h) ||
            (h.tag !== undefined && h.tag === w.tag) ||
            (h.deviceId !== undefined && h.deviceId === w.deviceId)),
      );
      if (!ok)
        missing.push(
          `${p}${w.tag !== undefined ? `@tag:${w.tag}` : w.deviceId !== undefined ? `@device:${w.deviceId}` : ''}`,
        );
    }
  }
  return missing;
}

/** The permissions a set of grants carries anywhere, for `GET /v1/auth/me`. */
export function describeGrants(grants: readonly EffectiveGrant[]) {
  return grants.map((g) => ({
    permissions: [...g.permissions].sort(),
    scope: g.tag !== undefined ? { tag: g.tag } : g.deviceId !== undefined ? { deviceId: g.deviceId } : {},
  }));
}
