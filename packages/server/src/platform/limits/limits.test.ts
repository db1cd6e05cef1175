import { afterEach, beforeEach, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../config.js';
import { LOCKOUT_FAILURES, LOCKOUT_WINDOW_MS } from '../../domains/users/users.js';
import { BURST_WINDOW_MS, DEVICE_TOKEN_BURST } from '../../domains/provisioning/provisioning.js';
import {
  CONFIGURABLE_LIMITS,
  DEFAULT_LIMIT_VALUES,
  LIMIT_NAMES,
  LIMITS,
  limitEnvName,
  type ConfigurableLimit,
  type LimitName,
} from './catalogue.js';
import { createMemoryLimiter, defaultsResolver } from './memory.js';
import { rateLimited } from './refusal.js';
import type { LimitResolver } from './limits.js';

// A fake clock: the memory backend reads Date.now() and expires windows with setTimeout.
beforeEach(() => mock.timers.enable({ apis: ['Date', 'setTimeout'], now: 1_000_000 }));
afterEach(() => mock.timers.reset());

/** Every limit 5 per its window, so the numbers below do not depend on the defaults. */
const five: LimitResolver = () => 5;
const address = { key: '192.0.2.7' };

test('the units of one window fit at once (a burst), the next one is refused with the window’s rest', async () => {
  const limits = createMemoryLimiter(five);
  for (let i = 1; i <= 5; i++) {
    const d = await limits.consume('rest.requests_per_address', address);
    assert.deepEqual(d, {
      limit: 'rest.requests_per_address',
      scope: 'address',
      allowed: true,
      observed: i,
      configured: 5,
      remaining: 5 - i,
      retryAfterMs: 0,
    });
  }
  mock.timers.tick(3_217);
  const refused = await limits.consume('rest.requests_per_address', address);
  assert.deepEqual(refused, {
    limit: 'rest.requests_per_address',
    scope: 'address',
    allowed: false,
    observed: 6,
    configured: 5,
    remaining: 0,
    // The window (10 s) started with the first request: 10 000 − 3 217 ms are left.
    retryAfterMs: 6_783,
  });
});

test('window edges: refused up to the last ms of the window, a new window starts exactly at its end', async () => {
  const limits = createMemoryLimiter(five);
  const windowMs = LIMITS['rest.requests_per_key'].windowMs;
  const key = { key: 'api-key:k1' };
  await limits.consume('rest.requests_per_key', key, 5);
  mock.timers.tick(windowMs - 1);
  const last = await limits.consume('rest.requests_per_key', key);
  assert.equal(last.allowed, false);
  assert.equal(last.retryAfterMs, 1);
  // Refused attempts are counted (observed says how hard the caller tried) but do not extend the window.
  assert.equal(last.observed, 6);
  mock.timers.tick(1);
  const next = await limits.consume('rest.requests_per_key', key);
  assert.equal(next.allowed, true);
  assert.equal(next.observed, 1);
  assert.equal(next.remaining, 4);
});

test('waiting exactly retryAfterMs is enough', async () => {
  const limits = createMemoryLimiter(five);
  await limits.consume('commands.created_per_device', { key: 'dev_1' }, 5);
  mock.timers.tick(12_345);
  const refused = await limits.consume('commands.created_per_device', { key: 'dev_1' });
  assert.equal(refused.retryAfterMs, 60_000 - 12_345);
  mock.timers.tick(refused.retryAfterMs);
  assert.equal((await limits.consume('commands.created_per_device', { key: 'dev_1' })).allowed, true);
});

test('a cost of several units (bytes) counts as many', async () => {
  const limits = createMemoryLimiter(() => 1000);
  assert.equal((await limits.consume('mqtt.bytes_per_device', { key: 'd' }, 600)).remaining, 400);
  const over = await limits.consume('mqtt.bytes_per_device', { key: 'd' }, 600);
  assert.equal(over.allowed, false);
  assert.equal(over.observed, 1200);
  assert.equal(over.retryAfterMs, 1000);
});

test('peek says whether more would fit without counting', async () => {
  const limits = createMemoryLimiter(five);
  const peeked = await limits.peek('auth.failed_logins_per_address', address);
  assert.equal(peeked.allowed, true);
  assert.equal(peeked.observed, 0);
  await limits.consume('auth.failed_logins_per_address', address, 4);
  assert.equal((await limits.peek('auth.failed_logins_per_address', address)).allowed, true);
  assert.equal((await limits.peek('auth.failed_logins_per_address', address)).observed, 4);
  await limits.consume('auth.failed_logins_per_address', address);
  mock.timers.tick(20_000);
  const full = await limits.peek('auth.failed_logins_per_address', address);
  assert.equal(full.allowed, false);
  assert.equal(full.observed, 5);
  assert.equal(full.retryAfterMs, 40_000);
  assert.equal((await limits.peek('auth.failed_logins_per_address', address)).observed, 5);
});

test('subjects and limits do not share counts; reset forgets one subject', async () => {
  const limits = createMemoryLimiter(five);
  await limits.consume('rest.requests_per_key', { key: 'api-key:a', tenantId: 'ten_a' }, 5);
  assert.equal(
    (await limits.consume('rest.requests_per_key', { key: 'api-key:a', tenantId: 'ten_a' })).allowed,
    false,
  );
  assert.equal(
    (await limits.consume('rest.requests_per_key', { key: 'api-key:b', tenantId: 'ten_b' })).observed,
    1,
  );
  // The same key under another limit is another count.
  assert.equal((await limits.consume('rest.requests_per_address', { key: 'api-key:a' })).observed, 1);
  await limits.reset('rest.requests_per_key', { key: 'api-key:a' });
  assert.equal((await limits.consume('rest.requests_per_key', { key: 'api-key:a' })).observed, 1);
});

test('the resolver gives each tenant and device its value, asked on every count', async () => {
  const asked: { limit: LimitName; tenantId?: string; deviceId?: string }[] = [];
  let tenantA = 2;
  const limits = createMemoryLimiter((limit, ctx) => {
    asked.push({ limit, ...ctx });
    return ctx.tenantId === 'ten_a' ? tenantA : 10;
  });
  const a = { key: 'dev_a', tenantId: 'ten_a', deviceId: 'dev_a' };
  const b = { key: 'dev_b', tenantId: 'ten_b', deviceId: 'dev_b' };
  await limits.consume('mqtt.messages_per_device', a, 2);
  const refused = await limits.consume('mqtt.messages_per_device', a);
  assert.equal(refused.allowed, false);
  assert.equal(refused.configured, 2);
  assert.equal((await limits.consume('mqtt.messages_per_device', b, 3)).allowed, true);
  assert.deepEqual(asked[0], { limit: 'mqtt.messages_per_device', tenantId: 'ten_a', deviceId: 'dev_a' });
  // An override raised in the window applies to the next count.
  tenantA = 100;
  assert.equal((await limits.consume('mqtt.messages_per_device', a)).allowed, true);
  assert.equal(await limits.configured('mqtt.messages_per_device', { tenantId: 'ten_a' }), 100);
});

test('caps (no window) are not counted by the limiter; their value comes from configured()', async () => {
  const limits = createMemoryLimiter(
    defaultsResolver({ ...DEFAULT_LIMIT_VALUES, 'mqtt.connections_per_tenant': 7 }),
  );
  await assert.rejects(
    limits.consume('mqtt.connections_per_tenant', { key: 'ten_a' }),
    /cap counted by its owner/,
  );
  assert.equal(await limits.configured('mqtt.connections_per_tenant', { tenantId: 'ten_a' }), 7);
  // Limits kept in the store are not settings: the resolver gives the catalogue's value.
  assert.equal(await limits.configured('provisioning.operations_per_device_token'), DEVICE_TOKEN_BURST);
});

test('the refusal names the limit, its scope, the values and retryAfterMs', async () => {
  const limits = createMemoryLimiter(five);
  await limits.consume('rest.requests_per_key', { key: 'api-key:k' }, 5);
  mock.timers.tick(2_500);
  const err = rateLimited(
    await limits.consume('rest.requests_per_key', { key: 'api-key:k' }),
    'with this credential',
  );
  assert.equal(err.code, 'RATE_LIMITED');
  assert.equal(err.status, 429);
  assert.deepEqual(err.details, {
    limit: 'rest.requests_per_key',
    scope: 'api-key',
    configured: 5,
    observed: 6,
    retryAfterMs: 7_500,
  });
  assert.equal(
    err.message,
    'rest.requests_per_key: at most 5 requests per 10 s with this credential; try again in 8 s',
  );
});

test('the catalogue names every limit the platform has, with the values the store-kept ones use', () => {
  for (const name of LIMIT_NAMES) {
    const spec = LIMITS[name];
    assert.match(name, /^[a-z]+\.[a-z0-9_]+$/);
    assert.ok(spec.defaultValue > 0 && Number.isSafeInteger(spec.defaultValue), name);
    assert.ok(spec.windowMs === null || spec.windowMs >= 1000, name);
  }
  assert.equal(LIMITS['auth.failed_logins_per_user_name'].defaultValue, LOCKOUT_FAILURES);
  assert.equal(LIMITS['auth.failed_logins_per_user_name'].windowMs, LOCKOUT_WINDOW_MS);
  assert.equal(LIMITS['provisioning.operations_per_device_token'].defaultValue, DEVICE_TOKEN_BURST);
  assert.equal(LIMITS['provisioning.operations_per_device_token'].windowMs, BURST_WINDOW_MS);
  assert.ok(!CONFIGURABLE_LIMITS.includes('provisioning.operations_per_device_token' as never));
});

test('limit defaults are settings: environment first, then the config file’s limits object', () => {
  assert.deepEqual(loadConfig({}).limits, DEFAULT_LIMIT_VALUES);
  assert.equal(limitEnvName('rest.requests_per_key'), 'MOORING_LIMIT_REST_REQUESTS_PER_KEY');
  const dir = mkdtempSync(join(tmpdir(), 'mooring-limits-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ limits: { 'rest.requests_per_key': 7, 'mqtt.bytes_per_device': 9 } }));
  const c = loadConfig({ MOORING_CONFIG_FILE: file, MOORING_LIMIT_REST_REQUESTS_PER_KEY: '3' });
  assert.equal(c.limits['rest.requests_per_key'], 3);
  assert.equal(c.limits['mqtt.bytes_per_device'], 9);
  assert.equal(c.limits['rest.requests_per_address'], LIMITS['rest.requests_per_address'].defaultValue);
  assert.ok(Object.isFrozen(c.limits));

  const refused = (env: Record<string, string>, message: RegExp) =>
    assert.throws(
      () => loadConfig(env),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
    );
  refused(
    { MOORING_LIMIT_REST_REQUESTS_PER_KEY: '0' },
    /^MOORING_LIMIT_REST_REQUESTS_PER_KEY: must be a whole number above 0, got '0'$/,
  );
  refused({ MOORING_LIMIT_MQTT_BYTES_PER_DEVICE: '1.5' }, /^MOORING_LIMIT_MQTT_BYTES_PER_DEVICE: /);
  writeFileSync(file, JSON.stringify({ limits: { 'rest.requests_per_minute': 7 } }));
  refused(
    { MOORING_CONFIG_FILE: file },
    /^config file key 'limits.rest.requests_per_minute' is not a known limit$/,
  );
  writeFileSync(file, JSON.stringify({ limits: { 'provisioning.operations_per_device_token': 7 } }));
  refused({ MOORING_CONFIG_FILE: file }, /is not a known limit/);
  writeFileSync(file, JSON.stringify({ limits: { 'rest.requests_per_key': 'many' } }));
  refused(
    { MOORING_CONFIG_FILE: file },
    /^config file key 'limits.rest.requests_per_key': must be a whole number/,
  );
  writeFileSync(file, JSON.stringify({ limits: [1] }));
  refused({ MOORING_CONFIG_FILE: file }, /^config file key 'limits': must be an object/);
});

test('docs/operations.md lists every limit with its scope and setting', () => {
  const doc = readFileSync(
    fileURLToPath(new URL('../../../../../docs/operations.md', import.meta.url)),
    'utf8',
  );
  const rows = new Map(
    [...doc.matchAll(/^\| `([a-z]+\.[a-z0-9_]+)` \| ([a-z-]+) \| ([^|]+) \| ([^|]+) \|/gm)].map((m) => [
      m[1]!,
      { scope: m[2]!, value: m[3]!, setting: m[4]!.trim() },
    ]),
  );
  assert.deepEqual([...rows.keys()].sort(), [...LIMIT_NAMES].sort());
  for (const name of LIMIT_NAMES) {
    const row = rows.get(name)!;
    assert.equal(row.scope, LIMITS[name].scope, name);
    assert.ok(
      row.value.replace(/ /g, '').includes(String(LIMITS[name].defaultValue)),
      `${name}: ${row.value}`,
    );
    if (LIMITS[name].state === 'limiter')
      assert.equal(row.setting, `\`${limitEnvName(name as ConfigurableLimit)}\``, name);
  }
});
