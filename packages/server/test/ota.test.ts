/**
 * OTA end to end on a running server: offers and cancels over MQTT (delivered on subscribe and on
 * reconnect), progress reports over MQTT and HTTPS, the resumed ranged download, success counted on
 * the reported version, refusals explained on d/{id}/errors, the emergency stop, outbox facts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { startTestPlatform, type TestPlatform } from './harness.js';

let t: TestPlatform;
before(async () => {
  t = await startTestPlatform();
});
after(async () => t.stop());

const octet = { 'content-type': 'application/octet-stream' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function upload(
  apiKey: string,
  hardwareClass: string,
  version = '2.0.0',
  bytes = randomBytes(64 * 1024),
) {
  const r = await t.call(
    'POST',
    `/v1/artifacts?version=${version}&hardwareClass=${hardwareClass}&sequence=2`,
    {
      token: apiKey,
      raw: bytes,
      headers: octet,
    },
  );
  assert.equal(r.status, 201, r.text);
  return { id: r.body.id as string, bytes };
}

/** A connected device reporting 1.0.0 on `hw`, subscribed to its OTA feed and errors, collecting both. */
async function otaDevice(apiKey: string, hw: string) {
  const d = await t.device(apiKey);
  const r = await t.call('PUT', '/v1/device/firmware', {
    token: d.accessKey,
    body: { version: '1.0.0', hardwareClass: hw },
  });
  assert.equal(r.status, 200, r.text);
  const messages: { topic: string; body: any; at: number }[] = [];
  const connect = async () => {
    const client = await t.connectDevice(d.deviceId, d.accessKey);
    client.on('message', (topic, payload) =>
      messages.push({ topic, body: JSON.parse(payload.toString()), at: Date.now() }),
    );
    await client.subscribeAsync([`d/${d.deviceId}/ota/+`, `d/${d.deviceId}/errors`], { qos: 1 });
    return client;
  };
  return { ...d, messages, connect };
}

async function until<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const report = (client: MqttClient, deviceId: string, operationId: string, body: object) =>
  client.publishAsync(`d/${deviceId}/ota/${operationId}/progress`, JSON.stringify(body), { qos: 1 });

test('an update over MQTT: offer on subscribe, resumed download, success on the reported version, facts', async () => {
  const { apiKey } = await t.tenant();
  const dev = await otaDevice(apiKey, 'e2e-hw');
  let client = await dev.connect();
  const art = await upload(apiKey, 'e2e-hw');
  const created = await t.call('POST', '/v1/deployments', {
    token: apiKey,
    body: { artifactId: art.id, target: { deviceIds: [dev.deviceId] }, phases: [{ percent: 100 }] },
  });
  assert.equal(created.status, 201, created.text);
  const offer = await until('the offer', () => dev.messages.find((m) => m.body.type === 'offer'));
  assert.equal(offer.topic, `d/${dev.deviceId}/ota/${offer.body.operationId}`);
  assert.equal(offer.body.artifact.version, '2.0.0');
  assert.equal(offer.body.artifact.size, art.bytes.length);
  const op = offer.body.operationId as string;

  // A report that is not one is refused and explained; nothing changes.
  await report(client, dev.deviceId, op, { attempt: 1, state: 'succeeded' });
  const refusal = await until('the refusal', () => dev.messages.find((m) => m.topic.endsWith('/errors')));
  assert.equal(refusal.body.code, 'INVALID_OTA_REPORT');

  await report(client, dev.deviceId, op, { attempt: 1, state: 'accepted' });
  // The download breaks off at 60 % and resumes from there with Range.
  const cut = Math.floor(art.bytes.length * 0.6);
  const first = await t.call('GET', offer.body.downloadPath, {
    token: dev.accessKey,
    headers: { range: `bytes=0-${cut - 1}` },
  });
  assert.equal(first.status, 206);
  await report(client, dev.deviceId, op, { attempt: 1, state: 'downloading', progress: 60 });
  const rest = await t.call('GET', offer.body.downloadPath, {
    token: dev.accessKey,
    headers: { range: `bytes=${cut}-` },
  });
  assert.equal(rest.status, 206);
  assert.equal(rest.headers['content-range'], `bytes ${cut}-${art.bytes.length - 1}/${art.bytes.length}`);
  for (const state of ['downloaded', 'installing', 'rebooting'])
    await report(client, dev.deviceId, op, { attempt: 1, state });
  // The reboot: the offer is delivered again on reconnect (the device deduplicates by id and attempt).
  client.end(true);
  const before = dev.messages.length;
  client = await dev.connect();
  await until('the offer again', () => dev.messages.slice(before).find((m) => m.body.type === 'offer'));
  await report(client, dev.deviceId, op, { attempt: 1, state: 'succeeded', version: '2.0.0' });
  const done = await until('completion', async () => {
    const d = await t.call('GET', `/v1/deployments/${created.body.id}`, { token: apiKey });
    return d.body.status === 'completed' ? d.body : undefined;
  });
  assert.equal(done.counts.succeeded, 1);
  assert.equal(done.executions, 1);
  client.end(true);

  const facts = await t.platform.db.query<{ payload: { state: string } }>(
    `SELECT payload FROM outbox WHERE type = 'ota.operation.changed' AND payload->>'operationId' = $1 ORDER BY id`,
    [op],
  );
  assert.deepEqual(
    facts.map((f) => f.payload.state),
    ['offered', 'accepted', 'downloading', 'downloaded', 'installing', 'rebooting', 'succeeded'],
  );
  const status = await t.platform.db.query(
    `SELECT 1 FROM outbox WHERE type = 'deployment.status.changed' AND payload->>'deploymentId' = $1 AND payload->>'status' = 'completed'`,
    [created.body.id],
  );
  assert.equal(status.length, 1);
  // Once finished, the device may no longer download the image.
  const after = await t.call('GET', offer.body.downloadPath, { token: dev.accessKey });
  assert.equal(after.status, 404);
});

test('emergency stop: a cancel reaches an offered device within a second, and no new offer leaves', async () => {
  const { apiKey } = await t.tenant();
  const devs = [await otaDevice(apiKey, 'stop-hw'), await otaDevice(apiKey, 'stop-hw')];
  const clients = [await devs[0]!.connect(), await devs[1]!.connect()];
  const art = await upload(apiKey, 'stop-hw');
  const created = await t.call('POST', '/v1/deployments', {
    token: apiKey,
    // One device per phase and a long soak: the second is never offered before the stop.
    body: { artifactId: art.id, target: {}, phases: [{ percent: 50, soakSeconds: 3600 }, { percent: 100 }] },
  });
  assert.equal(created.status, 201, created.text);
  const offered = await until('one offer', () =>
    devs.find((d) => d.messages.some((m) => m.body.type === 'offer')),
  );
  const other = devs.find((d) => d !== offered)!;
  const stopped = Date.now();
  const stop = await t.call('POST', `/v1/deployments/${created.body.id}/stop`, {
    token: apiKey,
    body: { reason: 'bad build' },
  });
  assert.equal(stop.status, 200, stop.text);
  assert.equal(stop.body.status, 'stopped');
  const cancel = await until(
    'the cancel',
    () => offered.messages.find((m) => m.body.type === 'cancel'),
    1_000,
  );
  assert.ok(cancel.at - stopped <= 1_000, `cancel after ${cancel.at - stopped} ms`);
  assert.equal(cancel.body.reason, 'bad build');
  await sleep(1_500);
  assert.ok(!other.messages.some((m) => m.body.type === 'offer'), 'no new offer after the stop');
  // The device acknowledges; its report is taken over HTTPS too.
  const ack = await t.call('POST', `/v1/device/ota/${cancel.body.operationId}/progress`, {
    token: offered.accessKey,
    body: { attempt: 1, state: 'cancelled' },
  });
  assert.equal(ack.status, 200, ack.text);
  assert.equal((await t.call('GET', '/v1/device/ota', { token: offered.accessKey })).body.items.length, 0);
  // Another device's operation is unknown to this one.
  const foreign = await t.call('POST', `/v1/device/ota/${cancel.body.operationId}/progress`, {
    token: other.accessKey,
    body: { attempt: 1, state: 'accepted' },
  });
  assert.equal(foreign.status, 404);
  assert.equal(foreign.body.code, 'OTA_OPERATION_NOT_FOUND');
  for (const c of clients) c.end(true);
});
