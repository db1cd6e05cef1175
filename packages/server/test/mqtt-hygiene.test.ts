/**
 * MQTT connection hygiene: a new socket must finish its TLS handshake and then send CONNECT within
 * their deadlines or it is closed, while a real device connects meanwhile; an address may hold only
 * so many sockets before CONNACK, on all MQTT listeners together; malformed CONNECTs (will QoS 3) are
 * refused without CONNACK, keep-alive 0 gets the maximum keep-alive's idle deadline, and a packet that
 * announces more than the maximum packet size closes the connection when its header arrives; CONNECTs
 * per client id are limited once the credential is proven, refused with CONNACK 3 and kept as a
 * refusal of the device.
 *
 * The deadlines are short here (1 s each) and follow the same rules as the defaults (10 s each).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import mqttPacket from 'mqtt-packet';
import { connectMqtt, startTestPlatform, type TestPlatform } from './harness.js';

const HANDSHAKE_S = 1;
const CONNECT_S = 1;
const MAX_KEEPALIVE_S = 2;
const CONNECTS_PER_MINUTE = 3;

let t: TestPlatform;
let apiKey: string;

before(async () => {
  t = await startTestPlatform({
    MOORING_MQTT_HANDSHAKE_TIMEOUT_SECONDS: String(HANDSHAKE_S),
    MOORING_MQTT_CONNECT_TIMEOUT_SECONDS: String(CONNECT_S),
    MOORING_MQTT_MAX_KEEPALIVE_SECONDS: String(MAX_KEEPALIVE_S),
    MOORING_LIMIT_MQTT_CONNECTS_PER_CLIENT_ID: String(CONNECTS_PER_MINUTE),
  });
  ({ apiKey } = await t.tenant());
});
after(() => t.stop());

/** Resolves with the ms from `from` (set by the caller) until the server closed the socket. */
function closedAfter(socket: Socket, start: () => number): Promise<number> {
  socket.on('error', () => {});
  socket.resume();
  return new Promise((resolve) => socket.once('close', () => resolve(performance.now() - start())));
}

function rawTcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

function tlsMqtt(port: number = t.platform.mqttPort): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: t.platform.caCert }, () =>
      resolve(s),
    );
    s.once('error', reject);
  });
}

test('a socket that never starts TLS is closed at the handshake deadline, on both TLS ports', async () => {
  for (const port of [t.platform.mqttPort, t.platform.mqttMtlsPort]) {
    const opened = performance.now();
    const socket = await rawTcp(port);
    const ms = await closedAfter(socket, () => opened);
    assert.ok(ms >= HANDSHAKE_S * 1000 - 100, `closed after ${ms} ms, before the deadline`);
    assert.ok(ms < HANDSHAKE_S * 1000 + 1500, `closed after ${ms} ms, long after the deadline`);
  }
});

test('a socket that completes TLS but never sends CONNECT is closed at the CONNECT deadline', async () => {
  const socket = await tlsMqtt();
  const handshaken = performance.now();
  const closed = closedAfter(socket, () => handshaken);
  // A device connects and works while the idle socket waits.
  const { deviceId, accessKey } = await t.device(apiKey);
  const client = await t.connectDevice(deviceId, accessKey);
  await client.publishAsync(`d/${deviceId}/telemetry`, JSON.stringify({ v: 1 }), { qos: 1 });
  const ms = await closed;
  assert.ok(ms >= CONNECT_S * 1000 - 100, `closed after ${ms} ms, before the deadline`);
  assert.ok(ms < CONNECT_S * 1000 + 1500, `closed after ${ms} ms, long after the deadline`);
  assert.ok(client.connected, 'the device is still connected');
  await client.endAsync();
});

test('idle sockets of both kinds are dropped while a device connects and stays', async () => {
  const opened = performance.now();
  const idle = await Promise.all([
    ...Array.from({ length: 10 }, () => rawTcp(t.platform.mqttPort)),
    ...Array.from({ length: 10 }, () => tlsMqtt()),
  ]);
  const closed = idle.map((s) => closedAfter(s, () => opened));
  const { deviceId, accessKey } = await t.device(apiKey);
  const client = await t.connectDevice(deviceId, accessKey);
  const times = await Promise.all(closed);
  assert.ok(
    Math.max(...times) < (HANDSHAKE_S + CONNECT_S) * 1000 + 1500,
    `the last idle socket closed after ${Math.max(...times)} ms`,
  );
  assert.ok(client.connected);
  await client.endAsync();
});

async function refusedTotal(p: TestPlatform, reason: string): Promise<number> {
  const r = await p.call('GET', '/metrics');
  let total = 0;
  for (const line of (r.text as string).split('\n')) {
    if (line.startsWith('mooring_refused_total{') && line.includes(`reason="${reason}"`))
      total += Number(line.split(' ').at(-1));
  }
  return total;
}

test('an address over its cap of connections before CONNACK is closed at once, on every MQTT listener', async () => {
  const CAP = 5;
  // Long deadlines here, so that only the cap closes sockets.
  const p = await startTestPlatform({ MOORING_LIMIT_MQTT_PENDING_CONNECTIONS_PER_ADDRESS: String(CAP) });
  const open: Socket[] = [];
  try {
    const { apiKey: key } = await p.tenant();
    const devices = await Promise.all([p.device(key), p.device(key)]);
    // A connection that has its CONNACK no longer counts.
    const connected = await p.connectDevice(devices[0]!.deviceId, devices[0]!.accessKey);
    let closedEarly = 0;
    for (let i = 0; i < CAP; i++) {
      // Half plain TCP that never starts TLS, half TLS that never sends CONNECT.
      const s =
        i % 2 === 0
          ? await rawTcp(p.platform.mqttPort)
          : await new Promise<TLSSocket>((resolve, reject) => {
              const c = tlsConnect(
                {
                  host: '127.0.0.1',
                  port: p.platform.mqttPort,
                  servername: 'localhost',
                  ca: p.platform.caCert,
                },
                () => resolve(c),
              );
              c.once('error', reject);
            });
      s.on('error', () => {});
      s.once('close', () => closedEarly++);
      open.push(s);
    }
    const before = await refusedTotal(p, 'too_many_pending_connections');

    // One more on the TLS port and on the mutual-TLS port: closed at once, without a handshake.
    for (const port of [p.platform.mqttPort, p.platform.mqttMtlsPort]) {
      const started = performance.now();
      const extra = await rawTcp(port);
      const ms = await closedAfter(extra, () => started);
      assert.ok(ms < 1000, `closed after ${ms} ms`);
    }
    // And over WebSocket: the upgraded socket is closed before CONNACK.
    await assert.rejects(
      connectMqtt(p.platform.httpPort, p.platform.caCert, {
        protocol: 'wss',
        path: '/mqtt',
        clientId: devices[1]!.deviceId,
        username: devices[1]!.deviceId,
        password: devices[1]!.accessKey,
      }),
    );
    // So is a real device over TLS while the address is full.
    await assert.rejects(p.connectDevice(devices[1]!.deviceId, devices[1]!.accessKey));
    assert.equal(closedEarly, 0, 'the counted sockets stay open');
    assert.ok((await refusedTotal(p, 'too_many_pending_connections')) >= before + 4);

    // Sockets that go away free their places: the device connects.
    for (const s of open) s.destroy();
    const client = await (async () => {
      for (let i = 0; ; i++) {
        try {
          return await p.connectDevice(devices[1]!.deviceId, devices[1]!.accessKey);
        } catch (err) {
          if (i > 20) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    })();
    assert.ok(client.connected && connected.connected);
    await Promise.all([client.endAsync(), connected.endAsync()]);
  } finally {
    for (const s of open) s.destroy();
    await p.stop();
  }
});

/** MQTT's variable-length integer (remaining length). */
function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

interface RawClient {
  socket: TLSSocket;
  /** The CONNACK return code, or null when the connection closed without one. */
  connack: Promise<number | null>;
  closed: Promise<void>;
}

/** A TLS connection to the MQTT port that sends `connect` as given (bytes) and reads what comes back. */
async function raw(connect?: Buffer): Promise<RawClient> {
  const socket = await tlsMqtt();
  socket.on('error', () => {});
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const connack = new Promise<number | null>((resolve) => {
    parser.on('packet', (p) => {
      if (p.cmd === 'connack') resolve(p.returnCode ?? -1);
    });
    void closed.then(() => resolve(null));
  });
  socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  if (connect) socket.write(connect);
  return { socket, connack, closed };
}

function connectBytes(deviceId: string, accessKey: string, extra: Record<string, unknown> = {}): Buffer {
  return mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clientId: deviceId,
    username: deviceId,
    password: Buffer.from(accessKey),
    clean: true,
    keepalive: 60,
    ...extra,
  } as mqttPacket.IConnectPacket);
}

async function presenceReasons(deviceId: string): Promise<string[]> {
  const r = await t.call('GET', `/v1/devices/${deviceId}/presence`, { token: apiKey });
  assert.equal(r.status, 200, r.text);
  return (r.body.items as { reason: string | null }[]).map((i) => i.reason ?? '');
}

test('a CONNECT with a will of QoS 3 is closed without CONNACK; the same with QoS 1 is accepted', async () => {
  const { deviceId, accessKey } = await t.device(apiKey);
  const will = { topic: `d/${deviceId}/events`, payload: Buffer.from('{}'), qos: 1 as const, retain: false };
  const valid = connectBytes(deviceId, accessKey, { will });
  const control = await raw(valid);
  assert.equal(await control.connack, 0, 'the credential and the will are fine otherwise');
  control.socket.destroy();

  // Fixed header (1 byte + the remaining length's bytes), protocol name (6), level (1), then the flags.
  const bad = Buffer.from(valid);
  let lengthEnd = 1;
  while (bad[lengthEnd]! & 0x80) lengthEnd++;
  const flags = lengthEnd + 1 + 6 + 1;
  assert.equal((bad[flags]! >> 3) & 3, 1, 'will QoS 1 where expected');
  bad[flags] = bad[flags]! | 0x18;
  // mqtt-packet itself reads it as QoS 3, and does not refuse it.
  const parsed = await new Promise<mqttPacket.IConnectPacket>((resolve, reject) => {
    const p = mqttPacket.parser({ protocolVersion: 4 });
    p.on('packet', (packet) => resolve(packet as mqttPacket.IConnectPacket));
    p.on('error', reject);
    p.parse(bad);
  });
  assert.equal(parsed.will?.qos, 3);

  const before = await refusedTotal(t, 'will_qos_invalid');
  const refused = await raw(bad);
  assert.equal(await refused.connack, null, 'no CONNACK');
  await refused.closed;
  assert.equal(await refusedTotal(t, 'will_qos_invalid'), before + 1);
});

test('keep-alive 0 gets the maximum keep-alive: a silent connection is closed at 1.5 × it', async () => {
  const { deviceId, accessKey } = await t.device(apiKey);
  const client = await raw(connectBytes(deviceId, accessKey, { keepalive: 0 }));
  assert.equal(await client.connack, 0);
  const accepted = performance.now();
  await client.closed;
  const ms = performance.now() - accepted;
  assert.ok(ms >= MAX_KEEPALIVE_S * 1500 - 200, `closed after ${ms} ms`);
  assert.ok(ms < MAX_KEEPALIVE_S * 1500 + 2000, `closed after ${ms} ms`);
  await eventuallyTrue(async () => (await presenceReasons(deviceId)).includes('keepalive_timeout'));
});

async function eventuallyTrue(check: () => Promise<boolean>, ms = 5000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a packet announcing more than the maximum size is cut off at its header, before or after CONNECT', async () => {
  const tenMb = 10 * 1024 * 1024;
  // After CONNECT: a PUBLISH whose header announces 10 MB.
  const { deviceId, accessKey } = await t.device(apiKey);
  const client = await raw(connectBytes(deviceId, accessKey));
  assert.equal(await client.connack, 0);
  const before = await refusedTotal(t, 'packet_too_large');
  const started = performance.now();
  client.socket.write(Buffer.concat([Buffer.from([0x30]), varint(tenMb), Buffer.alloc(64 * 1024, 0x61)]));
  await client.closed;
  assert.ok(performance.now() - started < 2000, 'closed at once, not after 10 MB or a deadline');
  await eventuallyTrue(async () => (await presenceReasons(deviceId)).includes('packet_too_large'));

  // Before CONNECT: a CONNECT announcing 10 MB is closed as well (no CONNACK).
  const pre = await raw(Buffer.concat([Buffer.from([0x10]), varint(tenMb), Buffer.alloc(1024, 0x61)]));
  assert.equal(await pre.connack, null);
  assert.equal(await refusedTotal(t, 'packet_too_large'), before + 2);

  // A packet at the limit's side of it (a 60 KiB publish) still goes through.
  const ok = await t.connectDevice(deviceId, accessKey);
  await ok.publishAsync(`d/${deviceId}/telemetry`, JSON.stringify({ v: 'x'.repeat(60 * 1024) }), { qos: 1 });
  await ok.endAsync();
});

test('CONNECTs per client id are limited after authentication: CONNACK 3, the limit kept as a refusal', async () => {
  const { deviceId, accessKey } = await t.device(apiKey);
  const victim = await t.device(apiKey);

  // Someone without the credential cannot use up a device's allowance with its client id.
  for (let i = 0; i < CONNECTS_PER_MINUTE + 2; i++) {
    const bad = await raw(connectBytes(victim.deviceId, 'not-the-key'));
    assert.equal(await bad.connack, 4);
    bad.socket.destroy();
  }
  const stillFine = await t.connectDevice(victim.deviceId, victim.accessKey);
  await stillFine.endAsync();

  for (let i = 0; i < CONNECTS_PER_MINUTE; i++) {
    const c = await t.connectDevice(deviceId, accessKey);
    await c.endAsync();
  }
  const before = await refusedTotal(t, 'rate_limited');
  const refused = await raw(connectBytes(deviceId, accessKey));
  assert.equal(await refused.connack, 3, 'CONNACK 3, server unavailable: retry later');
  assert.equal(await refusedTotal(t, 'rate_limited'), before + 1);

  // The refusal is kept for the device, naming the limit.
  await eventuallyTrue(async () => {
    const r = await t.call('GET', `/v1/fleet/problems?deviceId=${deviceId}`, { token: apiKey });
    assert.equal(r.status, 200, r.text);
    return (r.body.items as { code: string | null; message: string | null }[]).some(
      (p) => p.code === 'RATE_LIMITED' && (p.message ?? '').includes('mqtt.connects_per_client_id'),
    );
  }, 15_000);

  // Another device of the tenant is not affected.
  const other = await t.connectDevice(victim.deviceId, victim.accessKey);
  assert.ok(other.connected);
  await other.endAsync();
});
