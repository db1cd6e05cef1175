import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../config.js';
import { CONFIGURABLE_LIMITS, LIMITS, overridableAt } from './catalogue.js';
import { createMemoryLimiter } from './memory.js';
import { quotaExceeded } from './refusal.js';

const CAP = 'mqtt.connections_per_tenant';
const tenant = (id: string) => ({ key: id, tenantId: id });

test('a cap gives places up to its value; a refused one takes none; a release counts once', async () => {
  const limits = createMemoryLimiter((_limit, ctx) => (ctx.tenantId === 'ten_a' ? 2 : 5));
  const first = await limits.acquire(CAP, tenant('ten_a'));
  const second = await limits.acquire(CAP, tenant('ten_a'));
  assert.deepEqual(second.decision, {
    limit: CAP,
    scope: 'tenant',
    allowed: true,
    observed: 2,
    configured: 2,
    remaining: 0,
    retryAfterMs: 0,
  });
  const refused = await limits.acquire(CAP, tenant('ten_a'));
  assert.deepEqual(
    { allowed: refused.decision.allowed, observed: refused.decision.observed },
    { allowed: false, observed: 3 },
  );
  // Releasing a refused place, or one place twice, gives nothing extra back.
  refused.release();
  first.release();
  first.release();
  assert.equal((await limits.acquire(CAP, tenant('ten_a'))).decision.observed, 2);
  assert.equal((await limits.acquire(CAP, tenant('ten_a'))).decision.allowed, false);
  // Another tenant has its own count and value.
  assert.equal((await limits.acquire(CAP, tenant('ten_b'))).decision.observed, 1);
});

test('a place that replaces one about to be given back fits at the cap, by that one place only', async () => {
  const limits = createMemoryLimiter(() => 1);
  const old = await limits.acquire(CAP, tenant('ten_a'));
  assert.equal((await limits.acquire(CAP, tenant('ten_a'))).decision.allowed, false);
  const takeover = await limits.acquire(CAP, tenant('ten_a'), { replacing: true });
  assert.equal(takeover.decision.allowed, true);
  assert.equal(
    (await limits.acquire(CAP, tenant('ten_a'), { replacing: true })).decision.allowed,
    false,
    'a second one over the cap is refused',
  );
  old.release();
  takeover.release();
  assert.equal((await limits.acquire(CAP, tenant('ten_a'))).decision.observed, 1);
});

test('caps and windows are not mixed up', async () => {
  const limits = createMemoryLimiter();
  await assert.rejects(limits.acquire('mqtt.connects_per_listener', { key: 'mqtts' }), /use consume/);
  await assert.rejects(limits.consume(CAP, tenant('ten_a')), /use acquire/);
});

test('a full cap is refused as QUOTA_EXCEEDED naming the limit, with no wait to give', async () => {
  const limits = createMemoryLimiter(() => 1);
  await limits.acquire(CAP, tenant('ten_a'));
  const err = quotaExceeded((await limits.acquire(CAP, tenant('ten_a'))).decision, 'for this tenant');
  assert.equal(err.code, 'QUOTA_EXCEEDED');
  assert.equal(err.status, 429);
  assert.deepEqual(err.details, { limit: CAP, scope: 'tenant', configured: 1, observed: 2, retryAfterMs: 0 });
  assert.equal(
    err.message,
    'mqtt.connections_per_tenant: at most 1 connections at once for this tenant; one comes free when one of them ends',
  );
});

test('the subscription cap is a setting overridable per device; the packet bound is the server setting', () => {
  assert.ok(CONFIGURABLE_LIMITS.includes('mqtt.subscriptions_per_connection'));
  assert.equal(overridableAt('mqtt.subscriptions_per_connection'), 'device');
  assert.equal(overridableAt('mqtt.bytes_per_packet'), null);
  assert.ok(!CONFIGURABLE_LIMITS.includes('mqtt.bytes_per_packet' as never));
  assert.equal(LIMITS['mqtt.bytes_per_packet'].defaultValue, loadConfig({}).mqttMaxPacketBytes);
});
