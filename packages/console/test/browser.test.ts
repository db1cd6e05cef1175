/**
 * The console in a real browser against a real server, no mocks: the console is built from its
 * sources (Vite, into a temporary directory), a platform starts on the embedded store and serves it,
 * and headless Chromium (Debian's, driven by playwright-core) goes through it as people would:
 *
 * - the bootstrap administrator signs in with the one-time password and chooses a new one;
 * - a technician of a tenant sees the devices waiting (a device provisioning itself through the device
 *   SDK with the code it shows, and one whose provisioning token was flagged suspicious), types a
 *   wrong code and is told the attempts left, types the right one, and the device gets its
 *   credentials; rejects the other; signs out;
 * - with two-factor authentication enrolled, the sign-in asks for the one-time code;
 * - an operator opens the Fleet screen by its address: the counts, the firmware versions of each
 *   hardware class against its minimum, and the device list show what the API answers; the filters
 *   narrow it and stay in the address through a reload and Back, the pages follow the API's cursor
 *   (sorted by name too),
 *   a refused filter is said, and the screens are reached from the keyboard;
 * - the fleet filtered by last seen and certificate expiry: the address keeps the choice, not a time.
 *
 * Every request the page makes stays on the server's origin, the Content-Security-Policy is never
 * violated, and the page's scripts never see the session cookie. With MOORING_CONSOLE_SCREENSHOTS=1
 * each screen is saved to docs/console/ (the pictures the README shows).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Locator } from 'playwright-core';
import { provision } from '@mooring/device-sdk';
import { ADMIN_TEST_PASSWORD, eventually, type TestPlatform } from '../../server/test/harness.js';
import { totpCode } from '../../server/src/domains/users/totp.js';
import { deviceKeyAndCsr } from '../../server/test/openssl.js';
import {
  apiWith,
  assertOnScreen,
  countsOf,
  enrolTotp,
  missing,
  openAs,
  shot,
  signIn,
  startConsole,
  tenantWith,
  type ConsoleHarness,
} from './browser-harness.js';

let h: ConsoleHarness;
let t: TestPlatform;
let origin: string;

before(async () => {
  if (missing) return;
  h = await startConsole();
  t = h.t;
  origin = h.origin;
});
after(async () => {
  await h?.stop();
});

const phone = () => h.phone();

test(
  'the bootstrap administrator signs in with the one-time password and chooses a new one',
  { skip: missing, timeout: 60_000 },
  async () => {
    const { context, page, violations } = await phone();
    const first = await page.goto(`${origin}/console/`);
    assert.equal(first?.status(), 200);
    assert.match(String(first?.headers()['content-security-policy']), /script-src 'self'/);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await shot(page, 'sign-in');

    const cred = JSON.parse(readFileSync(join(t.dataDir, 'bootstrap-admin.json'), 'utf8'));
    await signIn(page, cred.username, cred.password);
    await page.getByRole('heading', { name: 'Choose your password' }).waitFor();
    await page.getByLabel('New password', { exact: true }).fill('admin');
    await page.getByLabel('New password again').fill('admin');
    await page.getByRole('button', { name: 'Save and continue' }).click();
    await page.getByRole('alert').filter({ hasText: 'That password is refused' }).waitFor();
    await page.getByLabel('New password', { exact: true }).fill(ADMIN_TEST_PASSWORD);
    await page.getByLabel('New password again').fill(ADMIN_TEST_PASSWORD);
    await shot(page, 'change-password');
    await page.getByRole('button', { name: 'Save and continue' }).click();
    await page.getByRole('heading', { name: 'Signed in as a platform administrator' }).waitFor();

    // The one-time password is spent; the new one works (the harness logs in with it from here on).
    assert.equal(existsSync(join(t.dataDir, 'bootstrap-admin.json')), false);
    assert.match(await t.adminToken(), /^mst_/);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You are signed out.').waitFor();
    assert.deepEqual(violations, []);
    await context.close();
  },
);

test(
  'a technician approves a device by the code it shows, is told the attempts left after a wrong one, and rejects a suspicious one',
  { skip: missing, timeout: 60_000 },
  async (ctx) => {
    const { apiKey } = await tenantWith(t, 'field-service', 'tech');
    const api = apiWith(t, apiKey);
    const token = async (serial: string) => {
      const r = await t.call('POST', '/v1/provisioning-tokens', {
        token: apiKey,
        body: { name: `unit ${serial}`, kind: 'device', serial, approval: 'manual' },
      });
      assert.equal(r.status, 201, r.text);
      return r.body.secret as string;
    };

    // A unit that starts provisioning far more often than firmware does: its token is flagged.
    const noisy = await token('SN-2002');
    for (let i = 0; i < 6; i++)
      await t.call('POST', '/v1/device/provisioning/operations', {
        token: noisy,
        body: { serial: 'SN-2002', verificationCode: 'NOISY2', attributes: { fw: '0.9.1' } },
      });

    // The device: the SDK starts the operation, shows its code, and waits for the decision (given up
    // when the test ends without one, so that no long poll outlives it).
    let shown!: (code: string) => void;
    const code = new Promise<string>((resolve) => (shown = resolve));
    const giveUp = new AbortController();
    ctx.after(() => giveUp.abort());
    const credentials = provision({
      signal: giveUp.signal,
      http: {
        url: `https://127.0.0.1:${t.platform.httpPort}`,
        ca: t.platform.caCert,
        servername: 'localhost',
      },
      provisioningToken: await token('SN-2001'),
      serial: 'SN-2001',
      attributes: { model: 'boiler-3', fw: '1.4.0' },
      certificate: false,
      onVerificationCode: shown,
    });
    credentials.catch(() => undefined); // awaited below; a failure before then is the test's own
    const onDisplay = await code;

    const { context, page, violations } = await phone();
    // The console's own address: a technician starts on the approvals.
    await openAs(page, '', 'tech');
    await page.getByRole('heading', { name: 'Devices waiting for approval' }).waitFor();
    const device = page.getByRole('article', { name: 'Serial SN-2001' });
    const suspicious = page.getByRole('article', { name: 'Serial SN-2002' });
    await device.waitFor();
    await suspicious.getByText('Suspicious token').waitFor();
    await shot(page, 'approvals');

    // The session is the cookie the scripts cannot read.
    const [cookie] = await context.cookies(`${origin}/v1/`);
    assert.equal(cookie?.name, 'mooring_session');
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.secure, true);
    assert.equal(cookie?.sameSite, 'Strict');
    assert.equal(cookie?.path, '/v1');
    assert.equal(await page.evaluate(() => document.cookie), '');

    // A wrong code: refused, counted, and the attempts left said.
    const field = device.getByLabel('Code shown on the device');
    await field.fill(onDisplay === 'AAAAAA' ? 'BBBBBB' : 'AAAAAA');
    await device.getByRole('button', { name: 'Approve' }).click();
    await device.getByText('Wrong code. 4 attempts left').waitFor();
    assert.equal(
      await field.evaluate((el) => el === document.activeElement),
      true,
      'the focus is back on the field',
    );
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    await shot(device, 'wrong-code');

    // The right one, typed as a person might (lower case): approved, and the device has its credentials.
    await field.fill(onDisplay.toLowerCase());
    await device.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('status').filter({ hasText: 'Approved SN-2001' }).waitFor();
    const { deviceId } = await credentials;
    assert.match(deviceId, /^dev_/);
    const ops = await api('GET', '/v1/provisioning/operations?serial=SN-2001');
    const approved = ops.items.find((o: { status: string }) => o.status === 'approved');
    assert.equal(approved.deviceId, deviceId);
    assert.equal(approved.wrongCodeAttempts, 1);
    assert.match(approved.decidedBy, /^user:usr_/, 'decided by the signed-in technician');

    // The suspicious one is rejected, after a confirmation.
    await suspicious.getByRole('button', { name: 'Reject…' }).click();
    await suspicious.getByRole('button', { name: 'Reject SN-2002' }).click();
    await page.getByRole('status').filter({ hasText: 'Rejected SN-2002' }).waitFor();
    const rejected = await api('GET', '/v1/provisioning/operations?serial=SN-2002&status=rejected');
    assert.equal(rejected.items.length, 1);
    await page.getByText('No device is waiting for approval.').waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.deepEqual(await context.cookies(`${origin}/v1/`), [], 'signing out drops the cookie');
    assert.deepEqual(violations, []);
    await context.close();
  },
);

test(
  'with two-factor authentication the sign-in asks for the one-time code',
  { skip: missing, timeout: 60_000 },
  async () => {
    const totp = await enrolTotp(t, 'tech');

    const { context, page, violations } = await phone();
    await openAs(page, 'approvals', 'tech');
    const field = page.getByLabel('One-time code');
    await field.waitFor();
    assert.equal(await field.evaluate((el) => el === document.activeElement), true);
    await field.fill('000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'That code was not accepted' }).waitFor();
    // The next time step: the confirming code was spent.
    await field.fill(totpCode(totp.secret, totp.at + 30_000));
    await shot(page, 'one-time-code');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Devices waiting for approval' }).waitFor();
    assert.deepEqual(violations, []);
    await context.close();
  },
);

test(
  'an operator sees the fleet as the API answers it: counts, versions against the minimum, a filtered and paged device list kept in the address',
  { skip: missing, timeout: 90_000 },
  async (ctx) => {
    const { apiKey } = await tenantWith(t, 'fleet-ops', 'ops', [{ role: 'operator' }]);
    const api = apiWith(t, apiKey);

    // 23 devices: one page of 20 and one of 3. Seven report firmware, two are connected, one disabled.
    const units: { name: string; deviceId: string; accessKey: string }[] = [];
    for (let i = 1; i <= 23; i++) {
      const name = `unit-${String(i).padStart(2, '0')}`;
      const tags = [i % 2 === 1 ? 'site:north' : 'site:south'];
      units.push({ name, ...(await t.device(apiKey, { name, tags })) });
    }
    const unit = (n: number) => units[n - 1]!;
    const firmware: [number, string, string][] = [
      [1, '1.2.0', 'gw-v2'],
      [2, '1.2.0', 'gw-v2'],
      [3, '1.2.0', 'gw-v2'],
      [4, '1.10.0', 'gw-v2'],
      [5, '1.10.0', 'gw-v2'],
      [6, '1.4.0', 'gw-v2'],
      [7, '0.9.0', 'sensor-a'],
    ];
    for (const [n, version, hardwareClass] of firmware) {
      const r = await t.call('PUT', '/v1/device/firmware', {
        token: unit(n).accessKey,
        body: { version, hardwareClass },
      });
      assert.equal(r.status, 200, r.text);
    }
    const policy = await t.call('PUT', '/v1/fleet/policy', {
      token: apiKey,
      body: { hardwareClass: 'gw-v2', minVersion: '1.4.0' },
    });
    assert.equal(policy.status, 200, policy.text);
    // Two devices renamed alike: first by name, in creation order between them.
    for (const n of [22, 21]) {
      const r = await t.call('PATCH', `/v1/devices/${unit(n).deviceId}`, {
        token: apiKey,
        body: { name: 'aa-gateway' },
      });
      assert.equal(r.status, 200, r.text);
    }
    const disabled = await t.call('POST', `/v1/devices/${unit(23).deviceId}/disable`, { token: apiKey });
    assert.equal(disabled.status, 200, disabled.text);
    const online = [await t.connectDevice(unit(1).deviceId, unit(1).accessKey)];
    online.push(await t.connectDevice(unit(4).deviceId, unit(4).accessKey));
    ctx.after(() => online.forEach((c) => c.end(true)));

    /** The names of the devices the API lists for a query: what the console must show. */
    const listed = async (query: string) => {
      const r = await api('GET', `/v1/devices?${query}`);
      return { names: (r.items as { name: string }[]).map((d) => d.name), next: r.nextCursor };
    };
    await eventually(async () => (await listed('connected=true')).names.length === 2, 5_000, 'presence');

    const { context, page, violations } = await phone();
    // The address names the screen and the page size; it is kept through the sign-in.
    await openAs(page, 'fleet?limit=20', 'ops');
    await assertOnScreen(page, 'Fleet');

    // The counts: the API's total, connected (online) and the rest offline, disabled, below the minimum.
    const count = (label: string) =>
      page.locator('.counts > div').filter({ has: page.getByRole('term').getByText(label, { exact: true }) });
    await count('Online').getByRole('definition').getByText('2', { exact: true }).waitFor();
    // The screen's first counts (the failures and refusals have their own panel).
    assert.deepEqual(await countsOf(page.getByRole('region', { name: 'All devices' })), {
      Devices: 23,
      Online: 2,
      Offline: 21,
      Disabled: 1,
      'Below minimum': 3,
      'No firmware reported': 16,
    });

    // The versions of each class in SemVer order (1.10.0 after 1.4.0), the minimum as a line between.
    const gw = page.getByRole('table', { name: /^gw-v2/ });
    assert.match(await gw.locator('caption').innerText(), /minimum 1\.4\.0/);
    const rows = async (table: Locator) =>
      (await table.locator('tbody tr').allInnerTexts()).map((r) => r.replace(/\s+/g, ' ').trim());
    assert.deepEqual(await rows(gw), [
      '1.2.0 below minimum 3',
      'Minimum 1.4.0: 3 devices below',
      '1.4.0 1',
      '1.10.0 2',
    ]);
    const sensor = page.getByRole('table', { name: /^sensor-a/ });
    assert.match(await sensor.locator('caption').innerText(), /no minimum version/);
    assert.deepEqual(await rows(sensor), ['0.9.0 1']);

    // The list is the API's first page, then its second by the cursor, and back.
    const status = page.getByRole('status').filter({ hasText: /^Page \d/ });
    const shown = () =>
      page
        .getByRole('article')
        .evaluateAll((els) => els.map((e) => e.querySelector('h3')?.textContent ?? ''));
    const first = await listed('limit=20');
    await status.filter({ hasText: 'Page 1: 20 devices, more on the next page.' }).waitFor();
    assert.deepEqual(await shown(), first.names);
    const card = page.getByRole('article', { name: 'unit-01' });
    for (const text of ['Enabled', 'Online', '1.2.0 (gw-v2)', 'site:north'])
      await card.getByText(text).waitFor();
    await page.getByRole('button', { name: 'Next page' }).click();
    await status.filter({ hasText: 'Page 2: 3 devices.' }).waitFor();
    assert.deepEqual(
      await shown(),
      (await listed(`limit=20&cursor=${encodeURIComponent(first.next)}`)).names,
    );
    assert.equal(await page.getByRole('button', { name: 'Next page' }).isDisabled(), true);
    assert.equal(
      await status.evaluate((el) => el === document.activeElement),
      true,
      'the focus is on the count',
    );
    await page.getByRole('article', { name: 'unit-23' }).getByText('Disabled').waitFor();
    await page.getByRole('button', { name: 'Previous page' }).click();
    await status.filter({ hasText: 'Page 1: 20 devices' }).waitFor();
    assert.deepEqual(await shown(), first.names);

    // Sorted by name: the API's order and its cursor for that order; the address keeps it.
    const filters = page.getByRole('search', { name: 'Filter the devices' });
    await filters.getByLabel('Sort by').selectOption('name');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(/sort=name/);
    assert.equal(new URL(page.url()).search, '?sort=name&limit=20');
    const byName = await listed('sort=name&limit=20');
    assert.deepEqual(byName.names.slice(0, 3), ['aa-gateway', 'aa-gateway', 'unit-01']);
    await eventually(async () => (await shown())[0] === 'aa-gateway', 5_000, 'sorted by name');
    await status.filter({ hasText: 'Page 1: 20 devices, more on the next page.' }).waitFor();
    assert.deepEqual(await shown(), byName.names);
    await page.getByRole('button', { name: 'Next page' }).click();
    await status.filter({ hasText: 'Page 2: 3 devices.' }).waitFor();
    assert.deepEqual(await shown(), ['unit-19', 'unit-20', 'unit-23']);
    assert.deepEqual(
      await shown(),
      (await listed(`sort=name&limit=20&cursor=${encodeURIComponent(byName.next)}`)).names,
    );
    await page.reload();
    await status.filter({ hasText: 'Page 1: 20 devices' }).waitFor();
    assert.equal(await filters.getByLabel('Sort by').inputValue(), 'name');
    assert.deepEqual(await shown(), byName.names);
    // Back to creation order: no sort in the address.
    await filters.getByLabel('Sort by').selectOption('');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL((url) => url.search === '?limit=20');
    await eventually(async () => (await shown())[0] === 'unit-01', 5_000, 'creation order');
    assert.deepEqual(await shown(), first.names);

    // A filter narrows the list on the server and is in the address; a reload keeps it.
    await filters.getByLabel('Connection').selectOption('true');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await status.filter({ hasText: 'Page 1: 2 devices.' }).waitFor();
    assert.equal(new URL(page.url()).search, '?connected=true&limit=20');
    assert.deepEqual(await shown(), (await listed('connected=true&limit=20')).names);
    await shot(page, 'fleet');
    await page.reload();
    await status.filter({ hasText: 'Page 1: 2 devices.' }).waitFor();
    assert.equal(await filters.getByLabel('Connection').inputValue(), 'true');
    assert.deepEqual(await shown(), ['unit-01', 'unit-04']);

    // Two filters at once.
    await filters.getByLabel('Connection').selectOption('');
    await filters.getByLabel('Tag').fill('site:north');
    await filters.getByLabel('Minimum version').selectOption('true');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    // The page before had two devices too: wait for one that only this filter shows.
    await page.getByRole('article', { name: 'unit-03' }).waitFor();
    await status.filter({ hasText: 'Page 1: 2 devices.' }).waitFor();
    assert.equal(new URL(page.url()).search, '?tag=site%3Anorth&belowMinimum=true&limit=20');
    assert.deepEqual(await shown(), (await listed('tag=site:north&belowMinimum=true')).names);
    assert.deepEqual(await shown(), ['unit-01', 'unit-03']);

    // A version in the table is a link to its devices; Back returns to the filters before.
    await gw.getByRole('link', { name: '1.10.0' }).click();
    await status.filter({ hasText: 'Page 1: 2 devices.' }).waitFor();
    await page.waitForURL(/firmwareVersion=1\.10\.0/);
    assert.deepEqual(await shown(), (await listed('hardwareClass=gw-v2&firmwareVersion=1.10.0')).names);
    assert.equal(await filters.getByLabel('Firmware version').inputValue(), '1.10.0');
    assert.equal(await filters.getByLabel('Tag').inputValue(), '');
    await page.goBack();
    await page.waitForURL(/belowMinimum=true/);
    await page.getByRole('article', { name: 'unit-03' }).waitFor();
    assert.equal(await filters.getByLabel('Tag').inputValue(), 'site:north');

    // A filter the API refuses: its words, its code, and the field marked.
    await filters.getByLabel('Firmware version').fill('1.2');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByRole('alert').filter({ hasText: 'VALIDATION_FAILED' }).waitFor();
    assert.equal(await filters.getByLabel('Firmware version').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByRole('article').count(), 0);

    // The screens from the keyboard: each link is reached and followed like any link.
    const nav = page.getByRole('navigation', { name: 'Screens' });
    await nav.getByRole('link', { name: 'Approvals' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Devices waiting for approval' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/console/approvals');
    assert.equal(await page.title(), 'Approvals · Mooring console');
    // From the screen's heading (focused when it appears) back past Sign out, the account and the
    // screens after Fleet to the Fleet link: each is reached from the keyboard on the way.
    const passed: string[] = [];
    for (let i = 0; i < 10 && passed.at(-1) !== 'Fleet'; i++) {
      await page.keyboard.press('Shift+Tab');
      passed.push(String(await page.evaluate(() => document.activeElement?.textContent)));
    }
    assert.equal(passed[0], 'Sign out');
    assert.equal(passed.at(-1), 'Fleet');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Fleet', level: 1 }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/console/fleet');
    assert.deepEqual(violations, []);
    await context.close();
  },
);

test(
  'an operator filters the fleet by last seen and by certificate expiry: the address keeps the choice, the list is what the API answers for it',
  { skip: missing, timeout: 90_000 },
  async (ctx) => {
    const { apiKey } = await tenantWith(t, 'fleet-silence', 'watch', [{ role: 'operator' }]);
    const api = apiWith(t, apiKey);
    const db = t.platform.db;
    // quiet: seen three days ago; chatty: connected now; newborn: never seen; CERT-1 (named by its
    // serial), never seen either, with a certificate expiring in ten days (provisioned with a CSR,
    // then its expiry moved closer).
    const quiet = await t.device(apiKey, { name: 'quiet' });
    await db.query('UPDATE devices SET last_seen_at = $2 WHERE id = $1', [
      quiet.deviceId,
      Date.now() - 3 * 86_400_000,
    ]);
    const chatty = await t.device(apiKey, { name: 'chatty' });
    const client = await t.connectDevice(chatty.deviceId, chatty.accessKey);
    ctx.after(() => client.end(true));
    await t.device(apiKey, { name: 'newborn' });
    const work = mkdtempSync(join(tmpdir(), 'mooring-console-cert-'));
    ctx.after(() => rmSync(work, { recursive: true, force: true }));
    const token = await api('POST', '/v1/provisioning-tokens', {
      name: 'certified',
      kind: 'device',
      serial: 'CERT-1',
      approval: 'auto',
    });
    const provisioned = await t.call('POST', '/v1/device/provisioning/operations', {
      token: token.secret,
      body: { serial: 'CERT-1', csr: deviceKeyAndCsr(work).csr },
    });
    assert.ok(provisioned.body.deviceId, provisioned.text);
    await db.query('UPDATE device_certificates SET not_after = $2 WHERE device_id = $1', [
      provisioned.body.deviceId,
      Date.now() + 10 * 86_400_000,
    ]);
    const listed = async (query: string) =>
      ((await api('GET', `/v1/devices?${query}`)).items as { name: string }[]).map((d) => d.name);

    const { context, page, violations } = await phone();
    await openAs(page, 'fleet', 'watch');
    await assertOnScreen(page, 'Fleet');
    const status = page.getByRole('status').filter({ hasText: /^Page \d/ });
    await status.filter({ hasText: 'Page 1: 4 devices.' }).waitFor();
    const shown = () =>
      page
        .getByRole('article')
        .evaluateAll((els) => els.map((e) => e.querySelector('h3')?.textContent ?? ''));
    const filters = page.getByRole('search', { name: 'Filter the devices' });

    // Not seen for over 24 hours: the quiet one and the two never seen; the address keeps the choice.
    await filters.getByLabel('Last seen').selectOption('over-24h');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await status.filter({ hasText: 'Page 1: 3 devices.' }).waitFor();
    assert.equal(new URL(page.url()).search, '?lastSeen=over-24h');
    assert.deepEqual(await shown(), await listed(`lastSeenBefore=${Date.now() - 86_400_000}`));
    assert.deepEqual(await shown(), ['quiet', 'newborn', 'CERT-1']);
    await page.reload();
    await status.filter({ hasText: 'Page 1: 3 devices.' }).waitFor();
    assert.equal(await filters.getByLabel('Last seen').inputValue(), 'over-24h');
    assert.equal(new URL(page.url()).search, '?lastSeen=over-24h', 'the address did not move');

    await filters.getByLabel('Last seen').selectOption('within-1h');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await status.filter({ hasText: 'Page 1: 1 device.' }).waitFor();
    assert.deepEqual(await shown(), ['chatty']);
    await filters.getByLabel('Last seen').selectOption('never');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(/lastSeen=never/);
    await page.getByRole('article', { name: 'CERT-1' }).waitFor();
    await status.filter({ hasText: 'Page 1: 2 devices.' }).waitFor();
    assert.deepEqual(await shown(), await listed('neverSeen=true'));

    // Certificate expires within 30 days: the one whose certificate ends in ten days, not the rest.
    await filters.getByLabel('Last seen').selectOption('');
    await filters.getByLabel('Certificate expires').selectOption('30d');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await status.filter({ hasText: 'Page 1: 1 device.' }).waitFor();
    assert.equal(new URL(page.url()).search, '?certificateExpires=30d');
    assert.deepEqual(await shown(), ['CERT-1']);
    await filters.getByLabel('Certificate expires').selectOption('7d');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('No device matches these filters.').waitFor();

    // A bulk change on such a filter says it in words and counts what the list shows.
    await filters.getByLabel('Certificate expires').selectOption('90d');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await status.filter({ hasText: 'Page 1: 1 device.' }).waitFor();
    const panel = page.locator('details.bulk');
    await panel.getByText('Change every matching device').click();
    await panel.getByText(/with a certificate expiring before/).waitFor();
    await panel.getByLabel('Change').selectOption('addTags');
    await panel.getByLabel('Tags to add').fill('renew');
    await panel.getByRole('button', { name: 'Count matching devices' }).click();
    await panel.getByRole('group', { name: 'Confirm the change' }).getByText('1 device matches.').waitFor();
    assert.deepEqual(violations, []);
    await context.close();
  },
);

test(
  'an operator changes every device a filter matches: counted by a dry run first, then confirmed with that count',
  { skip: missing, timeout: 90_000 },
  async () => {
    const { apiKey } = await tenantWith(t, 'bulk-ops', 'bulk', [{ role: 'operator' }]);
    const api = apiWith(t, apiKey);
    // Four devices at site:east (one disabled already), two at site:west.
    const east: string[] = [];
    for (let i = 1; i <= 4; i++)
      east.push((await t.device(apiKey, { name: `east-${i}`, tags: ['site:east'] })).deviceId);
    for (let i = 1; i <= 2; i++) await t.device(apiKey, { name: `west-${i}`, tags: ['site:west'] });
    await api('POST', `/v1/devices/${east[3]}/disable`);
    const names = async (query: string) =>
      ((await api('GET', `/v1/devices?limit=500&${query}`)).items as { name: string }[])
        .map((d) => d.name)
        .sort();

    const { context, page, violations } = await phone();
    await openAs(page, 'fleet?tag=site%3Aeast', 'bulk');
    const status = page.getByRole('status').filter({ hasText: /^Page \d/ });
    await status.filter({ hasText: 'Page 1: 4 devices.' }).waitFor();

    const panel = page.locator('details.bulk');
    await panel.getByText('Change every matching device').click();
    await panel.getByText('Devices that are tagged site:east').waitFor();
    const confirm = panel.getByRole('group', { name: 'Confirm the change' });

    // Add a tag: the dry run counts, nothing changes until the count is confirmed.
    await panel.getByLabel('Change').selectOption('addTags');
    await panel.getByLabel('Tags to add').fill('batch:7');
    await panel.getByRole('button', { name: 'Count matching devices' }).click();
    await confirm.getByText('4 devices match.').waitFor();
    assert.deepEqual(await names('tag=batch:7'), [], 'a dry run changes nothing');
    await confirm.getByRole('button', { name: 'Add tag batch:7 to 4 devices' }).click();
    await panel.getByRole('status').filter({ hasText: 'Done: 4 devices changed.' }).waitFor();
    assert.deepEqual(await names('tag=batch:7'), ['east-1', 'east-2', 'east-3', 'east-4']);
    await page.getByRole('article', { name: 'east-1' }).getByText('batch:7').waitFor();
    await shot(page, 'fleet-bulk');

    // Disable: one of the four is disabled already, so three change, as the count says first.
    await panel.getByLabel('Change').selectOption('disable');
    await panel.getByRole('button', { name: 'Count matching devices' }).click();
    await confirm.getByText('3 of them would change').waitFor();
    await confirm.getByText('Disabling closes their connections').waitFor();
    await confirm.getByRole('button', { name: 'Disable 4 devices' }).click();
    await panel
      .getByRole('status')
      .filter({ hasText: 'Done: 3 devices changed; 1 of the 4 matching needed no change.' })
      .waitFor();
    assert.deepEqual(await names('tag=site:east&status=disabled'), ['east-1', 'east-2', 'east-3', 'east-4']);

    // Enable, but a device joins the filter between the count and the confirmation: the server
    // refuses the old count, nothing changes, and the panel counts again and asks again.
    await panel.getByLabel('Change').selectOption('enable');
    await panel.getByRole('button', { name: 'Count matching devices' }).click();
    await confirm.getByRole('button', { name: 'Enable 4 devices' }).waitFor();
    await t.device(apiKey, { name: 'east-5', tags: ['site:east'] });
    await confirm.getByRole('button', { name: 'Enable 4 devices' }).click();
    await panel.getByRole('alert').filter({ hasText: 'changed after they were counted' }).waitFor();
    await panel.getByRole('alert').filter({ hasText: '5 devices match now.' }).waitFor();
    assert.deepEqual(await names('tag=site:east&status=disabled'), ['east-1', 'east-2', 'east-3', 'east-4']);
    await confirm.getByRole('button', { name: 'Enable 5 devices' }).click();
    await panel
      .getByRole('status')
      .filter({ hasText: 'Done: 4 devices changed; 1 of the 5 matching needed no change.' })
      .waitFor();
    assert.deepEqual(await names('tag=site:east&status=disabled'), []);

    // Without a filter the panel says that a change reaches every device.
    await page
      .getByRole('search', { name: 'Filter the devices' })
      .getByRole('button', { name: 'Clear filters' })
      .click();
    await status.filter({ hasText: 'Page 1: 7 devices.' }).waitFor();
    await panel.getByText('No filter is applied: a change here applies to every device.').waitFor();
    assert.deepEqual(violations, []);
    await context.close();
  },
);

test(
  "an operator opens a device's page from the fleet: its latest values and chart as the API answers them, a command and its answer, and a change of its desired configuration",
  { skip: missing, timeout: 60_000 },
  async (ctx) => {
    const { apiKey } = await tenantWith(t, 'device-page', 'dev-ops', [{ role: 'operator' }]);
    const api = apiWith(t, apiKey);
    const { deviceId, accessKey } = await t.device(apiKey, {
      name: 'boiler-7',
      serial: 'SN-7007',
      tags: ['site:harbour'],
    });
    await t.device(apiKey, { name: 'boiler-8' });
    // Six readings over the last hour, through the device API, and a connection.
    const start = Date.now() - 50 * 60_000;
    const readings = [61.5, 63, 64.25, 62, 65.5, 66].map((temp, i) => ({
      ts: start + i * 8 * 60_000,
      values: { temp, pressure: 1 + i / 10, mode: i % 2 ? 'heat' : 'idle' },
    }));
    const sent = await t.call('POST', '/v1/device/telemetry', { token: accessKey, body: readings });
    assert.equal(sent.status, 202, sent.text);
    const mqtt = await t.connectDevice(deviceId, accessKey);
    ctx.after(() => mqtt.end(true));
    const get = (path: string) => api('GET', `/v1/devices/${deviceId}${path}`);
    await eventually(async () => (await get('')).presence.connected, 5_000, 'presence');

    const { context, page, violations } = await phone();
    await openAs(page, 'fleet', 'dev-ops');
    await page.getByRole('article', { name: 'boiler-7' }).getByRole('link', { name: 'boiler-7' }).click();
    await page.getByRole('heading', { name: 'boiler-7', level: 1 }).waitFor();
    assert.equal(new URL(page.url()).pathname, `/console/devices/${deviceId}`);
    assert.equal(await page.title(), 'Device · Mooring console');
    const about = page.getByRole('region', { name: 'Device', exact: true });
    for (const text of [deviceId, 'SN-7007', 'site:harbour', 'Online', 'Enabled'])
      await about.getByText(text, { exact: true }).first().waitFor();
    await about.getByRole('list', { name: 'Recent connections' }).getByText('Connected').first().waitFor();

    // The latest values: the API's, key by key.
    const latest = (await get('/telemetry/latest')).items as { key: string; value: unknown }[];
    assert.equal(latest.length, 3);
    const table = page.getByRole('region', { name: 'Latest values' }).getByRole('table');
    await table.getByRole('row').nth(latest.length).waitFor();
    for (const v of latest) {
      const row = table.getByRole('row', { name: new RegExp(`^${v.key} `) });
      assert.equal(await row.getByRole('cell').first().textContent(), String(v.value));
    }

    // The chart: uPlot's canvas, holding every reading of the hour the API returns (the count of
    // points uPlot holds is on its container).
    const chart = page.getByRole('region', { name: 'Telemetry' });
    const plotted = (n: number) => chart.locator(`.plot[data-points="${n}"] canvas`).waitFor();
    const raw = await get(`/telemetry?key=pressure&from=${Date.now() - 3_600_000}&limit=500`);
    assert.equal(raw.items.length, readings.length);
    await plotted(raw.items.length);
    assert.equal(await chart.getByLabel('Value').inputValue(), 'pressure', 'the first numeric key');
    await chart.getByText(`${raw.items.length} readings of pressure`).waitFor();
    await chart.getByLabel('Value').selectOption('temp');
    await chart.getByText('6 readings of temp').waitFor();
    await plotted(6);
    // 24 hours: the average per 10 minutes, as many points as the API has buckets.
    await chart.getByRole('button', { name: '24 h' }).click();
    await chart.getByText(/averages per 10 min of temp/).waitFor();
    const buckets = await get(`/telemetry/aggregate?key=temp&from=${Date.now() - 86_400_000}&bucket=600`);
    assert.ok(buckets.items.length > 1 && buckets.items.length < readings.length, JSON.stringify(buckets));
    await plotted(buckets.items.length);
    assert.equal(await chart.getByRole('button', { name: '24 h' }).getAttribute('aria-pressed'), 'true');
    assert.equal(await chart.getByRole('button', { name: '1 h' }).getAttribute('aria-pressed'), 'false');

    // A command: sent, listed, and its result once the device answers.
    const commands = page.getByRole('region', { name: 'Commands' });
    await commands.getByLabel('Command name').fill('reboot');
    await commands.getByLabel('Parameters (JSON, optional)').fill('{"delay": ');
    await commands.getByRole('button', { name: 'Send command' }).click();
    await commands.getByText(/^Not JSON/).waitFor();
    await commands.getByLabel('Parameters (JSON, optional)').fill('{"delay": 5}');
    await commands.getByRole('button', { name: 'Send command' }).click();
    await commands.getByRole('status').filter({ hasText: 'Sent reboot' }).waitFor();
    const listed = commands.getByRole('article', { name: 'Command reboot' });
    await listed.getByText('pending').waitFor();
    const [command] = (await get('/commands')).items;
    assert.equal(command.name, 'reboot');
    assert.deepEqual(command.params, { delay: 5 });
    const answered = await t.call('POST', `/v1/device/commands/${command.id}/result`, {
      token: accessKey,
      body: { status: 'succeeded', result: { uptime: 0 } },
    });
    assert.equal(answered.status, 200, answered.text);
    await listed.getByText('succeeded').waitFor();
    await listed.getByText('"uptime": 0').waitFor();

    // The desired configuration: a merge patch, its new version and history entry.
    const config = page.getByRole('region', { name: 'Configuration' });
    const editor = config.getByLabel('Merge patch (JSON)');
    await editor.fill('{"interval": 30, "mode": "eco"}');
    await config.getByRole('button', { name: 'Save desired configuration' }).click();
    await config
      .getByRole('status')
      .filter({ hasText: 'Saved: the desired configuration is at version 1.' })
      .waitFor();
    assert.equal((await get('/config')).desired.version, 1);
    const history = config.getByRole('list', { name: 'Configuration history' });
    await history.getByText('Desired version 1').waitFor();
    await config.getByRole('row', { name: /^interval 30 not reported/ }).waitFor();

    // Someone else changes it meanwhile: the page's version is stale, and the conflict is said.
    const other = await t.call('PATCH', `/v1/devices/${deviceId}/config/desired`, {
      token: apiKey,
      body: { interval: 60 },
      headers: { 'if-match': '"1"' },
    });
    assert.equal(other.status, 200, other.text);
    await editor.fill('{"interval": 45}');
    await config.getByRole('button', { name: 'Save desired configuration' }).click();
    const conflict = config.getByRole('alert').filter({ hasText: 'CONFIG_VERSION_CONFLICT' });
    await conflict.waitFor();
    await conflict.getByText(/it is at version 2 now/).waitFor();
    assert.equal((await get('/config')).desired.document.interval, 60, 'nothing changed');
    await shot(page, 'device');
    await config.getByRole('button', { name: 'Load the current version' }).click();
    await history.getByText('Desired version 2').waitFor();
    await config.getByRole('button', { name: 'Save desired configuration' }).click();
    await config.getByRole('status').filter({ hasText: 'at version 3' }).waitFor();
    assert.equal((await get('/config')).desired.document.interval, 45);

    // A device that is not there: said with its code.
    await page.goto('/console/devices/dev_nosuchdevice');
    await page.getByRole('alert').filter({ hasText: 'NOT_FOUND' }).waitFor();
    assert.deepEqual(violations, []);
    await context.close();
  },
);
