/**
 * Access control over HTTP: API key scopes, expiry, rotation and revocation; grants scoped to a tag;
 * no delegation beyond what one holds; custom roles; 2FA with recovery codes and the tenant policy;
 * login lockout; sessions; invitations and password-reset links.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { totpCode } from '../src/domains/users/totp.js';
import { BUILT_IN_ROLES } from '../src/domains/access/access.js';
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

/** A 403 of the delegation rule: the answer lists what the caller lacks. */
function refusedFor(r: { status: number; body: any; text: string }, missing: string[], what: string) {
  assert.equal(r.status, 403, `${what}: ${r.text}`);
  assert.equal(r.body.code, 'FORBIDDEN', what);
  assert.deepEqual([...r.body.missing].sort(), [...missing].sort(), what);
}

async function roleNamed(name: string) {
  const r = await t.call('GET', '/v1/roles', { token: owner });
  return r.body.items.find((x: { name: string }) => x.name === name) as
    { permissions: string[]; description: string } | undefined;
}

test('an admin cannot make itself owner through a custom role: widening a held role is a grant to its holders', async () => {
  const admin = await key({ role: 'admin' });
  const made = await t.call('POST', '/v1/roles', {
    token: admin.secret,
    body: { name: 'climber', permissions: ['devices:read'] },
  });
  assert.equal(made.status, 201, made.text);
  const holder = await key({ role: 'climber' }, admin.secret);
  const widen = await t.call('PUT', '/v1/roles/climber', {
    token: admin.secret,
    body: { permissions: ['devices:read', 'tenant:manage'] },
  });
  refusedFor(widen, ['tenant:manage'], 'widening a role to tenant:manage');
  assert.deepEqual((await roleNamed('climber'))?.permissions, ['devices:read'], 'the role is unchanged');
  for (const body of [{ requireTotp: true }, { auditRetentionDays: 30 }]) {
    const r = await t.call('PATCH', '/v1/tenant', { token: holder.secret, body });
    assert.equal(r.status, 403, `the holder cannot change ${JSON.stringify(body)}`);
  }
  const tenant = await t.call('GET', '/v1/tenant', { token: owner });
  assert.equal(tenant.body.requireTotp, false);

  const outright = await t.call('POST', '/v1/roles', {
    token: admin.secret,
    body: { name: 'crown', permissions: ['tenant:manage'] },
  });
  refusedFor(outright, ['tenant:manage'], 'defining a role holding tenant:manage');
  assert.equal(await roleNamed('crown'), undefined, 'no role was made');

  // Within what it holds, an admin still defines, widens and deletes its own roles.
  const ok = await t.call('PUT', '/v1/roles/climber', {
    token: admin.secret,
    body: { permissions: ['devices:read', 'audit:read'] },
  });
  assert.equal(ok.status, 200, ok.text);
  assert.equal((await t.call('GET', '/v1/audit', { token: holder.secret })).status, 200);
  assert.equal((await t.call('DELETE', '/v1/roles/climber', { token: admin.secret })).status, 204);
});

test("a role defined by someone stronger, or holding more than the caller, is not the caller's to change or delete", async () => {
  const made = await t.call('POST', '/v1/roles', {
    token: owner,
    body: { name: 'owners-readers', permissions: ['devices:read'] },
  });
  assert.equal(made.status, 201, made.text);
  const admin = await key({ role: 'admin' });
  const edit = await t.call('PUT', '/v1/roles/owners-readers', {
    token: admin.secret,
    body: { permissions: ['telemetry:read'], description: 'taken over' },
  });
  refusedFor(edit, ['tenant:manage'], "an admin changing an owner's role");
  refusedFor(
    await t.call('DELETE', '/v1/roles/owners-readers', { token: admin.secret }),
    ['tenant:manage'],
    "an admin deleting an owner's role",
  );
  assert.deepEqual(await roleNamed('owners-readers'), {
    name: 'owners-readers',
    description: '',
    permissions: ['devices:read'],
    builtIn: false,
  });

  // A principal managing roles but holding less than a role an admin made.
  const adminRole = await t.call('POST', '/v1/roles', {
    token: admin.secret,
    body: { name: 'key-keepers', permissions: ['keys:read', 'keys:manage'] },
  });
  assert.equal(adminRole.status, 201, adminRole.text);
  const roleManager = await key({ permissions: ['roles:manage', 'keys:read'] });
  refusedFor(
    await t.call('DELETE', '/v1/roles/key-keepers', { token: roleManager.secret }),
    [
      // What the admin who defined it held, and the caller does not.
      ...BUILT_IN_ROLES.admin!.permissions.filter((p) => !['roles:manage', 'keys:read'].includes(p)),
    ],
    'deleting a role holding more than the caller',
  );
  const scoped = await key({
    grants: [{ permissions: ['roles:manage'] }, { role: 'operator', scope: { tag: 'line:a' } }],
  });
  refusedFor(
    await t.call('POST', '/v1/roles', {
      token: scoped.secret,
      body: { name: 'wide-reader', permissions: ['devices:read'] },
    }),
    ['devices:read'],
    'a role is tenant-wide: holding devices:read over one tag is not enough to define one',
  );

  // The owner who defined it still may; a later change records the new definer.
  assert.equal(
    (
      await t.call('PUT', '/v1/roles/key-keepers', {
        token: owner,
        body: { permissions: ['keys:read'] },
      })
    ).status,
    200,
  );
  refusedFor(
    await t.call('DELETE', '/v1/roles/key-keepers', { token: admin.secret }),
    ['tenant:manage'],
    'once an owner has redefined it, an admin no longer may delete it',
  );
  assert.equal((await t.call('DELETE', '/v1/roles/owners-readers', { token: owner })).status, 204);
});

test("an admin cannot revoke or rotate an owner's key, revoke an owner's invitation, or act on an owner user", async () => {
  const admin = await key({ role: 'admin' });
  const ownerKey = await key({ role: 'owner' });
  const revoke = await t.call('DELETE', `/v1/api-keys/${ownerKey.apiKey.id}`, { token: admin.secret });
  refusedFor(revoke, ['tenant:manage'], "revoking an owner's key");
  const rotate = await t.call('POST', `/v1/api-keys/${ownerKey.apiKey.id}/rotate`, {
    token: admin.secret,
    body: { overlapSeconds: 0 },
  });
  refusedFor(rotate, ['tenant:manage'], "rotating an owner's key");
  assert.equal(
    (await t.call('GET', '/v1/tenant', { token: ownerKey.secret })).status,
    200,
    "the owner's key still works",
  );
  const shown = await t.call('GET', `/v1/api-keys/${ownerKey.apiKey.id}`, { token: owner });
  assert.equal(shown.body.revokedAt, null);

  const inv = await t.call('POST', '/v1/invitations', {
    token: owner,
    body: { grants: [{ role: 'owner' }] },
  });
  assert.equal(inv.status, 201, inv.text);
  refusedFor(
    await t.call('DELETE', `/v1/invitations/${inv.body.invitation.id}`, { token: admin.secret }),
    ['tenant:manage'],
    "revoking an owner's invitation",
  );
  const open = await t.call('GET', '/v1/invitations', { token: owner });
  assert.equal(
    open.body.items.find((i: { id: string }) => i.id === inv.body.invitation.id)?.revokedAt,
    null,
    'the invitation is still open',
  );

  const strong = await user(`strong-${tenantId}`, [{ role: 'owner' }]);
  for (const [method, path, body] of [
    ['PATCH', `/v1/users/${strong.id}`, { disabled: true }],
    ['DELETE', `/v1/users/${strong.id}`, undefined],
    ['DELETE', `/v1/users/${strong.id}/sessions`, undefined],
    ['DELETE', `/v1/users/${strong.id}/totp`, undefined],
    ['POST', `/v1/users/${strong.id}/password-reset`, undefined],
  ] as const)
    refusedFor(
      await t.call(method, path, { token: admin.secret, ...(body ? { body } : {}) }),
      ['tenant:manage'],
      `${method} ${path} as an admin`,
    );
  assert.equal((await login({ username: strong.username, password: PASSWORD })).status, 200);
});

test('a grant naming a deleted role holds nothing, and does not stop anyone acting on its holder', async () => {
  const made = await t.call('POST', '/v1/roles', {
    token: owner,
    body: { name: 'short-lived', permissions: ['devices:read'] },
  });
  assert.equal(made.status, 201, made.text);
  const holderKey = await key({ role: 'short-lived' });
  const holderUser = await user(`short-lived-${tenantId}`, [{ role: 'short-lived' }]);
  assert.equal((await t.call('DELETE', '/v1/roles/short-lived', { token: owner })).status, 204);
  const viewerAdmin = await key({ permissions: ['keys:manage', 'users:manage'] });
  const rotated = await t.call('POST', `/v1/api-keys/${holderKey.apiKey.id}/rotate`, {
    token: viewerAdmin.secret,
    body: { overlapSeconds: 0 },
  });
  assert.equal(rotated.status, 200, rotated.text);
  const disabled = await t.call('PATCH', `/v1/users/${holderUser.id}`, {
    token: viewerAdmin.secret,
    body: { disabled: true },
  });
  assert.equal(disabled.status, 200, disabled.text);
  assert.equal(
    (await t.call('DELETE', `/v1/api-keys/${holderKey.apiKey.id}`, { token: viewerAdmin.secret })).status,
    204,
  );
});
