/**
 * [MQTT-4.6.0-2]: PUBACKs leave in the order the PUBLISH packets arrived, even when the messages take
 * different paths (telemetry through the batch writer, command results through a direct update,
 * refusals with no write at all). Driven with a raw packet client so nothing reorders on our side.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import { startTestPlatform, type TestPlatform } from './harness.js';

let t: TestPlatform;
before(async () => {
  t = await startTestPlatform();
});
after(async () => {
  await t.stop();
});

test('PUBACKs follow PUBLISH order across telemetry, events, results and refusals', async () => {
  const { apiKey } = await t.tenant();
  const { deviceId, accessKey } = await t.device(apiKey);
  const cmd = await t.call('POST', `/v1/devices/${deviceId}/commands`, {
    token: apiKey,
    body: { name: 'x' },
  });

  const socket = tlsConnect({
    host: '127.0.0.1',
    port: t.platform.mqttPort,
    ca: t.platform.caCert,
    servername: 'localhost',
  });
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const acks: number[] = [];
  let connack: ((code: number) => void) | undefined;
  parser.on('packet', (p: mqttPacket.Packet) => {
    if (p.cmd === 'connack') connack?.(p.returnCode ?? -1);
    if (p.cmd === 'puback') acks.push(p.messageId!);
  });
  socket.on('data', (d: Buffer) => parser.parse(d));
  await new Promise<void>((r) => socket.once('secureConnect', () => r()));
  const connected = new Promise<number>((r) => (connack = r));
  socket.write(
    mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: deviceId,
      username: deviceId,
      password: Buffer.from(accessKey),
      keepalive: 30,
    }),
  );
  assert.equal(await connected, 0);

  const messages: [string, string][] = [];
  for (let i = 0; i < 60; i++) {
    switch (i % 6) {
      case 0:
        messages.push([`d/${deviceId}/telemetry`, JSON.stringify({ values: { i } })]);
        break;
      case 1:
        messages.push([`d/${deviceId}/events`, JSON.stringify({ type: 'tick', data: { i } })]);
        break;
      case 2:
        messages.push([`d/${deviceId}/telemetry`, '{broken']);
        break;
      case 3:
        messages.push([
          `d/${deviceId}/commands/${i === 3 ? cmd.body.id : 'cmd_unknown'}/result`,
          JSON.stringify({ status: 'succeeded' }),
        ]);
        break;
      case 4:
        messages.push(['d/dev_other/telemetry', JSON.stringify({ values: { i } })]);
        break;
      default:
        messages.push([
          `d/${deviceId}/telemetry`,
          JSON.stringify([{ values: { a: i } }, { values: { b: i } }]),
        ]);
    }
  }
  // One write: the whole burst arrives in as few TCP segments as possible, so the broker dispatches
  // many PUBLISHes concurrently.
  socket.write(
    Buffer.concat(
      messages.map(([topic, payload], i) =>
        mqttPacket.generate({
          cmd: 'publish',
          topic,
          payload: Buffer.from(payload),
          qos: 1,
          messageId: i + 1,
          retain: false,
          dup: false,
        }),
      ),
    ),
  );
  const deadline = Date.now() + 10_000;
  while (acks.length < messages.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  socket.destroy();
  assert.deepEqual(
    acks,
    messages.map((_, i) => i + 1),
  );
  const c = await t.call('GET', `/v1/devices/${deviceId}/commands/${cmd.body.id}`, { token: apiKey });
  assert.equal(c.body.status, 'succeeded');
});
