import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import type { Client } from 'aedes';
import { limitPacketSize } from './wire-guard.js';

/** What aedes gives the guard: a client with mqtt-packet's parser and `close`. */
function fakeClient() {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const packets: string[] = [];
  parser.on('packet', (p) => packets.push(p.cmd));
  const state = { closed: 0, announced: [] as number[], packets, parser };
  const client = { _parser: parser, close: () => state.closed++ } as unknown as Client;
  limitPacketSize(client, 1024, (n) => state.announced.push(n));
  return state;
}

const publish = (bytes: number) =>
  mqttPacket.generate({
    cmd: 'publish',
    topic: 't',
    payload: Buffer.alloc(bytes),
    qos: 0,
    retain: false,
    dup: false,
  });

test('packets within the size pass, split across chunks or several in one', () => {
  const s = fakeClient();
  const a = publish(900);
  s.parser.parse(a.subarray(0, 1));
  s.parser.parse(a.subarray(1, 3));
  s.parser.parse(a.subarray(3));
  s.parser.parse(Buffer.concat([publish(10), mqttPacket.generate({ cmd: 'pingreq' })]));
  assert.deepEqual(s.packets, ['publish', 'publish', 'pingreq']);
  assert.equal(s.closed, 0);
});

test('a remaining length over the maximum closes at its header, whichever chunk completes it', () => {
  for (const split of [1, 2, 3, 4]) {
    const s = fakeClient();
    // 0x30 PUBLISH, remaining length 10 MB (varint 0x80 0x80 0x80 0x05), then some of the body.
    const bytes = Buffer.concat([Buffer.from([0x30, 0x80, 0x80, 0x80, 0x05]), Buffer.alloc(100)]);
    s.parser.parse(bytes.subarray(0, split));
    assert.equal(s.closed, 0, `split ${split}: the header is not complete yet`);
    s.parser.parse(bytes.subarray(split));
    assert.equal(s.closed, 1, `split ${split}`);
    assert.deepEqual(s.announced, [10 * 1024 * 1024]);
    // What comes after is neither buffered nor parsed.
    s.parser.parse(Buffer.alloc(64 * 1024));
    assert.equal(s.closed, 1);
    assert.deepEqual(s.packets, []);
  }
  const s = fakeClient();
  s.parser.parse(Buffer.concat([publish(10), publish(1100), publish(10)]));
  assert.equal(s.closed, 1, 'a whole packet over the maximum in one chunk is cut as well');
  assert.deepEqual(s.announced, [2 + 1 + 1100], 'topic length, topic, payload');
  assert.deepEqual(s.packets, ['publish'], 'the packet before it only');
});
