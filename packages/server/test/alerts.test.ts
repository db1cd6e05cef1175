/**
 * Alerts over REST on a running platform: a rule, a device's telemetry over HTTPS, the evaluator job
 * firing the alert, acknowledge and resolve (audited), the 409 for a wrong state, validation answers,
 * and isolation (another tenant, a caller scoped to other devices). The rules' timing (hysteresis,
 * `for`, absence, restarts) is proven with a fake clock in src/domains/alerts/evaluator.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type TestPlatform } from './harness.js';

let t: TestPlatform;
before(async () => {
  t = await startTestPlatform();
});
after(async () => t?.stop());

/** Polls until `check` returns a value (the evaluator runs every 5 s). */
async function eventually<T>(check: () => Promise<T | undefined>, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('a threshold rule fires on telemetry; acknowledge, resolve, audit, 409s, validation and isolation', async () => {
  const { apiKey, tenantId } = await t.tenant();
  const other = await t.tenant();
  const dev = await t.device(apiKey, { name: 'boiler', tags: ['plant'] });

  const bad = await t.call('POST', '/v1/alert-rules', {
    token: apiKey,
    body: { name: 'x', kind: 'threshold', threshold: { key: 'temp', op: '>', value: 50, clearValue: 60 } },
  });
  assert.equal(bad.status, 422, bad.text);
  assert.equal(bad.body.code, 'INVALID_ALERT_RULE');
  assert.equal(bad.body.errors[0].path, '/threshold/clearValue');
  const shape = await t.call('POST', '/v1/alert-rules', {
    token: apiKey,
    body: { name: 'x', kind: 'threshold', threshold: { key: 'temp', op: '=', value: 50 } },
  });
  assert.equal(shape.status, 400, shape.text);
  assert.equal(shape.body.code, 'VALIDATION_FAILED');

  const created = await t.call('POST', '/v1/alert-rules', {
    token: apiKey,
    body: {
      name: 'boiler too hot',
      kind: 'threshold',
      severity: 'critical',
      target: { tags: ['plant'] },
      threshold: { key: 'temp', op: '>', value: 50, clearValue: 40 },
    },
  });
  assert.equal(created.status, 201, created.text);
  const rule = created.body;
  assert.deepEqual(rule.threshold, { key: 'temp', op: '>', value: 50, clearValue: 40, forSeconds: 0 });
  assert.equal(
    (await t.call('GET', `/v1/alert-rules/${rule.id}`, { token: apiKey })).body.name,
    'boiler too hot',
  );
  assert.equal((await t.call('GET', '/v1/alert-rules', { token: apiKey })).body.items.length, 1);
  assert.equal((await t.call('GET', `/v1/alert-rules/${rule.id}`, { token: other.apiKey })).status, 404);

  const sent = await t.call('POST', '/v1/device/telemetry', {
    token: dev.accessKey,
    body: { values: { temp: 72 } },
  });
  assert.ok(sent.status < 300, sent.text);
  const alert = await eventually(async () => {
    const r = await t.call('GET', '/v1/alerts?state=firing', { token: apiKey });
    return r.body.items[0];
  }, 'the alert to fire');
  assert.equal(alert.deviceId, dev.deviceId);
  assert.equal(alert.ruleId, rule.id);
  assert.equal(alert.value, 72);
  assert.equal(alert.severity, 'critical');

  // Another tenant, and a caller scoped to another tag, find nothing.
  for (const path of [`/v1/alerts/${alert.id}`]) {
    const r = await t.call('GET', path, { token: other.apiKey });
    assert.equal(r.status, 404);
    assert.equal(r.body.code, 'ALERT_NOT_FOUND');
  }
  assert.equal(
    (await t.call('POST', `/v1/alerts/${alert.id}/acknowledge`, { token: other.apiKey, body: {} })).status,
    404,
  );
  const scoped = await t.call('POST', '/v1/api-keys', {
    token: apiKey,
    body: { name: 'scoped', grants: [{ permissions: ['alerts:read'], scope: { tag: 'office' } }] },
  });
  assert.equal(scoped.status, 201, scoped.text);
  assert.equal((await t.call('GET', '/v1/alerts', { token: scoped.body.secret })).body.items.length, 0);
  assert.equal((await t.call('GET', `/v1/alerts/${alert.id}`, { token: scoped.body.secret })).status, 404);
  assert.equal((await t.call('GET', '/v1/alert-rules', { token: scoped.body.secret })).status, 403);

  const acked = await t.call('POST', `/v1/alerts/${alert.id}/acknowledge`, {
    token: apiKey,
    body: { note: 'on it' },
  });
  assert.equal(acked.status, 200, acked.text);
  assert.equal(acked.body.state, 'acknowledged');
  const again = await t.call('POST', `/v1/alerts/${alert.id}/acknowledge`, { token: apiKey, body: {} });
  assert.equal(again.status, 409);
  assert.equal(again.body.code, 'ALERT_STATE_CONFLICT');

  const resolved = await t.call('POST', `/v1/alerts/${alert.id}/resolve`, { token: apiKey, body: {} });
  assert.equal(resolved.status, 200, resolved.text);
  assert.equal(resolved.body.state, 'resolved');
  assert.equal(resolved.body.resolution, 'manual');
  assert.equal(
    (await t.call('POST', `/v1/alerts/${alert.id}/resolve`, { token: apiKey, body: {} })).status,
    409,
  );

  const audit = await t.call('GET', `/v1/audit?target=${alert.id}`, { token: apiKey });
  const actions = audit.body.items.map((i: { action: string }) => i.action);
  assert.ok(actions.includes('alerts.fired'), JSON.stringify(actions));
  assert.ok(
    actions.some((a: string) => a.includes('acknowledge')),
    JSON.stringify(actions),
  );
  assert.ok(
    actions.some((a: string) => a.includes('resolve')),
    JSON.stringify(actions),
  );

  // The breach still holds: the next pass opens a new alert, the resolved one stays resolved.
  const next = await eventually(async () => {
    const r = await t.call('GET', `/v1/alerts?state=open&ruleId=${rule.id}`, { token: apiKey });
    return r.body.items[0];
  }, 'a new alert');
  assert.notEqual(next.id, alert.id);
  const listed = await t.call('GET', `/v1/alerts?deviceId=${dev.deviceId}&limit=1`, { token: apiKey });
  assert.equal(listed.body.items.length, 1);
  assert.ok(listed.body.nextCursor);
  const page2 = await t.call(
    'GET',
    `/v1/alerts?deviceId=${dev.deviceId}&limit=1&cursor=${listed.body.nextCursor}`,
    {
      token: apiKey,
    },
  );
  assert.equal(page2.body.items[0].id, alert.id);

  // Deleting the rule resolves its open alert and keeps both.
  assert.equal((await t.call('DELETE', `/v1/alert-rules/${rule.id}`, { token: apiKey })).status, 204);
  const after = await t.call('GET', `/v1/alerts/${next.id}`, { token: apiKey });
  assert.equal(after.body.resolution, 'rule_deleted');
  assert.ok(!JSON.stringify(after.body).includes(tenantId), 'alerts carry no tenant id');
});
