/**
 * Login lockout: anyone can lock a user name with five wrong passwords (the lock does not reveal which
 * names exist), so the lock must not lock out the name's owner for good. The password with a second
 * factor still gets through, an administrator over the user can lift the lock, and every lockout is
 * an audit record. On a platform of its own: the per-address throttle (20 failures a minute) counts
 * every failure here, so the tests stay under it together.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { totpCode } from '../src/domains/users/totp.js';
import { eventually, startTestPlatform, type TestPlatform } from './harness.js';

let t: TestPlatform;
let tenantId: string;
let owner: string;
const PASSWORD = 'tidal harbour rope';
const WRONG = 'wrong password here';

before(async () => {
  t = await startTestPlatform();
  ({ tenantId, apiKey: owner } = await t.tenant());
});
after(async () => {
  await t.stop();
});

async function user(username: string) {
  const r = await t.call('POST', `/v1/tenants/${tenantId}/users`, {
    token: await t.adminToken(),
    body: { username, password: PASSWORD, grants: [{ role: 'viewer' }] },
  });
  assert.equal(r.status, 201, r.text);
  return r.body as { id: string; username: string };
}

const login = (body: Record<string, unknown>) => t.call('POST', '/v1/auth/login', { body });
const lock = async (username: string) => {
  for (let i = 0; i < 5; i++) await login({ username, password: WRONG });
};

test('a locked user name still lets its owner in with the password and a second factor', async () => {
  const u = await user(`lock2fa-${tenantId}`);
  const first = await login({ username: u.username, password: PASSWORD });
  const begin = await t.call('POST', '/v1/auth/totp', { token: first.body.token });
  const enrolledAt = Date.now();
  const confirmed = await t.call('POST', '/v1/auth/totp/confirm', {
    token: first.body.token,
    body: { code: totpCode(begin.body.secret, enrolledAt) },
  });
  assert.equal(confirmed.status, 200, confirmed.text);
  await lock(u.username);
  const code = totpCode(begin.body.secret, enrolledAt + 30_000);
  // Everything short of both factors is refused alike, without saying whether the password was right.
  for (const attempt of [
    { password: PASSWORD },
    { password: WRONG, totp: code },
    { password: PASSWORD, totp: '000000' },
  ]) {
    const r = await login({ username: u.username, ...attempt });
    assert.equal(r.status, 423, JSON.stringify(attempt));
    assert.equal(r.body.code, 'ACCOUNT_LOCKED');
    assert.equal(r.body.limit, 'auth.failed_logins_per_user_name');
    assert.equal(r.body.configured, 5);
    assert.ok(r.body.retryAfterMs > 0 && r.body.retryAfterMs <= 15 * 60_000);
    assert.equal(r.headers['retry-after'], String(Math.ceil(r.body.retryAfterMs / 1000)));
  }
  const through = await login({ username: u.username, password: PASSWORD, totp: code });
  assert.equal(through.status, 200, through.text);
  const recorded = await eventually(async () => {
    const r = await t.call('GET', '/v1/audit?action=auth.login&limit=100', { token: owner });
    return (r.body.items as { target: string; outcome: string; changes: { reason?: string } | null }[]).find(
      (x) => x.target === u.username && x.outcome === 'success' && x.changes?.reason?.includes('lockout'),
    );
  });
  assert.ok(recorded);
});

test('an administrator over the user lifts a lock; one without users:manage cannot', async () => {
  const u = await user(`lockplain-${tenantId}`);
  await lock(u.username);
  assert.equal((await login({ username: u.username, password: PASSWORD })).body.code, 'ACCOUNT_LOCKED');
  const viewer = await t.call('POST', '/v1/api-keys', {
    token: owner,
    body: { name: 'viewer', role: 'viewer' },
  });
  const refused = await t.call('DELETE', `/v1/users/${u.id}/lockout`, { token: viewer.body.secret });
  assert.equal(refused.status, 403);
  assert.equal((await login({ username: u.username, password: PASSWORD })).body.code, 'ACCOUNT_LOCKED');
  const lifted = await t.call('DELETE', `/v1/users/${u.id}/lockout`, { token: owner });
  assert.equal(lifted.status, 204, lifted.text);
  assert.equal((await login({ username: u.username, password: PASSWORD })).status, 200);
  const audited = await eventually(async () => {
    const r = await t.call('GET', '/v1/audit?limit=100', { token: owner });
    return (r.body.items as { action: string; target: string; outcome: string }[]).find(
      (x) => x.action === 'DELETE /v1/users/:userId/lockout' && x.target === u.id && x.outcome === 'success',
    );
  });
  assert.ok(audited);
  // The lockout itself was recorded, once, in the user's tenant.
  const lockouts = await eventually(async () => {
    const r = await t.call('GET', '/v1/audit?action=auth.lockout&limit=100', { token: owner });
    const mine = (r.body.items as { target: string; changes: object }[]).filter(
      (x) => x.target === u.username,
    );
    return mine.length > 0 ? mine : undefined;
  });
  assert.equal(lockouts.length, 1);
  assert.deepEqual(Object.keys(lockouts[0]!.changes).sort(), ['failures', 'lockedUntil']);
});

test('a lockout of a name nobody has is recorded in the platform trail', async () => {
  await lock(`ghost-${tenantId}`);
  const platform = await eventually(async () => {
    const r = await t.call('GET', '/v1/platform/audit?action=auth.lockout&limit=100', {
      token: await t.adminToken(),
    });
    return (r.body.items as { target: string }[]).find((x) => x.target === `ghost-${tenantId}`);
  });
  assert.ok(platform);
});
