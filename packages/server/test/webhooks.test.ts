/**
 * Webhooks end to end: an endpoint is verified before events flow; events arrive signed (checked with
 * the `standardwebhooks` library and with an independent verifier); a receiver that is down for what
 * the schedule counts as ten minutes loses nothing; a rotated-out secret stops verifying; 410 disables
 * the endpoint; the delivery log and replays; and addresses of the platform's own network refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { deviceKeyAndCsr } from './openssl.js';
import { eventually, startTestPlatform, type TestPlatform } from './harness.js';
import { startReceiver, verifyStandardWebhook, type Receiver } from './webhook-receiver.js';

let t: TestPlatform;
let receiver: Receiver;
before(async () => {
  receiver = await startReceiver();
  // 0.001: the schedule's 5 s, 5 min, 30 min… become 5 ms, 300 ms, 1.8 s…
  t = await startTestPlatform({
    MOORING_OUTBOUND_ALLOW_LIST: '127.0.0.1/32',
    MOORING_WEBHOOK_RETRY_SCALE: '0.001',
  });
});
after(async () => {
  await t.stop();
  await receiver.close();
});

async function hook(apiKey: string, body: Record<string, unknown> = {}) {
  const r = await t.call('POST', '/v1/webhooks', {
    token: apiKey,
    body: {
      name: 'ops',
      url: receiver.url,
      eventTypes: ['config.desired.changed'],
      caPem: receiver.ca,
      ...body,
    },
  });
  assert.equal(r.status, 201, r.text);
  const id = r.body.webhook.id as string;
  await eventually(
    async () => (await t.call('GET', `/v1/webhooks/${id}`, { token: apiKey })).body.status === 'active',
    10_000,
    'the webhook to be verified',
  );
  return { id, secret: r.body.secret as string };
}

const change = (apiKey: string, deviceId: string, patch: Record<string, unknown>) =>
  t.call('PATCH', `/v1/devices/${deviceId}/config/desired`, { token: apiKey, body: patch });

const eventsFor = (deviceId: string) =>
  receiver.events().filter((e) => e.json.deviceId === deviceId && e.json.type === 'config.desired.changed');

test('verified first, then every event arrives signed; both verifiers accept it, and refuse it tampered or old', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  const created = await t.call('POST', '/v1/webhooks', {
    token: apiKey,
    body: { name: 'x', url: receiver.url, eventTypes: ['config.desired.changed'], caPem: receiver.ca },
  });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.body.webhook.status, 'pending');
  assert.match(created.body.secret, /^whsec_/);
  const id = created.body.webhook.id as string;
  const secret = created.body.secret as string;
  await eventually(
    async () => (await t.call('GET', `/v1/webhooks/${id}`, { token: apiKey })).body.status === 'active',
    10_000,
    'the webhook to be verified',
  );
  const challenge = receiver.received.find(
    (r) => r.json.type === 'webhook.verification' && r.json.webhookId === id,
  );
  assert.ok(challenge, 'the endpoint got a challenge');
  verifyStandardWebhook(secret, challenge.headers, challenge.body);

  for (let i = 0; i < 3; i++) assert.equal((await change(apiKey, d.deviceId, { n: i })).status, 200);
  const got = await eventually(
    () => eventsFor(d.deviceId).length >= 3 && eventsFor(d.deviceId),
    10_000,
    'events',
  );
  const versions = got.map((e) => (e.json.data as { version: number }).version).sort();
  assert.deepEqual(versions, [1, 2, 3]);
  const library = new StandardWebhook(secret);
  for (const e of got) {
    verifyStandardWebhook(secret, e.headers, e.body);
    library.verify(e.body, e.headers);
    assert.equal(e.headers['webhook-id'], e.json.id, 'the message id is the event id');
    assert.equal(e.json.tenantId !== undefined, true);
  }
  const sample = got[0]!;
  assert.throws(
    () => verifyStandardWebhook(secret, sample.headers, sample.body.replace('"n"', '"m"')),
    /no signature/,
  );
  assert.throws(() => library.verify(sample.body.replace('"n"', '"m"'), sample.headers));
  const old = { ...sample.headers, 'webhook-timestamp': String(Math.floor(Date.now() / 1000) - 3600) };
  assert.throws(() => verifyStandardWebhook(secret, old, sample.body), /tolerance/);
  assert.throws(() => library.verify(sample.body, old));

  const log = await t.call('GET', `/v1/webhooks/${id}/deliveries`, { token: apiKey });
  assert.equal(log.status, 200, log.text);
  assert.equal(log.body.items.length, 3);
  assert.ok(log.body.items.every((x: { status: string }) => x.status === 'delivered'));
  const one = await t.call('GET', `/v1/webhooks/${id}/deliveries/${log.body.items[0].id}`, { token: apiKey });
  assert.equal(one.body.attemptLog[0].status, 200);
  assert.equal(one.body.attemptLog[0].responseExcerpt, 'ok');
});

test('a receiver down for ten minutes of the schedule loses nothing: every event arrives after it returns', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  await hook(apiKey);
  await receiver.down();
  try {
    for (let i = 0; i < 10; i++) assert.equal((await change(apiKey, d.deviceId, { n: i })).status, 200);
    // 600 ms at this scale is ten minutes of the schedule: the first retries have failed by then.
    await new Promise((r) => setTimeout(r, 600));
  } finally {
    await receiver.up();
  }
  const got = await eventually(
    () => eventsFor(d.deviceId).length >= 10 && eventsFor(d.deviceId),
    30_000,
    'every event',
  );
  const versions = [...new Set(got.map((e) => (e.json.data as { version: number }).version))].sort(
    (a, b) => a - b,
  );
  assert.deepEqual(versions, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
});

test('rotation: during the overlap both secrets verify; afterwards the rotated-out one does not', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  const { id, secret: first } = await hook(apiKey);
  const rotated = await t.call('POST', `/v1/webhooks/${id}/rotate-secret`, {
    token: apiKey,
    body: { overlapSeconds: 3600 },
  });
  assert.equal(rotated.status, 200, rotated.text);
  const second = rotated.body.secret as string;
  assert.notEqual(second, first);
  assert.ok(rotated.body.webhook.previousSecretUntil > Date.now());
  await change(apiKey, d.deviceId, { a: 1 });
  const [during] = await eventually(
    () => eventsFor(d.deviceId).length >= 1 && eventsFor(d.deviceId),
    10_000,
    'event',
  );
  verifyStandardWebhook(first, during!.headers, during!.body);
  verifyStandardWebhook(second, during!.headers, during!.body);

  const again = await t.call('POST', `/v1/webhooks/${id}/rotate-secret`, {
    token: apiKey,
    body: { overlapSeconds: 0 },
  });
  const third = again.body.secret as string;
  await change(apiKey, d.deviceId, { a: 2 });
  const after = await eventually(
    () => eventsFor(d.deviceId).length >= 2 && eventsFor(d.deviceId)[1],
    10_000,
    'event',
  );
  verifyStandardWebhook(third, after.headers, after.body);
  assert.throws(() => verifyStandardWebhook(second, after.headers, after.body), /no signature/);
  assert.throws(() => new StandardWebhook(second).verify(after.body, after.headers));
});

test('a failing receiver is retried with Retry-After honoured, 410 disables the endpoint, and a replay sends again', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  const { id } = await hook(apiKey);
  receiver.answer = { status: 503, headers: { 'retry-after': '2' } };
  try {
    await change(apiKey, d.deviceId, { a: 1 });
    const first = await eventually(
      () => eventsFor(d.deviceId).length >= 1 && eventsFor(d.deviceId)[0],
      10_000,
      'a try',
    );
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(
      eventsFor(d.deviceId).length,
      1,
      'no retry before Retry-After (2 s), though the schedule said 5 ms',
    );
    receiver.answer = { status: 410 };
    const second = await eventually(
      () => eventsFor(d.deviceId).length >= 2 && eventsFor(d.deviceId)[1],
      10_000,
      'a retry',
    );
    assert.ok(second.at - first.at >= 1900, `retried after ${second.at - first.at} ms`);
    const gone = await eventually(
      async () => {
        const w = await t.call('GET', `/v1/webhooks/${id}`, { token: apiKey });
        return w.body.status === 'disabled' && w.body;
      },
      5000,
      'the endpoint disabled',
    );
    assert.match(gone.statusReason, /410/);
  } finally {
    receiver.answer = { status: 200 };
  }
  const log = await t.call('GET', `/v1/webhooks/${id}/deliveries`, { token: apiKey });
  const delivery = log.body.items[0];
  assert.equal(delivery.status, 'pending');
  const detail = await t.call('GET', `/v1/webhooks/${id}/deliveries/${delivery.id}`, { token: apiKey });
  assert.deepEqual(
    detail.body.attemptLog.map((a: { status: number }) => a.status),
    [503, 410],
  );
  // Enabled again, it is verified again, and what waited flows.
  const enabled = await t.call('PATCH', `/v1/webhooks/${id}`, { token: apiKey, body: { enabled: true } });
  assert.equal(enabled.body.status, 'pending');
  await eventually(() => eventsFor(d.deviceId).length >= 3, 10_000, 'the waiting delivery');
  await eventually(
    async () =>
      (await t.call('GET', `/v1/webhooks/${id}/deliveries/${delivery.id}`, { token: apiKey })).body.status ===
      'delivered',
    5000,
    'delivered',
  );
  const replay = await t.call('POST', `/v1/webhooks/${id}/deliveries/${delivery.id}/replay`, {
    token: apiKey,
  });
  assert.equal(replay.status, 202, replay.text);
  await eventually(() => eventsFor(d.deviceId).length >= 4, 10_000, 'the replay');
  const range = await t.call('POST', `/v1/webhooks/${id}/replay`, {
    token: apiKey,
    body: { from: Date.now() - 60_000, to: Date.now() + 1000 },
  });
  assert.deepEqual(range.body, { replayed: 1 });
  await eventually(() => eventsFor(d.deviceId).length >= 5, 10_000, 'the range replay');
});

test('addresses of the platform’s own network are refused; another tenant’s webhook is not found', async () => {
  const { apiKey } = await t.tenant();
  // Only 127.0.0.1/32 is allowed here: every other private form is still refused.
  for (const url of [
    'https://127.0.0.2/',
    'https://[::1]/',
    'https://169.254.169.254/latest/meta-data',
    'https://10.0.0.1/',
    'https://192.168.1.10/',
    'https://[fd00::1]/',
    'https://2130706434/',
    'https://[::ffff:10.0.0.1]/',
    'https://0.0.0.0/',
    'https://localhost/',
    'http://203.0.113.10/',
    'https://user:pass@example.com/',
  ]) {
    const r = await t.call('POST', '/v1/webhooks', {
      token: apiKey,
      body: { name: 'x', url, eventTypes: ['device.deleted'] },
    });
    assert.equal(r.status, 422, `${url}: ${r.text}`);
    assert.equal(r.body.code, 'WEBHOOK_URL_REFUSED', url);
  }
  const oauth = await t.call('POST', '/v1/webhooks', {
    token: apiKey,
    body: {
      name: 'x',
      url: receiver.url,
      eventTypes: ['device.deleted'],
      auth: { type: 'oauth2', tokenUrl: 'https://169.254.169.254/token', clientId: 'c', clientSecret: 's' },
    },
  });
  assert.equal(oauth.status, 422, oauth.text);
  const other = await t.tenant();
  const { id } = await hook(apiKey);
  for (const [method, path] of [
    ['GET', `/v1/webhooks/${id}`],
    ['DELETE', `/v1/webhooks/${id}`],
    ['GET', `/v1/webhooks/${id}/deliveries`],
  ] as const) {
    const r = await t.call(method, path, { token: other.apiKey });
    assert.equal(r.status, 404, r.text);
    assert.equal(r.body.code, 'WEBHOOK_NOT_FOUND');
  }
  const listed = await t.call('GET', '/v1/webhooks', { token: apiKey });
  assert.ok(!JSON.stringify(listed.body).includes('whsec_'), 'no secret is ever listed');
});

test('device events reach webhooks: connect and disconnect, telemetry batched per second, device events, command results', async () => {
  const { apiKey, tenantId } = await t.tenant();
  const d = await t.device(apiKey);
  await hook(apiKey, {
    eventTypes: [
      'device.connected',
      'device.disconnected',
      'telemetry.batch',
      'device.event',
      'command.result',
    ],
  });
  const mine = () => receiver.events().filter((e) => e.json.deviceId === d.deviceId);
  const ofType = (type: string) => mine().filter((e) => e.json.type === type);
  const batches = () =>
    receiver.events().filter((e) => e.json.type === 'telemetry.batch' && e.json.tenantId === tenantId);
  const client = await t.connectDevice(d.deviceId, d.accessKey);
  try {
    await client.subscribeAsync(`d/${d.deviceId}/commands/+`, { qos: 1 });
    // 50 messages in a burst: they arrive as one or a few telemetry.batch events, not fifty.
    for (let i = 0; i < 50; i++)
      await client.publishAsync(`d/${d.deviceId}/telemetry`, JSON.stringify({ values: { seq: i } }), {
        qos: 1,
      });
    await client.publishAsync(
      `d/${d.deviceId}/events`,
      JSON.stringify({ type: 'door', severity: 'warning', message: 'opened' }),
      { qos: 1 },
    );
    const command = await t.call('POST', `/v1/devices/${d.deviceId}/commands`, {
      token: apiKey,
      body: { name: 'reboot' },
    });
    await client.publishAsync(
      `d/${d.deviceId}/commands/${command.body.id}/result`,
      JSON.stringify({ status: 'succeeded', result: { ok: true } }),
      { qos: 1 },
    );
    await eventually(() => ofType('device.connected').length === 1, 10_000, 'device.connected');
    const readings = await eventually(
      () => {
        const all = batches().flatMap((e) =>
          devicesIn(e.json).flatMap((part) => {
            assert.equal(part.deviceId, d.deviceId);
            return part.readings as { value: number }[];
          }),
        );
        return all.length >= 50 && all;
      },
      10_000,
      'every reading',
    );
    assert.deepEqual(
      readings.map((r) => r.value).sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.ok(batches().length <= 10, `${batches().length} requests for 50 messages`);
    // One device's readings: the event names it.
    assert.ok(batches().every((e) => e.json.deviceId === d.deviceId));
    const [event] = await eventually(
      () => ofType('device.event').length >= 1 && ofType('device.event'),
      10_000,
      'device.event',
    );
    assert.equal((event!.json.data as { type: string }).type, 'door');
    const [result] = await eventually(
      () => ofType('command.result').length >= 1 && ofType('command.result'),
      10_000,
      'command.result',
    );
    assert.equal((result!.json.data as { commandId: string }).commandId, command.body.id);
    assert.deepEqual((result!.json.data as { result: unknown }).result, { ok: true });
  } finally {
    client.end(true);
  }
  const [gone] = await eventually(
    () => ofType('device.disconnected').length >= 1 && ofType('device.disconnected'),
    10_000,
    'device.disconnected',
  );
  assert.equal(typeof (gone!.json.data as { reason: string }).reason, 'string');
});

test('telemetry of several devices in one drain goes to each webhook whose tags match the device, and only there', async () => {
  const { apiKey, tenantId } = await t.tenant();
  const north = await t.device(apiKey, { name: 'north', tags: ['north'] });
  const south = await t.device(apiKey, { name: 'south', tags: ['south'] });
  const both = await t.device(apiKey, { name: 'both', tags: ['south', 'north'] });
  const none = await t.device(apiKey, { name: 'none' });
  const northHook = await hook(apiKey, { eventTypes: ['telemetry.batch'], deviceTags: ['north'] });
  const anyHook = await hook(apiKey, { eventTypes: ['telemetry.batch'] });
  const devices = [north, south, both, none];
  const clients = await Promise.all(devices.map((d) => t.connectDevice(d.deviceId, d.accessKey)));
  try {
    // Published together, so that one drain of the forwarder holds all four devices.
    await Promise.all(
      clients.map((c, i) =>
        c.publishAsync(`d/${devices[i]!.deviceId}/telemetry`, JSON.stringify({ values: { n: i } }), {
          qos: 1,
        }),
      ),
    );
  } finally {
    for (const c of clients) c.end(true);
  }
  const ids = new Set(devices.map((d) => d.deviceId));
  const devicesOfEvent = () =>
    new Map(
      receiver
        .events()
        .filter((e) => e.json.type === 'telemetry.batch' && e.json.tenantId === tenantId)
        .map((e) => [e.json.id, devicesIn(e.json).map((part) => part.deviceId)]),
    );
  /** The devices whose readings were delivered to the webhook (a delivery carries several). */
  const devicesDeliveredTo = async (webhookId: string) => {
    const log = await t.call('GET', `/v1/webhooks/${webhookId}/deliveries`, { token: apiKey });
    assert.equal(log.status, 200, log.text);
    const items = log.body.items as { eventId: string; status: string }[];
    const known = devicesOfEvent();
    return items
      .flatMap((x) => (x.status === 'delivered' ? (known.get(x.eventId) ?? ['?']) : [x.status]))
      .sort();
  };
  await eventually(
    async () =>
      (await devicesDeliveredTo(anyHook.id)).filter((x) => ids.has(x)).length === 4 &&
      (await devicesDeliveredTo(northHook.id)).filter((x) => ids.has(x)).length === 2,
    10_000,
    'the telemetry deliveries',
  );
  await new Promise((r) => setTimeout(r, 1_500)); // one more drain: nothing else may come
  assert.deepEqual(await devicesDeliveredTo(anyHook.id), [...ids].sort());
  assert.deepEqual(await devicesDeliveredTo(northHook.id), [north.deviceId, both.deviceId].sort());
});

test('telemetry of many devices reaches a webhook in a few requests a second, not one per device, and none is lost', async () => {
  const { apiKey, tenantId } = await t.tenant();
  const devices = await Promise.all(
    Array.from({ length: 20 }, (_, i) => t.device(apiKey, { name: `many-${i}` })),
  );
  await hook(apiKey, { eventTypes: ['telemetry.batch'] });
  const clients = await Promise.all(devices.map((d) => t.connectDevice(d.deviceId, d.accessKey)));
  try {
    await Promise.all(
      clients.map(async (c, i) => {
        for (let n = 0; n < 3; n++)
          await c.publishAsync(`d/${devices[i]!.deviceId}/telemetry`, JSON.stringify({ values: { n } }), {
            qos: 1,
          });
      }),
    );
  } finally {
    for (const c of clients) c.end(true);
  }
  const batches = () =>
    receiver.events().filter((e) => e.json.type === 'telemetry.batch' && e.json.tenantId === tenantId);
  const received = await eventually(
    () => {
      const got = new Map<string, number[]>();
      for (const e of batches())
        for (const part of devicesIn(e.json))
          for (const r of part.readings as { value: number }[])
            got.set(part.deviceId, [...(got.get(part.deviceId) ?? []), r.value]);
      return [...got.values()].flat().length >= 60 && got;
    },
    10_000,
    'every reading',
  );
  for (const d of devices) assert.deepEqual(received.get(d.deviceId)?.sort(), [0, 1, 2], d.deviceId);
  // 60 messages of 20 devices: one event per drain of the second or so they took, not twenty.
  assert.ok(batches().length <= 6, `${batches().length} requests for 20 devices`);
  assert.ok(
    batches().some((e) => devicesIn(e.json).length > 1 && e.json.deviceId === null),
    'an event of several devices names none',
  );
});

/** The devices' parts of a telemetry.batch event. */
function devicesIn(json: Record<string, unknown>): { deviceId: string; readings: unknown[] }[] {
  return (json.data as { devices: { deviceId: string; readings: unknown[] }[] }).devices;
}

test('provisioning decisions reach webhooks: approved with the device, rejected with the reason', async () => {
  const { apiKey } = await t.tenant();
  await hook(apiKey, { eventTypes: ['provisioning.decided'] });
  const pt = await t.call('POST', '/v1/provisioning-tokens', {
    token: apiKey,
    body: { name: 'pt', kind: 'batch', maxUses: 10, approval: 'manual' },
  });
  assert.equal(pt.status, 201, pt.text);
  const start = async (serial: string) => {
    const r = await t.call('POST', '/v1/device/provisioning/operations', {
      token: pt.body.secret,
      body: { serial },
    });
    assert.equal(r.status, 202, r.text);
    return r.body.operationId as string;
  };
  const a = await start('WH-APPROVE');
  const b = await start('WH-REJECT');
  const approved = await t.call('POST', `/v1/provisioning/operations/${a}/approve`, {
    token: apiKey,
    body: {},
  });
  assert.equal(approved.status, 200, approved.text);
  const rejected = await t.call('POST', `/v1/provisioning/operations/${b}/reject`, {
    token: apiKey,
    body: { reason: 'not ours' },
  });
  assert.equal(rejected.status, 200, rejected.text);
  const decided = (id: string) =>
    receiver
      .events()
      .find(
        (e) =>
          e.json.type === 'provisioning.decided' &&
          (e.json.data as { operationId: string }).operationId === id,
      );
  const ok = await eventually(() => decided(a), 10_000, 'the approval');
  assert.equal((ok.json.data as { status: string }).status, 'approved');
  assert.equal(ok.json.deviceId, approved.body.deviceId);
  const no = await eventually(() => decided(b), 10_000, 'the rejection');
  assert.deepEqual(
    [
      (no.json.data as { status: string }).status,
      (no.json.data as { reason: string }).reason,
      no.json.deviceId,
    ],
    ['rejected', 'not ours', null],
  );
});

test('certificate events: issued at approval, revoked once (a second revocation makes no second event)', async () => {
  const { apiKey } = await t.tenant();
  await hook(apiKey, { eventTypes: ['certificate.issued', 'certificate.revoked'] });
  const pt = await t.call('POST', '/v1/provisioning-tokens', {
    token: apiKey,
    body: { name: 'pt', kind: 'batch', maxUses: 10, approval: 'manual' },
  });
  const work = mkdtempSync(join(tmpdir(), 'mooring-webhook-cert-'));
  const { csr } = deviceKeyAndCsr(work);
  const op = await t.call('POST', '/v1/device/provisioning/operations', {
    token: pt.body.secret,
    body: { serial: 'WH-CERT', csr },
  });
  assert.equal(op.status, 202, op.text);
  const approved = await t.call('POST', `/v1/provisioning/operations/${op.body.operationId}/approve`, {
    token: apiKey,
    body: {},
  });
  assert.equal(approved.status, 200, approved.text);
  const ofType = (type: string) =>
    receiver.events().filter((e) => e.json.type === type && e.json.deviceId === approved.body.deviceId);
  const [issued] = await eventually(
    () => ofType('certificate.issued').length > 0 && ofType('certificate.issued'),
    10_000,
    'issued',
  );
  const serial = (issued!.json.data as { serial: string }).serial;
  assert.match(serial, /^[0-9a-f]+$/);
  for (let i = 0; i < 2; i++) {
    const r = await t.call('POST', `/v1/certificates/${serial}/revoke`, {
      token: apiKey,
      body: { reason: 'lost' },
    });
    assert.ok(r.status < 300, r.text);
  }
  const [revoked] = await eventually(
    () => ofType('certificate.revoked').length > 0 && ofType('certificate.revoked'),
    10_000,
    'revoked',
  );
  assert.deepEqual(
    [(revoked!.json.data as { serial: string }).serial, (revoked!.json.data as { reason: string }).reason],
    [serial, 'lost'],
  );
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(ofType('certificate.revoked').length, 1, 'the second revocation changed nothing');
});

test('credential events: an access key revoked, and the registration tokens of a device revoked', async () => {
  const { apiKey } = await t.tenant();
  await hook(apiKey, { eventTypes: ['credential.revoked'] });
  const d = await t.device(apiKey);
  const key = await t.call('DELETE', `/v1/devices/${d.deviceId}/access-keys/${d.accessKeyId}`, {
    token: apiKey,
  });
  assert.ok(key.status < 300, key.text);
  const rts = await t.call('POST', `/v1/devices/${d.deviceId}/registration-tokens/revoke`, { token: apiKey });
  assert.ok(rts.status < 300, rts.text);
  const revoked = await eventually(
    () => {
      const got = receiver
        .events()
        .filter((e) => e.json.type === 'credential.revoked' && e.json.deviceId === d.deviceId);
      return got.length >= 2 && got;
    },
    10_000,
    'both revocations',
  );
  assert.deepEqual(
    revoked
      .map((e) => [
        (e.json.data as { kind: string }).kind,
        (e.json.data as { credentialId: string }).credentialId,
      ])
      .sort(),
    [
      ['access-key', d.accessKeyId],
      ['registration-tokens', null],
    ],
  );
});
