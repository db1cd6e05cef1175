/**
 * The Integrations screen in a real browser against a real server, with real receivers: an HTTPS
 * webhook receiver of the test's own (its own CA, on 127.0.0.1, which the platform is allowed to call
 * here through MOORING_OUTBOUND_ALLOW_LIST) and a mosquitto of its own on a free port.
 *
 * - a tenant owner adds a webhook (an address in the platform's own network is refused by its code),
 *   sees its signing secret once (it verifies what the receiver got), and the delivery of a device's
 *   event in the log; replays it, and the receiver gets the same event again, signed; replays a range;
 *   disables and enables the endpoint after a confirmation;
 * - adds an MQTT bridge that connects and forwards, and sees another that cannot connect with its error
 *   and the event waiting in its spool; pauses, resumes and deletes, each after a confirmation;
 * - adds a threshold rule; two devices' readings raise an alert each: one is acknowledged and resolved,
 *   acknowledging the other, resolved by someone else meanwhile, is refused with its code; the rule is
 *   deleted.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, type TestPlatform } from '../../server/test/harness.js';
import { freePort, startMosquitto, stopProcess } from '../../server/test/mosquitto.js';
import { startReceiver, verifyStandardWebhook, type Receiver } from '../../server/test/webhook-receiver.js';
import {
  apiWith,
  assertOnScreen,
  missing,
  openAs,
  shot,
  startConsole,
  tenantWith,
  type Api,
  type ConsoleHarness,
} from './browser-harness.js';

let h: ConsoleHarness;
let t: TestPlatform;
let receiver: Receiver;
let broker: ChildProcess;
let brokerPort: number;
let brokerDir: string;
let apiKey: string;
let api: Api;
let device: { deviceId: string; accessKey: string };
let device2: { deviceId: string; accessKey: string };

before(async () => {
  if (missing) return;
  brokerDir = mkdtempSync(join(tmpdir(), 'mooring-console-broker-'));
  brokerPort = await freePort();
  [receiver, broker, h] = await Promise.all([
    startReceiver(),
    startMosquitto(
      brokerDir,
      [`listener ${brokerPort} 127.0.0.1`, 'allow_anonymous true', 'persistence false'],
      [brokerPort],
    ),
    // The receiver and the broker are on 127.0.0.1, which the platform refuses to call unless allowed.
    startConsole({ MOORING_OUTBOUND_ALLOW_LIST: '127.0.0.1/32' }),
  ]);
  t = h.t;
  ({ apiKey } = await tenantWith(t, 'harbour-integrations', 'integrator'));
  api = apiWith(t, apiKey);
  device = await t.device(apiKey, { name: 'boiler-1' });
  device2 = await t.device(apiKey, { name: 'boiler-2' });
});
after(async () => {
  await h?.stop();
  await receiver?.close();
  if (broker) await stopProcess(broker);
  if (brokerDir) rmSync(brokerDir, { recursive: true, force: true });
});

/** A signed-in desktop page on the Integrations screen (at `query`). */
async function open(query = '') {
  const p = await h.desktop();
  await openAs(p.page, `integrations${query}`, 'integrator');
  await p.page.getByRole('heading', { name: 'Integrations', level: 1 }).waitFor();
  return p;
}

let webhookId: string;

test(
  'an owner adds a webhook, keeps its secret shown once, sees a device event delivered in the log and replays it to the receiver',
  { skip: missing, timeout: 90_000 },
  async () => {
    const { context, page, violations } = await open();
    await assertOnScreen(page, 'Integrations');
    await page.getByText('No webhook yet.').waitFor();

    // An address inside the platform's own network: refused, said with its code.
    const form = page.getByRole('form', { name: 'Add a webhook' });
    await page.getByText('Add a webhook', { exact: true }).click();
    await form.getByLabel('Name', { exact: true }).fill('ops');
    await form.getByLabel('URL').fill('https://169.254.169.254/hook');
    await form.getByRole('button', { name: 'Add the webhook' }).click();
    await form.getByText('Choose at least one event.').waitFor();
    await form.getByRole('checkbox', { name: 'device.event' }).check();
    await form.getByRole('button', { name: 'Add the webhook' }).click();
    await form.getByRole('alert').filter({ hasText: 'WEBHOOK_URL_REFUSED' }).waitFor();
    assert.deepEqual((await api('GET', '/v1/webhooks')).items, []);

    // The receiver's address and CA: created, and its secret shown this once.
    await form.getByLabel('URL').fill(receiver.url);
    await form.getByLabel('CA certificate (PEM, optional)').fill(receiver.ca);
    await form.getByRole('button', { name: 'Add the webhook' }).click();
    const shown = page.getByRole('region', { name: 'Signing secret of ops' });
    await shown.getByText('it is shown this once and is not shown again').waitFor();
    const secret = (await shown.locator('code').textContent()) ?? '';
    assert.match(secret, /^whsec_/);
    [webhookId] = (await api('GET', '/v1/webhooks')).items.map((w: { id: string }) => w.id);
    const card = page.getByRole('article', { name: 'Webhook ops' });
    await card.getByText('active', { exact: true }).waitFor();
    // The secret shown is the one the platform signs with: the challenge the receiver got verifies.
    const challenge = receiver.received.find(
      (r) => r.json.type === 'webhook.verification' && r.json.webhookId === webhookId,
    );
    assert.ok(challenge, 'the receiver got the challenge');
    verifyStandardWebhook(secret, challenge.headers, challenge.body);
    await shown.getByRole('button', { name: 'I have kept it' }).click();
    await shown.waitFor({ state: 'detached' });
    assert.equal((await page.content()).includes(secret), false, 'the secret is gone from the page');
    for (const text of [receiver.url, 'device.event', 'all devices'])
      await card.getByText(text, { exact: true }).waitFor();

    // A device's event: delivered to the receiver, and in the log with its status and answer.
    const sent = await t.call('POST', '/v1/device/events', {
      token: device.accessKey,
      body: { type: 'door.open', message: 'front door' },
    });
    assert.equal(sent.status, 202, sent.text);
    const copies = () =>
      receiver.events().filter((e) => e.json.type === 'device.event' && e.json.deviceId === device.deviceId);
    const [first] = await eventually(() => copies().length === 1 && copies(), 10_000, 'the event');
    const eventId = first!.json.id!;
    await card.getByRole('link', { name: 'Delivery log' }).click();
    await page.waitForURL(`**/console/integrations?webhook=${webhookId}`);
    const log = page.getByRole('region', { name: 'Delivery log of ops' });
    const row = log.getByRole('row', { name: `Delivery ${eventId}` });
    await row.getByText('delivered', { exact: true }).waitFor();
    const [delivery] = (await api('GET', `/v1/webhooks/${webhookId}/deliveries`)).items;
    assert.equal(delivery.status, 'delivered');
    assert.equal(await row.getByRole('cell').nth(2).textContent(), String(delivery.attempts));
    assert.equal(await row.getByRole('cell').nth(3).textContent(), '200');
    await log.getByRole('status').filter({ hasText: 'Page 1: 1 delivery.' }).waitFor();
    await card.getByText(/answered 200 · device\.event/).waitFor();

    // Replayed: the receiver gets the same event again, signed with the same secret, and the log says so.
    await row.getByRole('button', { name: 'Replay' }).click();
    await log.getByText('Replayed the device.event event: delivered, answered 200.').waitFor();
    const again = await eventually(() => copies().length === 2 && copies(), 10_000, 'the replay');
    assert.equal(again[1]!.json.id, eventId, 'the same event id, for the receiver to deduplicate');
    assert.equal(again[1]!.body, first!.body);
    verifyStandardWebhook(secret, again[1]!.headers, again[1]!.body);
    await row.getByRole('button', { name: 'Attempts' }).click();
    const attempts = log.getByRole('list', { name: `Attempts of ${eventId}` });
    await attempts.getByText(/^Attempt 2, .*answered 200/).waitFor();
    assert.equal(await attempts.getByRole('listitem').count(), 2);
    await row.getByText('delivered', { exact: true }).waitFor();
    await shot(log, 'webhook-deliveries');

    // Every delivery of the last hour, again.
    await log.getByText('Replay a time range').click();
    const range = log.getByRole('form', { name: 'Replay a time range' });
    await range.getByLabel('Deliveries').selectOption('');
    await range.getByRole('button', { name: 'Replay the range' }).click();
    await range.getByText('1 delivery is sent again.').waitFor();
    await eventually(() => copies().length === 3, 10_000, 'the range replay');

    // Disabled after a confirmation, then enabled (it answers the challenge again).
    await card.getByRole('button', { name: 'Disable…' }).click();
    await card.getByText('are not delivered to it, not even after it is enabled again').waitFor();
    await card.getByRole('button', { name: 'Disable ops' }).click();
    await card.getByText('disabled', { exact: true }).waitFor();
    assert.equal((await api('GET', `/v1/webhooks/${webhookId}`)).status, 'disabled');
    await log.getByText('This webhook is disabled: deliveries wait until it is active.').waitFor();
    await card.getByRole('button', { name: 'Enable' }).click();
    await card.getByRole('button', { name: 'Disable…' }).waitFor();
    assert.notEqual((await api('GET', `/v1/webhooks/${webhookId}`)).status, 'disabled');
    assert.deepEqual(violations, []);
    await context.close();
  },
);

test(
  'an owner adds an MQTT bridge that connects, sees one that cannot with its error and spool, pauses, resumes and deletes',
  { skip: missing, timeout: 60_000 },
  async () => {
    // A bridge to a port nobody listens on: it spools, and says why it does not connect.
    const closedPort = await freePort();
    const offline = await t.call('POST', '/v1/bridges', {
      token: apiKey,
      body: {
        name: 'offline broker',
        url: `mqtt://127.0.0.1:${closedPort}`,
        topicTemplate: 'plant/{deviceId}/{type}',
        eventTypes: ['device.event'],
      },
    });
    assert.equal(offline.status, 201, offline.text);

    const { context, page, violations } = await open();
    await page.getByText('Add a bridge', { exact: true }).click();
    const form = page.getByRole('form', { name: 'Add a bridge' });
    await form.getByLabel('Name', { exact: true }).fill('plant broker');
    await form.getByLabel('Broker URL').fill(`mqtt://127.0.0.1:${brokerPort}`);
    assert.equal(
      await form.getByLabel('Topic template').inputValue(),
      'mooring/{tenantId}/{deviceId}/{type}',
    );
    await form.getByRole('checkbox', { name: 'device.event' }).check();
    await form.getByRole('button', { name: 'Add the bridge' }).click();
    await page.getByText('Added plant broker: it connects within a few seconds.').waitFor();
    const plant = page.getByRole('article', { name: 'Bridge plant broker' });
    await plant.getByText('connected', { exact: true }).waitFor();

    // An event: forwarded by the one, spooled by the other.
    const sent = await t.call('POST', '/v1/device/events', {
      token: device.accessKey,
      body: { type: 'valve.stuck', severity: 'warning' },
    });
    assert.equal(sent.status, 202, sent.text);
    const status = async (name: string) =>
      (await api('GET', '/v1/bridges')).items.find((b: { name: string }) => b.name === name).status;
    await eventually(async () => (await status('plant broker')).forwarded === 1, 10_000, 'forwarded');
    const stuck = await eventually(
      async () => {
        const s = await status('offline broker');
        return s.spoolRows === 1 && s.lastError !== null && s;
      },
      10_000,
      'spooled, and the error',
    );
    await page.getByRole('button', { name: 'Refresh' }).click();
    const down = page.getByRole('article', { name: 'Bridge offline broker' });
    await down.getByText('not connected', { exact: true }).waitFor();
    await down.getByText(stuck.lastError, { exact: false }).waitFor();
    await down.locator('.spool').filter({ hasText: /^1$/ }).waitFor();
    // Forwarded: 1, and nothing waiting.
    await plant.locator('dt:text-is("Forwarded") + dd').filter({ hasText: /^1$/ }).waitFor();
    assert.equal(await plant.locator('.spool').textContent(), '0');

    // Paused after a confirmation, resumed, and the other deleted after one.
    await plant.getByRole('button', { name: 'Pause…' }).click();
    await plant.getByRole('button', { name: 'Pause plant broker' }).click();
    await plant.getByText('paused', { exact: true }).waitFor();
    assert.equal(
      (await api('GET', '/v1/bridges')).items.find((b: { name: string }) => b.name === 'plant broker')
        .enabled,
      false,
    );
    await plant.getByRole('button', { name: 'Resume' }).click();
    await plant.getByText('connected', { exact: true }).waitFor();
    await down.getByRole('button', { name: 'Delete…' }).click();
    await down.getByText('and the 1 messages in its spool').waitFor();
    await down.getByRole('button', { name: 'Delete offline broker' }).click();
    await down.waitFor({ state: 'detached' });
    assert.deepEqual(
      (await api('GET', '/v1/bridges')).items.map((b: { name: string }) => b.name),
      ['plant broker'],
    );
    assert.deepEqual(violations, []);
    await context.close();
  },
);

test(
  'an owner adds a threshold rule, acknowledges and resolves the alert a reading raises, is told when another was resolved meanwhile, and deletes the rule',
  { skip: missing, timeout: 60_000 },
  async () => {
    const { context, page, violations } = await open(`?webhook=${webhookId}`);
    await page.getByText('Add a rule', { exact: true }).click();
    const form = page.getByRole('form', { name: 'Add an alert rule' });
    await form.getByLabel('Rule name').fill('boiler too hot');
    await form.getByLabel('Telemetry key').fill('temp');
    await form.getByLabel('Comparison').selectOption('>');
    await form.getByLabel('Value').fill('eighty');
    await form.getByRole('button', { name: 'Add the rule' }).click();
    await form.getByText('A number, such as 80 or -5.5.').waitFor();
    await form.getByLabel('Value').fill('80');
    await form.getByLabel('Severity').selectOption('critical');
    await form.getByRole('button', { name: 'Add the rule' }).click();
    const rule = page.getByRole('article', { name: 'Rule boiler too hot' });
    await rule.getByText('temp > 80').waitFor();
    await page.getByText('No alert is open.').waitFor();

    // Readings above it from two devices: the rule fires for each at its next pass (every 5 s).
    for (const d of [device, device2]) {
      const sent = await t.call('POST', '/v1/device/telemetry', {
        token: d.accessKey,
        body: { values: { temp: 91.5 } },
      });
      assert.equal(sent.status, 202, sent.text);
    }
    const fired = await eventually(
      async () => {
        const items = (await api('GET', '/v1/alerts?state=open')).items as { id: string; deviceId: string }[];
        return items.length === 2 && items;
      },
      15_000,
      'the alerts',
    );
    const [first, second] = [device, device2].map((d) => fired.find((a) => a.deviceId === d.deviceId)!);
    await page.getByRole('button', { name: 'Refresh' }).click();
    const alert = page.getByRole('article', { name: `Alert boiler too hot on ${device.deviceId}` });
    await alert.getByText('firing', { exact: true }).waitFor();
    await alert.getByText((await api('GET', `/v1/alerts/${first!.id}`)).reason).waitFor();
    await alert.getByRole('button', { name: 'Acknowledge' }).click();
    await alert.getByText('acknowledged', { exact: true }).waitFor();
    await page.getByText(`Acknowledged boiler too hot on ${device.deviceId}.`).waitFor();
    assert.equal((await api('GET', `/v1/alerts/${first!.id}`)).state, 'acknowledged');
    await shot(page, 'integrations');
    // Resolved by hand after a confirmation: it leaves the open alerts.
    await alert.getByRole('button', { name: 'Resolve…' }).click();
    await alert.getByText('It does not open again').waitFor();
    await alert.getByRole('button', { name: 'Resolve the alert' }).click();
    await page.getByText(`Resolved boiler too hot on ${device.deviceId}.`).waitFor();
    await alert.waitFor({ state: 'detached' });
    const resolved = await api('GET', `/v1/alerts/${first!.id}`);
    assert.equal(resolved.resolution, 'manual');
    assert.match(resolved.resolvedBy, /^user:/);

    // The other one is resolved by someone else while the page shows it firing: the page's
    // acknowledgement is refused with the code, and changes nothing.
    const other = await t.call('POST', `/v1/alerts/${second!.id}/resolve`, { token: apiKey, body: {} });
    assert.equal(other.status, 200, other.text);
    const stale = page.getByRole('article', { name: `Alert boiler too hot on ${device2.deviceId}` });
    await stale.getByRole('button', { name: 'Acknowledge' }).click();
    await stale.getByRole('alert').filter({ hasText: 'ALERT_STATE_CONFLICT' }).waitFor();
    await stale.getByText('The alert is resolved already').waitFor();
    assert.match((await api('GET', `/v1/alerts/${second!.id}`)).resolvedBy, /^api-key:/);

    await rule.getByRole('button', { name: 'Delete…' }).click();
    await rule.getByRole('button', { name: 'Delete boiler too hot' }).click();
    await page.getByText('No alert rule yet.').waitFor();
    assert.deepEqual((await api('GET', '/v1/alert-rules')).items, []);
    assert.deepEqual(violations, []);
    await context.close();
  },
);
