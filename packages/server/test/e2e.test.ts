/**
 * The whole path over real sockets with an independent MQTT client: admin bootstraps a tenant, API key,
 * device and access key over REST; the device connects over MQTT/TLS, publishes QoS 1 telemetry,
 * receives a command and answers it; REST returns the telemetry, aggregates and the command result.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, nextMessage, eventually, type TestPlatform } from './harness.js';

let t: TestPlatform;
before(async () => {
  t = await startTestPlatform();
});
after(async () => {
  await t.stop();
});

test('a device sends telemetry and answers a command end to end', async () => {
  const { apiKey } = await t.tenant();
  const created = await t.call('POST', '/v1/devices', {
    token: apiKey,
    body: { name: 'boiler-1', tags: ['site:a'], metadata: { model: 'x1' } },
  });
  assert.equal(created.status, 201);
  const deviceId = created.body.id as string;
  assert.match(deviceId, /^dev_[0-9a-z]{18}$/);
  const key = await t.call('POST', `/v1/devices/${deviceId}/access-keys`, { token: apiKey });
  assert.equal(key.status, 201);
  assert.match(key.body.secret, /^dak_/);

  const client = await t.connectDevice(deviceId, key.body.secret);
  try {
    await client.subscribeAsync(`d/${deviceId}/commands/+`, { qos: 1 });
    // Buckets align to multiples of their width since the epoch: start on a minute boundary.
    const base = Math.floor((Date.now() - 10 * 60_000) / 60_000) * 60_000;
    for (let i = 0; i < 10; i++) {
      await client.publishAsync(
        `d/${deviceId}/telemetry`,
        JSON.stringify({
          ts: base + i * 1000,
          values: { temp: 20 + i, door: i % 2 === 0 ? 'open' : 'closed' },
        }),
        { qos: 1 },
      );
    }
    // A batch of readings in one message, one with an RFC 3339 timestamp.
    await client.publishAsync(
      `d/${deviceId}/telemetry`,
      JSON.stringify([
        { ts: new Date(base + 60_000).toISOString(), values: { temp: 40, ok: true } },
        { values: { temp: 41 } },
      ]),
      { qos: 1 },
    );

    // PUBACK came after commit: the data is readable at once.
    const raw = await t.call('GET', `/v1/devices/${deviceId}/telemetry?key=temp&from=${base}&limit=5`, {
      token: apiKey,
    });
    assert.equal(raw.status, 200);
    assert.deepEqual(
      raw.body.items.map((p: { value: number }) => p.value),
      [20, 21, 22, 23, 24],
    );
    assert.ok(raw.body.nextCursor);
    const page2 = await t.call(
      'GET',
      `/v1/devices/${deviceId}/telemetry?key=temp&from=${base}&limit=50&cursor=${raw.body.nextCursor}`,
      { token: apiKey },
    );
    assert.deepEqual(
      page2.body.items.map((p: { value: number }) => p.value),
      [25, 26, 27, 28, 29, 40, 41],
    );
    assert.equal(page2.body.nextCursor, null);

    const latest = await t.call('GET', `/v1/devices/${deviceId}/telemetry/latest`, { token: apiKey });
    assert.deepEqual(
      Object.fromEntries(latest.body.items.map((l: { key: string; value: unknown }) => [l.key, l.value])),
      { door: 'closed', ok: true, temp: 41 },
    );

    const agg = await t.call(
      'GET',
      `/v1/devices/${deviceId}/telemetry/aggregate?key=temp&from=${base}&to=${base + 120_000}&bucket=60`,
      { token: apiKey },
    );
    assert.equal(agg.status, 200);
    assert.equal(agg.body.items.length, 2);
    const [first, second] = agg.body.items;
    assert.equal(first.count, 10);
    assert.equal(first.min, 20);
    assert.equal(first.max, 29);
    assert.equal(first.avg, 24.5);
    assert.equal(second.count, 1);
    assert.equal(second.max, 40);

    // Command: created over REST, pushed at QoS 1, answered on the result topic.
    const incoming = nextMessage(client, (topic) => topic.startsWith(`d/${deviceId}/commands/`));
    const cmd = await t.call('POST', `/v1/devices/${deviceId}/commands`, {
      token: apiKey,
      body: { name: 'reboot', params: { delayS: 5 }, ttlSeconds: 60 },
    });
    assert.equal(cmd.status, 201);
    assert.equal(cmd.body.status, 'pending');
    const msg = await incoming;
    assert.equal(msg.topic, `d/${deviceId}/commands/${cmd.body.id}`);
    assert.deepEqual(
      { id: msg.payload.id, name: msg.payload.name, params: msg.payload.params },
      { id: cmd.body.id, name: 'reboot', params: { delayS: 5 } },
    );

    await eventually(
      async () =>
        (await t.call('GET', `/v1/devices/${deviceId}/commands/${cmd.body.id}`, { token: apiKey })).body
          .status === 'delivered',
      5000,
      'delivered',
    );
    await client.publishAsync(
      `d/${deviceId}/commands/${cmd.body.id}/result`,
      JSON.stringify({ status: 'succeeded', result: { rebootedAt: 1 } }),
      { qos: 1 },
    );
    const done = await t.call('GET', `/v1/devices/${deviceId}/commands/${cmd.body.id}`, { token: apiKey });
    assert.equal(done.body.status, 'succeeded');
    assert.deepEqual(done.body.result, { rebootedAt: 1 });
    assert.ok(done.body.deliveredAt <= done.body.completedAt);

    // Presence is visible over REST.
    const dev = await t.call('GET', `/v1/devices/${deviceId}`, { token: apiKey });
    assert.equal(dev.body.presence.connected, true);
    assert.ok(dev.body.presence.lastSeenAt >= base);
  } finally {
    await client.endAsync();
  }
  await eventually(
    async () =>
      (await t.call('GET', `/v1/devices/${deviceId}`, { token: apiKey })).body.presence.connected === false,
    5000,
    'offline',
  );
  const history = await t.call('GET', `/v1/devices/${deviceId}/presence`, { token: apiKey });
  assert.deepEqual(
    history.body.items.map((e: { event: string; reason: string | null }) => [e.event, e.reason]),
    [
      ['disconnected', 'client_disconnect'],
      ['connected', null],
    ],
  );
});

test('the HTTPS device API accepts telemetry, events, command polling and results', async () => {
  const { apiKey } = await t.tenant();
  const { deviceId, accessKey } = await t.device(apiKey);
  const sent = await t.call('POST', '/v1/device/telemetry', {
    token: accessKey,
    body: { values: { rssi: -60 } },
  });
  assert.equal(sent.status, 202);
  assert.deepEqual(sent.body, { accepted: 1 });
  const ev = await t.call('POST', '/v1/device/events', {
    token: accessKey,
    body: { type: 'boot', severity: 'info', message: 'fw 1.2.3' },
  });
  assert.equal(ev.status, 202);
  const events = await t.call('GET', `/v1/devices/${deviceId}/events`, { token: apiKey });
  assert.equal(events.body.items[0].type, 'boot');

  const cmd = await t.call('POST', `/v1/devices/${deviceId}/commands`, {
    token: apiKey,
    body: { name: 'ping' },
  });
  const polled = await t.call('GET', '/v1/device/commands', { token: accessKey });
  assert.deepEqual(
    polled.body.items.map((c: { id: string }) => c.id),
    [cmd.body.id],
  );
  const again = await t.call('GET', '/v1/device/commands', { token: accessKey });
  assert.deepEqual(
    again.body.items.map((c: { id: string }) => c.id),
    [cmd.body.id],
    'an unanswered command is handed out again (at least once)',
  );
  const state = await t.call('GET', `/v1/devices/${deviceId}/commands/${cmd.body.id}`, { token: apiKey });
  assert.equal(state.body.status, 'delivered');
  const res = await t.call('POST', `/v1/device/commands/${cmd.body.id}/result`, {
    token: accessKey,
    body: { status: 'failed', error: 'busy' },
  });
  assert.equal(res.status, 200);
  const twice = await t.call('POST', `/v1/device/commands/${cmd.body.id}/result`, {
    token: accessKey,
    body: { status: 'succeeded' },
  });
  assert.equal(twice.status, 409);
  assert.equal(twice.body.code, 'COMMAND_NOT_OPEN');
  const stored = await t.call('GET', `/v1/devices/${deviceId}/commands/${cmd.body.id}`, { token: apiKey });
  assert.equal(stored.body.status, 'failed');
  const after = await t.call('GET', '/v1/device/commands', { token: accessKey });
  assert.deepEqual(after.body.items, [], 'an answered command is not handed out');
  assert.equal(stored.body.error, 'busy');
});

test('a command created while the device is offline is delivered when it subscribes', async () => {
  const { apiKey } = await t.tenant();
  const { deviceId, accessKey } = await t.device(apiKey);
  const cmd = await t.call('POST', `/v1/devices/${deviceId}/commands`, {
    token: apiKey,
    body: { name: 'update-config', params: { interval: 30 } },
  });
  const client = await t.connectDevice(deviceId, accessKey);
  try {
    const incoming = nextMessage(client, (topic) => topic === `d/${deviceId}/commands/${cmd.body.id}`);
    await client.subscribeAsync(`d/${deviceId}/commands/+`, { qos: 1 });
    const msg = await incoming;
    assert.equal(msg.payload.name, 'update-config');
  } finally {
    await client.endAsync();
  }
});

test('an expired command is not delivered and is reported as expired', async () => {
  const { apiKey } = await t.tenant();
  const { deviceId, accessKey } = await t.device(apiKey);
  const cmd = await t.call('POST', `/v1/devices/${deviceId}/commands`, {
    token: apiKey,
    body: { name: 'late', ttlSeconds: 1 },
  });
  await new Promise((r) => setTimeout(r, 1100));
  const polled = await t.call('GET', '/v1/device/commands', { token: accessKey });
  assert.deepEqual(polled.body.items, []);
  const res = await t.call('POST', `/v1/device/commands/${cmd.body.id}/result`, {
    token: accessKey,
    body: { status: 'succeeded' },
  });
  assert.equal(res.body.code, 'COMMAND_NOT_OPEN');
  await eventually(
    async () =>
      (await t.call('GET', `/v1/devices/${deviceId}/commands/${cmd.body.id}`, { token: apiKey })).body
        .status === 'expired',
    8000,
    'expired',
  );
});

test('Idempotency-Key replays the first create and refuses reuse with another body', async () => {
  const { apiKey } = await t.tenant();
  const headers = { 'idempotency-key': 'factory-line-7-unit-42' };
  const a = await t.call('POST', '/v1/devices', { token: apiKey, headers, body: { name: 'unit-42' } });
  const b = await t.call('POST', '/v1/devices', { token: apiKey, headers, body: { name: 'unit-42' } });
  assert.equal(a.status, 201);
  assert.equal(b.status, 201);
  assert.equal(b.body.id, a.body.id);
  assert.equal(b.headers['idempotent-replayed'], 'true');
  const list = await t.call('GET', '/v1/devices', { token: apiKey });
  assert.equal(list.body.items.length, 1);
  const c = await t.call('POST', '/v1/devices', { token: apiKey, headers, body: { name: 'other' } });
  assert.equal(c.status, 422);
  assert.equal(c.body.code, 'IDEMPOTENCY_KEY_REUSED');
});

test('concurrent creates with one Idempotency-Key make one device', async () => {
  const { apiKey } = await t.tenant();
  const headers = { 'idempotency-key': 'burst-1' };
  const answers = await Promise.all(
    Array.from({ length: 5 }, () =>
      t.call('POST', '/v1/devices', { token: apiKey, headers, body: { name: 'burst' } }),
    ),
  );
  for (const a of answers) assert.ok(a.status === 201 || a.body.code === 'IDEMPOTENCY_KEY_IN_USE', a.text);
  const list = await t.call('GET', '/v1/devices', { token: apiKey });
  assert.equal(list.body.items.length, 1);
  const retry = await t.call('POST', '/v1/devices', { token: apiKey, headers, body: { name: 'burst' } });
  assert.equal(retry.status, 201);
  assert.equal(retry.body.id, list.body.items[0].id);
});

test('a failed create releases its Idempotency-Key', async () => {
  const { apiKey } = await t.tenant();
  const headers = { 'idempotency-key': 'cmd-1' };
  const missing = await t.call('POST', '/v1/devices/dev_00000000000000000/commands', {
    token: apiKey,
    headers,
    body: { name: 'x' },
  });
  assert.equal(missing.body.code, 'DEVICE_NOT_FOUND');
  const { deviceId } = await t.device(apiKey);
  const ok = await t.call('POST', `/v1/devices/${deviceId}/commands`, {
    token: apiKey,
    headers,
    body: { name: 'x' },
  });
  assert.equal(ok.status, 201);
});

test('a user changes a password; old sessions and the old password stop working', async () => {
  const { tenantId } = await t.tenant();
  const admin = await t.adminToken();
  const created = await t.call('POST', `/v1/tenants/${tenantId}/users`, {
    token: admin,
    body: { username: `op-${tenantId}`, password: 'first password 123' },
  });
  assert.equal(created.status, 201);
  assert.equal(created.body.password, undefined);
  const login = await t.call('POST', '/v1/auth/login', {
    body: { username: `op-${tenantId}`, password: 'first password 123' },
  });
  const token = login.body.token;
  assert.equal(
    (await t.call('GET', '/v1/devices', { token })).status,
    200,
    'a tenant user session works on tenant routes',
  );
  const wrong = await t.call('POST', '/v1/auth/password', {
    token,
    body: { currentPassword: 'nope', newPassword: 'second password 456' },
  });
  assert.equal(wrong.body.code, 'INVALID_CREDENTIALS');
  const weak = await t.call('POST', '/v1/auth/password', {
    token,
    body: { currentPassword: 'first password 123', newPassword: 'short' },
  });
  assert.equal(weak.body.code, 'PASSWORD_TOO_WEAK');
  const changed = await t.call('POST', '/v1/auth/password', {
    token,
    body: { currentPassword: 'first password 123', newPassword: 'second password 456' },
  });
  assert.equal(changed.status, 204);
  assert.equal((await t.call('GET', '/v1/devices', { token })).body.code, 'INVALID_CREDENTIALS');
  const old = await t.call('POST', '/v1/auth/login', {
    body: { username: `op-${tenantId}`, password: 'first password 123' },
  });
  assert.equal(old.body.code, 'INVALID_CREDENTIALS');
  const fresh = await t.call('POST', '/v1/auth/login', {
    body: { username: `op-${tenantId}`, password: 'second password 456' },
  });
  assert.equal(fresh.status, 200);
});
