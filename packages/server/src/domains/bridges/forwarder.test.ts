/**
 * The forwarder's side of the outbound policy, without a broker: a bridge whose name resolves to a
 * refused address never connects and shows why in its status; the lease is held by one supervisor
 * at a time and given back when it stops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { openPglite } from '../../store/pglite.js';
import { migrate } from '../../store/migrate.js';
import { transactionOf } from '../../store/db.js';
import { createSecretBox } from '../../platform/secret-box.js';
import { createAddressPolicy } from '../../platform/outbound/address-policy.js';
import type { TenantCaller } from '../../platform/caller.js';
import { createTenancyService } from '../tenancy/service.js';
import { tenancyStore } from '../tenancy/store.js';
import { createBridgeService } from './service.js';
import { bridgeStore } from './store.js';
import { createBridgeSupervisor } from './supervisor.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

test('a name that resolves to a refused address is a recorded connection error; one node holds the lease', async () => {
  const db = await openPglite(undefined);
  try {
    await migrate(db);
    const tenant = await createTenancyService({ store: tenancyStore(db) }).createTenant(
      { principal: { kind: 'platform-admin', userId: 'usr_admin' } } as never,
      'forwarder',
    );
    const caller: TenantCaller = {
      tenantId: tenant.id,
      principal: { kind: 'api-key', keyId: 'key_x', tenantId: tenant.id, grants: [] },
    };
    const box = createSecretBox(randomBytes(32));
    const policy = createAddressPolicy();
    const service = createBridgeService({
      store: bridgeStore(db),
      storeOn: bridgeStore,
      transaction: transactionOf(db, bridgeStore),
      box,
      policy,
      audit: () => undefined,
    });
    const bridge = await service.create(caller, {
      name: 'rebinding',
      url: 'mqtts://broker.example.com',
      topicTemplate: 'mooring/{type}',
      eventTypes: ['device.event'],
    });
    // The name passed the create-time check; at connect time it resolves to the metadata address.
    const resolve = async () => [{ address: '169.254.169.254', family: 4 }];
    const one = createBridgeSupervisor({ db, box, policy, nodeId: 'node-a', logger: quiet, resolve });
    const two = createBridgeSupervisor({ db, box, policy, nodeId: 'node-b', logger: quiet, resolve });
    await one.tick();
    await two.tick();
    let status = (await service.get(caller, bridge.id)).status;
    for (let i = 0; i < 50 && status.lastError === null; i++) {
      await sleep(100);
      status = (await service.get(caller, bridge.id)).status;
    }
    assert.equal(status.connected, false);
    assert.match(status.lastError ?? '', /169\.254\.169\.254.*refused/);
    const [lease] = await db.query<{ lease_holder: string }>(
      'SELECT lease_holder FROM bridges WHERE id = $1',
      [bridge.id],
    );
    assert.match(lease!.lease_holder, /^node-a:/);
    await one.stop();
    await two.tick();
    const [taken] = await db.query<{ lease_holder: string }>(
      'SELECT lease_holder FROM bridges WHERE id = $1',
      [bridge.id],
    );
    assert.match(taken!.lease_holder, /^node-b:/);
    await two.stop();
  } finally {
    await db.close();
  }
});
