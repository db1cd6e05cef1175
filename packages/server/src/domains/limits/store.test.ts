/** The limit tables on both stores: overrides set, replaced and cleared per tenant and device; events paged newest first. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { storeBackends } from '../../../test/postgres.js';
import { migrate } from '../../store/migrate.js';
import type { Db } from '../../store/db.js';
import { limitStore } from './store.js';

for (const [name, open] of storeBackends) {
  describe(`limit tables on ${name}`, () => {
    let db: Db;
    let close: () => Promise<void>;
    before(async () => {
      ({ db, close } = await open());
      await migrate(db);
      for (const t of ['ten_a', 'ten_b'])
        await db.query('INSERT INTO tenants (id, name, created_at) VALUES ($1, $1, 0)', [t]);
      await db.query(
        `INSERT INTO devices (id, tenant_id, name, created_at, updated_at) VALUES ('dev_a', 'ten_a', 'a', 0, 0)`,
      );
    });
    after(() => close());

    test('an override per tenant and per device, replaced and cleared without touching the other', async () => {
      const s = limitStore(db);
      await s.setOverride('ten_a', null, 'rest.requests_per_key', 5, 1);
      await s.setOverride('ten_a', null, 'rest.requests_per_key', 4, 2);
      await s.setOverride('ten_a', 'dev_a', 'rest.requests_per_key', 2, 3);
      await s.setOverride('ten_b', null, 'rest.requests_per_key', 9, 3);
      const sorted = async (t: string) =>
        (await s.overrides(t)).sort((x, y) => String(x.deviceId).localeCompare(String(y.deviceId)));
      assert.deepEqual(await sorted('ten_a'), [
        { deviceId: 'dev_a', limit: 'rest.requests_per_key', value: 2 },
        { deviceId: null, limit: 'rest.requests_per_key', value: 4 },
      ]);
      await s.setOverride('ten_a', null, 'rest.requests_per_key', null, 4);
      assert.deepEqual(await sorted('ten_a'), [
        { deviceId: 'dev_a', limit: 'rest.requests_per_key', value: 2 },
      ]);
      assert.deepEqual(await sorted('ten_b'), [{ deviceId: null, limit: 'rest.requests_per_key', value: 9 }]);
      assert.equal(await s.deviceExists('ten_a', 'dev_a'), true);
      assert.equal(await s.deviceExists('ten_b', 'dev_a'), false);
    });

    test('events: newest first, by tenant, limit and device, paged after a place', async () => {
      const s = limitStore(db);
      const row = (at: number, deviceId: string | null, tenantId = 'ten_a') => ({
        tenantId,
        deviceId,
        at,
        limit: 'rest.requests_per_key',
        scope: 'api-key',
        subject: deviceId ? `device:${deviceId}` : 'api-key:k',
        configured: 3,
        observed: 4,
        suppressed: 0,
      });
      await s.insertEvents([row(10, null), row(20, 'dev_a'), row(20, null), row(30, null, 'ten_b')]);
      const all = await s.events({ tenantId: 'ten_a', from: 0, limit: 10 });
      assert.deepEqual(
        all.map((r) => [Number(r.at), r.device_id]),
        [
          [20, null],
          [20, 'dev_a'],
          [10, null],
        ],
      );
      const page = await s.events({ tenantId: 'ten_a', from: 0, limit: 1 });
      assert.equal(page.length, 2, 'one more than the page');
      const rest = await s.events({
        tenantId: 'ten_a',
        from: 0,
        limit: 10,
        after: { at: Number(page[0]!.at), id: page[0]!.id },
      });
      assert.deepEqual(
        rest.map((r) => r.id),
        all.slice(1).map((r) => r.id),
      );
      assert.equal((await s.events({ tenantId: 'ten_a', from: 0, deviceId: 'dev_a', limit: 10 })).length, 1);
      assert.equal((await s.events({ tenantId: 'ten_a', from: 15, limit: 10 })).length, 2);
      assert.equal(
        (await s.events({ tenantId: 'ten_a', from: 0, name: 'mqtt.bytes_per_device', limit: 10 })).length,
        0,
      );
      assert.equal(await s.purgeEvents(15, 1000), 1);
    });
  });
}
