/**
 * The forwarder's side of the outbound policy, without a broker: a bridge whose name resolves to a
 * refused address never connects and shows why in its status; the lease is held by one supervisor
 * at a time and given back when it stops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { openTestPglite } from '../../../test/pglite-template.js';
import { createAddressPolicy } from '../../platform/outbound/address-policy.js';
import { createBridgeSupervisor } from './supervisor.js';
import { bridgeServiceOn, quiet } from '../../../test/bridge-service.js';

test('a name that resolves to a refused address is a recorded connection error; one node holds the lease', async () => {
  const db = await openTestPglite();
  try {
    const policy = createAddressPolicy();
    const { caller, box, service } = await bridgeServiceOn(db, 'forwarder', policy);
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
