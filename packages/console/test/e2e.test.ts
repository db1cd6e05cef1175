/**
 * The console end to end, as a team would use it on its first day: a real server on the embedded
 * store serving the console, a fleet of simulated devices from `mooring simulate` (a separate
 * process, over MQTT/TLS, through the device SDK), headless Chromium, no mocks. Each step is a test
 * that goes on from the one before:
 *
 * 1. an owner signs in with a password and the one-time code of an authenticator;
 * 2. a device waiting for approval shows its code (the simulator prints its "display"); the owner
 *    types it on the Approvals screen, and the device connects;
 * 3. the Fleet screen filtered to the simulated fleet; a bulk tag whose dry-run count is the API's;
 * 4. a device's page: its chart draws the readings the API answered the page;
 * 5. a change of its desired configuration, applied by the simulated device and shown as reported;
 * 6. a deployment created on the Deployments screen: the buoys it updates crash-loop (a fault the
 *    simulator injects), the health gate pauses it, and the emergency stop stops it;
 * 7. a webhook added on the Integrations screen receives the crash events of the looping buoys (at a
 *    receiver of the test's own); one delivery is replayed and arrives again;
 * 8. the Audit screen: what the steps did, and the chain verified as the API verifies it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { eventually, type TestPlatform } from '../../server/test/harness.js';
import { startReceiver, verifyStandardWebhook, type Receiver } from '../../server/test/webhook-receiver.js';
import { totpCode } from '../../server/src/domains/users/totp.js';
import {
  apiWith,
  enrolTotp,
  idInAddress,
  missing,
  openAs,
  shot,
  startConsole,
  tenantWith,
  uploadArtifact,
  type Api,
  type ConsoleHarness,
  type ConsolePage,
} from './browser-harness.js';

const BIN = fileURLToPath(new URL('../../cli/bin/mooring.mjs', import.meta.url));
const FLEET = 6;

let h: ConsoleHarness;
let t: TestPlatform;
let receiver: Receiver;
let work: string;
let apiKey: string;
let api: Api;
let owner: ConsolePage;
let page: Page;
const simulators: { child: ChildProcess; stderr: () => string; exited: Promise<number> }[] = [];

/** `mooring simulate` against the test server, with these options, until the suite ends. */
function simulate(args: string[]) {
  const child = spawn(
    process.execPath,
    [
      BIN,
      ...['--server', `https://localhost:${t.platform.httpPort}`, '--ca', join(work, 'ca.pem')],
      ...['simulate', '--mqtt', `mqtts://localhost:${t.platform.mqttPort}`, '--json', ...args],
    ],
    {
      env: { ...process.env, MOORING_CONFIG_DIR: join(work, 'config'), TMPDIR: work },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout!.resume();
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  const sim = { child, stderr: () => stderr, exited };
  simulators.push(sim);
  return sim;
}

async function provisioningToken(body: Record<string, unknown>): Promise<string> {
  const r = await t.call('POST', '/v1/provisioning-tokens', { token: apiKey, body });
  assert.equal(r.status, 201, r.text);
  return r.body.secret as string;
}

before(async () => {
  if (missing) return;
  // The webhook receiver is on 127.0.0.1, which the platform refuses to call unless allowed.
  [receiver, h] = await Promise.all([
    startReceiver(),
    startConsole({ MOORING_OUTBOUND_ALLOW_LIST: '127.0.0.1/32' }),
  ]);
  t = h.t;
  work = mkdtempSync(join(tmpdir(), 'mooring-console-e2e-'));
  writeFileSync(join(work, 'ca.pem'), t.platform.caCert);
  ({ apiKey } = await tenantWith(t, 'harbour-works', 'harbourmaster'));
  api = apiWith(t, apiKey);

  // The fleet: six buoys on firmware 1.0.0 that provision themselves with an auto-approved batch token.
  const batch = await provisioningToken({
    name: 'buoys',
    kind: 'batch',
    maxUses: FLEET,
    approval: 'auto',
    deviceTags: ['fleet:buoys'],
  });
  simulate([
    ...['-n', String(FLEET), '--provisioning-token', batch, '--serial-prefix', 'BUOY'],
    ...['--rate', '2', '--keys', 'temp,hum', '--firmware-version', '1.0.0', '--hardware-class', 'buoy-2'],
    // Whatever the buoys are updated to crash-loops: they restart every 2 s, with a crash event each time.
    ...['--ota-reboot-loop-rate', '1', '--ota-reboot-loop-every', '2s'],
  ]);
});

after(async () => {
  for (const s of simulators)
    if (s.child.exitCode !== null || process.env.MOORING_E2E_DEBUG) console.error(s.stderr());
  for (const s of simulators) s.child.kill('SIGTERM');
  await Promise.all(simulators.map((s) => s.exited));
  await owner?.context.close();
  await h?.stop();
  await receiver?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the owner signs in with a password and an authenticator code', { skip: missing }, async () => {
  const totp = await enrolTotp(t, 'harbourmaster');

  owner = await h.desktop();
  page = owner.page;
  await openAs(page, 'approvals', 'harbourmaster');
  // The code of the next time step: the one that confirmed the enrolment is spent.
  await page.getByLabel('One-time code').fill(totpCode(totp.secret, totp.at + 30_000));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Devices waiting for approval' }).waitFor();
  assert.deepEqual(owner.violations, []);
});

test(
  'a device waiting for approval is approved by the code on its display, and connects',
  { skip: missing },
  async () => {
    const manual = await provisioningToken({
      name: 'field unit',
      kind: 'device',
      serial: 'FIELD-00001',
      approval: 'manual',
    });
    const field = simulate(['-n', '1', '--provisioning-token', manual, '--serial-prefix', 'FIELD']);
    const code = await eventually(
      () => /FIELD-00001 is waiting for approval; the code on its display: (\w+)/.exec(field.stderr())?.[1],
      30_000,
      'the simulated device to show its code',
    );

    const unit = page.getByRole('article', { name: 'Serial FIELD-00001' });
    await unit.waitFor({ timeout: 15_000 });
    await unit.getByLabel('Code shown on the device').fill(code);
    await unit.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('status').filter({ hasText: 'Approved FIELD-00001' }).waitFor();

    // The simulated device gets its credentials and connects: the fleet list says it is online.
    const ops = await api('GET', '/v1/provisioning/operations?serial=FIELD-00001&status=approved');
    const deviceId = ops.items[0].deviceId as string;
    await eventually(
      async () => (await api('GET', `/v1/devices/${deviceId}`)).presence.connected,
      30_000,
      'the approved device to connect',
    );
    await page.getByRole('link', { name: 'Fleet' }).click();
    const filters = page.getByRole('search', { name: 'Filter the devices' });
    await filters.getByLabel('Connection').selectOption('true');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByRole('article', { name: 'FIELD-00001' }).getByText('Online').waitFor();
    assert.deepEqual(owner.violations, []);
  },
);

test(
  'the fleet filtered to the buoys, and a bulk tag whose dry-run count is the API’s',
  { skip: missing },
  async () => {
    await eventually(
      async () => (await api('GET', '/v1/fleet/versions')).connected >= FLEET + 1,
      60_000,
      'the simulated fleet to connect',
    );
    await page.goto('/console/fleet?tag=fleet%3Abuoys');
    const status = page.getByRole('status').filter({ hasText: /^Page \d/ });
    await status.filter({ hasText: `Page 1: ${FLEET} devices.` }).waitFor();

    const panel = page.locator('details.bulk');
    await panel.getByText('Change every matching device').click();
    await panel.getByLabel('Change').selectOption('addTags');
    await panel.getByLabel('Tags to add').fill('wave:1');
    await panel.getByRole('button', { name: 'Count matching devices' }).click();
    const confirm = panel.getByRole('group', { name: 'Confirm the change' });
    const dry = await api('POST', '/v1/devices/bulk', {
      filter: { tag: 'fleet:buoys' },
      action: { type: 'addTags', tags: ['wave:1'] },
      dryRun: true,
    });
    assert.equal(dry.matched, FLEET);
    await confirm.getByText(`${dry.matched} devices match.`).waitFor();
    await confirm.getByRole('button', { name: `Add tag wave:1 to ${dry.matched} devices` }).click();
    await panel
      .getByRole('status')
      .filter({ hasText: `Done: ${FLEET} devices changed.` })
      .waitFor();
    assert.equal((await api('GET', '/v1/devices?tag=wave:1&limit=100')).items.length, FLEET);
    assert.deepEqual(owner.violations, []);
  },
);

test('a buoy’s page: its chart draws the readings the API answers', { skip: missing }, async () => {
  const buoy = page.getByRole('article', { name: 'BUOY-00001' });
  // The page asks the API for the last hour of the first numeric key; the chart holds what came back.
  const answered = page.waitForResponse((r) => /\/telemetry\?/.test(r.url()));
  await buoy.getByRole('link', { name: 'BUOY-00001' }).click();
  await page.getByRole('heading', { name: 'BUOY-00001', level: 1 }).waitFor();
  const response = await answered;
  const key = new URL(response.url()).searchParams.get('key')!;
  assert.match(key, /^(temp|hum)$/);
  const body = (await response.json()) as { items: { ts: number; value: number }[] };
  assert.ok(body.items.length >= 2, `readings: ${body.items.length}`);
  const chart = page.getByRole('region', { name: 'Telemetry' });
  await chart.locator(`.plot[data-points="${body.items.length}"] canvas`).waitFor();
  await chart.getByText(`${body.items.length} readings of ${key}`).waitFor();

  // The same readings, asked of the API by the test: what the page drew is what the store holds.
  const from = Math.min(...body.items.map((i) => i.ts));
  const to = Math.max(...body.items.map((i) => i.ts));
  const deviceId = idInAddress(page);
  const again = await api(
    'GET',
    `/v1/devices/${deviceId}/telemetry?key=${key}&from=${from}&to=${to + 1}&limit=500`,
  );
  assert.deepEqual(
    (again.items as { ts: number; value: number }[]).map((i) => [i.ts, i.value]).sort(),
    body.items.map((i) => [i.ts, i.value]).sort(),
  );
  assert.deepEqual(owner.violations, []);
});

test(
  'a change of desired configuration is applied by the simulated device and shown as reported',
  { skip: missing },
  async () => {
    const config = page.getByRole('region', { name: 'Configuration' });
    await config
      .getByLabel('Merge patch (JSON)')
      .fill('{"sampling": {"intervalSeconds": 30}, "mode": "storm"}');
    await config.getByRole('button', { name: 'Save desired configuration' }).click();
    await config
      .getByRole('status')
      .filter({ hasText: 'Saved: the desired configuration is at version 1.' })
      .waitFor();
    // The page reads again until the device acknowledges: the reported document holds the change.
    const reported = config.getByLabel('Reported document');
    await reported.filter({ hasText: '"storm"' }).waitFor({ timeout: 20_000 });
    assert.match((await reported.textContent()) ?? '', /"intervalSeconds": 30/);
    await config.getByText('Desired version 1').waitFor();
    await config.getByText('Reported version 1').waitFor();
    await shot(page, 'device-config-reported');
    assert.deepEqual(owner.violations, []);
  },
);

test(
  'a deployment the health gate pauses when the updated buoys crash-loop, then the emergency stop',
  { skip: missing },
  async () => {
    await uploadArtifact(t, apiKey, { version: '2.0.0', hardwareClass: 'buoy-2', sequence: 1 });

    await page.getByRole('link', { name: 'Deployments' }).click();
    await page.getByRole('heading', { name: 'Deployments', level: 1 }).waitFor();
    await page.getByText('New deployment', { exact: true }).click();
    const form = page.getByRole('form', { name: 'New deployment' });
    await form.getByLabel('Artifact').selectOption({ label: '2.0.0 for buoy-2 (sequence 1)' });
    await form.getByLabel('Name (optional)').fill('buoys 2.0.0');
    await form.getByLabel('Tags').fill('fleet:buoys');
    // Half the buoys first; the other half is the control the gate compares them with.
    await form.getByLabel('Phases (%)').fill('50 100');
    await form.getByLabel('Soak (minutes)').fill('60');
    await form.getByLabel('Sample').fill('2');
    await form.getByRole('button', { name: 'Create deployment' }).click();
    await page.getByRole('heading', { name: 'buoys 2.0.0', level: 1 }).waitFor();
    const deploymentId = idInAddress(page);

    // The updated half reports success, then restarts again and again: the gate pauses the rollout.
    const about = page.getByRole('region', { name: 'Deployment', exact: true });
    await about.getByText('Paused by the health gate').waitFor({ timeout: 60_000 });
    const paused = await api('GET', `/v1/deployments/${deploymentId}`);
    assert.equal(paused.status, 'paused');
    assert.equal(paused.health.verdict, 'fail');
    assert.equal(paused.health.updated.devices, FLEET / 2);
    const health = page.getByRole('region', { name: 'Health gate' });
    await health.getByText('Fail', { exact: true }).waitFor();
    await health
      .getByRole('row', { name: /^Updated/ })
      .getByText(`${paused.health.updated.unhealthyPercent} %`)
      .waitFor();

    // The emergency stop, through its confirmation: every deployment of the tenant stops.
    const stop = page.getByRole('region', { name: 'Emergency stop' });
    await stop.getByRole('button', { name: 'Engage the emergency stop…' }).click();
    const confirm = stop.getByRole('group', { name: 'Confirm the emergency stop' });
    await confirm.getByLabel('Reason (optional)').fill('buoys crash-looping after 2.0.0');
    await confirm.getByRole('button', { name: 'Stop every deployment of this tenant' }).click();
    await stop
      .getByRole('status')
      .filter({ hasText: 'Emergency stop engaged: 1 deployment stopped.' })
      .waitFor();
    assert.equal((await api('GET', '/v1/deployments/emergency-stop')).active, true);
    assert.equal((await api('GET', `/v1/deployments/${deploymentId}`)).status, 'stopped');
    await shot(page, 'e2e-deployment-stopped');
    assert.deepEqual(owner.violations, []);
  },
);

test(
  'a webhook receives the crash events of the looping buoys, and a delivery replayed arrives again',
  { skip: missing },
  async () => {
    await page.getByRole('link', { name: 'Integrations' }).click();
    const form = page.getByRole('form', { name: 'Add a webhook' });
    await page.getByText('Add a webhook', { exact: true }).click();
    await form.getByLabel('Name', { exact: true }).fill('ops');
    await form.getByLabel('URL').fill(receiver.url);
    await form.getByLabel('CA certificate (PEM, optional)').fill(receiver.ca);
    await form.getByRole('checkbox', { name: 'device.event' }).check();
    await form.getByRole('button', { name: 'Add the webhook' }).click();
    const shown = page.getByRole('region', { name: 'Signing secret of ops' });
    const secret = (await shown.locator('code').textContent()) ?? '';
    assert.match(secret, /^whsec_/);
    await shown.getByRole('button', { name: 'I have kept it' }).click();
    const card = page.getByRole('article', { name: 'Webhook ops' });
    await card.getByText('active', { exact: true }).waitFor();

    // The updated buoys restart every 2 s and say so: their crash events reach the receiver, signed.
    const crashes = () => receiver.events().filter((e) => e.json.type === 'device.event');
    const [first] = await eventually(() => crashes().length > 0 && crashes(), 20_000, 'a crash event');
    verifyStandardWebhook(secret, first!.headers, first!.body);
    const eventId = first!.json.id!;
    await card.getByRole('link', { name: 'Delivery log' }).click();
    const log = page.getByRole('region', { name: 'Delivery log of ops' });
    const row = log.getByRole('row', { name: `Delivery ${eventId}` });
    await row.getByText('delivered', { exact: true }).waitFor({ timeout: 15_000 });
    await row.getByRole('button', { name: 'Replay' }).click();
    await log.getByText('Replayed the device.event event: delivered, answered 200.').waitFor();
    const copies = () => crashes().filter((e) => e.json.id === eventId);
    const [, again] = await eventually(() => copies().length === 2 && copies(), 10_000, 'the replay');
    assert.equal(again!.body, first!.body, 'the same event, for the receiver to deduplicate');
    verifyStandardWebhook(secret, again!.headers, again!.body);
    assert.deepEqual(owner.violations, []);
  },
);

test('the audit trail holds what the steps did, and its chain is verified', { skip: missing }, async () => {
  await page.getByRole('link', { name: 'Audit' }).click();
  await page.getByRole('heading', { name: 'Audit', level: 1 }).waitFor();
  const verdict = page
    .getByRole('status')
    .filter({ hasText: /^Verified: the chain is intact from record 1 to record \d+/ });
  await verdict.waitFor();
  const shown = Number(/to record (\d+)/.exec((await verdict.textContent()) ?? '')?.[1]);
  const verified = await api('GET', '/v1/audit/verify');
  assert.equal(verified.intact, true);
  assert.ok(verified.records >= shown && shown > 0, `${shown} of ${verified.records}`);

  const records = page.getByRole('region', { name: 'Records' }).getByRole('listitem');
  await records.first().waitFor();
  const actions = await records.locator('h3 code').allInnerTexts();
  for (const action of [
    'POST /v1/deployments/emergency-stop',
    'POST /v1/deployments',
    'PATCH /v1/devices/:deviceId/config/desired',
    'POST /v1/devices/bulk',
    'POST /v1/webhooks',
    'POST /v1/provisioning/operations/:operationId/approve',
  ])
    assert.ok(actions.includes(action), `${action} in ${actions.join(', ')}`);
  assert.deepEqual(owner.violations, []);
});
