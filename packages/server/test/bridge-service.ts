/**
 * A bridge service on a store of the test's own, with a tenant and an API-key caller of it, for
 * tests that drive bridges and their supervisors in-process (no platform, no HTTP).
 */
import { randomBytes } from 'node:crypto';
import { createBridgeService } from '../src/domains/bridges/service.js';
import { bridgeStore } from '../src/domains/bridges/store.js';
import { createTenancyService } from '../src/domains/tenancy/service.js';
import { tenancyStore } from '../src/domains/tenancy/store.js';
import type { TenantCaller } from '../src/platform/caller.js';
import type { AddressPolicy } from '../src/platform/outbound/address-policy.js';
import { createSecretBox } from '../src/platform/secret-box.js';
import { transactionOf, type Db } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';

/** Logs nothing: for supervisors whose outcome the test reads from the bridge's status. */
export const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Migrates `db`, creates the tenant `name` and a bridge service over the store. */
export async function bridgeServiceOn(db: Db, name: string, policy: AddressPolicy) {
  await migrate(db);
  const tenant = await createTenancyService({ store: tenancyStore(db) }).createTenant(
    { principal: { kind: 'platform-admin', userId: 'usr_admin' } } as never,
    name,
  );
  const caller: TenantCaller = {
    tenantId: tenant.id,
    principal: { kind: 'api-key', keyId: 'key_x', tenantId: tenant.id, grants: [] },
  };
  const box = createSecretBox(randomBytes(32));
  const service = createBridgeService({
    store: bridgeStore(db),
    storeOn: bridgeStore,
    transaction: transactionOf(db, bridgeStore),
    box,
    policy,
    audit: () => undefined,
  });
  return { tenant, caller, box, service };
}
