/**
 * Handing grants on (API keys, invitations, users' grants, rotations): nobody passes on more than
 * they hold, over the same or a narrower scope. The rule lives here so that every service that hands
 * grants on asks the same question.
 */
import { AppError, Errors } from '../../errors.js';
import { principalName, type TenantCaller } from '../../platform/caller.js';
import type { Grant, RoleService } from './access.js';
import { missingForDelegation, resolveGrants, validateGrants } from './policy.js';

/**
 * Checks grants a caller wants to hand on: known roles and permissions, and nothing the caller does
 * not hold itself over the same scope. Platform administrators bootstrap tenants and are not limited.
 */
export async function checkDelegation(
  roles: Pick<RoleService, 'customPermissions'>,
  caller: TenantCaller,
  grants: Grant[],
): Promise<void> {
  const customs = await roles.customPermissions(caller.tenantId);
  validateGrants(grants, new Set(customs.keys()));
  const p = caller.principal;
  if (p.kind === 'platform-admin') return;
  if (p.kind === 'device') throw Errors.forbidden();
  const missing = missingForDelegation(p.grants, resolveGrants(grants, customs));
  if (missing.length > 0)
    throw new AppError(
      'FORBIDDEN',
      `cannot grant what ${principalName(p)} does not hold: ${missing.join(', ')}`,
      {
        details: { missing },
      },
    );
}
