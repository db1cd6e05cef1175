/**
 * The delegation rule: nobody passes on, or gets a lever over, more than they hold themselves. It
 * covers handing grants on (API keys, invitations, users' grants), defining, widening and deleting
 * custom roles (a role's holders get whatever the role holds, so widening a role is a grant to each of
 * them), and acting on a credential (rotating or revoking a key, revoking an invitation, changing,
 * disabling or deleting a user, ending their sessions): each needs the caller to hold everything the
 * target holds, over the same or a wider scope. The rule lives here so that every service that hands
 * grants on or acts on a credential asks the same question and refuses with the same answer.
 */
import { AppError, Errors } from '../../errors.js';
import { principalName, type Principal, type TenantCaller } from '../../platform/caller.js';
import { ALL_PERMISSIONS, type Grant, type Permission, type RoleService } from './access.js';
import { missingForDelegation, resolveGrants, validateGrants } from './policy.js';

/**
 * What a caller lacks to act on `target` (grants as stored, custom roles resolved through `customs`):
 * `permission@scope` names, empty when the caller holds it all. Platform administrators bootstrap
 * tenants and are not limited; a device holds nothing.
 */
export function missingFor(
  p: Principal,
  target: readonly Grant[],
  customs: ReadonlyMap<string, readonly Permission[]>,
): string[] {
  if (p.kind === 'platform-admin') return [];
  if (p.kind === 'device') return [...ALL_PERMISSIONS];
  return [...new Set(missingForDelegation(p.grants, resolveGrants(target, customs)))];
}

/** The one refusal of the rule: 403 FORBIDDEN whose `missing` lists `permission@scope` names. */
export function delegationRefused(p: Principal, doing: string, missing: readonly string[]): AppError {
  return new AppError(
    'FORBIDDEN',
    `${principalName(p)} cannot ${doing}: it does not hold ${missing.join(', ')}`,
    { details: { missing } },
  );
}

/** Refuses unless the caller holds everything `target` holds, custom roles resolved by `customs`. */
function refuseUnheld(
  caller: TenantCaller,
  target: readonly Grant[],
  customs: ReadonlyMap<string, readonly Permission[]>,
  doing: string,
): void {
  const p = caller.principal;
  if (p.kind === 'device') throw Errors.forbidden();
  const missing = missingFor(p, target, customs);
  if (missing.length > 0) throw delegationRefused(p, doing, missing);
}

/**
 * Checks that the caller holds everything `target` holds: the grants of a credential it wants to act
 * on (`doing` says which, for the refusal). A grant naming a role that no longer exists holds
 * nothing. Custom roles are read fresh: a role just changed on another node counts as changed.
 */
export async function checkHolds(
  roles: Pick<RoleService, 'customPermissions'>,
  caller: TenantCaller,
  target: readonly Grant[],
  doing: string,
): Promise<void> {
  if (caller.principal.kind === 'platform-admin') return;
  refuseUnheld(caller, target, await roles.customPermissions(caller.tenantId, true), doing);
}

/**
 * Checks grants a caller wants to hand on: known roles and permissions, and nothing the caller does
 * not hold itself over the same scope.
 */
export async function checkDelegation(
  roles: Pick<RoleService, 'customPermissions'>,
  caller: TenantCaller,
  grants: Grant[],
): Promise<void> {
  const customs = await roles.customPermissions(caller.tenantId, true);
  validateGrants(grants, new Set(customs.keys()));
  refuseUnheld(caller, grants, customs, 'hand on these grants');
}

/**
 * What a principal holds, as stored grants (permissions over a scope): the authority a custom role
 * records from whoever defined it, so that nobody weaker changes or deletes it later. A platform
 * administrator counts as holding everything.
 */
export function authorityOf(p: Principal): Grant[] {
  if (p.kind === 'platform-admin') return [{ permissions: [...ALL_PERMISSIONS] }];
  if (p.kind === 'device') return [];
  return p.grants
    .filter((g) => g.permissions.size > 0)
    .map((g) => ({
      permissions: [...g.permissions].sort() as Permission[],
      ...(g.tag !== undefined
        ? { scope: { tag: g.tag } }
        : g.deviceId !== undefined
          ? { scope: { deviceId: g.deviceId } }
          : {}),
    }));
}
