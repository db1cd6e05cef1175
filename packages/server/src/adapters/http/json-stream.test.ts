/**
 * A manifest answered as a stream has exactly the bytes of JSON.stringify, and the event loop turns
 * while it is produced: other requests are served between slices of a large array.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonStream } from './json-stream.js';

async function collect(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

test('the streamed JSON is byte for byte JSON.stringify, undefined fields and empty arrays included', async () => {
  const values = [
    { batchId: 'b', createdAt: 1, devices: 3, items: [{ a: 1 }, { b: 'x"y' }, { c: undefined }] },
    { batchId: 'b', skipped: undefined, items: [] },
    { items: Array.from({ length: 1001 }, (_, i) => ({ i, s: `unit ${i}` })), after: [1, 2] },
  ];
  for (const v of values) assert.equal(await collect(jsonStream(v, 'items', 200)), JSON.stringify(v));
});

test('the event loop turns between slices of the array', async () => {
  const items = Array.from({ length: 10_000 }, (_, i) => ({
    serial: `S-${i}`,
    certificate: 'x'.repeat(100),
  }));
  let turns = 0;
  let counting = true;
  const tick = () => {
    turns++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  const text = await collect(jsonStream({ batchId: 'b', items }, 'items', 200));
  counting = false;
  assert.equal(JSON.parse(text).items.length, 10_000);
  assert.ok(turns >= 49, `the event loop turned ${turns} times while 50 slices were produced`);
});
