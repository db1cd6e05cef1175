/**
 * The provisioning service, composed of its concerns: provisioning tokens (`tokens.ts`), operations
 * from the device's side and their expiry (`operations.ts`), their approval or rejection
 * (`approval.ts`), and registration tokens in use (`device-tokens.ts`), over the SQL in `store.ts`.
 */
import { operationApproval } from './approval.js';
import { contextOf, type ProvisioningDeps } from './context.js';
import { registrationTokenUse } from './device-tokens.js';
import { provisioningOperations } from './operations.js';
import type { ProvisioningService } from './provisioning.js';
import { provisioningTokens } from './tokens.js';

export type { ProvisioningDeps } from './context.js';

export function createProvisioningService(deps: ProvisioningDeps): ProvisioningService {
  const ctx = contextOf(deps);
  const tokens = provisioningTokens(ctx);
  const approval = operationApproval(ctx);
  return {
    ...tokens.service,
    ...provisioningOperations(ctx, { liveToken: tokens.liveToken, approval }),
    ...approval.service,
    ...registrationTokenUse(ctx, tokens.liveToken),
  };
}
