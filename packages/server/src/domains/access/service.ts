/**
 * Custom roles per tenant, with a short cache for resolving grants on every authenticated request.
 * Defining, changing and deleting a role follow the delegation rule (`delegation.ts`): the caller
 * holds, over the whole tenant, every permission the role holds before and after, and everything
 * whoever last defined the role held then (a role records that authority).
 */
import { whenCommitted } from '../../store/ambient.js';
import { AppError, Errors } from '../../errors.js';
import { principalName, type TenantCaller } from '../../platform/caller.js';
import type { Transaction } from '../../store/db.js';
import { authorityOf, delegationRefused, missingFor } from './delegation.js';
import { checkPermissionNames } from './policy.js';
import {
  ALL_PERMISSIONS,
  BUILT_IN_ROLES,
  type CustomRoleInput,
  type Grant,
  type Permission,
  type RoleDefinition,
  type RoleService,
} from './access.js';
import type { RoleRow, RoleStore } from './store.js';

/** A role defined before its definer's authority was recorded counts as defined by an owner. */
const UNRECORDED_DEFINER: Grant[] = [{ permissions: [...ALL_PERMISSIONS] }];

/**
 * Refuses a role change the caller lacks the authority for: `grants` are what the role holds before
 * and after the change, and its definer's authority. Role grants list permissions, never roles.
 */
function checkRoleAuthority(caller: TenantCaller, name: string, doing: string, grants: Grant[]): void {
  const missing = missingFor(caller.principal, grants, new Map());
  if (missing.length > 0) throw delegationRefused(caller.principal, `${doing} role '${name}'`, missing);
}

/**
 * How long a node may use a tenant's custom roles before reading them again. A change made on this
 * node applies at once; one made on another node within this time.
 */
const CACHE_MS = 5_000;

export function createRoleService(deps: {
  store: RoleStore;
  transaction: Transaction<RoleStore>;
  now?: () => number;
}): RoleService {
  const { store, transaction } = deps;
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { at: number; roles: Map<string, Permission[]> }>();

  function checkPermissions(permissions: readonly string[]) {
    if (permissions.length === 0)
      throw Errors.validation('a role needs at least one permission', [
        { path: '/permissions', message: 'empty' },
      ]);
    checkPermissionNames(permissions, '/permissions');
  }

  async function lockRole(tx: RoleStore, tenantId: string, name: string) {
    const row = await tx.lock(tenantId, name);
    if (!row) throw new AppError('ROLE_NOT_FOUND', `no custom role '${name}'`);
    return row;
  }

  const toRole = (r: RoleRow): RoleDefinition => ({
    name: r.name,
    description: r.description,
    permissions: r.permissions,
    builtIn: false,
  });

  return {
    async list(caller) {
      const rows = await store.list(caller.tenantId);
      return [...Object.values(BUILT_IN_ROLES), ...rows.map(toRole)];
    },
    async create(caller, input: CustomRoleInput) {
      if (BUILT_IN_ROLES[input.name]) throw Errors.alreadyExists(`built-in role '${input.name}'`);
      checkPermissions(input.permissions);
      checkRoleAuthority(caller, input.name, 'define', [{ permissions: input.permissions }]);
      const t = now();
      await store.insert({
        tenantId: caller.tenantId,
        name: input.name,
        description: input.description ?? '',
        permissions: input.permissions,
        definedBy: principalName(caller.principal),
        definerGrants: authorityOf(caller.principal),
        at: t,
      });
      cache.delete(caller.tenantId);
      whenCommitted(() => cache.delete(caller.tenantId));
      return toRole({
        name: input.name,
        description: input.description ?? '',
        permissions: input.permissions,
      });
    },
    async update(caller, name, input) {
      checkPermissions(input.permissions);
      // Read, check and write in one transaction, so that a concurrent change cannot slip between.
      const r = await transaction(async (tx) => {
        const current = await lockRole(tx, caller.tenantId, name);
        // The holders of the role get the new permissions: a grant to each of them.
        checkRoleAuthority(caller, name, 'change', [
          { permissions: current.permissions },
          ...(current.definer_grants ?? UNRECORDED_DEFINER),
          { permissions: input.permissions },
        ]);
        return tx.update({
          tenantId: caller.tenantId,
          name,
          permissions: input.permissions,
          description: input.description ?? null,
          definedBy: principalName(caller.principal),
          definerGrants: authorityOf(caller.principal),
          at: now(),
        });
      });
      cache.delete(caller.tenantId);
      whenCommitted(() => cache.delete(caller.tenantId));
      return toRole(r);
    },
    async delete(caller, name) {
      await transaction(async (tx) => {
        const current = await lockRole(tx, caller.tenantId, name);
        checkRoleAuthority(caller, name, 'delete', [
          { permissions: current.permissions },
          ...(current.definer_grants ?? UNRECORDED_DEFINER),
        ]);
        await tx.delete(caller.tenantId, name);
      });
      cache.delete(caller.tenantId);
      whenCommitted(() => cache.delete(caller.tenantId));
    },
    async customPermissions(tenantId, fresh = false) {
      const hit = cache.get(tenantId);
      const t = now();
      if (!fresh && hit && t - hit.at < CACHE_MS) return hit.roles;
      const rows = await store.permissions(tenantId);
      const roles = new Map(rows.map((r) => [r.name, r.permissions]));
      cache.set(tenantId, { at: t, roles });
      return roles;
    },
  };
}
