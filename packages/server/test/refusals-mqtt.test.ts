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

const NUL = '\u0000';
const deepArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

/**
 * The text and JSON rule over MQTT: each payload the store cannot hold gets a PUBACK, the refusal
 * notice on `d/{id}/errors`, and nothing is stored; the connection stays open so a QoS 1 device does
 * not resend it forever.
 */
const unstorable: {
  desc: string;
  kind: 'telemetry' | 'events' | 'result';
  payload: string | Buffer;
  code: string;
  path?: string;
  /** The command id in the result topic, when not the real one. */
  commandId?: string;
}[] = [
  {
    desc: 'a NUL in a telemetry string',
    kind: 'telemetry',
    payload: '{"values":{"s":"a\\u0000b"}}',
    code: 'INVALID_TEXT',
    path: '/values/s',
  },
  {
    desc: 'a NUL in a telemetry key',
    kind: 'telemetry',
    payload: '{"values":{"k\\u0000":1}}',
    code: 'INVALID_TEXT',
    path: `/values/k${NUL}`,
  },
  {
    desc: 'a lone surrogate in a telemetry string',
    kind: 'telemetry',
    payload: '{"values":{"s":"\\ud800"}}',
    code: 'INVALID_TEXT',
    path: '/values/s',
  },
  {
    desc: 'invalid UTF-8',
    kind: 'telemetry',
    payload: bytes('{"values":{"s":"', [0xc3, 0x28], '"}}'),
    code: 'INVALID_TEXT',
  },
  {
    desc: 'a surrogate in UTF-8 bytes',
    kind: 'telemetry',
    payload: bytes('{"values":{"s":"', [0xed, 0xa0, 0x80], '"}}'),
    code: 'INVALID_TEXT',
  },
  {
    desc: 'a byte order mark',
    kind: 'telemetry',
    payload: bytes([0xef, 0xbb, 0xbf], '{"values":{"t":1}}'),
    code: 'MALFORMED_JSON',
  },
  {
    desc: 'a duplicate member name',
    kind: 'telemetry',
    payload: '{"values":{"t":1,"t":2}}',
    code: 'MALFORMED_JSON',
  },
  {
    desc: 'a number beyond a double (1e999)',
    kind: 'telemetry',
    payload: '{"values":{"t":1e999}}',
    code: 'NUMBER_OUT_OF_RANGE',
    path: '/values/t',
  },
  {
    desc: 'telemetry nested 5,000 deep',
    kind: 'telemetry',
    payload: `{"values":{"t":${deepArray(5000)}}}`,
    code: 'JSON_TOO_DEEP',
  },
  {
    desc: 'a NUL in event data',
    kind: 'events',
    payload: '{"type":"crash","data":{"log":"\\u0000"}}',
    code: 'INVALID_TEXT',
    path: '/data/log',
  },
  {
    desc: 'a NUL in an event type',
    kind: 'events',
    payload: '{"type":"cr\\u0000sh"}',
    code: 'INVALID_TEXT',
    path: '/type',
  },
  {
    desc: 'a lone surrogate in an event message',
    kind: 'events',
    payload: '{"type":"x","message":"\\udfff"}',
    code: 'INVALID_TEXT',
    path: '/message',
  },
  {
    desc: 'event data nested 5,000 deep',
    kind: 'events',
    payload: `{"type":"x","data":{"a":${deepArray(5000)}}}`,
    code: 'JSON_TOO_DEEP',
  },
  {
    desc: 'a NUL in a command result',
    kind: 'result',
    payload: '{"status":"failed","error":"e\\u0000"}',
    code: 'INVALID_TEXT',
    path: '/error',
  },
  {
    desc: 'a command result nested 5,000 deep',
    kind: 'result',
    payload: `{"status":"succeeded","result":${deepArray(5000)}}`,
    code: 'JSON_TOO_DEEP',
  },
  {
    desc: 'a NUL in the command id of the topic',
    kind: 'result',
    payload: '{"status":"succeeded"}',
    code: 'INVALID_TEXT',
    commandId: `cmd_x${NUL}`,
  },
];

for (const c of unstorable) {
  test(`over MQTT, ${c.desc} is acknowledged, refused with ${c.code} and not stored`, async () => {
    await withDevice(async ({ deviceId, client }) => {
      const cmd = await t.call('POST', `/v1/devices/${deviceId}/commands`, {
        token: apiKey,
        body: { name: 'x' },
      });
      const topic =
        c.kind === 'telemetry'
          ? `d/${deviceId}/telemetry`
          : c.kind === 'events'
            ? `d/${deviceId}/events`
            : `d/${deviceId}/commands/${c.commandId ?? cmd.body.id}/result`;
      await client.subscribeAsync(`d/${deviceId}/errors`);
      const notice = nextMessage(client, (tp) => tp === `d/${deviceId}/errors`);
      const acked = client.publishAsync(topic, c.payload, { qos: 1 });
      const n = (await notice).payload;
      await acked; // the PUBACK came: the device will not resend
      assert.equal(n.code, c.code, n.message);
      assert.equal(n.topic, topic);
      if (c.path !== undefined) assert.equal(n.path, c.path);
      assert.ok(client.connected, 'a refused publish does not end the session');
      // nothing of it was stored, and the session goes on
      await client.publishAsync(`d/${deviceId}/telemetry`, JSON.stringify({ values: { ok: 1 } }), { qos: 1 });
      assert.equal(await rowCount(deviceId), 1);
      const events = await t.call('GET', `/v1/devices/${deviceId}/events?from=0`, { token: apiKey });
      assert.deepEqual(events.body.items, []);
      const command = await t.call('GET', `/v1/devices/${deviceId}/commands/${cmd.body.id}`, {
        token: apiKey,
      });
      assert.equal(command.body.status, 'pending');
    });
  });
}

test('a client id or user name holding a NUL is refused as bad credentials, not as a store failure', async () => {
  const { deviceId, accessKey } = await t.device(apiKey);
  await assert.rejects(
    t.connectDevice(`${deviceId}${NUL}`, accessKey, { username: `${deviceId}${NUL}` }),
    (e) => connackCode(e) === 4,
  );
  const ok = await t.connectDevice(deviceId, accessKey);
  ok.end(true);
});

test('a provisioning connection gets the same refusals on its result topic, and stays open', async () => {
  const pt = await t.call('POST', '/v1/provisioning-tokens', {
    token: apiKey,
    body: { name: 'edge', kind: 'batch', approval: 'manual' },
  });
  assert.equal(pt.status, 201, pt.text);
  const clientId = `prov-edge-${Math.random().toString(36).slice(2, 8)}`;
  const mqtt = (await import('./harness.js')).connectMqtt;
  const client = await mqtt(t.platform.mqttPort, t.platform.caCert, {
    clientId,
    username: '$provisioning',
    password: pt.body.secret,
  });
  try {
    await client.subscribeAsync(`prov/${clientId}/result`);
    const cases: [string, string | Buffer, string][] = [
      [`prov/${clientId}/operations`, '{"serial":"SN\\u00001"}', 'INVALID_TEXT'],
      [`prov/${clientId}/operations`, '{"serial":"SN1","serial":"SN2"}', 'MALFORMED_JSON'],
      [
        `prov/${clientId}/operations`,
        `{"serial":"SN1","attributes":{"a":${deepArray(5000)}}}`,
        'JSON_TOO_DEEP',
      ],
      [`prov/${clientId}/operations/op_x${NUL}/poll`, '{}', 'INVALID_TEXT'],
    ];
    for (const [topic, payload, code] of cases) {
      const answer = nextMessage(client, (tp) => tp === `prov/${clientId}/result`);
      await client.publishAsync(topic, payload, { qos: 1 });
      const a = (await answer).payload;
      assert.equal(a.code, code, `${topic} ${String(payload).slice(0, 60)}: ${a.message}`);
      assert.ok(client.connected);
    }
    const ops = await t.call('GET', '/v1/provisioning/operations', { token: apiKey });
    assert.deepEqual(ops.body.items, []);
  } finally {
    client.end(true);
  }
});
