/**
 * Alert rules judged by the evaluator on the store with an injected clock, on PGlite and PostgreSQL:
 * hysteresis, `for` (kept across a restart, restarted by a dip), absence of telemetry and of presence,
 * acknowledge and resolve, a resolved alert never reopening, targets. Rule changes, isolation and
 * validation are in service.test.ts; the REST flow in test/alerts.test.ts.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { storeBackends } from '../../../test/postgres.js';
import { migrate } from '../../store/migrate.js';
import type { Db } from '../../store/db.js';
import { code, hot, MIN, services, setup, T0 } from '../../../test/alert-setup.js';

for (const [name, open] of storeBackends) {
  describe(`alerts on ${name}`, () => {
    let db: Db;
    let close: () => Promise<void>;
    before(async () => {
      ({ db, close } = await open());
      await migrate(db);
    });
    after(async () => close());

    test('hysteresis and for: pending, fires after for, stays firing between clear and threshold, resolves past clear', async () => {
      const s = await setup(db, 'hy');
      const rule = await s.alerts.createRule(s.caller, hot({ target: { deviceIds: [s.ids[0]!] } }));
      const [dev] = s.ids as [string];
      await s.reading(dev, 'temp', 85);
      await s.evaluator.tick();
      assert.equal((await s.alerts.list(s.caller, {})).items.length, 0, 'the for has not elapsed');
      s.clock.now += 30_000;
      await s.evaluator.tick();
      assert.equal((await s.alerts.list(s.caller, {})).items.length, 0, 'half the for');
      s.clock.now += 30_000;
      assert.equal((await s.evaluator.tick()).fired, 1, 'fires once the breach lasted 60 s');
      const [alert] = (await s.alerts.list(s.caller, { state: 'firing' })).items;
      assert.ok(alert);
      assert.equal(alert.ruleId, rule.id);
      assert.equal(alert.deviceId, dev);
      assert.equal(alert.value, 85);
      assert.equal(alert.firedAt, T0 + 60_000);
      assert.equal(alert.severity, 'critical');

      // Below the threshold but above the clear value: still firing.
      await s.reading(dev, 'temp', 75);
      s.clock.now += 5_000;
      await s.evaluator.tick();
      assert.equal((await s.alerts.get(s.caller, alert.id)).state, 'firing');
      await s.reading(dev, 'temp', 70.5);
      s.clock.now += 5_000;
      await s.evaluator.tick();
      assert.equal((await s.alerts.get(s.caller, alert.id)).state, 'firing', 'not past the clear value yet');
      await s.reading(dev, 'temp', 70);
      s.clock.now += 5_000;
      assert.equal((await s.evaluator.tick()).resolved, 1);
      const resolved = await s.alerts.get(s.caller, alert.id);
      assert.equal(resolved.state, 'resolved');
      assert.equal(resolved.resolution, 'cleared');
      assert.equal(resolved.resolvedValue, 70);
      assert.equal(resolved.resolvedBy, 'system:alerts');

      const facts = (await s.facts()).map((f) => [f.payload.state, f.payload.previous]);
      assert.deepEqual(facts, [
        ['firing', null],
        ['resolved', 'firing'],
      ]);
      assert.deepEqual(
        s.audits.map((a) => [a.action, a.actor]),
        [
          ['alerts.fired', 'system:alerts'],
          ['alerts.resolved', 'system:alerts'],
        ],
      );
    });

    test('a dip below the threshold during the for restarts the timer', async () => {
      const s = await setup(db, 'dp');
      await s.alerts.createRule(s.caller, hot({ target: { deviceIds: [s.ids[0]!] } }));
      const [dev] = s.ids as [string];
      await s.reading(dev, 'temp', 90);
      await s.evaluator.tick();
      s.clock.now += 40_000;
      await s.reading(dev, 'temp', 79);
      await s.evaluator.tick();
      s.clock.now += 5_000;
      await s.reading(dev, 'temp', 90);
      await s.evaluator.tick(); // the breach starts again here: T0 + 45 s
      s.clock.now += 55_000; // 100 s after the first breach, 55 s into the second
      assert.equal((await s.evaluator.tick()).fired, 0, 'the dip restarted the timer');
      s.clock.now += 5_000;
      assert.equal((await s.evaluator.tick()).fired, 1);
      const [alert] = (await s.alerts.list(s.caller, {})).items;
      assert.equal(alert?.firedAt, T0 + 105_000);
    });

    test('a restart in the middle of a for keeps the timer: new services on the same store fire on time', async () => {
      const s = await setup(db, 'rs');
      await s.alerts.createRule(
        s.caller,
        hot({ threshold: { key: 'temp', op: '>=', value: 80, forSeconds: 120 } }),
      );
      const [dev] = s.ids as [string];
      await s.reading(dev, 'temp', 80);
      await s.evaluator.tick();
      s.clock.now += 60_000;
      await s.evaluator.tick();
      // The process dies here; a new one (new services, same store) takes over 50 s later.
      s.clock.now += 50_000;
      const restarted = services(db, s.clock, s.audits);
      assert.equal((await restarted.evaluator.tick()).fired, 0, '110 s into a 120 s for');
      s.clock.now += 10_000;
      assert.equal((await restarted.evaluator.tick()).fired, 1, 'fires 120 s after the breach began');
      const [alert] = (await restarted.alerts.list(s.caller, {})).items;
      assert.equal(alert?.firedAt, T0 + 120_000);
      assert.equal(alert?.deviceId, dev);
    });

    test('acknowledge, then the rule resolves it; a resolved alert never reopens: the next breach is a new alert', async () => {
      const s = await setup(db, 'ak');
      await s.alerts.createRule(
        s.caller,
        hot({ threshold: { key: 'temp', op: '>', value: 80, clearValue: 70 } }),
      );
      const [dev] = s.ids as [string];
      await s.reading(dev, 'temp', 81);
      await s.evaluator.tick();
      const [first] = (await s.alerts.list(s.caller, { state: 'open' })).items;
      assert.ok(first);
      const acked = await s.alerts.acknowledge(s.caller, first.id);
      assert.equal(acked.state, 'acknowledged');
      assert.equal(acked.acknowledgedBy, 'user:usr_op');
      await assert.rejects(s.alerts.acknowledge(s.caller, first.id), code('ALERT_STATE_CONFLICT'));
      await s.reading(dev, 'temp', 60);
      s.clock.now += 5_000;
      await s.evaluator.tick();
      const done = await s.alerts.get(s.caller, first.id);
      assert.equal(done.state, 'resolved', 'an acknowledged alert still resolves by its rule');
      await assert.rejects(s.alerts.acknowledge(s.caller, first.id), code('ALERT_STATE_CONFLICT'));
      await assert.rejects(s.alerts.resolve(s.caller, first.id), code('ALERT_STATE_CONFLICT'));

      await s.reading(dev, 'temp', 95);
      s.clock.now += 5_000;
      await s.evaluator.tick();
      const open = (await s.alerts.list(s.caller, { state: 'open' })).items;
      assert.equal(open.length, 1);
      assert.notEqual(open[0]!.id, first.id, 'a new alert');
      assert.equal((await s.alerts.get(s.caller, first.id)).state, 'resolved', 'the old one stays resolved');
      assert.deepEqual(
        (await s.facts()).map((f) => [f.payload.alertId === first.id, f.payload.state, f.payload.previous]),
        [
          [true, 'firing', null],
          [true, 'acknowledged', 'firing'],
          [true, 'resolved', 'acknowledged'],
          [false, 'firing', null],
        ],
      );

      // Resolved by hand while the breach holds: the timer starts again, and a new alert fires.
      const manual = await s.alerts.resolve(s.caller, open[0]!.id);
      assert.equal(manual.resolution, 'manual');
      assert.equal(manual.resolvedBy, 'user:usr_op');
      s.clock.now += 5_000;
      await s.evaluator.tick();
      const again = (await s.alerts.list(s.caller, { state: 'firing' })).items;
      assert.equal(again.length, 1);
      assert.notEqual(again[0]!.id, open[0]!.id);
    });

    test('absence of telemetry and of presence; both resolve when data or the connection returns', async () => {
      const s = await setup(db, 'ab', 2);
      const [a, b] = s.ids as [string, string];
      await s.alerts.createRule(s.caller, {
        name: 'silent',
        kind: 'absence',
        absence: { minutes: 10, of: 'telemetry' },
        target: { deviceIds: [a] },
      });
      await s.alerts.createRule(s.caller, {
        name: 'offline',
        kind: 'absence',
        severity: 'error',
        absence: { minutes: 5, of: 'presence' },
        target: { deviceIds: [b] },
      });
      await s.reading(a, 'temp', 20);
      await s.presence(b, true);
      s.clock.now += 3 * MIN;
      await s.presence(b, false);
      s.clock.now += 4 * MIN;
      assert.equal((await s.evaluator.tick()).fired, 0, 'offline 4 min, silent 7 min');
      s.clock.now += 1 * MIN;
      await s.evaluator.tick();
      let open = (await s.alerts.list(s.caller, { state: 'open' })).items;
      assert.deepEqual(
        open.map((x) => x.deviceId),
        [b],
        'offline for 5 minutes',
      );
      s.clock.now += 2 * MIN;
      await s.evaluator.tick();
      open = (await s.alerts.list(s.caller, { state: 'open' })).items;
      assert.deepEqual(open.map((x) => x.deviceId).sort(), [a, b].sort(), 'no telemetry for 10 minutes');
      assert.equal(open.find((x) => x.deviceId === a)?.value, null);
      assert.match(open.find((x) => x.deviceId === a)!.reason, /no telemetry for 10 min/);

      await s.reading(a, 'temp', 21);
      await s.presence(b, true);
      s.clock.now += 5_000;
      assert.equal((await s.evaluator.tick()).resolved, 2);
      assert.equal((await s.alerts.list(s.caller, { state: 'open' })).items.length, 0);
    });

    test('targets by tag, pages through devices, and a device leaving the target resolves its alert', async () => {
      const s = await setup(db, 'tg', 7);
      const evaluator = services(db, s.clock, s.audits, 2).evaluator;
      await s.alerts.createRule(
        s.caller,
        hot({ target: { tags: ['odd'] }, threshold: { key: 'temp', op: '>', value: 80 } }),
      );
      for (const id of s.ids) await s.reading(id, 'temp', 99);
      await evaluator.tick();
      const firing = (await s.alerts.list(s.caller, { state: 'firing' })).items.map((a) => a.deviceId);
      assert.deepEqual(
        firing.sort(),
        [0, 2, 4, 6].map((i) => s.ids[i]),
        'devices 1, 3, 5, 7 carry the tag',
      );
      await db.query(`UPDATE devices SET tags = '{}' WHERE id = $1`, [s.ids[0]]);
      s.clock.now += 5_000;
      await evaluator.tick();
      assert.equal((await s.alerts.list(s.caller, { state: 'firing' })).items.length, 3);
      const [gone] = (await s.alerts.list(s.caller, { deviceId: s.ids[0]! })).items;
      assert.equal(gone?.resolution, 'out_of_target');
    });
  });
}
