/**
 * The bootstrap administrator's password, written to `bootstrap-admin.json` on the first start, works
 * once: its session may only change it (every other call is refused with PASSWORD_CHANGE_REQUIRED),
 * and after the change it no longer works and the file is gone.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestPlatform, type TestPlatform } from './harness.js';

let t: TestPlatform;
before(async () => {
  t = await startTestPlatform();
});
after(async () => {
  await t.stop();
});

test('the bootstrap password opens a session that may only change it; afterwards it no longer works', async () => {
  const file = join(t.dataDir, 'bootstrap-admin.json');
  assert.equal(t.platform.bootstrapCredentialFile, file);
  const cred = JSON.parse(readFileSync(file, 'utf8')) as { username: string; password: string };
  const first = await t.call('POST', '/v1/auth/login', { body: cred });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.body.passwordChangeRequired, true);
  const token = first.body.token as string;

  // Platform routes, tenant bootstrapping and the session's own account beyond the password.
  for (const [method, path, body] of [
    ['GET', '/v1/tenants'],
    ['POST', '/v1/tenants', { name: 'too-early' }],
    ['GET', '/v1/platform/audit'],
    ['GET', '/v1/auth/sessions'],
    ['POST', '/v1/auth/totp'],
  ] as [string, string, unknown?][]) {
    const r = await t.call(method, path, { token, ...(body ? { body } : {}) });
    assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
    assert.equal(r.body.code, 'PASSWORD_CHANGE_REQUIRED', `${method} ${path}`);
    assert.match(r.body.detail, /POST \/v1\/auth\/password/);
  }
  const me = await t.call('GET', '/v1/auth/me', { token });
  assert.equal(me.status, 200);
  assert.equal(me.body.user.passwordChangeRequired, true);
  const same = await t.call('POST', '/v1/auth/password', {
    token,
    body: { currentPassword: cred.password, newPassword: cred.password },
  });
  assert.equal(same.status, 422, 'the one-time password cannot be chosen again');

  const newPassword = 'a harbour master of my own';
  const changed = await t.call('POST', '/v1/auth/password', {
    token,
    body: { currentPassword: cred.password, newPassword },
  });
  assert.equal(changed.status, 204, changed.text);
  assert.equal(existsSync(file), false, 'the spent credential file is removed');
  assert.equal((await t.call('GET', '/v1/auth/me', { token })).status, 401, 'the session ended');

  const again = await t.call('POST', '/v1/auth/login', { body: cred });
  assert.equal(again.status, 401);
  assert.equal(again.body.code, 'INVALID_CREDENTIALS');
  const chosen = await t.call('POST', '/v1/auth/login', {
    body: { username: 'admin', password: newPassword },
  });
  assert.equal(chosen.status, 200);
  assert.equal(chosen.body.passwordChangeRequired, false);
  const tenants = await t.call('GET', '/v1/tenants', { token: chosen.body.token });
  assert.equal(tenants.status, 200, tenants.text);
});
