/**
 * MQTT connection hygiene: a new socket must finish its TLS handshake and then send CONNECT within
 * their deadlines or it is closed, while a real device connects meanwhile.
 *
 * The deadlines are short here (1 s each) and follow the same rules as the defaults (10 s each).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { startTestPlatform, type TestPlatform } from './harness.js';

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
