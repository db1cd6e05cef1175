/**
 * Every MQTT refusal is clear and documented (docs/errors.md) and stores nothing: bad credentials,
 * disabled devices, revoked keys (live session dropped), foreign topics, wildcard subscriptions and
 * invalid payloads.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { closed, eventually, nextMessage, startTestPlatform, type TestPlatform } from './harness.js';

let t: TestPlatform;
let apiKey: string;
before(async () => {
  t = await startTestPlatform();
  ({ apiKey } = await t.tenant());
});
after(async () => {
  await t.stop();
});

async function rowCount(deviceId: string): Promise<number> {
  const r = await t.call('GET', `/v1/devices/${deviceId}/telemetry?from=0&limit=500`, { token: apiKey });
  return r.body.items.length as number;
}

async function refusedTotal(reason: string): Promise<number> {
  const r = await t.call('GET', '/metrics');
  let total = 0;
  for (const line of (r.text as string).split('\n')) {
    if (line.startsWith('mooring_refused_total{') && line.includes(`reason="${reason}"`))
      total += Number(line.split(' ').at(-1));
  }
  return total;
}

async function withDevice(
  fn: (d: { deviceId: string; accessKey: string; accessKeyId: string; client: MqttClient }) => Promise<void>,
) {
  const d = await t.device(apiKey);
  const client = await t.connectDevice(d.deviceId, d.accessKey);
  try {
    await fn({ ...d, client });
  } finally {
    client.end(true);
  }
}

function connackCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

test('a wrong access key is refused with CONNACK 4', async () => {
  const { deviceId } = await t.device(apiKey);
  await assert.rejects(t.connectDevice(deviceId, 'dak_wrongwrongwrong'), (e) => connackCode(e) === 4);
  await assert.rejects(t.connectDevice(deviceId, ''), (e) => connackCode(e) === 4);
});

test("another device's key is refused even with a matching client id and username", async () => {
  const a = await t.device(apiKey);
  const b = await t.device(apiKey);
  await assert.rejects(t.connectDevice(a.deviceId, b.accessKey), (e) => connackCode(e) === 4);
  // client id and username must both name the key's device
  await assert.rejects(
    t.connectDevice(a.deviceId, a.accessKey, { clientId: b.deviceId }),
    (e) => connackCode(e) === 4,
  );
});

test('a disabled device is refused with CONNACK 5, and disabling drops its live session', async () => {
  const { deviceId, accessKey } = await t.device(apiKey);
  const client = await t.connectDevice(deviceId, accessKey);
  const gone = closed(client);
  const r = await t.call('POST', `/v1/devices/${deviceId}/disable`, { token: apiKey });
  assert.equal(r.body.status, 'disabled');
  await gone;
  await assert.rejects(t.connectDevice(deviceId, accessKey), (e) => connackCode(e) === 5);
  const dev = await eventually(async () => {
    const d = await t.call('GET', `/v1/devices/${deviceId}`, { token: apiKey });
    return d.body.presence.connected === false && d.body;
  });
  assert.equal(dev.presence.lastDisconnectReason, 'device_disabled');
  await t.call('POST', `/v1/devices/${deviceId}/enable`, { token: apiKey });
  const again = await t.connectDevice(deviceId, accessKey);
  again.end(true);
});

test('revoking an access key drops the session that used it and refuses the next connect', async () => {
  const { deviceId, accessKey, accessKeyId } = await t.device(apiKey);
  const second = await t.call('POST', `/v1/devices/${deviceId}/access-keys`, { token: apiKey });
  const client = await t.connectDevice(deviceId, accessKey);
  const gone = closed(client, 5000);
  const r = await t.call('DELETE', `/v1/devices/${deviceId}/access-keys/${accessKeyId}`, { token: apiKey });
  assert.equal(r.status, 204);
  await gone;
  await assert.rejects(t.connectDevice(deviceId, accessKey), (e) => connackCode(e) === 4);
  // the rotated-in key keeps working
  const rotated = await t.connectDevice(deviceId, second.body.secret);
  rotated.end(true);
});

test("publishing to another device's topic is dropped, counted and explained; nothing is stored", async () => {
  const victim = await t.device(apiKey);
  const before = await refusedTotal('publish_not_allowed');
  await withDevice(async ({ deviceId, client }) => {
    await client.subscribeAsync(`d/${deviceId}/errors`);
    const notice = nextMessage(client, (topic) => topic === `d/${deviceId}/errors`);
    await client.publishAsync(`d/${victim.deviceId}/telemetry`, JSON.stringify({ values: { spoofed: 1 } }), {
      qos: 1,
    });
    const n = await notice;
    assert.equal(n.payload.code, 'TOPIC_NOT_ALLOWED');
    assert.equal(n.payload.topic, `d/${victim.deviceId}/telemetry`);
    // topics outside the contract are refused the same way
    await client.publishAsync(`d/${deviceId}/commands/x`, '{}', { qos: 1 });
    await client.publishAsync('elsewhere/topic', '{}', { qos: 1 });
    assert.ok(client.connected, 'a refused publish does not end the session');
    assert.equal(await rowCount(victim.deviceId), 0);
    assert.equal(await rowCount(deviceId), 0);
  });
  assert.equal((await refusedTotal('publish_not_allowed')) - before, 3);
});

test('subscriptions outside the device namespace get return code 0x80', async () => {
  const other = await t.device(apiKey);
  await withDevice(async ({ deviceId, client }) => {
    const filters = [
      '#',
      'd/+/telemetry',
      `d/${other.deviceId}/commands/+`,
      `d/${deviceId}/#`,
      '$SYS/#',
      `d/${deviceId}/commands/+`,
    ];
    // mqtt.js rejects a SUBSCRIBE with any refused filter; the SUBACK it carries has every return code.
    const granted = await client.subscribeAsync(filters, { qos: 1 }).then(
      () => assert.fail('the subscription should have been partly refused'),
      (e: { packet?: { granted: number[] } }) => e.packet!.granted,
    );
    const byTopic = Object.fromEntries(filters.map((f, i) => [f, granted[i]]));
    assert.equal(byTopic['#'], 128);
    assert.equal(byTopic['d/+/telemetry'], 128);
    assert.equal(byTopic[`d/${other.deviceId}/commands/+`], 128);
    assert.equal(byTopic[`d/${deviceId}/#`], 128);
    assert.equal(byTopic['$SYS/#'], 128);
    assert.equal(byTopic[`d/${deviceId}/commands/+`], 1);
  });
});

const badPayloads: { desc: string; payload: () => string | Buffer; code: string }[] = [
  { desc: 'malformed JSON', payload: () => '{"values": {"t": 1', code: 'MALFORMED_JSON' },
  {
    desc: 'an oversized payload',
    payload: () => JSON.stringify({ values: { s: 'x'.repeat(70 * 1024) } }),
    code: 'PAYLOAD_TOO_LARGE',
  },
  {
    desc: 'an unknown field',
    payload: () => JSON.stringify({ values: { t: 1 }, deviceId: 'dev_spoof' }),
    code: 'INVALID_TELEMETRY',
  },
  {
    desc: 'a far-future timestamp',
    payload: () => JSON.stringify({ ts: Date.now() + 86_400_000, values: { t: 1 } }),
    code: 'TIMESTAMP_OUT_OF_RANGE',
  },
  {
    desc: 'a pre-epoch timestamp',
    payload: () => JSON.stringify({ ts: -1000, values: { t: 1 } }),
    code: 'TIMESTAMP_OUT_OF_RANGE',
  },
  {
    desc: 'a value of the wrong type',
    payload: () => JSON.stringify({ values: { t: [1, 2] } }),
    code: 'INVALID_TELEMETRY',
  },
];

for (const c of badPayloads) {
  test(`telemetry with ${c.desc} is refused with ${c.code} and not stored`, async () => {
    await withDevice(async ({ deviceId, client }) => {
      await client.subscribeAsync(`d/${deviceId}/errors`);
      const notice = nextMessage(client, (topic) => topic === `d/${deviceId}/errors`);
      await client.publishAsync(`d/${deviceId}/telemetry`, c.payload(), { qos: 1 });
      assert.equal((await notice).payload.code, c.code);
      // a good message after the bad one is stored: the session goes on
      await client.publishAsync(`d/${deviceId}/telemetry`, JSON.stringify({ values: { ok: 1 } }), { qos: 1 });
      assert.equal(await rowCount(deviceId), 1);
    });
  });
}

test('an invalid command result is refused and leaves the command open', async () => {
  await withDevice(async ({ deviceId, client }) => {
    const cmd = await t.call('POST', `/v1/devices/${deviceId}/commands`, {
      token: apiKey,
      body: { name: 'x' },
    });
    await client.subscribeAsync(`d/${deviceId}/errors`);
    const notice = nextMessage(client, (topic) => topic === `d/${deviceId}/errors`);
    await client.publishAsync(
      `d/${deviceId}/commands/${cmd.body.id}/result`,
      JSON.stringify({ status: 'maybe' }),
      { qos: 1 },
    );
    assert.equal((await notice).payload.code, 'VALIDATION_FAILED');
    const unknown = nextMessage(client, (topic) => topic === `d/${deviceId}/errors`);
    await client.publishAsync(
      `d/${deviceId}/commands/cmd_nope/result`,
      JSON.stringify({ status: 'succeeded' }),
      { qos: 1 },
    );
    assert.equal((await unknown).payload.code, 'COMMAND_NOT_FOUND');
    const c = await t.call('GET', `/v1/devices/${deviceId}/commands/${cmd.body.id}`, { token: apiKey });
    assert.equal(c.body.status, 'pending');
  });
});

test('a second connection with the same client id takes the session over', async () => {
  const { deviceId, accessKey } = await t.device(apiKey);
  const first = await t.connectDevice(deviceId, accessKey);
  const firstGone = closed(first);
  const second = await t.connectDevice(deviceId, accessKey);
  await firstGone;
  assert.ok(second.connected);
  await second.publishAsync(`d/${deviceId}/telemetry`, JSON.stringify({ values: { t: 1 } }), { qos: 1 });
  const d = await t.call('GET', `/v1/devices/${deviceId}`, { token: apiKey });
  assert.equal(d.body.presence.connected, true, 'the old session ending does not mark the device offline');
  second.end(true);
});

test('MQTT over WebSocket on the HTTPS port authenticates and stores like MQTT/TLS', async () => {
  const mqtt = (await import('mqtt')).default;
  const { deviceId, accessKey } = await t.device(apiKey);
  const ws = await mqtt.connectAsync(`wss://localhost:${t.platform.httpPort}/mqtt`, {
    ca: t.platform.caCert,
    clientId: deviceId,
    username: deviceId,
    password: accessKey,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  try {
    await ws.publishAsync(`d/${deviceId}/telemetry`, JSON.stringify({ values: { viaWs: true } }), { qos: 1 });
    assert.equal(await rowCount(deviceId), 1);
    const history = await t.call('GET', `/v1/devices/${deviceId}/presence`, { token: apiKey });
    assert.equal(history.body.items[0].transport, 'wss');
  } finally {
    ws.end(true);
  }
  await assert.rejects(
    mqtt.connectAsync(`wss://localhost:${t.platform.httpPort}/mqtt`, {
      ca: t.platform.caCert,
      clientId: deviceId,
      username: deviceId,
      password: 'dak_nope',
      protocolVersion: 4,
      reconnectPeriod: 0,
    }),
    (e) => connackCode(e) === 4,
  );
});

test('a connection lost without DISCONNECT marks the device offline with the reason', async () => {
  const { deviceId, accessKey } = await t.device(apiKey);
  const client = await t.connectDevice(deviceId, accessKey);
  await eventually(
    async () => (await t.call('GET', `/v1/devices/${deviceId}`, { token: apiKey })).body.presence.connected,
  );
  client.stream.destroy();
  const d = await eventually(async () => {
    const r = await t.call('GET', `/v1/devices/${deviceId}`, { token: apiKey });
    return r.body.presence.connected === false && r.body;
  });
  assert.equal(d.presence.lastDisconnectReason, 'connection_lost');
  client.end(true);
});

test('deleting a device drops its session and its data', async () => {
  const { deviceId, accessKey } = await t.device(apiKey);
  const client = await t.connectDevice(deviceId, accessKey);
  await client.publishAsync(`d/${deviceId}/telemetry`, JSON.stringify({ values: { t: 1 } }), { qos: 1 });
  const gone = closed(client);
  assert.equal((await t.call('DELETE', `/v1/devices/${deviceId}`, { token: apiKey })).status, 204);
  await gone;
  assert.equal(
    (await t.call('GET', `/v1/devices/${deviceId}/telemetry`, { token: apiKey })).body.code,
    'DEVICE_NOT_FOUND',
  );
  await assert.rejects(t.connectDevice(deviceId, accessKey), (e) => connackCode(e) === 4);
});
