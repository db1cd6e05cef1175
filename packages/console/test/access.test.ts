/**
 * The Access, account and Audit screens in a real browser against a real server, checked through the
 * API they act on:
 *
 * - an owner creates an API key (its secret shown once, and it works with the grants it was given),
 *   revokes it (it stops working), and gives another user an operator grant over a tag;
 * - an invited user opens the invitation link and chooses a name and password; a reset code from the
 *   owner sets a new password;
 * - an administrator tries to create a key holding more than it holds and is told what it lacks;
 * - on the account page the owner sees its sessions with this one marked and signs another out (it
 *   stops working), sets up two-factor authentication from the key the page shows, and signs in with a
 *   code;
 * - when the tenant requires two-factor authentication, a user without it is led to set it up after
 *   signing in, and then signs in with one of its recovery codes;
 * - the Audit screen shows what was just done, newest first, filtered, and the chain verified;
 * - an owner creates, changes and deletes a custom role from the permission list; an administrator
 *   defining a role with more than it holds is told what it lacks;
 * - a user changes its password on the account page: refusals on their fields, then every session
 *   ends (another one too) and the new password signs in.
 *
 * Every request stays on the server's origin and the Content-Security-Policy is never violated. With
 * MOORING_CONSOLE_SCREENSHOTS=1 the screens are saved to docs/console/ (access, account, audit).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestPlatform } from '../../server/test/harness.js';
import { totpCode } from '../../server/src/domains/users/totp.js';
import {
  PASSWORD,
  apiWith,
  assertOnScreen,
  missing,
  openAs,
  shot,
  signIn,
  startConsole,
  tenantUser,
  tenantWith,
  type Api,
  type ConsoleHarness,
} from './browser-harness.js';

let h: ConsoleHarness;
let t: TestPlatform;
let apiKey: string;
let api: Api;
const ids: Record<string, string> = {};

before(async () => {
  if (missing) return;
  h = await startConsole();
  t = h.t;
  const tenant = await tenantWith(t, 'harbour-works', 'olive');
  apiKey = tenant.apiKey;
  api = apiWith(t, apiKey);
  ids.olive = tenant.userId;
  ids.otto = await tenantUser(t, tenant.tenantId, 'otto', [{ role: 'viewer' }]);
  ids.adam = await tenantUser(t, tenant.tenantId, 'adam', [{ role: 'admin' }]);
});
after(async () => {
  await h?.stop();
});

test(
  'an owner creates an API key whose secret is shown once and works, revokes it, and gives a user an operator grant over a tag',
  { skip: missing, timeout: 90_000 },
  async () => {
    const { context, page, violations } = await h.desktop();
    await openAs(page, 'access', 'olive');
    await assertOnScreen(page, 'Access');
    // The roles a grant can name: built-in ones with their permissions.
    await page.getByRole('listitem', { name: 'Role technician' }).getByText('2 permissions').waitFor();

    // A new key: a viewer's grant, expiring in 30 days.
    await page.getByRole('button', { name: 'New API key…' }).click();
    const form = page.getByRole('form', { name: 'New API key' });
    await form.getByLabel('Name').fill('billing-export');
    await form.getByLabel('Role').selectOption('viewer');
    await form.getByLabel('Expires').selectOption('30');
    await form.getByRole('button', { name: 'Create the key' }).click();
    const shown = page.getByRole('region', { name: 'Secret of billing-export' });
    const secret = (await shown.locator('code.secret-value').innerText()).trim();
    assert.match(secret, /^mk_/);
    // It works, with the viewer's grant and nothing more.
    assert.equal((await t.call('GET', '/v1/devices', { token: secret })).status, 200);
    const refused = await t.call('POST', '/v1/devices', { token: secret, body: { name: 'x' } });
    assert.equal(refused.status, 403, refused.text);
    await shown.getByRole('button', { name: 'Done' }).click();
    assert.equal(await shown.count(), 0, 'the secret is not shown again');
    assert.equal(await page.getByText(secret).count(), 0);

    const card = page.getByRole('listitem', { name: 'billing-export' });
    await card.getByText('Active').waitFor();
    await card.getByText('over the whole tenant').waitFor();
    const created = await api('GET', '/v1/api-keys');
    const key = created.items.find((k: { name: string }) => k.name === 'billing-export');
    const days = (key.expiresAt - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30, `expires in ${days} days`);

    // Revoked after a confirmation: the secret stops working at once.
    await card.getByRole('button', { name: 'Revoke…' }).click();
    await card.getByRole('button', { name: 'Revoke billing-export' }).click();
    await card.getByText('Revoked', { exact: true }).waitFor();
    assert.equal((await t.call('GET', '/v1/devices', { token: secret })).status, 401);

    // Otto, a viewer, becomes an operator of the devices tagged site:north.
    const otto = page.getByRole('listitem', { name: 'otto' });
    await otto.getByRole('button', { name: 'Change grants…' }).click();
    await otto.getByLabel('Role').selectOption('operator');
    await otto.getByLabel('Over').selectOption('tag');
    await otto.getByLabel('Tag').fill('site:north');
    await otto.getByRole('button', { name: 'Save the grants' }).click();
    await otto.getByRole('status').filter({ hasText: 'The grants of otto are changed.' }).waitFor();
    await otto.getByText('over devices tagged site:north').waitFor();
    const user = await api('GET', `/v1/users/${ids.otto}`);
    assert.deepEqual(user.grants, [{ role: 'operator', scope: { tag: 'site:north' } }]);
    await shot(page, 'access');

    // Its session ends here, so that the account test sees only the sessions it makes.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You are signed out.').waitFor();
    assert.deepEqual(violations, []);
    await context.close();
  },
);

test(
  'an invited user chooses its name and password from the invitation link, and a reset code sets a new password',
  { skip: missing, timeout: 60_000 },
  async () => {
    const owner = await h.desktop();
    await openAs(owner.page, 'access', 'olive');
    await owner.page.getByRole('button', { name: 'Invite a user…' }).click();
    const form = owner.page.getByRole('form', { name: 'Invite a user' });
    await form.getByLabel('Role').selectOption('technician');
    await form.getByLabel('Note').fill('Ivy, field technician');
    await form.getByRole('button', { name: 'Create the invitation' }).click();
    const link = await owner.page
      .getByRole('region', { name: 'Invitation code' })
      .locator('code')
      .filter({ hasText: '/console/#invitation=' })
      .innerText();
    await owner.page.getByRole('listitem', { name: 'Invitation Ivy, field technician' }).waitFor();

    // The invitee opens the link: the code leaves the address, the form asks for a name and password.
    const invitee = await h.phone();
    await invitee.page.goto(link);
    await invitee.page.getByRole('heading', { name: 'Accept an invitation' }).waitFor();
    assert.equal(new URL(invitee.page.url()).hash, '');
    await invitee.page.getByLabel('User name').fill('ivy');
    await invitee.page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await invitee.page.getByLabel('Password again').fill(PASSWORD);
    await invitee.page.getByRole('button', { name: 'Create my account' }).click();
    await invitee.page.getByText('Your account ivy is ready: sign in.').waitFor();
    const users = await api('GET', '/v1/users');
    const ivy = users.items.find((u: { username: string }) => u.username === 'ivy');
    assert.deepEqual(ivy.grants, [{ role: 'technician' }]);

    // A password reset code from the owner sets another password.
    await owner.page.getByRole('button', { name: 'Refresh' }).click();
    const card = owner.page.getByRole('listitem', { name: 'ivy' });
    await card.getByRole('button', { name: 'Password reset code' }).click();
    const code = (
      await card.getByRole('region', { name: 'Password reset code for ivy' }).locator('code').innerText()
    ).trim();
    await invitee.page.getByRole('button', { name: 'I have a password reset code' }).click();
    await invitee.page.getByLabel('Reset code').fill(code);
    await invitee.page.getByLabel('New password', { exact: true }).fill('beacons over the quay 4');
    await invitee.page.getByLabel('New password again').fill('beacons over the quay 4');
    await invitee.page.getByRole('button', { name: 'Set the password' }).click();
    await invitee.page.getByText('Your password is changed: sign in with it.').waitFor();
    await signIn(invitee.page, 'ivy', 'beacons over the quay 4');
    await invitee.page.getByRole('heading', { name: 'Devices waiting for approval' }).waitFor();

    await owner.page.getByRole('button', { name: 'Sign out' }).click();
    await owner.page.getByText('You are signed out.').waitFor();
    assert.deepEqual([...owner.violations, ...invitee.violations], []);
    await Promise.all([owner.context.close(), invitee.context.close()]);
  },
);

test(
  'an administrator that tries to create a key holding more than it holds is refused and told what it lacks',
  { skip: missing, timeout: 60_000 },
  async () => {
    const { context, page, violations } = await h.phone();
    await openAs(page, 'access', 'adam');
    await page.getByRole('button', { name: 'New API key…' }).click();
    const form = page.getByRole('form', { name: 'New API key' });
    await form.getByLabel('Name').fill('root-key');
    await form.getByLabel('Role').selectOption('owner');
    await form.getByRole('button', { name: 'Create the key' }).click();
    const refusal = form.getByRole('alert');
    await refusal.waitFor();
    const text = await refusal.innerText();
    assert.match(text, /FORBIDDEN/);
    assert.match(text, /you do not hold .*tenant:manage/);
    const keys = await api('GET', '/v1/api-keys');
    assert.equal(
      keys.items.some((k: { name: string }) => k.name === 'root-key'),
      false,
      'no key was made',
    );
    assert.deepEqual(violations, []);
    await context.close();
  },
);

test(
  'on the account page the owner signs out another of its sessions, sets up two-factor authentication and signs in with a code',
  { skip: missing, timeout: 90_000 },
  async () => {
    const other = await t.call('POST', '/v1/auth/login', { body: { username: 'olive', password: PASSWORD } });
    assert.equal(other.status, 200, other.text);

    const { context, page, violations } = await h.desktop();
    await openAs(page, 'fleet', 'olive');
    await page.getByRole('heading', { name: 'Fleet', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'olive' }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    assert.equal(await page.title(), 'Your account · Mooring console');

    // Two sessions: this one, marked, and the one the API opened.
    const sessions = page.getByRole('region', { name: 'Sessions' }).getByRole('listitem');
    await page.getByRole('listitem', { name: 'This session' }).getByText('This session').waitFor();
    assert.equal(await sessions.count(), 2);
    const theOther = sessions.filter({ hasNot: page.getByText('This session', { exact: true }) });
    await theOther.getByRole('button', { name: 'Sign out this session' }).click();
    await page.getByRole('status').filter({ hasText: 'is signed out' }).waitFor();
    await page.waitForFunction(
      () => document.querySelectorAll('[aria-labelledby="account-sessions"] li').length === 1,
    );
    assert.equal((await t.call('GET', '/v1/auth/me', { token: other.body.token })).status, 401);

    // Two-factor authentication from the key the page shows (as a QR code, a key and a link).
    await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
    await page.getByRole('img', { name: 'QR code of the authenticator key' }).waitFor();
    const uri = await page.locator('code').filter({ hasText: 'otpauth://' }).innerText();
    const key = new URL(uri).searchParams.get('secret')!;
    assert.match(key, /^[A-Z2-7]{32}$/);
    await shot(page, 'account');
    const at = Date.now();
    await page.getByLabel('Code from the app').fill(totpCode(key, at));
    await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
    const codes = page.getByRole('region', { name: 'Recovery codes' }).getByRole('listitem');
    await codes.first().waitFor();
    assert.equal(await codes.count(), 10);
    await page.getByRole('button', { name: 'I have saved them: sign in again' }).click();
    await page.getByText('Two-factor authentication is on.').waitFor();

    // Every session ended; a sign-in now asks for a code (the next one: the first is spent).
    await signIn(page, 'olive', PASSWORD);
    await page.getByLabel('One-time code').fill(totpCode(key, at + 30_000));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    await page.getByRole('definition').getByText('On', { exact: true }).waitFor();
    const olive = await api('GET', `/v1/users/${ids.olive}`);
    assert.equal(olive.totpEnabled, true);
    assert.deepEqual(violations, []);
    await context.close();
  },
);

test(
  'a tenant that requires two-factor authentication leads a user without it to set it up, and a recovery code signs in',
  { skip: missing, timeout: 60_000 },
  async () => {
    const policy = await t.call('PATCH', '/v1/tenant', { token: apiKey, body: { requireTotp: true } });
    assert.equal(policy.status, 200, policy.text);
    try {
      const { context, page, violations } = await h.phone();
      await openAs(page, 'account', 'otto');
      await page.getByRole('heading', { name: 'Set up two-factor authentication' }).waitFor();
      assert.equal(
        await page.getByRole('navigation', { name: 'Screens' }).count(),
        0,
        'nothing else to go to',
      );
      await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
      const uri = await page.locator('code').filter({ hasText: 'otpauth://' }).innerText();
      await page.getByLabel('Code from the app').fill('000000');
      await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
      await page.getByRole('alert').filter({ hasText: 'TOTP_INVALID' }).waitFor();
      await page.getByLabel('Code from the app').fill(totpCode(new URL(uri).searchParams.get('secret')!));
      await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
      const recovery = await page
        .getByRole('region', { name: 'Recovery codes' })
        .locator('li')
        .first()
        .innerText();
      await page.getByRole('button', { name: 'I have saved them: sign in again' }).click();

      await signIn(page, 'otto', PASSWORD);
      await page.getByRole('button', { name: 'Use a recovery code' }).click();
      await page.getByLabel('Recovery code').fill(recovery.trim());
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Your account' }).waitFor();
      await page.getByRole('navigation', { name: 'Screens' }).waitFor();
      const logins = await api('GET', '/v1/audit?action=auth.login&target=otto&order=newest&limit=1');
      assert.deepEqual(logins.items[0].changes, { reason: 'recovery code used' });
      assert.deepEqual(violations, []);
      await context.close();
    } finally {
      await t.call('PATCH', '/v1/tenant', { token: apiKey, body: { requireTotp: false } });
    }
  },
);

test(
  'the audit screen shows what was just done, newest first and filtered, and the chain verified',
  { skip: missing, timeout: 60_000 },
  async () => {
    const { context, page, violations } = await h.desktop();
    await openAs(page, 'audit', 'adam');
    await page.getByRole('heading', { name: 'Audit', level: 1 }).waitFor();

    // The chain as the API verifies it.
    const verified = await api('GET', '/v1/audit/verify');
    assert.equal(verified.intact, true);
    await page
      .getByRole('status')
      .filter({ hasText: /^Verified: the chain is intact from record 1 to record \d+/ })
      .waitFor();

    // Newest first: the records of what the tests above did are on the first page.
    const records = page.getByRole('region', { name: 'Records' }).getByRole('listitem');
    await records.first().waitFor();
    const actions = await records.locator('h3 code').allInnerTexts();
    for (const action of [
      'POST /v1/api-keys',
      'DELETE /v1/api-keys/:keyId',
      'PATCH /v1/users/:userId',
      'DELETE /v1/auth/sessions/:sessionId',
      'POST /v1/auth/totp/confirm',
      'PATCH /v1/tenant',
    ])
      assert.ok(actions.includes(action), `${action} in ${actions.join(', ')}`);
    const seqs = (await records.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')))).map(
      (label) => Number(label?.replace('Record ', '')),
    );
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => b - a),
      'newest first',
    );

    // Filtered by action: the owner's key and the administrator's refused one, named.
    await page.getByLabel('Action').fill('POST /v1/api-keys');
    await page.getByRole('button', { name: 'Show records' }).click();
    await page.getByRole('status').filter({ hasText: 'Page 1: 2 records.' }).waitFor();
    const [refused, made] = [records.nth(0), records.nth(1)];
    await refused.getByText('Failure', { exact: true }).waitFor();
    await refused.getByText(`adam (user:${ids.adam})`).waitFor();
    await made.getByText('Success', { exact: true }).waitFor();
    await made.getByText(`olive (user:${ids.olive})`).waitFor();
    // What the API recorded of the refusal: its status, and the request without secrets.
    await refused.getByText('Details').click();
    const details = JSON.parse(await refused.locator('pre').innerText());
    assert.equal(details.status, 403);
    assert.deepEqual(details.request.grants, [{ role: 'owner' }]);
    await shot(page, 'audit');
    assert.deepEqual(violations, []);
    await context.close();
  },
);

test(
  'an owner creates, changes and deletes a custom role; an administrator is refused a role holding more than it holds',
  { skip: missing, timeout: 90_000 },
  async () => {
    const role = async (name: string) =>
      ((await api('GET', '/v1/roles')).items as { name: string; permissions: string[] }[]).find(
        (r) => r.name === name,
      );
    // Another owner: olive has two-factor authentication by now.
    await tenantUser(t, (await api('GET', '/v1/tenant')).id, 'rhea');
    const { context, page, violations } = await h.desktop();
    await openAs(page, 'access', 'rhea');
    await assertOnScreen(page, 'Access');
    const roles = page.getByRole('region', { name: 'Roles' });
    await roles.getByRole('button', { name: 'New custom role…' }).click();
    const form = roles.getByRole('form', { name: 'New custom role' });
    await form.getByLabel('Name').fill('compliance');
    await form.getByLabel('Description').fill('Reads the audit trail and devices');
    // Grouped by domain, one checkbox a permission.
    await form.getByRole('group', { name: 'audit' }).getByLabel('audit:read').check();
    await form.getByRole('group', { name: 'devices' }).getByLabel('devices:read').check();
    await form.getByRole('button', { name: 'Create the role' }).click();
    await roles.getByRole('status').filter({ hasText: 'The role compliance is created.' }).waitFor();
    assert.deepEqual((await role('compliance'))?.permissions, ['devices:read', 'audit:read']);
    const card = roles.getByRole('listitem', { name: 'Role compliance' });
    await card.getByText('2 permissions').waitFor();

    // Change it: telemetry instead of devices.
    await card.getByRole('button', { name: 'Edit…' }).click();
    const edit = card.getByRole('form', { name: 'Change the role compliance' });
    assert.equal(await edit.getByLabel('audit:read').isChecked(), true, 'the form shows what it holds');
    await edit.getByLabel('devices:read').uncheck();
    await edit.getByLabel('telemetry:read').check();
    await edit.getByRole('button', { name: 'Save the role' }).click();
    await roles.getByRole('status').filter({ hasText: 'The role compliance is changed.' }).waitFor();
    assert.deepEqual((await role('compliance'))?.permissions, ['telemetry:read', 'audit:read']);

    // A name the API refuses is said with its code, and nothing is made.
    await roles.getByRole('button', { name: 'New custom role…' }).click();
    await form.getByLabel('Name').fill('Bad Name');
    await form.getByLabel('devices:read').check();
    await form.getByRole('button', { name: 'Create the role' }).click();
    await form.getByRole('alert').filter({ hasText: 'VALIDATION_FAILED' }).waitFor();
    await form.getByRole('button', { name: 'Cancel' }).click();

    // Delete it, after a question that says what becomes of its grants.
    await card.getByRole('button', { name: 'Delete…' }).click();
    await card.getByText('it holds nothing from then on').waitFor();
    await card.getByRole('button', { name: 'Delete the role compliance' }).click();
    await roles.getByRole('status').filter({ hasText: 'The role compliance is deleted.' }).waitFor();
    assert.equal(await role('compliance'), undefined);
    await roles.getByRole('listitem', { name: 'Role compliance' }).waitFor({ state: 'detached' });
    assert.deepEqual(violations, []);
    await context.close();

    // An administrator lacks tenant:manage: a role holding it is refused, and said so.
    const admin = await h.phone();
    await openAs(admin.page, 'access', 'adam');
    const adminRoles = admin.page.getByRole('region', { name: 'Roles' });
    await adminRoles.getByRole('button', { name: 'New custom role…' }).click();
    const adminForm = adminRoles.getByRole('form', { name: 'New custom role' });
    await adminForm.getByLabel('Name').fill('security');
    await adminForm.getByLabel('tenant:manage').check();
    await adminForm.getByRole('button', { name: 'Create the role' }).click();
    const refusal = adminForm.getByRole('alert');
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /FORBIDDEN.*you do not hold .*tenant:manage/s);
    assert.equal(await role('security'), undefined, 'no role was made');
    assert.deepEqual(admin.violations, []);
    await admin.context.close();
  },
);

test(
  'a user changes its password on the account page: refusals on their fields, then every session ends and the new one signs in',
  { skip: missing, timeout: 90_000 },
  async () => {
    const tenantId = (await api('GET', '/v1/tenant')).id as string;
    await tenantUser(t, tenantId, 'petra', [{ role: 'viewer' }]);
    const other = await t.call('POST', '/v1/auth/login', { body: { username: 'petra', password: PASSWORD } });
    assert.equal(other.status, 200, other.text);

    const { context, page, violations } = await h.phone();
    await openAs(page, 'account', 'petra');
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    const panel = page.getByRole('region', { name: 'Password' });
    await panel.getByText('signs out every session of yours').waitFor();
    await panel.getByRole('button', { name: 'Change your password…' }).click();
    const form = panel.getByRole('form', { name: 'Change your password' });
    const current = form.getByLabel('Current password');
    const next = form.getByLabel('New password', { exact: true });
    const again = form.getByLabel('New password again');
    const NEW = 'quiet orchard ladder 4';

    // The two new ones differ: said on the second, nothing sent.
    await current.fill(PASSWORD);
    await next.fill(NEW);
    await again.fill(`${NEW}x`);
    await form.getByRole('button', { name: 'Change the password' }).click();
    await form.getByText('The two new passwords are not the same.').first().waitFor();
    assert.equal(await again.getAttribute('aria-invalid'), 'true');
    // A wrong current password: on its field.
    await current.fill('not my password at all');
    await again.fill(NEW);
    await form.getByRole('button', { name: 'Change the password' }).click();
    await form.getByText('The current password is wrong.').first().waitFor();
    assert.equal(await current.getAttribute('aria-invalid'), 'true');
    // The server's policy: too short, and the user name in it, on the new password's field.
    await current.fill(PASSWORD);
    for (const weak of ['short', 'petra petra petra 1']) {
      await next.fill(weak);
      await again.fill(weak);
      await form.getByRole('button', { name: 'Change the password' }).click();
      await form
        .getByText(/That password is refused/)
        .first()
        .waitFor();
      assert.equal(await next.getAttribute('aria-invalid'), 'true', weak);
      assert.equal(await current.getAttribute('aria-invalid'), null);
    }
    assert.equal((await t.call('GET', '/v1/auth/me', { token: other.body.token })).status, 200);

    // The change: back to the sign-in, which says every session ended; the other one did too.
    await next.fill(NEW);
    await again.fill(NEW);
    await form.getByRole('button', { name: 'Change the password' }).click();
    await page.getByText('Your password is changed. Every session of yours has been signed out').waitFor();
    assert.equal((await t.call('GET', '/v1/auth/me', { token: other.body.token })).status, 401);
    const old = await t.call('POST', '/v1/auth/login', { body: { username: 'petra', password: PASSWORD } });
    assert.equal(old.status, 401, 'the old password still works');
    await signIn(page, 'petra', NEW);
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    assert.deepEqual(violations, []);
    await context.close();
  },
);
