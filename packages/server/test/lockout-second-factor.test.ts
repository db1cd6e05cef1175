/**
 * A lock lets a user name's owner through with the password and a one-time code, but it must not turn
 * a known password into unlimited one-time-code guesses: after five wrong codes given with the right
 * password through a lock, even a right code waits for the lock to end or for an administrator. On a
 * platform of its own, to stay under the per-address throttle (20 failures a minute).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { totpCode } from '../src/domains/users/totp.js';
import { startTestPlatform, type TestPlatform } from './harness.js';

let t: TestPlatform;
let tenantId: string;
let owner: string;
const PASSWORD = 'tidal harbour rope';

before(async () => {
  t = await startTestPlatform();
  ({ tenantId, apiKey: owner } = await t.tenant());
});
after(async () => {
  await t.stop();
});

const login = (body: Record<string, unknown>) => t.call('POST', '/v1/auth/login', { body });

test('through a lock, five wrong one-time codes with the right password use up the way through', async () => {
  const created = await t.call('POST', `/v1/tenants/${tenantId}/users`, {
    token: await t.adminToken(),
    body: { username: `guess-${tenantId}`, password: PASSWORD, grants: [{ role: 'viewer' }] },
  });
  assert.equal(created.status, 201, created.text);
  const username = created.body.username as string;
  const first = await login({ username, password: PASSWORD });
  const begin = await t.call('POST', '/v1/auth/totp', { token: first.body.token });
  const enrolledAt = Date.now();
  const confirmed = await t.call('POST', '/v1/auth/totp/confirm', {
    token: first.body.token,
    body: { code: totpCode(begin.body.secret, enrolledAt) },
  });
  assert.equal(confirmed.status, 200, confirmed.text);

  for (let i = 0; i < 5; i++) await login({ username, password: 'wrong password here' });
  const right = totpCode(begin.body.secret, enrolledAt + 30_000);
  const wrong = right === '000000' ? '111111' : '000000';
  for (let i = 0; i < 5; i++) {
    const r = await login({ username, password: PASSWORD, totp: wrong });
    assert.equal(r.body.code, 'ACCOUNT_LOCKED', r.text);
  }
  const refused = await login({ username, password: PASSWORD, totp: right });
  assert.equal(refused.status, 423, 'a right code after five wrong ones waits for the lock to end');
  assert.equal(refused.body.code, 'ACCOUNT_LOCKED');

  // An administrator lifts the lock, and with it the count of wrong codes.
  const lifted = await t.call('DELETE', `/v1/users/${created.body.id}/lockout`, { token: owner });
  assert.equal(lifted.status, 204, lifted.text);
  const back = await login({ username, password: PASSWORD, totp: right });
  assert.equal(back.status, 200, back.text);
});
