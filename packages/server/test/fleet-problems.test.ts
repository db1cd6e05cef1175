/**
 * Recent failures and refusals (`GET /v1/fleet/problems`): a publish the broker refuses is kept once,
 * a device flooding refusals is kept in a bounded number of rows (docs/mqtt.md#refusals-are-kept),
 * abnormal disconnects and failed provisioning show beside them, another tenant and a caller scoped
 * to other devices see none of it, and bad query input is a 400 problem, never a 500.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startTestPlatform, type TestPlatform } from './harness.js';
import { deviceKeyAndCsr } from './openssl.js';

let t: TestPlatform;
let apiKey: string;
const work = mkdtempSync(join(tmpdir(), 'mooring-problems-test-'));
before(async () => {
  t = await startTestPlatform();
  ({ apiKey } = await t.tenant());
});
after(async () => {
  await t.stop();
});

const problems = async (query: string, token = apiKey) => {
  const r = await t.call('GET', `/v1/fleet/problems?${query}`, { token });
  assert.equal(r.status, 200, r.text);
  return r.body as { items: any[]; nextCursor: string | null };
};
const storedRows = async (deviceId: string) =>
  Number(
    (
      await t.platform.db.query<{ n: string }>(
        'SELECT count(*) AS n FROM device_refusals WHERE device_id = $1',
        [deviceId],
      )
    )[0]!.n,
  );

test('a refused publish is stored once, with its code, topic and device, and counted', async () => {
  const { deviceId, accessKey } = await t.device(apiKey, { name: 'refused-once' });
  const victim = await t.device(apiKey);
  const client = await t.connectDevice(deviceId, accessKey);
  try {
    await client.publishAsync(`d/${victim.deviceId}/telemetry`, JSON.stringify({ values: { x: 1 } }), {
      qos: 1,
    });
    await client.publishAsync(`d/${deviceId}/telemetry`, '{"values": {"x": [1]}}', { qos: 1 });
  } finally {
    client.end(true);
  }
  const page = await eventually(async () => {
    const p = await problems(`deviceId=${deviceId}&kind=publish_refused`);
    return p.items.length === 2 && p;
  });
  const [invalid, foreign] = page.items;
  assert.equal(foreign.code, 'TOPIC_NOT_ALLOWED');
  assert.equal(foreign.topic, `d/${victim.deviceId}/telemetry`);
  assert.equal(foreign.deviceId, deviceId);
  assert.equal(foreign.deviceName, 'refused-once');
  assert.equal(foreign.count, 1);
  assert.match(foreign.message, /not allowed/);
  assert.equal(invalid.code, 'INVALID_TELEMETRY');
  assert.ok(invalid.at >= foreign.at, 'newest first');
  assert.equal(await storedRows(deviceId), 2);
  // Nothing of another device, and the counts say the same.
  assert.deepEqual((await problems(`deviceId=${victim.deviceId}`)).items, []);
  const counts = await t.call('GET', `/v1/fleet/problems/counts?deviceId=${deviceId}`, { token: apiKey });
  assert.equal(counts.status, 200, counts.text);
  assert.equal(counts.body.items.find((i: any) => i.kind === 'publish_refused').count, 2);
  assert.equal(counts.body.items.length, 7, 'every kind is listed');
});

test('a flood of 1,000 refused publishes is stored in a bounded number of rows', async () => {
  const { deviceId, accessKey } = await t.device(apiKey, { name: 'flooder' });
  const client = await t.connectDevice(deviceId, accessKey);
  try {
    const sends = [];
    for (let i = 0; i < 1000; i++) sends.push(client.publishAsync('not/mine', '{}', { qos: 1 }));
    await Promise.all(sends);
    assert.ok(client.connected);
  } finally {
    client.end(true);
  }
  await eventually(async () => (await storedRows(deviceId)) > 0);
  // Give the writes a moment to land: more must not come.
  await new Promise((r) => setTimeout(r, 300));
  const rows = await storedRows(deviceId);
  // One per 10 s window: the first, and at most one carrying the count when a window closed.
  assert.ok(rows >= 1 && rows <= 2, `${rows} rows`);
  const page = await problems(`deviceId=${deviceId}&kind=publish_refused`);
  const counted = page.items.reduce((n, p) => n + p.count, 0);
  assert.ok(counted >= 1 && counted <= 1000, String(counted));
  // The abnormal end of that session is listed too (the test dropped the connection).
  const lost = await eventually(async () => {
    const p = await problems(`deviceId=${deviceId}&kind=abnormal_disconnect`);
    return p.items.length > 0 && p.items[0];
  });
  assert.equal(lost.code, 'connection_lost');
});

test('pages follow the cursor, newest first, without repeating or skipping', async () => {
  const { deviceId, accessKey } = await t.device(apiKey, { name: 'pager' });
  const client = await t.connectDevice(deviceId, accessKey);
  try {
    // Five codes: five rows.
    await client.publishAsync('a/b', '{}', { qos: 1 });
    await client.publishAsync(`d/${deviceId}/telemetry`, 'not json', { qos: 1 });
    await client.publishAsync(`d/${deviceId}/telemetry`, '{"values": {"x": [1]}}', { qos: 1 });
    await client.publishAsync(`d/${deviceId}/state/firmware`, '{"version": 1}', { qos: 1 });
    await client.publishAsync(`d/${deviceId}/commands/nope/result`, '{"status": "succeeded"}', { qos: 1 });
  } finally {
    client.end(true);
  }
  const all = await eventually(async () => {
    const p = await problems(`deviceId=${deviceId}&limit=500`);
    return p.items.length >= 6 && p.items;
  });
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const p: { items: any[]; nextCursor: string | null } = await problems(
      `deviceId=${deviceId}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    seen.push(...p.items.map((i) => `${i.kind}/${i.id}`));
    cursor = p.nextCursor;
  } while (cursor);
  assert.deepEqual(
    seen,
    all.map((i: any) => `${i.kind}/${i.id}`),
  );
  for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].at >= all[i].at);
});

test("another tenant, and a caller scoped to other devices, see none of a device's refusals", async () => {
  const { deviceId, accessKey } = await t.device(apiKey, { name: 'private', tags: ['line:a'] });
  const client = await t.connectDevice(deviceId, accessKey);
  try {
    await client.publishAsync('x/y', '{}', { qos: 1 });
  } finally {
    client.end(true);
  }
  await eventually(async () => (await problems(`deviceId=${deviceId}`)).items.length > 0);

  const other = await t.tenant();
  assert.deepEqual((await problems(`deviceId=${deviceId}`, other.apiKey)).items, []);
  assert.ok((await problems('', other.apiKey)).items.every((p) => p.deviceId !== deviceId));
  const counts = await t.call('GET', `/v1/fleet/problems/counts?deviceId=${deviceId}`, {
    token: other.apiKey,
  });
  assert.equal(counts.body.total, 0);

  const scopedKey = async (tag: string) => {
    const r = await t.call('POST', '/v1/api-keys', {
      token: apiKey,
      body: { name: `viewer ${tag}`, grants: [{ role: 'viewer', scope: { tag } }] },
    });
    assert.equal(r.status, 201, r.text);
    return r.body.secret as string;
  };
  const lineB = await scopedKey('line:b');
  assert.deepEqual((await problems(`deviceId=${deviceId}`, lineB)).items, []);
  assert.ok((await problems('', lineB)).items.every((p) => p.deviceId !== deviceId));
  const lineA = await scopedKey('line:a');
  const mine = await problems('', lineA);
  assert.ok(mine.items.length > 0 && mine.items.every((p) => p.deviceId === deviceId));
});

test('bad query input is a 400 problem with a stable code', async () => {
  const bad = async (query: string, code: string) => {
    const r = await t.call('GET', `/v1/fleet/problems${query}`, { token: apiKey });
    assert.equal(r.status, 400, `${query}: ${r.text}`);
    assert.match(String(r.headers['content-type']), /application\/problem\+json/);
    assert.equal(r.body.code, code, query);
  };
  await bad('?kind=everything', 'VALIDATION_FAILED');
  await bad('?limit=0', 'VALIDATION_FAILED');
  await bad('?limit=501', 'VALIDATION_FAILED');
  await bad('?unknown=1', 'VALIDATION_FAILED');
  await bad(`?deviceId=${'x'.repeat(65)}`, 'VALIDATION_FAILED');
  await bad('?from=yesterday', 'VALIDATION_FAILED');
  await bad(`?from=${Date.now() + 86_400_000}`, 'INVALID_TIME_RANGE');
  await bad('?cursor=not-a-cursor', 'INVALID_CURSOR');
  await bad('/counts?kind=publish_refused', 'VALIDATION_FAILED');
  const none = await t.call('GET', '/v1/fleet/problems', {});
  assert.equal(none.status, 401);
});

test("a device's audit records are found by its id, a certificate's revocation included", async () => {
  const serial = 'SN-AUDIT-1';
  const { csr } = deviceKeyAndCsr(work);
  const pt = await t.call('POST', '/v1/provisioning-tokens', {
    token: apiKey,
    body: { name: 'audit', kind: 'device', serial, approval: 'auto' },
  });
  const p = await t.call('POST', '/v1/device/provisioning/operations', {
    token: pt.body.secret,
    body: { serial, csr },
  });
  assert.equal(p.status, 200, p.text);
  const deviceId = p.body.deviceId as string;
  const certs = await t.call('GET', `/v1/devices/${deviceId}/certificates`, { token: apiKey });
  const certSerial = certs.body.items[0].serial as string;
  const key = await t.call('POST', `/v1/devices/${deviceId}/access-keys`, { token: apiKey });
  const revokedKey = await t.call('DELETE', `/v1/devices/${deviceId}/access-keys/${key.body.accessKey.id}`, {
    token: apiKey,
  });
  assert.equal(revokedKey.status, 204);
  const revokedCert = await t.call('POST', `/v1/certificates/${certSerial}/revoke`, {
    token: apiKey,
    body: { reason: 'lost' },
  });
  assert.equal(revokedCert.status, 204, revokedCert.text);

  const r = await t.call('GET', `/v1/audit?deviceId=${deviceId}&order=newest`, { token: apiKey });
  assert.equal(r.status, 200, r.text);
  const records = r.body.items as any[];
  assert.deepEqual(
    records.slice(0, 3).map((i) => [i.action, i.target]),
    [
      ['POST /v1/certificates/:serial/revoke', certSerial],
      ['DELETE /v1/devices/:deviceId/access-keys/:keyId', deviceId],
      ['POST /v1/devices/:deviceId/access-keys', deviceId],
    ],
  );
  assert.equal(records[0].changes.deviceId, deviceId);
  // The target filter alone does not find the revocation; another device's filter finds none of it.
  const byTarget = await t.call('GET', `/v1/audit?target=${deviceId}`, { token: apiKey });
  assert.ok(byTarget.body.items.every((i: any) => i.target === deviceId));
  const { deviceId: otherId } = await t.device(apiKey);
  const others = await t.call('GET', `/v1/audit?deviceId=${otherId}`, { token: apiKey });
  assert.ok(others.body.items.every((i: any) => i.target === otherId));
  // The chain still verifies.
  const verified = await t.call('GET', '/v1/audit/verify', { token: apiKey });
  assert.equal(verified.body.intact, true, verified.text);
  const tooLong = await t.call('GET', `/v1/audit?deviceId=${'x'.repeat(65)}`, { token: apiKey });
  assert.equal(tooLong.status, 400);
});
