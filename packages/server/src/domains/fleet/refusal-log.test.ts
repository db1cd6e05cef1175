import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRefusalLog, type Refusal } from './refusal-log.js';
import type { RefusalRow } from './problems-store.js';

function setup() {
  let t = 1_000_000;
  const rows: RefusalRow[] = [];
  const log = createRefusalLog({
    store: {
      insertRefusals: async (r) => void rows.push(...r),
      purgeRefusals: async () => 0,
    },
    onError: (err) => assert.fail(String(err)),
    now: () => t,
    timer: false,
  });
  return { log, rows, advance: (ms: number) => (t += ms) };
}

const device = { tenantId: 'ten_a', deviceId: 'dev_a' };
const bad = (code = 'TOPIC_NOT_ALLOWED', topic = 'x/y'): Refusal => ({
  kind: 'publish_refused',
  code,
  topic,
  message: `publishing to '${topic}' is not allowed`,
});
const total = (rows: RefusalRow[]) => rows.reduce((n, r) => n + 1 + r.suppressed, 0);

test('one row per device and code per window; the rest are counted on the next row', async () => {
  const { log, rows, advance } = setup();
  assert.equal(log.refused(device, bad()), true);
  for (let i = 0; i < 999; i++) assert.equal(log.refused(device, bad()), false);
  await log.flush();
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.suppressed, 0);
  // Another code, another device: each their own row.
  log.refused(device, bad('MALFORMED_JSON'));
  log.refused({ tenantId: 'ten_a', deviceId: 'dev_b' }, bad());
  await log.flush();
  assert.equal(rows.length, 3);
  // The next refusal after the window carries the 999 counted before it.
  advance(10_000);
  assert.equal(log.refused(device, bad('TOPIC_NOT_ALLOWED', 'last/topic')), true);
  await log.flush();
  const carried = rows.at(-1)!;
  assert.equal(carried.suppressed, 999);
  assert.equal(carried.topic, 'last/topic');
  assert.equal(total(rows), 1000 + 2 + 1);
});

test('a window that ends with refusals counted and none after it writes them as one row', async () => {
  const { log, rows, advance } = setup();
  log.refused(device, bad());
  log.refused(device, bad());
  log.refused(device, bad('TOPIC_NOT_ALLOWED', 'the/last'));
  advance(10_001);
  await log.flush();
  assert.equal(rows.length, 2);
  assert.deepEqual(
    rows.map((r) => [r.topic, r.suppressed]),
    [
      ['x/y', 0],
      ['the/last', 1],
    ],
  );
  assert.equal(total(rows), 3);
  // Nothing is left open: the next refusal starts a new window with nothing to carry.
  log.refused(device, bad());
  await log.close();
  assert.equal(rows.at(-1)!.suppressed, 0);
  assert.equal(total(rows), 4);
});

test('long texts are cut', async () => {
  const { log, rows } = setup();
  log.refused(device, {
    kind: 'publish_refused',
    code: 'X',
    topic: 't'.repeat(2000),
    message: 'm'.repeat(2000),
  });
  await log.flush();
  assert.equal(rows[0]!.topic!.length, 512);
  assert.equal(rows[0]!.message.length, 512);
});
