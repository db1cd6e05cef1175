/**
 * The device page's presence timeline, credentials, alerts, failures and audit records, and the Fleet
 * screen's recent failures and refusals, in a real browser against a real server: a device provisioned
 * with a certificate connects over mutual TLS and has a publish refused; the Fleet panel counts the
 * refusal and links to the device; its page shows the timeline of its connection, a new access key
 * (the secret once) revoked, its certificate revoked (the API then says the device is offline), the
 * refusal, and the audit records of both revocations. With MOORING_CONSOLE_SCREENSHOTS=1 the parts are
 * saved to docs/console/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closed, connectMqtt, eventually, type TestPlatform } from '../../server/test/harness.js';
import { deviceKeyAndCsr } from '../../server/test/openssl.js';
import {
  apiWith,
  countsOf,
  missing,
  openAs,
  shot,
  startConsole,
  tenantWith,
  type ConsoleHarness,
} from './browser-harness.js';

let h: ConsoleHarness;
let t: TestPlatform;
const work = mkdtempSync(join(tmpdir(), 'mooring-device-page-test-'));

before(async () => {
  if (missing) return;
  h = await startConsole();
  t = h.t;
});
after(async () => {
  await h?.stop();
});

test(
  "an owner sees a device's refusal on the Fleet screen, its presence timeline, revokes an access key and its certificate, and sees the audit records of both",
  { skip: missing, timeout: 90_000 },
  async (ctx) => {
    const { apiKey } = await tenantWith(t, 'device-page-more', 'dp-owner');
    const api = apiWith(t, apiKey);
    // A unit provisions itself with a certificate (auto approval) and connects over mutual TLS.
    const serial = 'SN-8008';
    const pt = await api('POST', '/v1/provisioning-tokens', {
      name: 'pump line',
      kind: 'device',
      serial,
      approval: 'auto',
    });
    const { key, csr } = deviceKeyAndCsr(work);
    const op = await t.call('POST', '/v1/device/provisioning/operations', {
      token: pt.secret,
      body: { serial, csr },
    });
    assert.equal(op.status, 200, op.text);
    const deviceId = op.body.deviceId as string;
    await api('PATCH', `/v1/devices/${deviceId}`, { name: 'pump-8' });
    const mqtt = await connectMqtt(t.platform.mqttMtlsPort, t.platform.caCert, {
      clientId: deviceId,
      key,
      cert: op.body.certificate + op.body.certificateChain,
    });
    ctx.after(() => mqtt.end(true));
    // A publish the broker refuses: kept, and shown.
    await mqtt.publishAsync('not/mine', '{}', { qos: 1 });
    await eventually(
      async () => (await api('GET', `/v1/fleet/problems?deviceId=${deviceId}`)).items.length === 1,
      5_000,
      'the refusal to be kept',
    );
    const get = (path: string) => api('GET', `/v1/devices/${deviceId}${path}`);
    assert.equal((await get('')).presence.connected, true);

    const { context, page, violations } = await h.desktop();
    await openAs(page, 'fleet', 'dp-owner');
    const panel = page.getByRole('region', { name: 'Recent failures and refusals' });
    await panel.getByText('TOPIC_NOT_ALLOWED').waitFor();
    const counts = await countsOf(panel);
    const api24 = await api('GET', '/v1/fleet/problems/counts');
    for (const c of api24.items as { kind: string; count: number }[])
      if (c.kind === 'publish_refused') assert.equal(counts['Publish refused'], c.count);
    assert.equal(counts['Publish refused'], 1);
    await shot(panel, 'fleet-problems');
    await panel.getByRole('link', { name: 'pump-8' }).click();
    await page.getByRole('heading', { name: 'pump-8', level: 1 }).waitFor();
    assert.equal(new URL(page.url()).pathname, `/console/devices/${deviceId}`);

    // The timeline: online now, as the presence history says; the 7-day view too.
    const timeline = page.getByRole('region', { name: 'Presence timeline' });
    const periods = timeline.getByRole('list', { name: 'Connections over the last 24 h' });
    await periods.getByRole('listitem').first().getByText('Online').waitFor();
    await timeline.getByText(/^Online .* of the last 24 h/).waitFor();
    await timeline.getByRole('button', { name: '7 days' }).click();
    await timeline.getByRole('list', { name: 'Connections over the last 7 days' }).waitFor();
    assert.equal(await timeline.getByRole('button', { name: '7 days' }).getAttribute('aria-pressed'), 'true');

    // The refusal, on the device's own page.
    const problems = page.getByRole('region', { name: 'Failures and refusals' });
    await problems.getByText('TOPIC_NOT_ALLOWED').waitFor();
    await problems.getByText('not/mine', { exact: true }).waitFor();
    await page
      .getByRole('region', { name: 'Alerts' })
      .getByText('No alert is open for this device.')
      .waitFor();

    // A new access key: its secret once, then revoked.
    const creds = page.getByRole('region', { name: 'Certificates and credentials' });
    await creds.getByRole('button', { name: 'New access key' }).click();
    const secret = creds.locator('.secret-value');
    await secret.waitFor();
    const dak = (await secret.textContent()) ?? '';
    assert.match(dak, /^dak_/);
    const [created] = (await get('/access-keys')).items;
    assert.ok(dak.startsWith(created.prefix), `${dak} starts with ${created.prefix}`);
    await creds.getByRole('button', { name: 'Done' }).click();
    assert.equal(await creds.locator('.secret-value').count(), 0, 'the secret is shown once');
    await creds.getByRole('button', { name: `Revoke ${created.prefix}…` }).click();
    await creds.getByRole('button', { name: `Revoke access key ${created.prefix}` }).click();
    await creds
      .getByRole('status')
      .filter({ hasText: `Revoked access key ${created.prefix}` })
      .waitFor();
    assert.notEqual((await get('/access-keys')).items[0].revokedAt, null);

    // Its certificate: revoked after the question; the live session ends.
    const [cert] = (await get('/certificates')).items;
    const gone = closed(mqtt, 10_000);
    const card = creds.getByRole('article', { name: `Certificate ${cert.serial}` });
    await card.getByText('valid', { exact: true }).waitFor();
    await shot(creds, 'device-credentials');
    await card.getByRole('button', { name: 'Revoke…' }).click();
    await card.getByRole('button', { name: `Revoke certificate ${cert.serial}` }).click();
    await creds
      .getByRole('status')
      .filter({ hasText: `Revoked certificate ${cert.serial}` })
      .waitFor();
    await gone;
    assert.notEqual((await get('/certificates')).items[0].revokedAt, null);
    const offline = await eventually(async () => {
      const d = await get('');
      return !d.presence.connected && d;
    });
    assert.equal(offline.presence.lastDisconnectReason, 'certificate_revoked');
    await creds
      .getByRole('article', { name: `Certificate ${cert.serial}` })
      .getByText('revoked')
      .first()
      .waitFor();

    // Refresh: the audit records name both revocations, newest first; the timeline shows the end.
    await page.getByRole('button', { name: 'Refresh' }).click();
    const audit = page.getByRole('list', { name: 'Audit records of the device' });
    await audit.getByText('POST /v1/certificates/:serial/revoke').waitFor();
    await audit.getByText('DELETE /v1/devices/:deviceId/access-keys/:keyId').waitFor();
    const actions = await audit.locator('h3 code').allTextContents();
    assert.equal(actions[0], 'POST /v1/certificates/:serial/revoke');
    const records = await api('GET', `/v1/audit?deviceId=${deviceId}&order=newest&limit=20`);
    assert.deepEqual(
      actions,
      records.items.map((r: { action: string }) => r.action),
    );
    await timeline.getByText('certificate_revoked').first().waitFor();
    await shot(page.getByRole('region', { name: 'Presence timeline' }), 'device-timeline');
    assert.deepEqual(violations, []);
    await context.close();
  },
);
