/**
 * The webhook store on both back ends: what a claim takes when this node already has requests in
 * flight, claims of two nodes at once, which earlier claims a restarted node frees, and that every
 * query reached with a tenant's ids stays in that tenant.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PlatformEvent } from '@mooring/protocol';
import { storeBackends } from '../../../test/postgres.js';
import type { Db } from '../../store/db.js';
import { migrate } from '../../store/migrate.js';
import { endpointMatcher, webhookStore, type EndpointRow } from './store.js';

let counter = 0;
const T0 = 1_800_000_000_000;

function endpoint(tenantId: string, over: Partial<EndpointRow> = {}): EndpointRow {
  const id = `whk_test${++counter}`;
  return {
    id,
    tenant_id: tenantId,
    name: id,
    url: 'https://hooks.example.com/h',
    event_types: ['config.desired.changed'],
    device_tags: [],
    auth: { type: 'none' },
    ca_pem: null,
    secret: 'sealed',
    previous_secret: null,
    previous_until: null,
    status: 'active',
    status_reason: null,
    verify_due_at: null,
    verify_attempts: 0,
    verified_at: null,
    last_error: null,
    created_at: T0,
    updated_at: T0,
    ...over,
  };
}

const event = (tenantId: string, n: number): PlatformEvent => ({
  id: `evt_test${++counter}_${n}`,
  type: 'config.desired.changed',
  tenantId,
  deviceId: null,
  occurredAt: T0,
  data: { n },
});

test('an endpoint takes an event of a type it names, about a device sharing a tag or of any device', () => {
  const matching = endpointMatcher([
    { id: 'whk_c', event_types: ['device.event'], device_tags: [] },
    { id: 'whk_a', event_types: ['device.event', 'device.connected'], device_tags: ['line-1', 'line-2'] },
    { id: 'whk_b', event_types: ['device.connected'], device_tags: ['line-2'] },
  ]);
  assert.deepEqual(matching('device.event', []), ['whk_c']);
  assert.deepEqual(matching('device.event', ['line-2']), ['whk_a', 'whk_c'], 'sorted');
  assert.deepEqual(matching('device.connected', ['line-2', 'x']), ['whk_a', 'whk_b']);
  assert.deepEqual(matching('device.connected', ['line-3']), []);
  assert.deepEqual(matching('alert.fired', ['line-1']), []);
});

for (const [name, open] of storeBackends) {
  describe(`webhook store on ${name}`, () => {
    let db: Db;
    let close: () => Promise<void>;
    let store: ReturnType<typeof webhookStore>;
    before(async () => {
      ({ db, close } = await open());
      await migrate(db);
      store = webhookStore(db);
      for (const t of ['ten_a', 'ten_b'])
        await db.query('INSERT INTO tenants (id, name, created_at) VALUES ($1, $1, $2)', [t, T0]);
    });
    after(async () => {
      await close();
    });

    /** An active endpoint of ten_a with `n` due deliveries; their ids. */
    async function withDue(n: number) {
      const e = endpoint('ten_a');
      await store.insertEndpoint(e);
      await db.query(`UPDATE webhook_endpoints SET status = 'active' WHERE id = $1`, [e.id]);
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const id = `whd_test${++counter}`;
        await store.addDeliveries([e.id], event('ten_a', i), [id], T0 + i);
        ids.push(id);
      }
      return { endpointId: e.id, ids };
    }

    const claim = (claimedBy: string, inFlight: Map<string, number>, limit = 100) =>
      store.claimDue({ now: T0 + 1000, claimUntil: T0 + 61_000, claimedBy, limit, perEndpoint: 4, inFlight });

    test('many events’ deliveries are written at once, small ones sharing statements, none twice', async () => {
      const a = endpoint('ten_a');
      const b = endpoint('ten_a');
      for (const e of [a, b]) await store.insertEndpoint(e);
      const small = Array.from({ length: 300 }, (_, i) => event('ten_a', i));
      // A large event (here 40 KB of data) is written on its own, its text one parameter.
      const large: PlatformEvent = {
        ...event('ten_a', -1),
        data: { blob: 'x'.repeat(40_000), nul: 'a\u0000b' },
      };
      const items = [...small.slice(0, 150), large, ...small.slice(150)].map((ev, i) => ({
        endpointIds: i % 2 === 0 ? [a.id, b.id] : [a.id],
        event: ev,
        ids: [`whd_many${++counter}`, `whd_many${++counter}`].slice(0, i % 2 === 0 ? 2 : 1),
      }));
      await store.addDeliveriesOfEvents(items, T0);
      // Handed on again (a crash before the outbox marked the facts done): nothing is added.
      await store.addDeliveriesOfEvents(
        items.map((it) => ({ ...it, ids: it.ids.map((id) => `${id}_again`) })),
        T0,
      );
      const rows = await db.query<{ event_id: string; endpoint_id: string; event: string }>(
        'SELECT event_id, endpoint_id, event FROM webhook_deliveries WHERE endpoint_id = ANY($1::text[])',
        [[a.id, b.id]],
      );
      assert.equal(rows.length, 301 + 151);
      const stored = rows.find((r) => r.event_id === large.id && r.endpoint_id === a.id)!;
      assert.deepEqual(JSON.parse(stored.event), large, 'the event text is kept exactly');
      const one = rows.find((r) => r.event_id === small[299]!.id)!;
      assert.equal(one.event, JSON.stringify(small[299]));
    });

    test('the delivery log keeps delivered deliveries and dead letters for their time, and pending ones always', async () => {
      const e = endpoint('ten_a');
      await store.insertEndpoint(e);
      const DAY = 86_400_000;
      const made: Record<string, string> = {};
      for (const [name, status, age] of [
        ['old delivered', 'delivered', 8],
        ['new delivered', 'delivered', 6],
        ['old dead', 'dead', 31],
        ['young dead', 'dead', 8],
        ['old pending', 'pending', 40],
      ] as const) {
        const id = `whd_log${++counter}`;
        made[name] = id;
        await store.addDeliveries([e.id], event('ten_a', counter), [id], T0 - age * DAY);
        await db.query('UPDATE webhook_deliveries SET status = $2 WHERE id = $1', [id, status]);
        await store.recordAttempt(id, {
          at: T0,
          status: 200,
          latencyMs: 1,
          error: null,
          responseExcerpt: 'ok',
        });
      }
      // Two statements of one, then nothing left to purge.
      assert.equal(await store.purgeLog(T0 - 7 * DAY, T0 - 30 * DAY, 1), 1);
      assert.equal(await store.purgeLog(T0 - 7 * DAY, T0 - 30 * DAY, 1), 1);
      assert.equal(await store.purgeLog(T0 - 7 * DAY, T0 - 30 * DAY, 10), 0);
      const left = await db.query<{ id: string }>(
        'SELECT id FROM webhook_deliveries WHERE id = ANY($1::text[])',
        [Object.values(made)],
      );
      assert.deepEqual(
        left.map((r) => r.id).sort(),
        [made['new delivered'], made['young dead'], made['old pending']].sort(),
      );
      const attempts = await db.query('SELECT 1 FROM webhook_attempts WHERE delivery_id = ANY($1::text[])', [
        [made['old delivered'], made['old dead']],
      ]);
      assert.equal(attempts.length, 0, 'their attempts went with them');
    });

    test('two creations at once cannot both take the last room under the limit', async () => {
      await db.query('INSERT INTO tenants (id, name, created_at) VALUES ($1, $1, $2)', ['ten_full', T0]);
      for (let i = 0; i < 9; i++) await store.insertEndpoint(endpoint('ten_full'));
      // Both count, then both insert when there is room for ten: the lock the count takes makes the
      // second wait for the first, and then see no room.
      const create = () =>
        db.transaction(async () => {
          const n = await store.countEndpoints('ten_full');
          await new Promise((r) => setTimeout(r, 50));
          if (n < 10) await store.insertEndpoint(endpoint('ten_full'));
        });
      await Promise.all([create(), create()]);
      assert.equal(await store.countEndpoints('ten_full'), 10);
    });

    test('a claim takes of each endpoint only the room its requests in flight leave', async () => {
      await db.query(`UPDATE webhook_deliveries SET status = 'delivered'`);
      const one = await withDue(6);
      const two = await withDue(2);
      const three = await withDue(3);
      const claimed = await claim(
        'n1#r',
        new Map([
          [one.endpointId, 3],
          [three.endpointId, 4],
        ]),
      );
      const of = (e: { endpointId: string }) => claimed.filter((d) => d.endpoint_id === e.endpointId);
      assert.equal(of(one).length, 1, 'three in flight: room for one');
      assert.equal(of(two).length, 2);
      assert.equal(of(three).length, 0, 'four in flight: no room');
      assert.deepEqual(
        of(one).map((d) => d.id),
        [one.ids[0]],
        'the earliest due first',
      );
      assert.ok(
        claimed.every((d) => d.attempts === 1),
        'each claim counts as an attempt',
      );
    });

    test('two nodes claiming at once never take the same delivery', async () => {
      await db.query(`UPDATE webhook_deliveries SET status = 'delivered'`);
      const due = await withDue(4);
      await db.query(`UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE endpoint_id = $2`, [
        T0,
        due.endpointId,
      ]);
      const more = await withDue(4);
      const [a, b] = await Promise.all([claim('n1#r', new Map()), claim('n2#r', new Map())]);
      const ids = [...a!, ...b!].map((d) => d.id).sort();
      assert.equal(new Set(ids).size, ids.length, 'no delivery claimed twice');
      assert.deepEqual(ids, [...due.ids, ...more.ids].sort());
    });

    test('a restarted node frees the claims of its own earlier runs only', async () => {
      await db.query(`UPDATE webhook_deliveries SET status = 'delivered'`);
      const owners = ['a#run1', 'a#run2', 'a#b#run1', 'ab#run1', 'a%#run1', 'A#run1', 'a'];
      const { ids } = await withDue(owners.length);
      for (const [i, owner] of owners.entries())
        await db.query(`UPDATE webhook_deliveries SET claimed_by = $2, next_attempt_at = $3 WHERE id = $1`, [
          ids[i],
          owner,
          T0 + 60_000,
        ]);
      assert.equal(await store.releaseClaimsOf('a', T0 + 5), 2);
      const rows = await db.query<{ id: string; claimed_by: string | null; next_attempt_at: string }>(
        'SELECT id, claimed_by, next_attempt_at FROM webhook_deliveries WHERE id = ANY($1::text[])',
        [ids],
      );
      const freed = rows.filter((r) => r.claimed_by === null).map((r) => ids.indexOf(r.id));
      assert.deepEqual(freed.sort(), [0, 1]);
      assert.equal(await store.releaseClaimsOf('a%', T0 + 5), 1, 'a wildcard in the id is just a character');
      assert.equal(await store.releaseClaimsOf('a#b', T0 + 5), 1);
      assert.equal(await store.releaseClaimsOf('a', T0 + 5), 0);
    });

    test('every query with a tenant’s ids stays in that tenant', async () => {
      const mine = endpoint('ten_a', { device_tags: [] });
      await store.insertEndpoint(mine);
      await db.query(`UPDATE webhook_endpoints SET status = 'active' WHERE id = $1`, [mine.id]);
      assert.equal(await store.endpoint('ten_b', mine.id), undefined);
      assert.equal(await store.endpoint('ten_b', mine.id, true), undefined);
      assert.equal(
        (await store.endpoints('ten_b')).some((e) => e.id === mine.id),
        false,
      );
      assert.equal(await store.deleteEndpoint('ten_b', mine.id), false);
      assert.equal(
        (await store.activeEndpoints('ten_b')).some((e) => e.id === mine.id),
        false,
      );
      assert.ok((await store.activeEndpoints('ten_a')).some((e) => e.id === mine.id));
      assert.ok(await store.endpoint('ten_a', mine.id));
    });
  });
}
