/**
 * Ownership transfer: the owner releases a unit (every credential revoked, live sessions dropped, data
 * kept or deleted as chosen) and hands over a one-time claim code; the new owner claims a blank record
 * and sees nothing of the old tenant.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { closed, startTestPlatform, type TestPlatform } from './harness.js';

let t: TestPlatform;
before(async () => {
  t = await startTestPlatform();
});
after(async () => {
  await t.stop();
});

test('a released unit loses every credential and is claimed as a blank device by the new owner', async () => {
  const seller = await t.tenant();
  const buyer = await t.tenant();
  const pt = await t.call('POST', '/v1/provisioning-tokens', {
    token: seller.apiKey,
    body: { name: 'p', kind: 'device', serial: 'RESALE-1', approval: 'auto' },
  });
  const provisioned = await t.call('POST', '/v1/device/provisioning/operations', {
    token: pt.body.secret,
    body: { serial: 'RESALE-1' },
  });
  const deviceId = provisioned.body.deviceId as string;
  const rt = provisioned.body.registrationToken as string;
  const key = await t.call('POST', `/v1/devices/${deviceId}/access-keys`, { token: seller.apiKey });
  await t.call('PATCH', `/v1/devices/${deviceId}`, {
    token: seller.apiKey,
    body: { tags: ['secret-site'], metadata: { owner: 'seller' } },
  });
  const live = await t.connectDevice(deviceId, rt);
  await live.publishAsync(`d/${deviceId}/telemetry`, JSON.stringify({ values: { t: 1 } }), { qos: 1 });

  const gone = closed(live);
  const released = await t.call('POST', `/v1/devices/${deviceId}/release`, {
    token: seller.apiKey,
    body: { keepData: true },
  });
  assert.equal(released.status, 200, released.text);
  assert.match(released.body.claimCode, /^mcl_/);
  assert.equal(released.body.device.status, 'released');
  await gone;
  await assert.rejects(t.connectDevice(deviceId, rt), (e) => (e as { code?: number }).code !== undefined);
  await assert.rejects(
    t.connectDevice(deviceId, key.body.secret),
    (e) => (e as { code?: number }).code !== undefined,
  );
  assert.equal(
    (await t.call('POST', '/v1/device/telemetry', { token: rt, body: { values: { t: 2 } } })).body.code,
    'INVALID_CREDENTIALS',
  );
  assert.equal(
    (await t.call('PATCH', `/v1/devices/${deviceId}`, { token: seller.apiKey, body: { status: 'enabled' } }))
      .body.code,
    'FORBIDDEN',
  );
  // The seller keeps its history.
  assert.equal(
    (await t.call('GET', `/v1/devices/${deviceId}/telemetry?from=0`, { token: seller.apiKey })).body.items
      .length,
    1,
  );

  const claimed = await t.call('POST', '/v1/devices/claim', {
    token: buyer.apiKey,
    body: { claimCode: released.body.claimCode, name: 'my unit' },
  });
  assert.equal(claimed.status, 201, claimed.text);
  assert.notEqual(claimed.body.id, deviceId, 'a new record, not the old one');
  assert.equal(claimed.body.serial, 'RESALE-1');
  assert.equal(claimed.body.name, 'my unit');
  assert.deepEqual(claimed.body.tags, []);
  assert.deepEqual(claimed.body.metadata, {});
  assert.equal(
    (await t.call('GET', `/v1/devices/${claimed.body.id}/telemetry?from=0`, { token: buyer.apiKey })).body
      .items.length,
    0,
  );
  assert.equal(
    (await t.call('GET', `/v1/devices/${deviceId}`, { token: buyer.apiKey })).body.code,
    'DEVICE_NOT_FOUND',
  );
  assert.equal(
    (await t.call('GET', `/v1/devices/${claimed.body.id}`, { token: seller.apiKey })).body.code,
    'DEVICE_NOT_FOUND',
  );

  const again = await t.call('POST', '/v1/devices/claim', {
    token: buyer.apiKey,
    body: { claimCode: released.body.claimCode },
  });
  assert.equal(again.body.code, 'CLAIM_CODE_INVALID');
  assert.equal(
    (await t.call('POST', '/v1/devices/claim', { token: buyer.apiKey, body: { claimCode: 'mcl_guess' } }))
      .body.code,
    'CLAIM_CODE_INVALID',
  );

  // The new owner provisions the unit with its own token.
  const buyerPt = await t.call('POST', '/v1/provisioning-tokens', {
    token: buyer.apiKey,
    body: { name: 'p', kind: 'device', serial: 'RESALE-1', approval: 'manual' },
  });
  const op = await t.call('POST', '/v1/device/provisioning/operations', {
    token: buyerPt.body.secret,
    body: { serial: 'RESALE-1' },
  });
  const ok = await t.call('POST', `/v1/provisioning/operations/${op.body.operationId}/approve`, {
    token: buyer.apiKey,
    body: {},
  });
  assert.equal(ok.body.deviceId, claimed.body.id);
});

test('releasing without keeping data deletes the record', async () => {
  const owner = await t.tenant();
  const d = await t.device(owner.apiKey, { name: 'x', serial: 'GONE-1' });
  await t.call('POST', '/v1/device/telemetry', { token: d.accessKey, body: { values: { t: 1 } } });
  const r = await t.call('POST', `/v1/devices/${d.deviceId}/release`, {
    token: owner.apiKey,
    body: { keepData: false },
  });
  assert.equal(r.body.device, null);
  assert.equal(
    (await t.call('GET', `/v1/devices/${d.deviceId}`, { token: owner.apiKey })).body.code,
    'DEVICE_NOT_FOUND',
  );
  const other = await t.tenant();
  assert.equal(
    (
      await t.call('POST', `/v1/devices/${d.deviceId}/release`, {
        token: other.apiKey,
        body: { keepData: true },
      })
    ).body.code,
    'DEVICE_NOT_FOUND',
  );
});
