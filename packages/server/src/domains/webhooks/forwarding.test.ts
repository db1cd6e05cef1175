import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyStoreBackends } from '../../../test/postgres.js';
import { listMigrations, migrate } from '../../store/migrate.js';
import { chunkReadings, type DeviceReadings } from './forwarding.js';

const device = (deviceId: string, n: number): DeviceReadings => ({
  deviceId,
  readings: Array.from({ length: n }, (_, i) => ({ key: 'k', ts: i, value: i })),
  receivedFrom: 1,
  receivedTo: 2,
});

const sizes = (chunks: DeviceReadings[][]) =>
  chunks.map((c) => c.map((d) => `${d.deviceId}:${d.readings.length}`).join(' '));

test('devices share an event while their readings fit, in order', () => {
  assert.deepEqual(sizes(chunkReadings([device('a', 3), device('b', 4), device('c', 3)], 10)), [
    'a:3 b:4 c:3',
  ]);
  assert.deepEqual(sizes(chunkReadings([device('a', 3), device('b', 4), device('c', 4)], 10)), [
    'a:3 b:4 c:3',
    'c:1',
  ]);
});

test('a device with more readings than an event holds is split across events, nothing lost or repeated', () => {
  const chunks = chunkReadings([device('a', 2), device('b', 25), device('c', 1)], 10);
  assert.deepEqual(sizes(chunks), ['a:2 b:8', 'b:10', 'b:7 c:1']);
  const b = chunks.flat().filter((d) => d.deviceId === 'b');
  assert.deepEqual(
    b.flatMap((d) => d.readings.map((r) => r.value)),
    Array.from({ length: 25 }, (_, i) => i),
  );
  assert.ok(chunks.every((c) => c.reduce((n, d) => n + d.readings.length, 0) <= 10));
});

test('no devices make no event; a device without readings makes no part', () => {
  assert.deepEqual(chunkReadings([]), []);
  assert.deepEqual(sizes(chunkReadings([device('a', 0), device('b', 1)])), ['b:1']);
});

for (const [name, open] of emptyStoreBackends) {
  test(`on ${name}, readings buffered by the earlier layout are carried over by the upgrade`, async () => {
    const { db, close } = await open();
    try {
      const all = listMigrations();
      await migrate(
        db,
        all.filter((m) => m.version < 22),
      );
      await db.query(
        `INSERT INTO telemetry_forward (tenant_id, device_id, readings, received_at) VALUES
           ('ten_a', 'dev_1', '[{"key": "t", "ts": 5, "value": 21.5}, {"key": "s", "ts": 5, "value": "on"}]', 7),
           ('ten_a', 'dev_2', '[{"key": "b", "ts": 6, "value": true}]', 8)`,
      );
      await migrate(db, all);
      const rows = await db.query<{ tenant_id: string; messages: string }>(
        'SELECT tenant_id, messages FROM telemetry_forward_batches ORDER BY id',
      );
      assert.deepEqual(
        rows.map((r) => [r.tenant_id, JSON.parse(r.messages)]),
        [
          [
            'ten_a',
            [
              [
                'dev_1',
                7,
                [
                  ['t', 5, 21.5],
                  ['s', 5, 'on'],
                ],
              ],
            ],
          ],
          ['ten_a', [['dev_2', 8, [['b', 6, true]]]]],
        ],
      );
    } finally {
      await close();
    }
  });
}
