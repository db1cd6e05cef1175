/**
 * MQTT limits end to end, with real clients over TLS and values lowered by overrides: a tenant over
 * its connection cap gets CONNACK 3 and the refusal is listed as a limit event, while another tenant
 * connects; the tenant's count comes back to 0 after every kind of disconnect (clean, socket destroyed,
 * taken over, refused by authentication); a SUBSCRIBE past a device's subscription cap closes its
 * connection with the reason kept; refusals by CONNECTs per client id and a packet too large are
 * listed as limit events of the device. (The listener rate is proven in
 * src/adapters/broker/limits.test.ts: it needs a burst that would hold back the other tests here.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { closed, eventually, startTestPlatform, type TestPlatform } from './harness.js';

const CONNECTS_PER_CLIENT_ID = 3;
const TENANT_CAP = 'mqtt.connections_per_tenant';

let t: TestPlatform;
before(async () => {
  t = await startTestPlatform({
    MOORING_LIMIT_MQTT_CONNECTS_PER_CLIENT_ID: String(CONNECTS_PER_CLIENT_ID),
  });
});
after(() => t.stop());

interface LimitEvent {
  limit: string;
  scope: string;
  subject: string;
  deviceId: string | null;
  configured: number;
  observed: number;
  count: number;
}

/** The tenant's limit events of one limit, once there is one. */
async function limitEvents(apiKey: string, query: string): Promise<LimitEvent[]> {
  return eventually(
    async () => {
      const r = await t.call('GET', `/v1/limit-events?${query}`, { token: apiKey });
      assert.equal(r.status, 200, r.text);
      const items = r.body.items as LimitEvent[];
      return items.length > 0 ? items : undefined;
    },
    5000,
    `limit events ${query}`,
  );
}

async function problems(apiKey: string, query: string) {
  const r = await t.call('GET', `/v1/fleet/problems?${query}`, { token: apiKey });
  assert.equal(r.status, 200, r.text);
  return r.body.items as {
    kind: string;
    code: string | null;
    message: string | null;
    deviceId: string | null;
  }[];
}

/** The CONNACK return code a refused CONNECT got. */
async function refusedWith(connecting: Promise<MqttClient>): Promise<number> {
  const err = await connecting.then(
    (c) => {
      c.end(true);
      assert.fail('the CONNECT was accepted');
    },
    (e: unknown) => e as { code?: number },
  );
  return err.code ?? -1;
}

type Device = { deviceId: string; accessKey: string };

test('a tenant over its connection cap gets CONNACK 3, kept as a limit event; its count returns to 0 after every kind of disconnect', async () => {
  const { tenantId, apiKey } = await t.tenant();
  const set = await t.call('PUT', '/v1/tenant/limits', {
    token: apiKey,
    body: { items: [{ limit: TENANT_CAP, value: 2 }] },
  });
  assert.equal(set.status, 200, set.text);
  // Fresh devices for each round, so that no client id nears its own CONNECT limit.
  const devices = await Promise.all(Array.from({ length: 12 }, () => t.device(apiKey)));
  let used = 0;
  const next = () => devices[used++]!;
  const connect = (d: Device) => t.connectDevice(d.deviceId, d.accessKey);

  /** Once the server has seen these devices go (presence), their places are free. */
  const offline = (...ds: Device[]) =>
    eventually(
      async () => {
        for (const d of ds) {
          const r = await t.call('GET', `/v1/devices/${d.deviceId}`, { token: apiKey });
          if (r.body.presence?.connected !== false) return false;
        }
        return true;
      },
      5000,
      'the devices to be offline',
    );

  /** Exactly two fit, the third is refused. */
  async function fillsExactly(): Promise<{ device: Device; client: MqttClient }[]> {
    const held = [next(), next()];
    const clients = [await connect(held[0]!), await connect(held[1]!)];
    assert.equal(await refusedWith(connect(next())), 3, 'CONNACK 3, server unavailable');
    return held.map((device, i) => ({ device, client: clients[i]! }));
  }

  const [a, b] = await fillsExactly();
  const events = await limitEvents(apiKey, `name=${TENANT_CAP}`);
  const { limit, scope, subject, deviceId, configured, observed } = events[0]!;
  assert.deepEqual(
    { limit, scope, subject, deviceId, configured, observed },
    {
      limit: TENANT_CAP,
      scope: 'tenant',
      subject: `tenant:${tenantId}`,
      deviceId: null,
      configured: 2,
      observed: 3,
    },
  );
  const listed = await problems(apiKey, 'kind=limit_exceeded');
  assert.ok(listed.some((p) => p.code === TENANT_CAP));
  const refusedDevice = devices[2]!.deviceId;
  await eventually(
    async () =>
      (await problems(apiKey, `deviceId=${refusedDevice}&kind=connect_refused`)).some(
        (p) => p.code === 'QUOTA_EXCEEDED' && (p.message ?? '').includes(TENANT_CAP),
      ),
    5000,
    'the refusal of the device',
  );

  // Another tenant is not held back.
  const other = await t.tenant();
  const theirs = await Promise.all(Array.from({ length: 3 }, () => t.device(other.apiKey)));
  const theirClients = await Promise.all(theirs.map(connect));
  const theirEvents = await t.call('GET', '/v1/limit-events', { token: other.apiKey });
  assert.deepEqual(theirEvents.body.items, []);

  // A clean DISCONNECT and a socket destroyed.
  await a!.client.endAsync();
  a!.client.stream.destroy();
  b!.client.stream.destroy();
  await offline(a!.device, b!.device);
  const [c, d] = await fillsExactly();

  // A device taking over its own session at the cap: it fits, and the count stays at two.
  const takenOver = closed(c!.client);
  const cAgain = await connect(c!.device);
  await takenOver;
  c!.client.end(true);
  assert.equal(await refusedWith(connect(next())), 3, 'still full after the takeover');
  await Promise.all([cAgain.endAsync(), d!.client.endAsync()]);
  await offline(c!.device, d!.device);

  // Refused by authentication: no place is taken.
  assert.equal(await refusedWith(t.connectDevice(next().deviceId, 'mk_wrong')), 4);
  const [e, f] = await fillsExactly();
  await Promise.all([e!.client.endAsync(), f!.client.endAsync(), ...theirClients.map((x) => x.endAsync())]);
});

test('a SUBSCRIBE past the device’s subscription cap closes its connection; the reason and the limit event are kept', async () => {
  const { apiKey } = await t.tenant();
  const [device, neighbour] = await Promise.all([t.device(apiKey), t.device(apiKey)]);
  const { deviceId } = device;
  const set = await t.call('PUT', `/v1/devices/${deviceId}/limits`, {
    token: apiKey,
    body: { items: [{ limit: 'mqtt.subscriptions_per_connection', value: 2 }] },
  });
  assert.equal(set.status, 200, set.text);

  const client = await t.connectDevice(deviceId, device.accessKey);
  await client.subscribeAsync(`d/${deviceId}/commands/+`, { qos: 1 });
  await client.subscribeAsync(`d/${deviceId}/errors`, { qos: 0 });
  const gone = closed(client);
  client.subscribe(`d/${deviceId}/ota/+`, { qos: 1 });
  await gone;
  client.end(true);

  const events = await limitEvents(apiKey, `deviceId=${deviceId}`);
  assert.deepEqual(
    [events[0]!.limit, events[0]!.subject, events[0]!.deviceId, events[0]!.configured, events[0]!.observed],
    ['mqtt.subscriptions_per_connection', `device:${deviceId}`, deviceId, 2, 3],
  );
  await eventually(
    async () =>
      (await problems(apiKey, `deviceId=${deviceId}&kind=abnormal_disconnect`)).some(
        (p) => p.code === 'too_many_subscriptions',
      ),
    5000,
    'the disconnect reason',
  );

  // The device's neighbour keeps the tenant's value (50).
  const fine = await t.connectDevice(neighbour.deviceId, neighbour.accessKey);
  const n = neighbour.deviceId;
  const granted = await fine.subscribeAsync(
    [`d/${n}/commands/+`, `d/${n}/errors`, `d/${n}/ota/+`, `d/${n}/config/desired`],
    { qos: 1 },
  );
  assert.equal(granted.length, 4);
  assert.ok(fine.connected);
  await fine.endAsync();
});

test('refusals by CONNECTs per client id and a packet too large are listed as limit events of the device', async () => {
  const { apiKey } = await t.tenant();
  const [looping, big] = await Promise.all([t.device(apiKey), t.device(apiKey)]);
  for (let i = 0; i < CONNECTS_PER_CLIENT_ID; i++)
    await (await t.connectDevice(looping.deviceId, looping.accessKey)).endAsync();
  assert.equal(await refusedWith(t.connectDevice(looping.deviceId, looping.accessKey)), 3);
  const rate = await limitEvents(apiKey, 'name=mqtt.connects_per_client_id');
  assert.deepEqual(
    [rate[0]!.subject, rate[0]!.deviceId, rate[0]!.configured, rate[0]!.observed],
    [`client-id:${looping.deviceId}`, looping.deviceId, CONNECTS_PER_CLIENT_ID, CONNECTS_PER_CLIENT_ID + 1],
  );

  const client = await t.connectDevice(big.deviceId, big.accessKey);
  const gone = closed(client);
  client.publish(`d/${big.deviceId}/telemetry`, Buffer.alloc(200 * 1024, 0x61), { qos: 0 });
  await gone;
  client.end(true);
  const size = await limitEvents(apiKey, 'name=mqtt.bytes_per_packet');
  assert.deepEqual(
    [size[0]!.scope, size[0]!.subject, size[0]!.deviceId, size[0]!.configured],
    ['connection', `device:${big.deviceId}`, big.deviceId, 128 * 1024],
  );
  assert.ok(size[0]!.observed > 200 * 1024);
});
