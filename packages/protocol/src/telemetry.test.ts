import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJsonPayload, parseTelemetry, TELEMETRY_LIMITS } from './telemetry.js';
import { isAllowedDeviceSubscription, parseInboundTopic } from './topics.js';

const now = Date.UTC(2030, 5, 1);

const cases: { desc: string; body: unknown; code?: string; path?: string }[] = [
  { desc: 'one reading without ts', body: { values: { t: 1, s: 'a', b: false } } },
  {
    desc: 'an array of readings with both ts forms',
    body: [
      { ts: now - 1000, values: { t: 1 } },
      { ts: '2030-06-01T00:00:00Z', values: { t: 2 } },
    ],
  },
  {
    desc: 'an unknown field',
    body: { values: { t: 1 }, device: 'x' },
    code: 'INVALID_TELEMETRY',
    path: '/device',
  },
  { desc: 'values missing', body: { ts: now }, code: 'INVALID_TELEMETRY', path: '/values' },
  { desc: 'empty values', body: { values: {} }, code: 'INVALID_TELEMETRY', path: '/values' },
  {
    desc: 'a nested object value',
    body: { values: { t: { x: 1 } } },
    code: 'INVALID_TELEMETRY',
    path: '/values/t',
  },
  { desc: 'a null value', body: { values: { t: null } }, code: 'INVALID_TELEMETRY', path: '/values/t' },
  {
    desc: 'a key with a slash',
    body: { values: { 'a/b': 1 } },
    code: 'INVALID_TELEMETRY',
    path: '/values/a/b',
  },
  {
    desc: 'a far-future ts',
    body: { ts: now + 3_600_000, values: { t: 1 } },
    code: 'TIMESTAMP_OUT_OF_RANGE',
    path: '/ts',
  },
  { desc: 'a pre-epoch ts', body: { ts: -5, values: { t: 1 } }, code: 'TIMESTAMP_OUT_OF_RANGE', path: '/ts' },
  {
    desc: 'a 1970 ts from a clockless device',
    body: { ts: 1000, values: { t: 1 } },
    code: 'TIMESTAMP_OUT_OF_RANGE',
    path: '/ts',
  },
  { desc: 'a fractional ts', body: { ts: 1.5, values: { t: 1 } }, code: 'INVALID_TELEMETRY', path: '/ts' },
  {
    desc: 'a string that is no date',
    body: { ts: 'yesterday', values: { t: 1 } },
    code: 'INVALID_TELEMETRY',
    path: '/ts',
  },
  { desc: 'an empty array', body: [], code: 'INVALID_TELEMETRY' },
  { desc: 'a scalar', body: 42, code: 'INVALID_TELEMETRY' },
  {
    desc: 'too many readings',
    body: Array.from({ length: TELEMETRY_LIMITS.maxReadingsPerMessage + 1 }, () => ({ values: { t: 1 } })),
    code: 'TOO_MANY_READINGS',
  },
  {
    desc: 'too many keys in a reading',
    body: {
      values: Object.fromEntries(
        Array.from({ length: TELEMETRY_LIMITS.maxKeysPerReading + 1 }, (_, i) => [`k${i}`, i]),
      ),
    },
    code: 'TOO_MANY_READINGS',
  },
  {
    desc: 'a long string value',
    body: { values: { s: 'x'.repeat(TELEMETRY_LIMITS.maxStringValueLength + 1) } },
    code: 'INVALID_TELEMETRY',
  },
];

for (const c of cases) {
  test(`telemetry: ${c.desc} is ${c.code ? `refused with ${c.code}` : 'accepted'}`, () => {
    const r = parseTelemetry(c.body, now);
    if (!c.code) {
      assert.ok(r.ok, JSON.stringify(r));
      return;
    }
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.code, c.code);
      if (c.path !== undefined) assert.equal(r.error.path, c.path);
    }
  });
}

test('readings without ts are stamped with the receive time', () => {
  const r = parseTelemetry({ values: { t: 1 } }, now);
  assert.ok(r.ok);
  if (r.ok) assert.equal(r.value[0]!.ts, now);
});

test('payload decoding refuses oversize and malformed input', () => {
  const big = decodeJsonPayload(
    Buffer.alloc(TELEMETRY_LIMITS.maxPayloadBytes + 1, 32),
    TELEMETRY_LIMITS.maxPayloadBytes,
  );
  assert.equal(!big.ok && big.error.code, 'PAYLOAD_TOO_LARGE');
  const bad = decodeJsonPayload(Buffer.from('{"values":'), 1000);
  assert.equal(!bad.ok && bad.error.code, 'MALFORMED_JSON');
});

test('topics: a device may only subscribe inside its own inbound namespace', () => {
  const me = 'dev_a';
  for (const ok of ['d/dev_a/commands/+', 'd/dev_a/errors'])
    assert.ok(isAllowedDeviceSubscription(me, ok), ok);
  for (const bad of [
    '#',
    'd/#',
    'd/+/commands/+',
    'd/dev_b/commands/+',
    'd/dev_a/#',
    'd/dev_a/telemetry',
    'd/dev_a/commands/#',
    'd/dev_a/commands/cmd_1',
    '$SYS/#',
  ]) {
    assert.equal(isAllowedDeviceSubscription(me, bad), false, bad);
  }
  assert.deepEqual(parseInboundTopic('d/dev_a/commands/cmd_1/result'), {
    deviceId: 'dev_a',
    kind: 'command-result',
    commandId: 'cmd_1',
  });
  assert.equal(parseInboundTopic('d/dev_a/commands/cmd_1'), undefined);
  assert.equal(parseInboundTopic('x/dev_a/telemetry'), undefined);
});
