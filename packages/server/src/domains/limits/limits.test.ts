import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LIMIT_VALUES, LIMIT_NAMES, overridableAt } from '../../platform/limits/catalogue.js';
import type { LimitDecision } from '../../platform/limits/limits.js';
import { createLimitEventLog } from './event-log.js';
import { createOverrideCache, storeResolver } from './resolver.js';
import type { LimitEventRow, OverrideRow } from './store.js';

const decision = (observed: number): LimitDecision => ({
  limit: 'rest.requests_per_key',
  scope: 'api-key',
  allowed: false,
  observed,
  configured: 3,
  remaining: 0,
  retryAfterMs: 1000,
});

test('a flood of refusals is one row per subject and window, and every refusal is counted once', async () => {
  let clock = 1_000_000;
  const rows: LimitEventRow[] = [];
  const log = createLimitEventLog({
    store: { insertEvents: async (r) => void rows.push(...r), purgeEvents: async () => 0 },
    onError: (err) => assert.fail(String(err)),
    now: () => clock,
    timer: false,
  });
  const who = { tenantId: 't1', subject: 'api-key:k1' };
  let written = 0;
  for (let i = 0; i < 500; i++) {
    if (log.exceeded(who, decision(4 + i))) written++;
    clock += 10; // 500 refusals over 5 s: one window
  }
  assert.equal(written, 1);
  // Another subject, another tenant: their own rows.
  assert.equal(log.exceeded({ tenantId: 't1', subject: 'api-key:k2' }, decision(4)), true);
  assert.equal(log.exceeded({ tenantId: 't2', subject: 'api-key:k1' }, decision(4)), true);
  await log.flush();
  assert.equal(rows.length, 3);
  clock += 10_000;
  await log.close();
  const k1 = rows.filter((r) => r.tenantId === 't1' && r.subject === 'api-key:k1');
  assert.equal(k1.length, 2, 'the stored one, and the last of the window carrying the count');
  assert.equal(
    k1.reduce((n, r) => n + 1 + r.suppressed, 0),
    500,
  );
  assert.equal(k1[1]!.observed, 503, 'the last refusal of the window');
});

test('a failed write is reported and dropped, never thrown at the caller', async () => {
  const errors: number[] = [];
  const log = createLimitEventLog({
    store: {
      insertEvents: () => Promise.reject(new Error('store down')),
      purgeEvents: async () => 0,
    },
    onError: (_err, dropped) => errors.push(dropped),
    timer: false,
  });
  assert.equal(log.exceeded({ tenantId: 't', subject: 's' }, decision(4)), true);
  await log.flush();
  assert.deepEqual(errors, [1]);
});

test("the resolver: a device's override beats the tenant's, which beats the default; writes are seen at once", async () => {
  let stored: OverrideRow[] = [{ deviceId: null, limit: 'rest.requests_per_key', value: 5 }];
  let reads = 0;
  const cache = createOverrideCache({
    read: async (tenantId) => {
      reads++;
      return tenantId === 't' ? stored : [];
    },
  });
  const resolve = storeResolver({ defaults: DEFAULT_LIMIT_VALUES, cache, onError: () => {} });
  const key = 'rest.requests_per_key' as const;
  assert.equal(await resolve(key, { tenantId: 't' }), 5);
  assert.equal(await resolve(key, { tenantId: 'other' }), DEFAULT_LIMIT_VALUES[key]);
  assert.equal(await resolve(key, {}), DEFAULT_LIMIT_VALUES[key]);
  stored = [...stored, { deviceId: 'd1', limit: key, value: 2 }];
  assert.equal(await resolve(key, { tenantId: 't', deviceId: 'd1' }), 5, 'cached');
  cache.invalidate('t');
  assert.equal(await resolve(key, { tenantId: 't', deviceId: 'd1' }), 2);
  assert.equal(await resolve(key, { tenantId: 't', deviceId: 'd2' }), 5);
  // A limit that may not be overridden ignores any stored row.
  stored = [{ deviceId: null, limit: 'rest.requests_per_address', value: 1 }];
  cache.invalidate('t');
  assert.equal(
    await resolve('rest.requests_per_address', { tenantId: 't' }),
    DEFAULT_LIMIT_VALUES['rest.requests_per_address'],
  );
  assert.ok(reads <= 5);
  // The store cannot be read: the default applies and the error is reported.
  let reported = 0;
  const failing = storeResolver({
    defaults: DEFAULT_LIMIT_VALUES,
    cache: createOverrideCache({ read: () => Promise.reject(new Error('down')) }),
    onError: () => reported++,
  });
  assert.equal(await failing(key, { tenantId: 't' }), DEFAULT_LIMIT_VALUES[key]);
  assert.equal(reported, 1);
});

test('docs/operations.md says which limits may be overridden, and where', () => {
  const doc = readFileSync(
    fileURLToPath(new URL('../../../../../docs/operations.md', import.meta.url)),
    'utf8',
  );
  const rows = new Map(
    [...doc.matchAll(/^\| `([a-z]+\.[a-z0-9_]+)` \|(?:[^|]*\|){5} ([^|]+) \|$/gm)].map((m) => [
      m[1]!,
      m[2]!.trim(),
    ]),
  );
  for (const name of LIMIT_NAMES) {
    const at = overridableAt(name);
    assert.equal(rows.get(name), at === null ? 'no' : at === 'tenant' ? 'tenant' : 'tenant, device', name);
  }
});
