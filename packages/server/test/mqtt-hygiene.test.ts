/**
 * MQTT connection hygiene: a new socket must finish its TLS handshake and then send CONNECT within
 * their deadlines or it is closed, while a real device connects meanwhile; an address may hold only
 * so many sockets before CONNACK, on all MQTT listeners together.
 *
 * The deadlines are short here (1 s each) and follow the same rules as the defaults (10 s each).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { connectMqtt, startTestPlatform, type TestPlatform } from './harness.js';

const HANDSHAKE_S = 1;
const CONNECT_S = 1;

let t: TestPlatform;
let apiKey: string;

before(async () => {
  t = await startTestPlatform({
    MOORING_MQTT_HANDSHAKE_TIMEOUT_SECONDS: String(HANDSHAKE_S),
    MOORING_MQTT_CONNECT_TIMEOUT_SECONDS: String(CONNECT_S),
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
