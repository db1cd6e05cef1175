/**
 * REST request limits over HTTPS: limit + 1 requests get 429 problem+json naming the limit, with a
 * Retry-After that matches retryAfterMs; a refused request changes nothing and leaves no audit record;
 * one credential's count is not another's; the address is counted before authentication, health and
 * metrics are not; the failed-login throttle answers the same way. Tiny limits come from the settings.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type HttpResponse, type TestPlatform } from './harness.js';

/** The members every limit refusal carries, and the header that goes with them. */
function assertLimitRefusal(
  r: HttpResponse,
  expected: { limit: string; scope: string; configured: number; observed: number; windowMs: number },
) {
  assert.equal(r.status, 429, r.text);
  assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
  assert.equal(r.body.code, 'RATE_LIMITED');
  assert.equal(r.body.limit, expected.limit);
  assert.equal(r.body.scope, expected.scope);
  assert.equal(r.body.configured, expected.configured);
  assert.equal(r.body.observed, expected.observed);
  assert.ok(
    Number.isInteger(r.body.retryAfterMs) &&
      r.body.retryAfterMs > 0 &&
      r.body.retryAfterMs <= expected.windowMs,
    `retryAfterMs ${r.body.retryAfterMs}`,
  );
  assert.equal(r.headers['retry-after'], String(Math.ceil(r.body.retryAfterMs / 1000)));
  assert.match(
    r.body.detail,
    new RegExp(`^${expected.limit.replace('.', '\\.')}: at most ${expected.configured} `),
  );
}

const PER_KEY = 8;

test('per credential', async (s) => {
  const t = await startTestPlatform({
    MOORING_LIMIT_REST_REQUESTS_PER_KEY: String(PER_KEY),
    MOORING_LIMIT_AUTH_FAILED_LOGINS_PER_ADDRESS: '2',
  });
  s.after(() => t.stop());
  // The administrator's session makes 5 requests here (two tenants with a key each, a second key).
  const a = await t.tenant();
  const b = await t.tenant();
  const second = await t.call('POST', `/v1/tenants/${a.tenantId}/api-keys`, {
    token: await t.adminToken(),
    body: { name: 'second' },
  });
  assert.equal(second.status, 201, second.text);
  const a2 = second.body.secret as string;

  await s.test('limit + 1 requests with one API key: 429 naming the limit, with Retry-After', async () => {
    for (let i = 1; i <= PER_KEY; i++) {
      const r = await t.call('GET', '/v1/devices', { token: a.apiKey });
      assert.equal(r.status, 200, `request ${i}: ${r.text}`);
    }
    const refused = await t.call('GET', '/v1/devices', { token: a.apiKey });
    assertLimitRefusal(refused, {
      limit: 'rest.requests_per_key',
      scope: 'api-key',
      configured: PER_KEY,
      observed: PER_KEY + 1,
      windowMs: 10_000,
    });
  });

  await s.test('a refused change changes nothing and is not recorded in the audit trail', async () => {
    const refused = await t.call('POST', '/v1/devices', { token: a.apiKey, body: { name: 'flood-1' } });
    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.body.limit, 'rest.requests_per_key');
    const devices = await t.call('GET', '/v1/devices', { token: a2 });
    assert.equal(devices.status, 200, devices.text);
    assert.deepEqual(devices.body.items, []);
    const audit = await t.call('GET', '/v1/audit?limit=100', { token: a2 });
    assert.equal(audit.status, 200, audit.text);
    assert.ok(
      !(audit.body.items as { action: string; target: string | null }[]).some(
        (x) => x.action.startsWith('device') || x.target === 'flood-1',
      ),
      JSON.stringify(audit.body.items),
    );
  });

  await s.test(
    'another key of the same tenant, and another tenant’s key, have counts of their own',
    async () => {
      // Key a is over its limit for the rest of its window; a2 (2 requests so far) and b are not.
      for (let i = 1; i <= PER_KEY; i++) {
        const r = await t.call('GET', '/v1/devices', { token: b.apiKey });
        assert.equal(r.status, 200, `request ${i}: ${r.text}`);
      }
      assert.equal((await t.call('GET', '/v1/devices', { token: a2 })).status, 200);
      assert.equal((await t.call('GET', '/v1/devices', { token: a.apiKey })).status, 429);
      assert.equal((await t.call('GET', '/v1/devices', { token: b.apiKey })).status, 429);
    },
  );

  await s.test('the failed-login throttle names its limit and sends Retry-After', async () => {
    for (const username of ['nobody-1', 'nobody-2']) {
      const r = await t.call('POST', '/v1/auth/login', { body: { username, password: 'not the password' } });
      assert.equal(r.status, 401, r.text);
      assert.equal(r.headers['retry-after'], undefined);
    }
    const throttled = await t.call('POST', '/v1/auth/login', {
      body: { username: 'nobody-3', password: 'not the password' },
    });
    assert.equal(throttled.status, 429, throttled.text);
    assert.equal(throttled.body.code, 'RATE_LIMITED');
    assert.equal(throttled.body.limit, 'auth.failed_logins_per_address');
    assert.equal(throttled.body.scope, 'address');
    assert.equal(throttled.body.configured, 2);
    // The throttle is checked before the password: only the two failures were counted.
    assert.equal(throttled.body.observed, 2);
    assert.ok(throttled.body.retryAfterMs > 0 && throttled.body.retryAfterMs <= 60_000);
    assert.equal(throttled.headers['retry-after'], String(Math.ceil(throttled.body.retryAfterMs / 1000)));
  });
});

let perAddress: TestPlatform;
const PER_ADDRESS = 4;

before(async () => {
  perAddress = await startTestPlatform({ MOORING_LIMIT_REST_REQUESTS_PER_ADDRESS: String(PER_ADDRESS) });
});
after(() => perAddress.stop());

test('per address: counted before authentication; health, readiness and metrics are not counted', async () => {
  // A malformed request counts like any other (it is counted before the wire rules refuse it).
  const malformed = await perAddress.call('GET', '/v1/devices?tag=%00');
  assert.equal(malformed.status, 400, malformed.text);
  assert.equal(malformed.body.code, 'INVALID_TEXT');
  for (let i = 2; i <= PER_ADDRESS; i++) {
    const r = await perAddress.call('GET', '/v1/devices');
    assert.equal(r.status, 401, `request ${i}: ${r.text}`);
  }
  // Over the limit, even a request without a credential is refused before authentication runs.
  const refused = await perAddress.call('GET', '/v1/devices');
  assertLimitRefusal(refused, {
    limit: 'rest.requests_per_address',
    scope: 'address',
    configured: PER_ADDRESS,
    observed: PER_ADDRESS + 1,
    windowMs: 10_000,
  });
  assert.equal(
    (await perAddress.call('POST', '/v1/auth/login', { body: { username: 'x', password: 'y' } })).status,
    429,
  );
  for (const path of ['/healthz', '/readyz', '/metrics'])
    assert.equal((await perAddress.call('GET', path)).status, 200, path);
  // A path with no route counts too (a scanner is refused like anyone else).
  assert.equal((await perAddress.call('GET', '/no/such/path')).status, 429);
});
