/**
 * Access control over HTTP: API key scopes, expiry, rotation and revocation; grants scoped to a tag;
 * no delegation beyond what one holds; custom roles; 2FA with recovery codes and the tenant policy;
 * login lockout; sessions; invitations and password-reset links.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
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

async function key(body: Record<string, unknown>, token = owner) {
  const r = await t.call('POST', '/v1/api-keys', { token, body: { name: 'k', ...body } });
  assert.equal(r.status, 201, r.text);
  return r.body as { apiKey: { id: string }; secret: string };
}

async function user(username: string, grants: unknown[] = [{ role: 'viewer' }]) {
  const r = await t.call('POST', `/v1/tenants/${tenantId}/users`, {
    token: await t.adminToken(),
    body: { username, password: PASSWORD, grants },
  });
  assert.equal(r.status, 201, r.text);
  return r.body as { id: string; username: string };
}

const login = (body: Record<string, unknown>) => t.call('POST', '/v1/auth/login', { body });

test('an API key holds only its permissions; nothing is granted by default; no one grants more than they hold', async () => {
  const none = await t.call('POST', '/v1/api-keys', { token: owner, body: { name: 'bare' } });
  assert.equal(none.body.code, 'VALIDATION_FAILED', 'a key without a role or permissions is refused');
  const reader = await key({ permissions: ['devices:read'] });
  assert.equal((await t.call('GET', '/v1/devices', { token: reader.secret })).status, 200);
  const denied = await t.call('POST', '/v1/devices', { token: reader.secret, body: { name: 'x' } });
  assert.equal(denied.status, 403);
  assert.equal(denied.body.code, 'FORBIDDEN');
  assert.equal(denied.body.permission, 'devices:write', 'the refusal names the missing permission');

  const admin = await key({ role: 'admin' });
  const escalate = await t.call('POST', '/v1/api-keys', {
    token: admin.secret,
    body: { name: 'up', role: 'owner' },
  });
  assert.equal(escalate.status, 403, 'an admin cannot mint an owner key (tenant:manage)');
  assert.deepEqual(escalate.body.missing, ['tenant:manage']);
  const keysOnly = await key({ permissions: ['keys:manage'] });
  const wider = await t.call('POST', '/v1/api-keys', {
    token: keysOnly.secret,
    body: { name: 'w', permissions: ['devices:read'] },
  });
  assert.equal(wider.status, 403, 'keys:manage alone cannot hand out devices:read');
  const unknownRole = await t.call('POST', '/v1/api-keys', {
    token: owner,
    body: { name: 'u', role: 'wizard' },
  });
  assert.equal(unknownRole.body.code, 'VALIDATION_FAILED');
});

test('expiry, rotation with overlap, last use and revocation of an API key', async () => {
  const past = await t.call('POST', '/v1/api-keys', {
    token: owner,
    body: { name: 'old', role: 'viewer', expiresAt: Date.now() - 1 },
  });
  assert.equal(past.body.code, 'VALIDATION_FAILED');
  const short = await key({ role: 'viewer', expiresAt: Date.now() + 1_500 });
  assert.equal((await t.call('GET', '/v1/devices', { token: short.secret })).status, 200);
  await sleep(1_600);
  const expired = await t.call('GET', '/v1/devices', { token: short.secret });
  assert.equal(expired.status, 401);
  assert.equal(expired.body.code, 'INVALID_CREDENTIALS');

  const k = await key({ role: 'viewer' });
  await t.call('GET', '/v1/devices', { token: k.secret });
  const shown = await t.call('GET', `/v1/api-keys/${k.apiKey.id}`, { token: owner });
  assert.ok(shown.body.lastUsedAt > 0);
  assert.equal(shown.body.lastUsedAddress, '127.0.0.1');
  assert.equal(JSON.stringify(shown.body).includes(k.secret), false);

  const rotated = await t.call('POST', `/v1/api-keys/${k.apiKey.id}/rotate`, {
    token: owner,
    body: { overlapSeconds: 60 },
  });
  assert.equal(rotated.status, 200, rotated.text);
  assert.notEqual(rotated.body.secret, k.secret);
  assert.equal(
    (await t.call('GET', '/v1/devices', { token: k.secret })).status,
    200,
    'old secret in the overlap',
  );
  assert.equal((await t.call('GET', '/v1/devices', { token: rotated.body.secret })).status, 200);
  const again = await t.call('POST', `/v1/api-keys/${k.apiKey.id}/rotate`, {
    token: owner,
    body: { overlapSeconds: 0 },
  });
  assert.equal(
    (await t.call('GET', '/v1/devices', { token: rotated.body.secret })).status,
    401,
    'no overlap',
  );
  assert.equal((await t.call('GET', '/v1/devices', { token: k.secret })).status, 401);

  assert.equal((await t.call('DELETE', `/v1/api-keys/${k.apiKey.id}`, { token: owner })).status, 204);
  assert.equal(
    (await t.call('GET', '/v1/devices', { token: again.body.secret })).status,
    401,
    'revoked at once',
  );
  const rotateRevoked = await t.call('POST', `/v1/api-keys/${k.apiKey.id}/rotate`, {
    token: owner,
    body: { overlapSeconds: 0 },
  });
  assert.equal(rotateRevoked.body.code, 'API_KEY_REVOKED');
});

test('a grant scoped to a tag sees and commands only the devices with that tag', async () => {
  const inside = await t.call('POST', '/v1/devices', { token: owner, body: { name: 'a', tags: ['line:a'] } });
  const outside = await t.call('POST', '/v1/devices', {
    token: owner,
    body: { name: 'b', tags: ['line:b'] },
  });
  const scoped = await key({ grants: [{ role: 'operator', scope: { tag: 'line:a' } }] });
  const list = await t.call('GET', '/v1/devices', { token: scoped.secret });
  assert.deepEqual(
    list.body.items.map((d: { id: string }) => d.id),
    [inside.body.id],
  );
  const cmd = (id: string) =>
    t.call('POST', `/v1/devices/${id}/commands`, { token: scoped.secret, body: { name: 'reboot' } });
  assert.equal((await cmd(inside.body.id)).status, 201);
  assert.equal((await cmd(outside.body.id)).status, 404, 'outside the scope a device does not exist');
  const created = await t.call('POST', '/v1/devices', { token: scoped.secret, body: { name: 'c' } });
  assert.equal(created.status, 403, 'a new device must carry the scope tag');
  assert.equal(
    (await t.call('POST', '/v1/devices', { token: scoped.secret, body: { name: 'c', tags: ['line:a'] } }))
      .status,
    201,
  );
  const moveOut = await t.call('PATCH', `/v1/devices/${inside.body.id}`, {
    token: scoped.secret,
    body: { tags: ['line:b'] },
  });
  assert.equal(moveOut.status, 403, 'a scoped caller cannot move a device out of its scope');
  // Tenant-level permissions of the role are not carried by a scoped grant.
  assert.equal((await t.call('GET', '/v1/provisioning/operations', { token: scoped.secret })).status, 403);
});

test('a custom role grants what it lists, and a change applies to its holders at once', async () => {
  const role = await t.call('POST', '/v1/roles', {
    token: owner,
    body: { name: 'line-reader', permissions: ['devices:read'] },
  });
  assert.equal(role.status, 201, role.text);
  const holder = await key({ role: 'line-reader' });
  assert.equal((await t.call('GET', '/v1/devices', { token: holder.secret })).status, 200);
  assert.equal((await t.call('GET', '/v1/audit', { token: holder.secret })).status, 403);
  await t.call('PUT', '/v1/roles/line-reader', { token: owner, body: { permissions: ['audit:read'] } });
  assert.equal((await t.call('GET', '/v1/audit', { token: holder.secret })).status, 200);
  assert.equal((await t.call('GET', '/v1/devices', { token: holder.secret })).status, 403);
  const builtIn = await t.call('POST', '/v1/roles', {
    token: owner,
    body: { name: 'owner', permissions: ['devices:read'] },
  });
  assert.equal(builtIn.body.code, 'ALREADY_EXISTS');
  await t.call('DELETE', '/v1/roles/line-reader', { token: owner });
  assert.equal(
    (await t.call('GET', '/v1/audit', { token: holder.secret })).status,
    403,
    'a deleted role grants nothing',
  );
});

test('2FA: enrol, log in with a code once, recovery codes, and the tenant policy', async () => {
  const u = await user(`totp-${tenantId}`);
  const first = await login({ username: u.username, password: PASSWORD });
  const token = first.body.token;
  const begin = await t.call('POST', '/v1/auth/totp', { token });
  assert.match(begin.body.uri, /^otpauth:\/\/totp\//);
  const wrong = await t.call('POST', '/v1/auth/totp/confirm', { token, body: { code: '000000' } });
  assert.equal(wrong.body.code, 'TOTP_INVALID');
  const confirmAt = Date.now();
  const confirmed = await t.call('POST', '/v1/auth/totp/confirm', {
    token,
    body: { code: totpCode(begin.body.secret, confirmAt) },
  });
  assert.equal(confirmed.body.recoveryCodes.length, 10);
  assert.equal(
    (await t.call('GET', '/v1/auth/me', { token })).status,
    401,
    'enrolling ends the old sessions',
  );

  const needCode = await login({ username: u.username, password: PASSWORD });
  assert.equal(needCode.status, 401);
  assert.equal(needCode.body.code, 'TOTP_REQUIRED');
  const badCode = await login({ username: u.username, password: PASSWORD, totp: '123456' });
  assert.equal(badCode.body.code, 'TOTP_INVALID');
  // The code used to confirm cannot be used again (one use per 30 s step); the next step's code is
  // accepted early (one step of clock drift either way).
  const used = await login({
    username: u.username,
    password: PASSWORD,
    totp: totpCode(begin.body.secret, confirmAt),
  });
  assert.equal(used.body.code, 'TOTP_INVALID', 'the confirming code was spent');
  const next = totpCode(begin.body.secret, confirmAt + 30_000);
  const ok = await login({ username: u.username, password: PASSWORD, totp: next });
  assert.equal(ok.status, 200, ok.text);
  const replay = await login({ username: u.username, password: PASSWORD, totp: next });
  assert.equal(replay.body.code, 'TOTP_INVALID', 'a code works once');
  const recovery = confirmed.body.recoveryCodes[0];
  assert.equal(
    (await login({ username: u.username, password: PASSWORD, recoveryCode: recovery })).status,
    200,
  );
  assert.equal(
    (await login({ username: u.username, password: PASSWORD, recoveryCode: recovery })).body.code,
    'TOTP_INVALID',
    'a recovery code works once',
  );

  // The tenant requires 2FA: a user without it gets a session that can only enrol.
  const plain = await user(`plain-${tenantId}`);
  assert.equal(
    (await t.call('PATCH', '/v1/tenant', { token: owner, body: { requireTotp: true } })).body.requireTotp,
    true,
  );
  const restricted = await login({ username: plain.username, password: PASSWORD });
  assert.equal(restricted.body.totpEnrollmentRequired, true);
  const blocked = await t.call('GET', '/v1/devices', { token: restricted.body.token });
  assert.equal(blocked.status, 403);
  assert.equal(blocked.body.code, 'TOTP_ENROLLMENT_REQUIRED');
  assert.equal((await t.call('POST', '/v1/auth/totp', { token: restricted.body.token })).status, 200);
  const off = await t.call('POST', '/v1/auth/totp/disable', {
    token: ok.body.token,
    body: { password: PASSWORD, code: '000000' },
  });
  assert.equal(off.body.code, 'TOTP_STATE', 'cannot turn 2FA off while the tenant requires it');
  await t.call('PATCH', '/v1/tenant', { token: owner, body: { requireTotp: false } });
});

test('five failed logins lock the user name with a clear error; an admin reset link unlocks it', async () => {
  const u = await user(`lock-${tenantId}`);
  for (let i = 0; i < 5; i++) {
    const r = await login({ username: u.username, password: 'wrong password here' });
    assert.equal(r.body.code, 'INVALID_CREDENTIALS');
    assert.equal(r.body.attemptsLeft, 4 - i);
  }
  const locked = await login({ username: u.username, password: PASSWORD });
  assert.equal(locked.status, 423);
  assert.equal(locked.body.code, 'ACCOUNT_LOCKED');
  assert.ok(locked.body.retryAfterMs > 14 * 60_000);
  // An unknown user name locks the same way: the lock does not reveal which names exist.
  for (let i = 0; i < 5; i++) await login({ username: `ghost-${tenantId}`, password: 'wrong password here' });
  assert.equal(
    (await login({ username: `ghost-${tenantId}`, password: PASSWORD })).body.code,
    'ACCOUNT_LOCKED',
  );

  const link = await t.call('POST', `/v1/users/${u.id}/password-reset`, { token: owner });
  assert.equal(link.status, 201);
  const weak = await t.call('POST', '/v1/auth/password-reset', {
    body: { token: link.body.token, newPassword: 'Password123!' },
  });
  assert.equal(weak.body.code, 'PASSWORD_TOO_WEAK', 'breached patterns are refused');
  const reset = await t.call('POST', '/v1/auth/password-reset', {
    body: { token: link.body.token, newPassword: 'a new tidal harbour rope' },
  });
  assert.equal(reset.status, 204, reset.text);
  assert.equal(
    (
      await t.call('POST', '/v1/auth/password-reset', {
        body: { token: link.body.token, newPassword: 'another long one 9' },
      })
    ).body.code,
    'LINK_INVALID',
    'a link works once',
  );
  assert.equal(
    (await login({ username: u.username, password: 'a new tidal harbour rope' })).status,
    200,
    'unlocked',
  );
});

test('sessions are listed and ended; invitations open accounts once', async () => {
  const u = await user(`sess-${tenantId}`);
  const a = await login({ username: u.username, password: PASSWORD });
  const b = await login({ username: u.username, password: PASSWORD });
  const mine = await t.call('GET', '/v1/auth/sessions', { token: a.body.token });
  assert.equal(mine.body.items.length, 2);
  assert.equal(mine.body.items.filter((s: { current: boolean }) => s.current).length, 1);
  const other = mine.body.items.find((s: { current: boolean }) => !s.current);
  assert.equal(
    (await t.call('DELETE', `/v1/auth/sessions/${other.id}`, { token: a.body.token })).status,
    204,
  );
  assert.equal((await t.call('GET', '/v1/auth/me', { token: b.body.token })).status, 401);
  const ended = await t.call('DELETE', `/v1/users/${u.id}/sessions`, { token: owner });
  assert.equal(ended.body.ended, 1);
  assert.equal((await t.call('GET', '/v1/auth/me', { token: a.body.token })).status, 401);

  const inv = await t.call('POST', '/v1/invitations', {
    token: owner,
    body: { grants: [{ role: 'technician' }] },
  });
  assert.equal(inv.status, 201);
  const accept = (username: string) =>
    t.call('POST', '/v1/auth/invitations/accept', {
      body: { token: inv.body.token, username, password: PASSWORD },
    });
  // A weak password or a taken user name does not spend the invitation.
  const weak = await t.call('POST', '/v1/auth/invitations/accept', {
    body: { token: inv.body.token, username: `weak-${tenantId}`, password: 'Password123!' },
  });
  assert.equal(weak.body.code, 'PASSWORD_TOO_WEAK');
  assert.equal((await accept(`sess-${tenantId}`)).body.code, 'ALREADY_EXISTS');
  const opened = await accept(`invited-${tenantId}`);
  assert.equal(opened.status, 201, opened.text);
  assert.deepEqual(opened.body.grants, [{ role: 'technician' }]);
  assert.equal((await accept(`twice-${tenantId}`)).body.code, 'LINK_INVALID');
  const tech = await login({ username: `invited-${tenantId}`, password: PASSWORD });
  assert.equal((await t.call('GET', '/v1/provisioning/operations', { token: tech.body.token })).status, 200);
  assert.equal((await t.call('GET', '/v1/devices', { token: tech.body.token })).status, 403);
});
