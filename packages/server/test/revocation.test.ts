/**
 * Revocation closes every live session that authenticated with the revoked credential, whatever came
 * before on its client id, and nothing the device publishes after the answer is stored. Found by an
 * attack: after a refused CONNECT (wrong password) on the same client id, about one revocation in four
 * left the session up and its later QoS 1 publishes were stored. Each kind of revocation runs many
 * times, each time with a refused CONNECT racing the real one.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { connectMqtt, startTestPlatform, type TestPlatform } from './harness.js';
import { deviceKeyAndCsr } from './openssl.js';

let t: TestPlatform;
let apiKey: string;
const work = mkdtempSync(join(tmpdir(), 'mooring-revocation-test-'));
const ROUNDS = 12;

before(async () => {
  t = await startTestPlatform();
  ({ apiKey } = await t.tenant());
});
after(async () => {
  await t.stop();
});

interface Live {
  deviceId: string;
  connect(): Promise<MqttClient>;
  /** The revocation under test; resolves with its HTTP status. */
  revoke(): Promise<number>;
}

async function accessKeyDevice(): Promise<Live & { keyId: string }> {
  const d = await t.device(apiKey);
  return {
    deviceId: d.deviceId,
    keyId: d.accessKeyId,
    connect: () => t.connectDevice(d.deviceId, d.accessKey),
    revoke: async () =>
      (await t.call('DELETE', `/v1/devices/${d.deviceId}/access-keys/${d.accessKeyId}`, { token: apiKey }))
        .status,
  };
}

async function registrationTokenDevice(serial: string): Promise<Live> {
  const pt = await t.call('POST', '/v1/provisioning-tokens', {
    token: apiKey,
    body: { name: 'rev', kind: 'device', serial, approval: 'auto' },
  });
  const p = await t.call('POST', '/v1/device/provisioning/operations', {
    token: pt.body.secret,
    body: { serial },
  });
  assert.equal(p.status, 200, p.text);
  const deviceId = p.body.deviceId as string;
  return {
    deviceId,
    connect: () => t.connectDevice(deviceId, p.body.registrationToken),
    revoke: async () =>
      (await t.call('POST', `/v1/devices/${deviceId}/registration-tokens/revoke`, { token: apiKey })).status,
  };
}

async function certificateDevice(serial: string): Promise<Live> {
  const { key, csr } = deviceKeyAndCsr(work);
  const pt = await t.call('POST', '/v1/provisioning-tokens', {
    token: apiKey,
    body: { name: 'rev', kind: 'device', serial, approval: 'auto' },
  });
  const p = await t.call('POST', '/v1/device/provisioning/operations', {
    token: pt.body.secret,
    body: { serial, csr },
  });
  assert.equal(p.status, 200, p.text);
  const deviceId = p.body.deviceId as string;
  const cert = p.body.certificate + p.body.certificateChain;
  const certSerial = (await t.call('GET', `/v1/devices/${deviceId}/certificates`, { token: apiKey })).body
    .items[0].serial;
  return {
    deviceId,
    connect: () => connectMqtt(t.platform.mqttMtlsPort, t.platform.caCert, { clientId: deviceId, key, cert }),
    revoke: async () =>
      (await t.call('POST', `/v1/certificates/${certSerial}/revoke`, { token: apiKey, body: {} })).status,
  };
}

/** A CONNECT on the device's client id with a wrong password, refused; not awaited by the caller. */
function refusedConnect(deviceId: string): Promise<unknown> {
  return connectMqtt(t.platform.mqttPort, t.platform.caCert, {
    clientId: deviceId,
    username: deviceId,
    password: 'dak_wrong',
  }).then(
    (c) => {
      c.end(true);
      throw new Error('a wrong password was accepted');
    },
    (err: unknown) => err,
  );
}

/** Publishes one QoS 1 reading; resolves whether a PUBACK came within 1.5 s. */
function publishAcked(client: MqttClient, deviceId: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 1_500);
    client.publish(`d/${deviceId}/telemetry`, '{"values":{"after":1}}', { qos: 1 }, (err) => {
      clearTimeout(timer);
      resolve(!err);
    });
  });
}

async function storedReadings(deviceId: string): Promise<number> {
  const [row] = await t.platform.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM telemetry WHERE device_id = $1',
    [deviceId],
  );
  return row!.n;
}

/**
 * One round: a refused CONNECT races the real one; the credential is revoked; a QoS 1 publish sent
 * after the answer gets no PUBACK and is not stored, and the connection is closed.
 */
async function round(live: Live) {
  const refused = refusedConnect(live.deviceId);
  const client = await live.connect();
  await refused;
  const closedAt = new Promise<void>((resolve) => client.once('close', () => resolve()));
  const status = await live.revoke();
  assert.ok(status === 204 || status === 200, `revocation answered ${status}`);
  const acked = await publishAcked(client, live.deviceId);
  await Promise.race([
    closedAt,
    new Promise((_, reject) => setTimeout(() => reject(new Error('session stayed up')), 5_000)),
  ]);
  client.end(true);
  assert.equal(acked, false, 'a publish sent after the revocation was acknowledged');
  assert.equal(await storedReadings(live.deviceId), 0, 'a publish sent after the revocation was stored');
}

test('revoking an access key closes its session every time, after a refused CONNECT', async () => {
  for (let i = 0; i < ROUNDS; i++) await round(await accessKeyDevice());
});

test('disabling a device closes its session every time, after a refused CONNECT', async () => {
  for (let i = 0; i < ROUNDS; i++) {
    const d = await accessKeyDevice();
    await round({
      ...d,
      revoke: async () =>
        (
          await t.call('PATCH', `/v1/devices/${d.deviceId}`, {
            token: apiKey,
            body: { status: 'disabled' },
          })
        ).status,
    });
  }
});

test('deleting a device closes its session every time, after a refused CONNECT', async () => {
  for (let i = 0; i < ROUNDS; i++) {
    const d = await accessKeyDevice();
    await round({
      ...d,
      revoke: async () => (await t.call('DELETE', `/v1/devices/${d.deviceId}`, { token: apiKey })).status,
    });
  }
});

test('revoking registration tokens closes the session every time, after a refused CONNECT', async () => {
  for (let i = 0; i < ROUNDS; i++) await round(await registrationTokenDevice(`REV-RT-${i}`));
});

test('revoking a certificate closes its mutual-TLS session every time, after a refused CONNECT', async () => {
  for (let i = 0; i < ROUNDS / 2; i++) await round(await certificateDevice(`REV-CERT-${i}`));
});

/**
 * Holds the store's answer to the next access-key lookup until released: the credential has been read
 * as valid, and the revocation commits and is announced before the CONNECT finishes.
 */
function holdNextKeyLookup() {
  const db = t.platform.db as { query: (sql: string, params?: readonly unknown[]) => Promise<unknown[]> };
  const original = db.query;
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let lookedUp!: () => void;
  const read = new Promise<void>((r) => (lookedUp = r));
  db.query = async function (this: unknown, sql, params) {
    const rows = await original.call(this, sql, params);
    if (sql.includes('FROM device_access_keys k') && sql.includes('key_hash')) {
      db.query = original;
      lookedUp();
      await released;
    }
    return rows;
  };
  return { read, release };
}

test('a revocation announced while a CONNECT is being authenticated refuses that CONNECT', async () => {
  for (const kind of ['revoke', 'disable'] as const) {
    const d = await accessKeyDevice();
    const hold = holdNextKeyLookup();
    const connecting = d.connect().then(
      (c) => c,
      (err: { code?: number }) => err.code ?? -1,
    );
    await hold.read;
    const status =
      kind === 'revoke'
        ? await d.revoke()
        : (
            await t.call('PATCH', `/v1/devices/${d.deviceId}`, {
              token: apiKey,
              body: { status: 'disabled' },
            })
          ).status;
    assert.equal(status, kind === 'revoke' ? 204 : 200);
    hold.release();
    const outcome = await connecting;
    if (typeof outcome !== 'number') {
      const acked = await publishAcked(outcome, d.deviceId);
      outcome.end(true);
      assert.equal(
        acked,
        false,
        `${kind}: the session whose credential was revoked during CONNECT stayed up`,
      );
    } else {
      assert.equal(outcome, 5, `${kind}: refused as not authorized`);
    }
    assert.equal(await storedReadings(d.deviceId), 0);
  }
});

test('a revocation that races a CONNECT leaves no session standing', async () => {
  // Many connects racing the revocation: whichever way each race goes, none may be left standing and
  // nothing it publishes afterwards may be stored.
  for (let i = 0; i < ROUNDS; i++) {
    const d = await accessKeyDevice();
    const connecting = d.connect().then(
      (c) => c,
      () => null,
    );
    const status = await d.revoke();
    assert.equal(status, 204);
    const client = await connecting;
    if (client) {
      const acked = await publishAcked(client, d.deviceId);
      client.end(true);
      assert.equal(acked, false, 'a session that raced its revocation stayed up');
    }
    assert.equal(await storedReadings(d.deviceId), 0);
  }
});
