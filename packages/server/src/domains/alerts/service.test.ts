/**
 * The alert service on PGlite and PostgreSQL: rule changes and deletion resolving open alerts,
 * another tenant's ids, a caller scoped to some devices, and validation.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { storeBackends } from '../../../test/postgres.js';
import { migrate } from '../../store/migrate.js';
import type { Db } from '../../store/db.js';
import { isAppError } from '../../errors.js';
import type { AlertRuleInput } from './alerts.js';
import { code, hot, setup } from '../../../test/alert-setup.js';

for (const [name, open] of storeBackends) {
  describe(`alert service on ${name}`, () => {
    let db: Db;
    let close: () => Promise<void>;
    before(async () => {
      ({ db, close } = await open());
      await migrate(db);
    });
    after(async () => close());

    test('changing or deleting a rule resolves its open alerts; its alerts are kept', async () => {
      const s = await setup(db, 'ch');
      const rule = await s.alerts.createRule(
        s.caller,
        hot({ threshold: { key: 'temp', op: '>', value: 80 } }),
      );
      await s.reading(s.ids[0]!, 'temp', 99);
      await s.evaluator.tick();
      const renamed = await s.alerts.updateRule(
        s.caller,
        rule.id,
        hot({ name: 'renamed', threshold: { key: 'temp', op: '>', value: 80 } }),
      );
      assert.equal(renamed.name, 'renamed');
      assert.equal(
        (await s.alerts.list(s.caller, { state: 'open' })).items.length,
        1,
        'a new name keeps them',
      );
      await s.alerts.updateRule(s.caller, rule.id, hot({ threshold: { key: 'temp', op: '>', value: 90 } }));
      const [changed] = (await s.alerts.list(s.caller, {})).items;
      assert.equal(changed?.resolution, 'rule_changed');
      s.clock.now += 5_000;
      await s.evaluator.tick();
      const [fresh] = (await s.alerts.list(s.caller, { state: 'open' })).items;
      assert.ok(fresh && fresh.id !== changed.id);
      await s.alerts.deleteRule(s.caller, rule.id);
      assert.equal((await s.alerts.get(s.caller, fresh.id)).resolution, 'rule_deleted');
      await assert.rejects(s.alerts.getRule(s.caller, rule.id), code('ALERT_RULE_NOT_FOUND'));
      assert.equal((await s.alerts.list(s.caller, { ruleId: rule.id })).items.length, 2);
    });

    test("another tenant's alerts and rules are not found; a scoped caller sees its devices' alerts only", async () => {
      const s = await setup(db, 'is');
      const o = await setup(db, 'ot');
      const rule = await s.alerts.createRule(
        s.caller,
        hot({ threshold: { key: 'temp', op: '>', value: 80 } }),
      );
      for (const id of s.ids) await s.reading(id, 'temp', 99);
      await s.evaluator.tick();
      const mine = (await s.alerts.list(s.caller, {})).items;
      assert.equal(mine.length, 3);
      const id = mine[0]!.id;
      await assert.rejects(o.alerts.get(o.caller, id), code('ALERT_NOT_FOUND'));
      await assert.rejects(o.alerts.acknowledge(o.caller, id), code('ALERT_NOT_FOUND'));
      await assert.rejects(o.alerts.resolve(o.caller, id), code('ALERT_NOT_FOUND'));
      await assert.rejects(o.alerts.getRule(o.caller, rule.id), code('ALERT_RULE_NOT_FOUND'));
      await assert.rejects(o.alerts.deleteRule(o.caller, rule.id), code('ALERT_RULE_NOT_FOUND'));
      assert.equal((await o.alerts.list(o.caller, {})).items.length, 0);
      assert.equal((await s.alerts.get(s.caller, id)).state, 'firing', 'untouched');

      const scoped = { ...s.caller, visible: { tags: ['even'], deviceIds: [] } };
      const seen = (await s.alerts.list(scoped, {})).items.map((a) => a.deviceId);
      assert.deepEqual(seen, [s.ids[1]]);
      const hidden = mine.find((a) => a.deviceId === s.ids[0])!;
      await assert.rejects(s.alerts.get(scoped, hidden.id), code('ALERT_NOT_FOUND'));
      await assert.rejects(s.alerts.acknowledge(scoped, hidden.id), code('ALERT_NOT_FOUND'));
    });

    test('validation: each wrong field is named; the limit of rules per tenant', async () => {
      const s = await setup(db, 'va', 1);
      const invalid = async (input: unknown, path: string) => {
        const e = await s.alerts.createRule(s.caller, input as AlertRuleInput).then(
          () => assert.fail(`accepted ${JSON.stringify(input)}`),
          (err: unknown) => err,
        );
        assert.ok(isAppError(e) && e.code === 'INVALID_ALERT_RULE', String(e));
        assert.ok(
          e.errors?.some((f) => f.path === path),
          JSON.stringify(e.errors),
        );
      };
      await invalid(
        hot({ threshold: { key: 'temp', op: '>', value: 80, clearValue: 85 } }),
        '/threshold/clearValue',
      );
      await invalid(
        hot({ threshold: { key: 'temp', op: '<', value: 10, clearValue: 5 } }),
        '/threshold/clearValue',
      );
      await invalid(
        hot({ threshold: { key: 'temp', op: '>', value: 80, forSeconds: 86_401 } }),
        '/threshold/forSeconds',
      );
      await invalid(hot({ threshold: { key: 'bad key', op: '>', value: 1 } }), '/threshold/key');
      await invalid(hot({ threshold: { key: 't', op: '=' as never, value: 1 } }), '/threshold/op');
      await invalid({ name: 'x', kind: 'threshold' }, '/threshold');
      await invalid(
        { name: 'x', kind: 'absence', absence: { minutes: 0, of: 'telemetry' } },
        '/absence/minutes',
      );
      await invalid(
        { name: 'x', kind: 'absence', absence: { minutes: 5, of: 'telemetry' }, threshold: {} },
        '/threshold',
      );
      await invalid({ name: '', kind: 'absence', absence: { minutes: 5, of: 'presence' } }, '/name');
      await invalid({ name: 'x', kind: 'other' }, '/kind');
      // '<' with a clear value above: fine; defaults fill clearValue and forSeconds.
      const ok = await s.alerts.createRule(
        s.caller,
        hot({ threshold: { key: 'v', op: '<', value: 10, clearValue: 12 } }),
      );
      assert.deepEqual(ok.threshold, { key: 'v', op: '<', value: 10, clearValue: 12, forSeconds: 0 });
      const dflt = await s.alerts.createRule(s.caller, hot({ threshold: { key: 'v', op: '>=', value: 3 } }));
      assert.deepEqual(dflt.threshold, { key: 'v', op: '>=', value: 3, clearValue: 3, forSeconds: 0 });
      assert.equal(dflt.enabled, true);

      await db.query(
        `INSERT INTO alert_rules (id, tenant_id, name, kind, severity, enabled, target, condition, created_at, updated_at)
         SELECT 'alr_fill_' || $1 || i, $1, 'r' || i, 'absence', 'info', false, '{}', '{"minutes": 5, "of": "presence"}', 0, 0
           FROM generate_series(1, 198) AS i`,
        [s.tenant.id],
      );
      await assert.rejects(s.alerts.createRule(s.caller, hot()), code('ALERT_RULE_LIMIT_EXCEEDED'));
    });
  });
}
