/**
 * Zero-touch provisioning end to end over real sockets: provisioning token → pending operation →
 * wrong verification code refused and counted → right code → registration token → MQTT and HTTPS
 * telemetry accepted; refresh; revocation of the PT and of RTs (live sessions dropped); the repeated,
 * parallel and already-provisioned edge cases.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { closed, connectMqtt, eventually, startTestPlatform, type TestPlatform } from './harness.js';

let t: TestPlatform;
let apiKey: string;
before(async () => {
  t = await startTestPlatform();
  ({ apiKey } = await t.tenant());
});
after(async () => {
  await t.stop();
});

async function makeToken(body: Record<string, unknown>) {
  const r = await t.call('POST', '/v1/provisioning-tokens', { token: apiKey, body: { name: 'pt', ...body } });
  assert.equal(r.status, 201, r.text);
  assert.match(r.body.secret, /^mpt_/);
  return { id: r.body.provisioningToken.id as string, secret: r.body.secret as string };
}

function start(secret: string, body: Record<string, unknown>) {
  return t.call('POST', '/v1/device/provisioning/operations', { token: secret, body });
}

test('a technician approves a field device by the code on its display; the device then works on MQTT and HTTPS', async () => {
  const pt = await makeToken({
    kind: 'device',
    serial: 'SN-1001',
    approval: 'manual',
    deviceTags: ['site:field'],
  });
  const started = await start(pt.secret, {
    serial: 'SN-1001',
    verificationCode: 'K7Q2XM',
    attributes: { fw: '1.0.0' },
  });
  assert.equal(started.status, 202);
  assert.equal(started.body.status, 'pending');
  const opId = started.body.operationId;
  assert.equal(started.body.registrationToken, undefined);

  // The device long-polls while the technician works.
  const polled = t.call('GET', `/v1/device/provisioning/operations/${opId}?wait=10`, { token: pt.secret });

  const pending = await t.call('GET', '/v1/provisioning/operations?status=pending&serial=SN-1001', {
    token: apiKey,
  });
  assert.deepEqual(
    pending.body.items.map((o: { id: string }) => o.id),
    [opId],
  );
  assert.equal(pending.body.items[0].hasVerificationCode, true);
  assert.equal(JSON.stringify(pending.body).includes('K7Q2XM'), false, 'the code itself is never shown');

  const wrong = await t.call('POST', `/v1/provisioning/operations/${opId}/approve`, {
    token: apiKey,
    body: { verificationCode: 'AAAAAA' },
  });
  assert.equal(wrong.body.code, 'VERIFICATION_CODE_WRONG');
  assert.equal(wrong.body.attemptsLeft, 4);
  const missing = await t.call('POST', `/v1/provisioning/operations/${opId}/approve`, {
    token: apiKey,
    body: {},
  });
  assert.equal(missing.body.code, 'VERIFICATION_CODE_WRONG');
  assert.equal(
    (await t.call('GET', `/v1/provisioning/operations/${opId}`, { token: apiKey })).body.wrongCodeAttempts,
    2,
  );

  // The tenant's update-signing key: the approved device learns it with its registration token.
  const updateKey = await t.call('POST', '/v1/update-keys/rotate', { token: apiKey });
  assert.equal(updateKey.status, 201, updateKey.text);
  const ok = await t.call('POST', `/v1/provisioning/operations/${opId}/approve`, {
    token: apiKey,
    body: { verificationCode: 'k7q2xm' },
  });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.status, 'approved');
  const deviceId = ok.body.deviceId as string;

  const done = await polled;
  assert.equal(done.body.status, 'approved');
  assert.equal(done.body.deviceId, deviceId);
  const rt = done.body.registrationToken as string;
  assert.match(rt, /^eyJ/);
  assert.deepEqual(done.body.updateKeys, [
    { id: updateKey.body.id, kind: 'server', status: 'active', publicKey: updateKey.body.publicKey },
  ]);

  const device = await t.call('GET', `/v1/devices/${deviceId}`, { token: apiKey });
  assert.equal(device.body.serial, 'SN-1001');
  assert.deepEqual(device.body.tags, ['site:field']);

  const mqttClient = await t.connectDevice(deviceId, rt);
  await mqttClient.publishAsync(`d/${deviceId}/telemetry`, JSON.stringify({ values: { t: 1 } }), { qos: 1 });
  mqttClient.end(true);
  const https = await t.call('POST', '/v1/device/telemetry', { token: rt, body: { values: { t: 2 } } });
  assert.equal(https.status, 202);
  const points = await t.call('GET', `/v1/devices/${deviceId}/telemetry?from=0`, { token: apiKey });
  assert.equal(points.body.items.length, 2);

  // The approved operation cannot be decided again.
  const again = await t.call('POST', `/v1/provisioning/operations/${opId}/reject`, {
    token: apiKey,
    body: {},
  });
  assert.equal(again.body.code, 'OPERATION_NOT_PENDING');
  // The problem's `status` stays the HTTP status (RFC 9457); the operation's is its own member.
  assert.equal(again.body.status, 409);
  assert.equal(again.body.operationStatus, 'approved');
  // A registration token is no key for the REST API, and a PT is no device credential.
  assert.equal((await t.call('GET', '/v1/devices', { token: rt })).body.code, 'INVALID_CREDENTIALS');
  assert.equal(
    (await t.call('POST', '/v1/device/telemetry', { token: pt.secret, body: { values: { t: 1 } } })).body
      .code,
    'INVALID_CREDENTIALS',
  );
});

test('too many wrong codes lock the operation', async () => {
  const pt = await makeToken({ kind: 'device', serial: 'SN-LOCK', approval: 'manual' });
  const op = (await start(pt.secret, { serial: 'SN-LOCK', verificationCode: 'ABCD12' })).body.operationId;
  for (let i = 0; i < 5; i++) {
    const r = await t.call('POST', `/v1/provisioning/operations/${op}/approve`, {
      token: apiKey,
      body: { verificationCode: 'ZZZZ99' },
    });
    assert.equal(r.body.code, 'VERIFICATION_CODE_WRONG');
  }
  const right = await t.call('POST', `/v1/provisioning/operations/${op}/approve`, {
    token: apiKey,
    body: { verificationCode: 'ABCD12' },
  });
  assert.equal(right.body.code, 'OPERATION_NOT_PENDING');
  assert.equal(right.body.operationStatus, 'locked');
  const seen = await t.call('GET', `/v1/device/provisioning/operations/${op}`, { token: pt.secret });
  assert.equal(seen.body.status, 'locked');
  assert.equal(seen.body.registrationToken, undefined);
});

test('an auto-approval batch token provisions at once, up to its maximum uses', async () => {
  const pt = await makeToken({ kind: 'batch', maxUses: 2, approval: 'auto', deviceTags: ['line:3'] });
  const a = await start(pt.secret, { serial: 'F-1' });
  assert.equal(a.status, 200);
  assert.equal(a.body.status, 'approved');
  assert.ok(a.body.registrationToken);
  const b = await start(pt.secret, { serial: 'F-2' });
  assert.equal(b.body.status, 'approved');
  const c = await start(pt.secret, { serial: 'F-3' });
  assert.equal(c.body.code, 'PROVISIONING_TOKEN_EXHAUSTED');
  const token = await t.call('GET', `/v1/provisioning-tokens/${pt.id}`, { token: apiKey });
  assert.equal(token.body.uses, 2);
  const list = await t.call('GET', '/v1/devices?tag=line:3', { token: apiKey });
  assert.deepEqual(list.body.items.map((d: { serial: string }) => d.serial).sort(), ['F-1', 'F-2']);
});

test('a device restarting provisioning supersedes its pending operation and never becomes two devices', async () => {
  const pt = await makeToken({ kind: 'device', serial: 'SN-RESTART', approval: 'manual' });
  const first = (await start(pt.secret, { serial: 'SN-RESTART', verificationCode: 'AAAA11' })).body
    .operationId;
  const second = (await start(pt.secret, { serial: 'SN-RESTART', verificationCode: 'BBBB22' })).body
    .operationId;
  assert.notEqual(first, second);
  const old = await t.call('GET', `/v1/device/provisioning/operations/${first}`, { token: pt.secret });
  assert.equal(old.body.status, 'superseded');
  const pending = await t.call('GET', '/v1/provisioning/operations?status=pending&serial=SN-RESTART', {
    token: apiKey,
  });
  assert.equal(pending.body.items.length, 1);
  const approved = await t.call('POST', `/v1/provisioning/operations/${second}/approve`, {
    token: apiKey,
    body: { verificationCode: 'BBBB22' },
  });
  assert.equal(approved.body.status, 'approved');
  const devices = await t.call('GET', '/v1/devices', { token: apiKey });
  assert.equal(devices.body.items.filter((d: { serial: string }) => d.serial === 'SN-RESTART').length, 1);
});

test('a device token used for another serial or in a burst is refused, and the burst flags it', async () => {
  const pt = await makeToken({ kind: 'device', serial: 'SN-BURST', approval: 'manual' });
  assert.equal((await start(pt.secret, { serial: 'SN-OTHER' })).body.code, 'SERIAL_NOT_ALLOWED');
  const answers = await Promise.all(
    Array.from({ length: 8 }, () => start(pt.secret, { serial: 'SN-BURST' })),
  );
  const refused = answers.filter((a) => a.body.code === 'TOO_MANY_OPERATIONS');
  assert.ok(refused.length >= 3, `refused ${refused.length}`);
  assert.ok(refused[0]!.body.retryAfterMs > 0);
  // The refusal names the limit it hit, and says when to come back in the header too.
  assert.equal(refused[0]!.body.limit, 'provisioning.operations_per_device_token');
  assert.equal(refused[0]!.body.scope, 'provisioning-token');
  assert.equal(refused[0]!.body.configured, 5);
  assert.ok(refused[0]!.body.observed > 5);
  assert.equal(refused[0]!.headers['retry-after'], String(Math.ceil(refused[0]!.body.retryAfterMs / 1000)));
  const token = await t.call('GET', `/v1/provisioning-tokens/${pt.id}`, { token: apiKey });
  assert.ok(token.body.suspicious, 'the token is flagged');
  assert.match(token.body.suspicious.reason, /operations within/);
  const pending = await t.call('GET', '/v1/provisioning/operations?status=pending&serial=SN-BURST', {
    token: apiKey,
  });
  assert.equal(pending.body.items.length, 1, 'at most one pending operation per unit');
});

test('a provisioned device asking again needs a human even under auto approval, and its old token stops working', async () => {
  const pt = await makeToken({ kind: 'device', serial: 'SN-AGAIN', approval: 'auto' });
  const first = await start(pt.secret, { serial: 'SN-AGAIN' });
  assert.equal(first.body.status, 'approved');
  const oldRt = first.body.registrationToken;
  const deviceId = first.body.deviceId;
  const live = await t.connectDevice(deviceId, oldRt);

  const again = await start(pt.secret, { serial: 'SN-AGAIN' });
  assert.equal(again.body.status, 'pending', 'not approved by policy');
  const op = await t.call('GET', `/v1/provisioning/operations/${again.body.operationId}`, { token: apiKey });
  assert.equal(op.body.reprovision, true);
  const gone = closed(live);
  await t.call('POST', `/v1/provisioning/operations/${again.body.operationId}/approve`, {
    token: apiKey,
    body: {},
  });
  await gone;
  const picked = await t.call('GET', `/v1/device/provisioning/operations/${again.body.operationId}`, {
    token: pt.secret,
  });
  assert.equal(picked.body.deviceId, deviceId, 'the same device, not a duplicate');
  await assert.rejects(t.connectDevice(deviceId, oldRt), (e) => (e as { code?: number }).code === 4);
  const fresh = await t.connectDevice(deviceId, picked.body.registrationToken);
  fresh.end(true);
});

test('refresh exchanges a registration token with the provisioning token; revocations refuse at once and drop sessions', async () => {
  const pt = await makeToken({ kind: 'batch', maxUses: 5, approval: 'auto' });
  const other = await makeToken({ kind: 'batch', maxUses: 5, approval: 'auto' });
  const p = await start(pt.secret, { serial: 'R-1' });
  const deviceId = p.body.deviceId;
  const rt1 = p.body.registrationToken;

  const refreshed = await t.call('POST', '/v1/device/provisioning/refresh', {
    token: pt.secret,
    body: { registrationToken: rt1 },
  });
  assert.equal(refreshed.status, 200, refreshed.text);
  assert.equal(refreshed.body.deviceId, deviceId);
  const rt2 = refreshed.body.registrationToken;
  assert.notEqual(rt2, rt1);
  assert.ok(refreshed.body.expiresAt > Date.now());
  // Another batch token cannot mint tokens for this device.
  const foreign = await t.call('POST', '/v1/device/provisioning/refresh', {
    token: other.secret,
    body: { registrationToken: rt2 },
  });
  assert.equal(foreign.body.code, 'INVALID_CREDENTIALS');
  // A tampered token is refused.
  const [h, c, s] = rt2.split('.');
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(c, 'base64url').toString()), sub: 'dev_x' })).toString('base64url')}.${s}`;
  assert.equal(
    (await t.call('POST', '/v1/device/telemetry', { token: forged, body: { values: { t: 1 } } })).body.code,
    'INVALID_CREDENTIALS',
  );

  // Revoking the device's RTs: refused on every path at once, live sessions dropped.
  const live = await t.connectDevice(deviceId, rt2);
  const gone = closed(live, 5000);
  const revoked = await t.call('POST', `/v1/devices/${deviceId}/registration-tokens/revoke`, {
    token: apiKey,
  });
  assert.equal(revoked.status, 204);
  await gone;
  assert.equal(
    (await t.call('POST', '/v1/device/telemetry', { token: rt2, body: { values: { t: 1 } } })).body.code,
    'INVALID_CREDENTIALS',
  );
  await assert.rejects(t.connectDevice(deviceId, rt2), (e) => (e as { code?: number }).code === 4);
  const afterRevoke = await t.call('POST', '/v1/device/provisioning/refresh', {
    token: pt.secret,
    body: { registrationToken: rt2 },
  });
  assert.equal(
    afterRevoke.body.code,
    'INVALID_CREDENTIALS',
    'a revoked token cannot be refreshed: the device provisions again',
  );

  // Revoking the PT: no new operations and no refreshes; its pending operations are rejected.
  const manual = await makeToken({ kind: 'batch', maxUses: 5, approval: 'manual' });
  const waiting = (await start(manual.secret, { serial: 'R-2' })).body.operationId;
  assert.equal(
    (await t.call('DELETE', `/v1/provisioning-tokens/${manual.id}`, { token: apiKey })).status,
    204,
  );
  assert.equal((await start(manual.secret, { serial: 'R-3' })).body.code, 'INVALID_CREDENTIALS');
  const op = await t.call('GET', `/v1/provisioning/operations/${waiting}`, { token: apiKey });
  assert.equal(op.body.status, 'rejected');
});

test('operations are tenant-scoped and the signing keys are published', async () => {
  const other = await t.tenant();
  const pt = await makeToken({ kind: 'device', serial: 'SN-ISO', approval: 'manual' });
  const op = (await start(pt.secret, { serial: 'SN-ISO' })).body.operationId;
  const foreign = await t.call('POST', `/v1/provisioning/operations/${op}/approve`, {
    token: other.apiKey,
    body: {},
  });
  assert.equal(foreign.body.code, 'OPERATION_NOT_FOUND');
  assert.equal(
    (await t.call('GET', `/v1/provisioning-tokens/${pt.id}`, { token: other.apiKey })).body.code,
    'PROVISIONING_TOKEN_NOT_FOUND',
  );
  await eventually(
    async () =>
      (await t.call('GET', '/v1/provisioning/operations?status=pending', { token: other.apiKey })).body.items
        .length === 0,
  );
  const jwks = await t.call('GET', '/.well-known/jwks.json');
  assert.equal(jwks.status, 200);
  assert.equal(jwks.body.keys[0].crv, 'Ed25519');
  assert.equal(jwks.body.keys[0].d, undefined, 'no private part');

  // Rotation: a device holding a token from the old key keeps working; new tokens name the new key.
  const auto = await makeToken({ kind: 'batch', maxUses: 2, approval: 'auto' });
  const before = await start(auto.secret, { serial: 'ROT-1' });
  assert.equal(
    (await t.call('POST', '/v1/platform/signing-keys/rotate', { token: apiKey })).body.code,
    'FORBIDDEN',
  );
  const rotated = await t.call('POST', '/v1/platform/signing-keys/rotate', { token: await t.adminToken() });
  assert.equal(rotated.status, 200);
  assert.equal((await t.call('GET', '/.well-known/jwks.json')).body.keys.length, jwks.body.keys.length + 1);
  assert.equal(
    (
      await t.call('POST', '/v1/device/telemetry', {
        token: before.body.registrationToken,
        body: { values: { t: 1 } },
      })
    ).status,
    202,
  );
  const after = await start(auto.secret, { serial: 'ROT-2' });
  const kid = JSON.parse(Buffer.from(after.body.registrationToken.split('.')[0], 'base64url').toString()).kid;
  assert.equal(kid, rotated.body.kid);
});

test('a device without a clock gets the server time signed with its nonce', async () => {
  const { verifySignedTime } = await import('../src/domains/time/signer.js');
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const pinned = readFileSync(join(t.dataDir, 'pki', 'time.pub.pem'), 'utf8');
  assert.equal((await t.call('GET', '/v1/time/key')).text, pinned);
  const nonce = 'n0nce-' + (await import('node:crypto')).randomBytes(12).toString('base64url');
  const r = await t.call('GET', `/v1/time?nonce=${nonce}`);
  assert.equal(r.status, 200);
  assert.equal(r.body.nonce, nonce);
  assert.ok(Math.abs(r.body.serverTime - Date.now()) < 5000);
  assert.equal(verifySignedTime(pinned, r.body), true);
  assert.equal(
    verifySignedTime(pinned, { ...r.body, serverTime: r.body.serverTime + 3_600_000 }),
    false,
    'a shifted time fails',
  );
  assert.equal(
    verifySignedTime(pinned, { ...r.body, nonce: 'another-nonce-1234' }),
    false,
    'a replay for another nonce fails',
  );
  assert.equal((await t.call('GET', '/v1/time?nonce=short')).body.code, 'VALIDATION_FAILED');
  assert.equal((await t.call('GET', '/v1/time')).body.code, 'VALIDATION_FAILED');
});

test('over MQTT, a connection holding only a provisioning token can provision and nothing else', async () => {
  const pt = await makeToken({ kind: 'batch', maxUses: 3, approval: 'manual' });
  const victim = await t.device(apiKey);
  const clientId = `prov-${Math.random().toString(36).slice(2, 10)}`;
  const connect = (id: string, password: string) =>
    connectMqtt(t.platform.mqttPort, t.platform.caCert, {
      clientId: id,
      username: '$provisioning',
      password,
    });
  await assert.rejects(
    connect(victim.deviceId, pt.secret),
    (e) => (e as { code?: number }).code === 4,
    'cannot take a device id',
  );
  await assert.rejects(connect(clientId, 'mpt_wrong'), (e) => (e as { code?: number }).code === 4);

  const c = await connect(clientId, pt.secret);
  const victimClient = await t.connectDevice(victim.deviceId, victim.accessKey);
  try {
    const granted = await c
      .subscribeAsync(
        ['#', `d/${victim.deviceId}/commands/+`, 'prov/prov-other/result', `prov/${clientId}/result`],
        { qos: 1 },
      )
      .then(
        () => assert.fail('partly refused expected'),
        (e: { packet?: { granted: number[] } }) => e.packet!.granted,
      );
    assert.deepEqual(granted, [128, 128, 128, 1]);
    const results: any[] = [];
    c.on('message', (_topic, payload) => results.push(JSON.parse(payload.toString())));
    const next = async (pred: (m: any) => boolean) =>
      eventually(() => results.find(pred), 5000, 'a provisioning result');

    await c.publishAsync(`d/${victim.deviceId}/telemetry`, JSON.stringify({ values: { spoof: 1 } }), {
      qos: 1,
    });
    const denied = await next((m) => m.type === 'error');
    assert.equal(denied.code, 'TOPIC_NOT_ALLOWED');
    assert.equal(
      (await t.call('GET', `/v1/devices/${victim.deviceId}/telemetry?from=0`, { token: apiKey })).body.items
        .length,
      0,
    );
    assert.ok(victimClient.connected, 'the device was not disturbed');

    await c.publishAsync(
      `prov/${clientId}/operations`,
      JSON.stringify({ serial: 'MQ-1', verificationCode: 'MQTT42', requestId: 'r1' }),
      { qos: 1 },
    );
    const pending = await next((m) => m.requestId === 'r1');
    assert.equal(pending.status, 'pending');
    await c.publishAsync(
      `prov/${clientId}/operations`,
      JSON.stringify({ serial: 'MQ-2', bogus: true, requestId: 'r2' }),
      { qos: 1 },
    );
    assert.equal((await next((m) => m.requestId === 'r2')).code, 'VALIDATION_FAILED');

    const approved = await t.call('POST', `/v1/provisioning/operations/${pending.operationId}/approve`, {
      token: apiKey,
      body: { verificationCode: 'MQTT42' },
    });
    assert.equal(approved.body.status, 'approved');
    const pushed = await next((m) => m.type === 'operation' && m.status === 'approved');
    assert.ok(pushed.registrationToken, 'the decision is pushed to the waiting connection');
    const device = await t.connectDevice(pushed.deviceId, pushed.registrationToken);
    device.end(true);

    await c.publishAsync(
      `prov/${clientId}/refresh`,
      JSON.stringify({ registrationToken: pushed.registrationToken, requestId: 'r3' }),
      { qos: 1 },
    );
    const refreshed = await next((m) => m.requestId === 'r3');
    assert.equal(refreshed.type, 'refresh');
    assert.equal(refreshed.deviceId, pushed.deviceId);

    // Revoking the token drops the connection.
    const gone = closed(c, 5000);
    await t.call('DELETE', `/v1/provisioning-tokens/${pt.id}`, { token: apiKey });
    await gone;
  } finally {
    c.end(true);
    victimClient.end(true);
  }
});
