/**
 * The Deployments screen in a real browser against a real server: an artifact uploaded through the
 * API, devices that report their firmware and answer their offers through the HTTPS device API, and
 * an owner who, in the console,
 *
 * - is told a refused deployment by its code, creates one from the screen, and sees its counts per
 *   device state as the API answers them while devices report (polled by the page);
 * - pauses and resumes it (each button only in the status it applies to), cancels one device;
 * - engages the tenant's emergency stop through its confirmation (the API says it holds, and the
 *   deployment is stopped), is refused a new deployment meanwhile, and releases it;
 * - sees the health gate pause a deployment whose updated devices went offline while the control
 *   devices stayed connected, with both groups' shares drawn against the gate's line.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import type { Page } from 'playwright-core';
import { eventually, type TestPlatform } from '../../server/test/harness.js';
import {
  apiWith,
  assertOnScreen,
  countsOf,
  idInAddress,
  missing,
  openAs,
  shot,
  startConsole,
  tenantWith,
  uploadArtifact,
  type Api,
  type ConsoleHarness,
} from './browser-harness.js';

let h: ConsoleHarness;
let t: TestPlatform;
let tenant: { tenantId: string; apiKey: string };
let api: Api;

before(async () => {
  if (missing) return;
  h = await startConsole();
  t = h.t;
  tenant = await tenantWith(t, 'ota-ops', 'deployer');
  api = apiWith(t, tenant.apiKey);
});
after(async () => {
  await h?.stop();
});

/** How the page names the states of a device's operation. */
const LABELS: Record<string, string> = {
  queued: 'Queued',
  offered: 'Offered',
  accepted: 'Accepted',
  downloading: 'Downloading',
  installing: 'Installing',
  rebooting: 'Rebooting',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

/** An image of `hardwareClass` at 2.0.0. */
const upload = (hardwareClass: string) =>
  uploadArtifact(t, tenant.apiKey, { version: '2.0.0', hardwareClass, sequence: 2 });

type Unit = Awaited<ReturnType<typeof unit>>;

/** A device that reports running `version` on `hardwareClass`. */
async function unit(name: string, tag: string, hardwareClass: string, version = '1.0.0') {
  const d = await t.device(tenant.apiKey, { name, tags: [tag] });
  const r = await t.call('PUT', '/v1/device/firmware', {
    token: d.accessKey,
    body: { version, hardwareClass },
  });
  assert.equal(r.status, 200, r.text);
  return d;
}

/** The device's open offer, as the HTTPS device API gives it. */
async function offerOf(accessKey: string): Promise<{ operationId: string; attempt: number } | undefined> {
  const r = await t.call('GET', '/v1/device/ota', { token: accessKey });
  assert.equal(r.status, 200, r.text);
  return r.body.items.find((m: { type: string }) => m.type === 'offer');
}

/** Once exactly `n` of the units hold an offer: those, with it. */
function offered(units: Unit[], n: number) {
  return eventually(
    async () => {
      const all = await Promise.all(units.map(async (u) => ({ ...u, offer: await offerOf(u.accessKey) })));
      const some = all.flatMap((u) => (u.offer ? [{ ...u, offer: u.offer }] : []));
      return some.length === n && some;
    },
    8_000,
    `${n} offers`,
  );
}

async function report(accessKey: string, operationId: string, body: object) {
  const r = await t.call('POST', `/v1/device/ota/${operationId}/progress`, { token: accessKey, body });
  assert.equal(r.status, 200, r.text);
}

/** The counts the page shows ("Devices" and each state's), and the same from the API. */
const shownCounts = (page: Page) => countsOf(page.getByRole('region', { name: 'Devices by state' }));
async function apiCounts(deploymentId: string) {
  const d = await api('GET', `/v1/deployments/${deploymentId}`);
  return {
    Devices: d.total,
    ...Object.fromEntries(
      Object.entries(d.counts as Record<string, number>)
        .filter(([, n]) => n > 0)
        .map(([s, n]) => [LABELS[s] ?? s, n]),
    ),
  };
}
/** Until the page shows what the API answers (it reads again every 2 s); that answer. */
const countsMatch = (page: Page, deploymentId: string) =>
  eventually(
    async () => {
      const expected = await apiCounts(deploymentId);
      return isDeepStrictEqual(await shownCounts(page), expected) && expected;
    },
    8_000,
    'the counts the API answers',
  );

test(
  'an owner creates a deployment from the screen, follows its counts, pauses, resumes, cancels a device, and engages and releases the emergency stop',
  { skip: missing, timeout: 90_000 },
  async () => {
    const artifactId = await upload('gw-ota');
    // Six devices of the target, one of another class and one already at 2.0.0: those two are left out.
    const units: Unit[] = [];
    for (let i = 1; i <= 6; i++) units.push(await unit(`gw-${i}`, 'fleet:a', 'gw-ota'));
    await unit('sensor-1', 'fleet:a', 'sensor-x');
    await unit('gw-new', 'fleet:a', 'gw-ota', '2.0.0');

    const { context, page, violations } = await h.desktop();
    await openAs(page, 'deployments', 'deployer');
    await assertOnScreen(page, 'Deployments');
    await page.getByText('No deployment yet.').waitFor();
    await page.getByRole('region', { name: 'Emergency stop' }).getByText('Not engaged').waitFor();

    // The form: the API's artifacts, and a refusal said with its code and on its field.
    await page.getByText('New deployment', { exact: true }).click();
    const form = page.getByRole('form', { name: 'New deployment' });
    assert.equal(await form.getByLabel('Artifact').inputValue(), artifactId);
    assert.equal(
      await form.getByLabel('Artifact').locator('option:checked').textContent(),
      '2.0.0 for gw-ota (sequence 2)',
    );
    await form.getByLabel('Name (optional)').fill('gw 2.0.0');
    await form.getByLabel('Tags').fill('fleet:a');
    await form.getByLabel('Phases (%)').fill('50');
    await form.getByRole('button', { name: 'Create deployment' }).click();
    await page.getByRole('alert').filter({ hasText: 'VALIDATION_FAILED' }).waitFor();
    await form.getByText('the last phase must cover 100 %').waitFor();
    assert.equal(await form.getByLabel('Phases (%)').getAttribute('aria-invalid'), 'true');
    // Half now, the other half after an hour's soak; no retry, so a failure stays one.
    await form.getByLabel('Phases (%)').fill('50 100');
    await form.getByLabel('Soak (minutes)').fill('60');
    await form.getByLabel('Retries').fill('0');
    await form.getByRole('button', { name: 'Create deployment' }).click();
    await page.getByRole('heading', { name: 'gw 2.0.0', level: 1 }).waitFor();
    const deploymentId = idInAddress(page);
    assert.match(deploymentId, /^dep_/);
    assert.equal(await page.title(), 'Deployment · Mooring console');
    const created = await api('GET', `/v1/deployments/${deploymentId}`);
    assert.deepEqual(created.target, { tags: ['fleet:a'] });
    assert.deepEqual(
      created.phases.map((p: { percent: number; soakSeconds: number }) => [p.percent, p.soakSeconds]),
      [
        [50, 3600],
        [100, 3600],
      ],
    );
    assert.equal(created.retries.max, 0);
    const about = page.getByRole('region', { name: 'Deployment', exact: true });
    await about.getByText('1 device of another hardware class').waitFor();
    await about.getByText("1 device at or past the artifact's version").waitFor();

    // Three devices are offered (the first phase); they answer: one downloads, one fails, one is silent.
    const offers = await offered(units, 3);
    const [downloading, failing, silent] = [offers[0]!, offers[1]!, offers[2]!];
    await report(downloading.accessKey, downloading.offer.operationId, { attempt: 1, state: 'accepted' });
    await report(downloading.accessKey, downloading.offer.operationId, {
      attempt: 1,
      state: 'downloading',
      progress: 40,
    });
    await report(failing.accessKey, failing.offer.operationId, {
      attempt: 1,
      state: 'failed',
      code: 'INSTALL_FAILED',
      reason: 'flash write error',
    });
    assert.deepEqual(await countsMatch(page, deploymentId), {
      Devices: 6,
      Queued: 3,
      Offered: 1,
      Downloading: 1,
      Failed: 1,
    });
    const devices = page.getByRole('region', { name: 'Devices', exact: true });
    const row = (deviceId: string) => devices.getByRole('row', { name: new RegExp(deviceId) });
    await row(failing.deviceId).getByText('flash write error').waitFor();
    await row(failing.deviceId).getByText('INSTALL_FAILED').waitFor();
    await row(downloading.deviceId).getByText('40 %').waitFor();
    assert.equal(await row(failing.deviceId).getByRole('button').count(), 0, 'a failed device has no Cancel');

    // Pause: only Resume is offered then; Resume: only Pause.
    const actions = about.getByRole('group', { name: 'Deployment actions' });
    await actions.getByRole('button', { name: 'Pause' }).click();
    await about.getByText('Paused: no new offers leave').waitFor();
    await actions.getByRole('button', { name: 'Resume' }).waitFor();
    assert.equal(await actions.getByRole('button', { name: 'Pause' }).count(), 0);
    assert.equal((await api('GET', `/v1/deployments/${deploymentId}`)).status, 'paused');
    await about.getByText('Paused by an operator').waitFor();
    await actions.getByRole('button', { name: 'Resume' }).click();
    await about.getByText('Resumed: offers go on.').waitFor();
    await actions.getByRole('button', { name: 'Pause' }).waitFor();
    assert.equal(await actions.getByRole('button', { name: 'Resume' }).count(), 0);
    assert.equal((await api('GET', `/v1/deployments/${deploymentId}`)).status, 'active');

    // Cancel the silent device: it is told, and counted as cancelled.
    await row(silent.deviceId)
      .getByRole('button', { name: `Cancel the update of ${silent.deviceId}` })
      .click();
    await devices
      .getByRole('status')
      .filter({ hasText: `Cancelled the update of ${silent.deviceId}.` })
      .waitFor();
    await row(silent.deviceId).getByText('Cancelled', { exact: true }).waitFor();
    const cancelled = await api('GET', `/v1/deployments/${deploymentId}/devices?state=cancelled`);
    assert.deepEqual(
      cancelled.items.map((o: { deviceId: string }) => o.deviceId),
      [silent.deviceId],
    );
    assert.deepEqual(await countsMatch(page, deploymentId), {
      Devices: 6,
      Queued: 3,
      Downloading: 1,
      Failed: 1,
      Cancelled: 1,
    });

    // The emergency stop: the confirmation says what it does and what it stops.
    const stop = page.getByRole('region', { name: 'Emergency stop' });
    await stop.getByRole('button', { name: 'Engage the emergency stop…' }).click();
    const confirm = stop.getByRole('group', { name: 'Confirm the emergency stop' });
    await confirm.getByText('stops every active and paused deployment of this tenant').waitFor();
    await confirm.getByText('1 deployment is running now (1 active, 0 paused).').waitFor();
    await confirm.getByLabel('Reason (optional)').fill('bad batch');
    assert.equal(
      (await api('GET', '/v1/deployments/emergency-stop')).active,
      false,
      'nothing before the confirmation',
    );
    await confirm.getByRole('button', { name: 'Stop every deployment of this tenant' }).click();
    await stop
      .getByRole('status')
      .filter({ hasText: 'Emergency stop engaged: 1 deployment stopped.' })
      .waitFor();
    const engaged = await api('GET', '/v1/deployments/emergency-stop');
    assert.equal(engaged.active, true);
    assert.equal(engaged.reason, 'bad batch');
    assert.match(engaged.by, /^user:usr_/);
    await stop.getByText(/Engaged since .* by user:usr_.*: bad batch/).waitFor();
    const stopped = await api('GET', `/v1/deployments/${deploymentId}`);
    assert.equal(stopped.status, 'stopped');
    await about.getByText('Stopped by an emergency stop: bad batch').waitFor();
    assert.equal(await about.getByRole('group', { name: 'Deployment actions' }).count(), 0, 'nothing to do');

    // Meanwhile a new deployment is refused, by its code.
    await page.getByRole('link', { name: '← Deployments' }).click();
    await page.getByRole('heading', { name: 'Deployments', level: 1 }).waitFor();
    await page.getByRole('article', { name: 'gw 2.0.0' }).getByText('Stopped').waitFor();
    await page.getByText('New deployment', { exact: true }).click();
    await form.getByLabel('Tags').fill('fleet:a');
    await form.getByRole('button', { name: 'Create deployment' }).click();
    await page.getByRole('alert').filter({ hasText: 'OTA_EMERGENCY_STOP_ACTIVE' }).waitFor();

    // Released: the deployment it stopped stays stopped.
    const listStop = page.getByRole('region', { name: 'Emergency stop' });
    await listStop.getByRole('button', { name: 'Release the emergency stop…' }).click();
    await listStop.getByRole('group', { name: 'Confirm the release' }).getByText('stay stopped').waitFor();
    await listStop.getByRole('button', { name: 'Release the emergency stop', exact: true }).click();
    await listStop.getByRole('status').filter({ hasText: 'Emergency stop released' }).waitFor();
    assert.equal((await api('GET', '/v1/deployments/emergency-stop')).active, false);
    assert.equal((await api('GET', `/v1/deployments/${deploymentId}`)).status, 'stopped');
    assert.deepEqual(violations, []);
    await context.close();
  },
);

test(
  'the health gate pauses a deployment whose updated devices went offline while the others stayed connected',
  { skip: missing, timeout: 90_000 },
  async (ctx) => {
    await upload('gate-hw');
    const units: Unit[] = [];
    for (let i = 1; i <= 4; i++) units.push(await unit(`gate-${i}`, 'fleet:b', 'gate-hw'));
    const clients = new Map(
      await Promise.all(
        units.map(async (u) => [u.deviceId, await t.connectDevice(u.deviceId, u.accessKey)] as const),
      ),
    );
    ctx.after(() => clients.forEach((c) => c.end(true)));

    const { context, page, violations } = await h.phone();
    await openAs(page, 'deployments', 'deployer');
    await page.getByText('New deployment', { exact: true }).click();
    const form = page.getByRole('form', { name: 'New deployment' });
    await form.getByLabel('Artifact').selectOption({ label: '2.0.0 for gate-hw (sequence 2)' });
    await form.getByLabel('Name (optional)').fill('gate 2.0.0');
    await form.getByLabel('Tags').fill('fleet:b');
    await form.getByLabel('Phases (%)').fill('50 100');
    await form.getByLabel('Soak (minutes)').fill('60');
    // The gate judges from one device in each group.
    await form.getByLabel('Sample').fill('1');
    await form.getByLabel('Margin (points)').fill('5');
    await form.getByRole('button', { name: 'Create deployment' }).click();
    await page.getByRole('heading', { name: 'gate 2.0.0', level: 1 }).waitFor();
    const deploymentId = idInAddress(page);
    const gate = (await api('GET', `/v1/deployments/${deploymentId}`)).healthGate;
    assert.equal(gate.minSample, 1);
    assert.equal(gate.marginPercent, 5);

    // The two offered devices install, reboot and never come back online, yet report success.
    const updated = await offered(units, 2);
    for (const u of updated) clients.get(u.deviceId)!.end(true);
    await eventually(
      async () => {
        const states = await Promise.all(updated.map((u) => api('GET', `/v1/devices/${u.deviceId}`)));
        return states.every((d) => !d.presence.connected);
      },
      5_000,
      'the updated devices offline',
    );
    for (const u of updated)
      await report(u.accessKey, u.offer.operationId, { attempt: 1, state: 'succeeded', version: '2.0.0' });

    // Within the gate's period (5 s) it compares, fails and pauses; the page shows it as the API does.
    const about = page.getByRole('region', { name: 'Deployment', exact: true });
    await about.getByText('Paused by the health gate').waitFor({ timeout: 15_000 });
    const paused = await api('GET', `/v1/deployments/${deploymentId}`);
    assert.equal(paused.status, 'paused');
    assert.equal(paused.statusCode, 'health_gate');
    assert.equal(paused.health.verdict, 'fail');
    const health = page.getByRole('region', { name: 'Health gate' });
    await health.getByText('Fail', { exact: true }).waitFor();
    const cells = async (group: string) =>
      (
        await health
          .getByRole('row', { name: new RegExp(`^${group}`) })
          .getByRole('cell')
          .allInnerTexts()
      ).slice(0, 2);
    assert.deepEqual(await cells('Updated'), [
      String(paused.health.updated.devices),
      `${paused.health.updated.unhealthyPercent} %`,
    ]);
    assert.deepEqual(await cells('Updated'), ['2', '100 %']);
    assert.deepEqual(await cells('Control'), ['2', '0 %']);
    await health.getByText('The red line is where the gate pauses: 5 % unhealthy').waitFor();
    await countsMatch(page, deploymentId);
    await page
      .getByRole('group', { name: 'Deployment actions' })
      .getByRole('button', { name: 'Resume' })
      .waitFor();
    await shot(page, 'deployment');

    // The list: both deployments, each with its status.
    await page.getByRole('link', { name: '← Deployments' }).click();
    await page.getByRole('article', { name: 'gate 2.0.0' }).getByText('Paused').waitFor();
    await page.getByRole('article', { name: 'gate 2.0.0' }).getByText('Health gate failed').waitFor();
    await page.getByRole('article', { name: 'gw 2.0.0' }).getByText('Stopped').waitFor();
    await shot(page, 'deployments');
    assert.deepEqual(violations, []);
    await context.close();
  },
);
