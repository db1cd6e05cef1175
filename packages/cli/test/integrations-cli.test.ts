/**
 * `mooring alerts` and `mooring webhooks` against a real server. Alerts: rules created from flags and
 * from a file, listed, shown, updated and deleted, a refused rule printed with its field errors, and
 * an alert fired by a device's reading, acknowledged, refused a second time with its state, and
 * resolved. Webhooks (the server may reach 127.0.0.1: MOORING_OUTBOUND_ALLOW_LIST): an address it may
 * not reach is refused; one where nothing answers stays pending through list, show, update, disable,
 * verify, enable, rotate-secret, deliveries and delete; and one answered by a receiver here (the
 * platform's own server certificate, trusted through --ca-file) is verified and gets a delivery that
 * `delivery` shows with its attempts and `replay` sends again, by id and by time range.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startTestPlatform, type TestPlatform } from '../../server/test/harness.js';
import { runCli, serverArgs, type Run } from './run-cli.js';

let t: TestPlatform;
let work: string;
let caFile: string;
let apiKey: string;

function mooring(args: string[], token = apiKey): Promise<Run> {
  return runCli([...serverArgs(t.platform.httpPort, caFile, token), ...args], {
    configDir: join(work, 'config'),
  });
}

/** Runs a command that must succeed with --json and returns its document. */
async function ok(args: string[]): Promise<any> {
  const r = await mooring([...args, '--json']);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.json;
}

before(async () => {
  t = await startTestPlatform({ MOORING_OUTBOUND_ALLOW_LIST: '127.0.0.1/32' });
  apiKey = (await t.tenant()).apiKey;
  work = mkdtempSync(join(tmpdir(), 'mooring-cli-integrations-'));
  caFile = join(work, 'ca.pem');
  writeFileSync(caFile, t.platform.caCert);
});
after(async () => {
  await t.stop();
  rmSync(work, { recursive: true, force: true });
});

test('alert rules from flags and a file; an alert fired, acknowledged and resolved', async () => {
  const dev = await t.device(apiKey, { name: 'boiler', tags: ['plant'] });

  // A rule that does not hold together: the code and each field's error.
  const bad = await mooring([
    'alerts',
    'rules',
    'create',
    '--name',
    'x',
    '--key',
    'temp',
    '--op',
    '>',
    '--value',
    '50',
    '--clear-value',
    '60',
  ]);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /INVALID_ALERT_RULE \(422\)/);
  assert.match(bad.stderr, /\/threshold\/clearValue: /);
  const usage = await mooring(['alerts', 'rules', 'create', '--name', 'x', '--key', 'temp']);
  assert.equal(usage.code, 2, usage.stderr);
  assert.match(usage.stderr, /needs --op, --value/);

  const rule = await ok([
    'alerts',
    'rules',
    'create',
    '--name',
    'boiler too hot',
    '--key',
    'temp',
    '--op',
    'gt',
    '--value',
    '50',
    '--clear-value',
    '40',
    '--severity',
    'critical',
    '--tag',
    'plant',
  ]);
  assert.match(rule.id, /^alr_/);
  assert.deepEqual(rule.threshold, { key: 'temp', op: '>', value: 50, clearValue: 40, forSeconds: 0 });
  assert.deepEqual(rule.target, { tags: ['plant'] });

  const file = join(work, 'rule.json');
  writeFileSync(
    file,
    JSON.stringify({ name: 'silent', kind: 'absence', absence: { minutes: 30, of: 'telemetry' } }),
  );
  const silent = await ok(['alerts', 'rules', 'create', '--file', file, '--device', dev.deviceId]);
  assert.deepEqual(silent.absence, { minutes: 30, of: 'telemetry' });
  assert.deepEqual(silent.target, { deviceIds: [dev.deviceId] });
  assert.equal(silent.severity, 'warning');

  const listed = await mooring(['alerts', 'rules', 'list']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /boiler too hot\s+threshold\s+critical\s+true\s+temp > 50 \(clears at 40\)/);
  assert.match(listed.stdout, /no telemetry for 30 min\s+devices dev_/);
  assert.equal((await ok(['alerts', 'rules', 'list'])).length, 2);
  const shown = await mooring(['alerts', 'rules', 'show', rule.id]);
  assert.match(shown.stdout, /condition\s+temp > 50 \(clears at 40\)/);
  assert.match(shown.stdout, /target\s+tags plant/);

  // Update: the flags given on top of the rule as it is.
  const updated = await ok(['alerts', 'rules', 'update', silent.id, '--minutes', '60', '--disabled']);
  assert.deepEqual(updated.absence, { minutes: 60, of: 'telemetry' });
  assert.equal(updated.enabled, false);
  assert.equal(updated.name, 'silent');
  assert.deepEqual(updated.target, { deviceIds: [dev.deviceId] });
  const deleted = await mooring(['alerts', 'rules', 'delete', silent.id]);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.match(deleted.stdout, /Deleted the alert rule alr_/);
  const gone = await mooring(['alerts', 'rules', 'show', silent.id]);
  assert.equal(gone.code, 4, gone.stderr);
  assert.match(gone.stderr, /ALERT_RULE_NOT_FOUND \(404\)/);

  // A reading above the threshold: the evaluator (every 5 s) fires the alert.
  const sent = await t.call('POST', '/v1/device/telemetry', {
    token: dev.accessKey,
    body: { values: { temp: 72 } },
  });
  assert.ok(sent.status < 300, sent.text);
  const alert = await eventually(
    async () => (await ok(['alerts', 'list', '--state', 'firing']))[0],
    20_000,
    'the alert to fire',
  );
  assert.equal(alert.ruleId, rule.id);
  assert.equal(alert.deviceId, dev.deviceId);
  assert.equal(alert.value, 72);
  const table = await mooring(['alerts', 'list', '--rule', rule.id, '--device', dev.deviceId]);
  assert.match(table.stdout, new RegExp(`${alert.id}\\s+firing\\s+critical\\s+boiler too hot`));
  assert.equal((await ok(['alerts', 'list', '--state', 'resolved'])).length, 0);

  const acked = await ok(['alerts', 'acknowledge', alert.id, '--note', 'on it']);
  assert.equal(acked.state, 'acknowledged');
  assert.match(acked.acknowledgedBy, /^api-key:/);
  const again = await mooring(['alerts', 'acknowledge', alert.id]);
  assert.equal(again.code, 1, again.stderr);
  assert.match(again.stderr, /ALERT_STATE_CONFLICT \(409\)/);
  assert.match(again.stderr, /state: "acknowledged"/);
  assert.equal((await ok(['alerts', 'list', '--state', 'open']))[0].id, alert.id);

  const resolved = await mooring(['alerts', 'resolve', alert.id, '--note', 'valve replaced']);
  assert.equal(resolved.code, 0, resolved.stderr);
  assert.match(resolved.stdout, /state\s+resolved/);
  assert.match(resolved.stdout, /resolution\s+manual/);
  const show = await ok(['alerts', 'show', alert.id]);
  assert.equal(show.state, 'resolved');
  assert.equal(show.resolution, 'manual');
  const badState = await mooring(['alerts', 'list', '--state', 'closed']);
  assert.equal(badState.code, 2, badState.stderr);

  assert.equal((await mooring(['alerts', 'rules', 'delete', rule.id])).code, 0);
});

test('webhooks: refused address; create, list, show, update, disable, verify, rotate, deliveries, delete', async () => {
  const refused = await mooring([
    'webhooks',
    'create',
    '--name',
    'lan',
    '--url',
    'https://10.1.2.3/hook',
    '--event',
    'alert.fired',
  ]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /WEBHOOK_URL_REFUSED \(422\)/);
  assert.match(refused.stderr, /\/url: /);

  // Nothing answers on port 9: the webhook stays pending.
  const password = join(work, 'hook-password');
  writeFileSync(password, 'hunter2\n');
  const created = await mooring([
    'webhooks',
    'create',
    '--name',
    'ops',
    '--url',
    'https://127.0.0.1:9/hook',
    '--event',
    'alert.fired',
    '--event',
    'alert.resolved',
    '--tag',
    'plant',
    '--basic-user',
    'mooring',
    '--basic-password-file',
    password,
  ]);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /status\s+pending/);
  assert.match(created.stdout, /auth\s+basic \(mooring\)/);
  assert.match(created.stdout, /NOT shown again/);
  const secret = /^\s+(whsec_\S+)$/m.exec(created.stdout)?.[1];
  assert.ok(secret, created.stdout);
  assert.ok(!created.stdout.includes('hunter2'));
  const id = /^id\s+(whk_\S+)$/m.exec(created.stdout)![1]!;

  const list = await ok(['webhooks', 'list']);
  assert.deepEqual(
    list.map((w: any) => [w.id, w.status, w.eventTypes, w.deviceTags, w.auth]),
    [[id, 'pending', ['alert.fired', 'alert.resolved'], ['plant'], { type: 'basic', username: 'mooring' }]],
  );
  assert.match((await mooring(['webhooks', 'list'])).stdout, new RegExp(`${id}\\s+ops\\s+pending`));
  const shown = await mooring(['webhooks', 'show', id]);
  assert.match(shown.stdout, /events\s+alert\.fired, alert\.resolved/);
  assert.match(shown.stdout, /deviceTags\s+plant/);

  const updated = await ok([
    'webhooks',
    'update',
    id,
    '--name',
    'ops-2',
    '--event',
    'device.connected,device.disconnected',
    '--every-device',
    '--without-auth',
  ]);
  assert.equal(updated.name, 'ops-2');
  assert.deepEqual(updated.eventTypes, ['device.connected', 'device.disconnected']);
  assert.deepEqual(updated.deviceTags, []);
  assert.deepEqual(updated.auth, { type: 'none' });
  const nothing = await mooring(['webhooks', 'update', id]);
  assert.equal(nothing.code, 2, nothing.stderr);

  const disabled = await ok(['webhooks', 'update', id, '--disable']);
  assert.equal(disabled.status, 'disabled');
  const verify = await mooring(['webhooks', 'verify', id]);
  assert.equal(verify.code, 1, verify.stderr);
  assert.match(verify.stderr, /WEBHOOK_DISABLED \(409\)/);
  const enabled = await ok(['webhooks', 'update', id, '--enable']);
  assert.equal(enabled.status, 'pending');
  assert.equal((await ok(['webhooks', 'verify', id])).status, 'pending');

  const rotated = await ok(['webhooks', 'rotate-secret', id, '--overlap', '1h']);
  assert.match(rotated.secret, /^whsec_/);
  assert.notEqual(rotated.secret, secret);
  assert.ok(rotated.webhook.previousSecretUntil > Date.now() + 3_500_000);
  // Without --overlap the server's default (a day) applies; --overlap 0 drops the old secret at once.
  const human = await mooring(['webhooks', 'rotate-secret', id]);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /New signing secret \(shown this once, it is NOT shown again/);
  const until = /^previousSecretUntil\s+(\S+)$/m.exec(human.stdout)?.[1];
  assert.ok(until && Date.parse(until) > Date.now() + 86_000_000, human.stdout);
  assert.equal(
    (await ok(['webhooks', 'rotate-secret', id, '--overlap', '0'])).webhook.previousSecretUntil,
    null,
  );

  assert.deepEqual(await ok(['webhooks', 'deliveries', id]), []);
  assert.deepEqual(await ok(['webhooks', 'deliveries', id, '--status', 'dead']), []);
  const none = await mooring(['webhooks', 'delivery', id, 'whd_missing']);
  assert.equal(none.code, 4, none.stderr);
  assert.match(none.stderr, /WEBHOOK_DELIVERY_NOT_FOUND \(404\)/);
  assert.deepEqual(await ok(['webhooks', 'replay', id, '--from', '1h', '--status', 'dead']), { replayed: 0 });
  const noRange = await mooring(['webhooks', 'replay', id]);
  assert.equal(noRange.code, 2, noRange.stderr);

  const deleted = await mooring(['webhooks', 'delete', id]);
  assert.equal(deleted.code, 0, deleted.stderr);
  const gone = await mooring(['webhooks', 'show', id]);
  assert.equal(gone.code, 4, gone.stderr);
  assert.match(gone.stderr, /WEBHOOK_NOT_FOUND \(404\)/);
});

test('webhooks: a receiver answers the challenge; a delivery, its attempts, replay by id and by range', async () => {
  const pki = join(t.dataDir, 'pki');
  const received: { headers: Record<string, unknown>; body: any }[] = [];
  const receiver: Server = createServer(
    { cert: readFileSync(join(pki, 'server.pem')), key: readFileSync(join(pki, 'server.key.pem')) },
    (req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        const body = JSON.parse(text);
        received.push({ headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body.type === 'webhook.verification' ? JSON.stringify({ challenge: body.challenge }) : '{}');
      });
    },
  );
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  try {
    const port = (receiver.address() as AddressInfo).port;
    const dev = await t.device(apiKey, { name: 'thermo', tags: ['hall'] });
    const w = await ok([
      'webhooks',
      'create',
      '--name',
      'here',
      '--url',
      `https://127.0.0.1:${port}/events`,
      '--event',
      'config.desired.changed',
      '--tag',
      'hall',
      '--ca-file',
      caFile,
    ]);
    const id = w.webhook.id;
    assert.match(w.secret, /^whsec_/);
    assert.equal(w.webhook.caPem, t.platform.caCert);
    await eventually(
      async () => (await ok(['webhooks', 'show', id])).status === 'active',
      15_000,
      'the webhook to be verified',
    );

    assert.equal((await mooring(['config', 'set', dev.deviceId, '--set', 'sampling.seconds=30'])).code, 0);
    const [delivery] = await eventually(
      async () => {
        const d = await ok(['webhooks', 'deliveries', id, '--status', 'delivered']);
        return d.length ? d : undefined;
      },
      15_000,
      'the delivery',
    );
    assert.equal(delivery.eventType, 'config.desired.changed');
    assert.equal(delivery.attempts, 1);
    const events = () => received.filter((r) => r.body.type === 'config.desired.changed');
    assert.equal(events().length, 1);
    assert.equal(events()[0]!.body.deviceId, dev.deviceId);

    const detail = await mooring(['webhooks', 'delivery', id, delivery.id]);
    assert.equal(detail.code, 0, detail.stderr);
    assert.match(detail.stdout, /status\s+delivered/);
    assert.match(detail.stdout, /ATTEMPT\s+AT\s+STATUS\s+LATENCYMS/);
    assert.match(detail.stdout, /^1\s+\S+Z\s+200\s+\d+/m);
    assert.match(detail.stdout, /event\s+\{.*"type":"config\.desired\.changed"/);
    const detailJson = await ok(['webhooks', 'delivery', id, delivery.id]);
    assert.equal(detailJson.attemptLog.length, 1);
    assert.equal(detailJson.event.id, events()[0]!.body.id);

    const one = await ok(['webhooks', 'replay', id, delivery.id]);
    assert.equal(one.id, delivery.id);
    await eventually(() => events().length === 2, 15_000, 'the replayed delivery');
    const both = await mooring(['webhooks', 'replay', id, delivery.id, '--from', '1h']);
    assert.equal(both.code, 2, both.stderr);
    await eventually(
      async () => (await ok(['webhooks', 'delivery', id, delivery.id])).status === 'delivered',
      15_000,
      'the replay to be delivered',
    );
    const range = await mooring([
      'webhooks',
      'replay',
      id,
      '--from',
      new Date(Date.now() - 3_600_000).toISOString(),
      '--to',
      String(Date.now() + 1000),
      '--status',
      'delivered',
    ]);
    assert.equal(range.code, 0, range.stderr);
    assert.match(range.stdout, /Queued 1 delivery for delivery again/);
    await eventually(() => events().length === 3, 15_000, 'the range replay');
    // Every copy is the same event: receivers deduplicate by its id.
    assert.equal(new Set(events().map((e) => e.body.id)).size, 1);
    assert.equal((await mooring(['webhooks', 'delete', id])).code, 0);
  } finally {
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  }
});
