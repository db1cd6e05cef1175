/**
 * The device list's filters by last seen and by certificate expiry (GET /v1/devices and the same
 * filter in POST /v1/devices/bulk): never-seen devices count as not seen since any time, the current
 * certificate is the latest-expiring live one (a renewed device is not expiring, a revoked or pending
 * certificate is not current), another tenant's devices are never counted, a scoped key sees only its
 * devices, and a time that is not one is a 400 naming the field.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestPlatform, type TestPlatform } from './harness.js';
import { deviceKeyAndCsr } from './openssl.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let t: TestPlatform;
const work = mkdtempSync(join(tmpdir(), 'mooring-filters-test-'));

before(async () => {
  t = await startTestPlatform();
});
after(async () => {
  await t.stop();
  rmSync(work, { recursive: true, force: true });
});

async function ids(apiKey: string, query: string): Promise<string[]> {
  const r = await t.call('GET', `/v1/devices?limit=500&${query}`, { token: apiKey });
  assert.equal(r.status, 200, `${query}: ${r.text}`);
  return (r.body.items as { id: string }[]).map((d) => d.id).sort();
}
const sorted = (...xs: string[]) => [...xs].sort();
const bulk = (apiKey: string, body: unknown) => t.call('POST', '/v1/devices/bulk', { token: apiKey, body });

/** Sets when the store last saw a device, as the telemetry writer and the MQTT connect do. */
async function seenAt(deviceId: string, at: number | null) {
  await t.platform.db.query('UPDATE devices SET last_seen_at = $2 WHERE id = $1', [deviceId, at]);
}

test('last seen: before includes the never seen, after is at or after, both split the fleet; other tenants and scopes stay out', async () => {
  const { apiKey } = await t.tenant();
  const other = await t.tenant();
  const now = Date.now();
  const dev = async (name: string, tags: string[] = []) => (await t.device(apiKey, { name, tags })).deviceId;
  const old = await dev('old', ['line-a']);
  const recent = await dev('recent', ['line-a']);
  const never = await dev('never', ['line-a']);
  const otherOld = await dev('other-old');
  await seenAt(old, now - 10 * DAY);
  await seenAt(otherOld, now - 3 * DAY);
  await seenAt(recent, now - HOUR);
  // A real connection marks the device seen now.
  const live = await t.device(apiKey, { name: 'live' });
  const client = await t.connectDevice(live.deviceId, live.accessKey);
  client.end(true);
  const foreign = (await t.device(other.apiKey, { name: 'foreign' })).deviceId;
  await seenAt(foreign, now - 10 * DAY);

  const dayAgo = now - DAY;
  assert.deepEqual(await ids(apiKey, `lastSeenBefore=${dayAgo}`), sorted(old, never, otherOld));
  assert.deepEqual(await ids(apiKey, `lastSeenBefore=${dayAgo}&neverSeen=false`), sorted(old, otherOld));
  assert.deepEqual(await ids(apiKey, 'neverSeen=true'), [never]);
  assert.deepEqual(await ids(apiKey, `lastSeenAfter=${dayAgo}`), sorted(recent, live.deviceId));
  assert.deepEqual(await ids(apiKey, `lastSeenAfter=${now - 2 * HOUR}&lastSeenBefore=${now - HOUR / 2}`), [
    recent,
  ]);
  // RFC 3339 names the same instant as epoch milliseconds.
  const iso = encodeURIComponent(new Date(now - 5 * DAY).toISOString());
  assert.deepEqual(await ids(apiKey, `lastSeenBefore=${iso}`), sorted(old, never));
  assert.deepEqual(
    await ids(
      apiKey,
      `lastSeenBefore=${encodeURIComponent(new Date(now - 5 * DAY).toISOString().replace('Z', '+00:00'))}`,
    ),
    sorted(old, never),
  );
  // Before T and after T partition the fleet, whatever T.
  const all = await ids(apiKey, '');
  for (const at of [0, now - 5 * DAY, now - 2 * HOUR, now + DAY]) {
    const split = [
      ...(await ids(apiKey, `lastSeenBefore=${at}`)),
      ...(await ids(apiKey, `lastSeenAfter=${at}`)),
    ];
    assert.deepEqual(split.sort(), all, `split at ${at}`);
  }
  assert.ok(!(await ids(apiKey, `lastSeenBefore=${now}`)).includes(foreign), 'another tenant counted');
  assert.deepEqual(await ids(other.apiKey, `lastSeenBefore=${now}`), [foreign]);

  // A key scoped to line-a lists only its devices with the filter.
  const k = await t.call('POST', '/v1/api-keys', {
    token: apiKey,
    body: { name: 'scoped', grants: [{ role: 'viewer', scope: { tag: 'line-a' } }] },
  });
  assert.equal(k.status, 201, k.text);
  assert.deepEqual(await ids(k.body.secret, `lastSeenBefore=${dayAgo}`), sorted(old, never));
  assert.deepEqual(await ids(k.body.secret, `lastSeenAfter=${dayAgo}`), [recent]);

  // The bulk dry run counts what the list shows; the operation acts on exactly those devices.
  for (const filter of [
    { lastSeenBefore: String(dayAgo) },
    { lastSeenBefore: new Date(dayAgo).toISOString(), neverSeen: false },
    { lastSeenAfter: String(dayAgo) },
    { neverSeen: true },
  ]) {
    const dry = await bulk(apiKey, { filter, action: { type: 'addTags', tags: ['x'] }, dryRun: true });
    assert.equal(dry.status, 200, dry.text);
    const query = new URLSearchParams(Object.entries(filter).map(([a, b]) => [a, String(b)])).toString();
    assert.equal(dry.body.matched, (await ids(apiKey, query)).length, JSON.stringify(filter));
  }
  const silent = await bulk(apiKey, {
    filter: { lastSeenBefore: String(dayAgo) },
    action: { type: 'addTags', tags: ['silent'] },
  });
  assert.deepEqual(silent.body, { dryRun: false, matched: 3, wouldChange: 3, changed: 3 });
  assert.deepEqual(await ids(apiKey, 'tag=silent'), sorted(old, never, otherOld));
  assert.deepEqual(await ids(other.apiKey, 'tag=silent'), [], 'another tenant changed');
});

test('a time that is not one is a 400 naming the field, in the list and in the bulk filter', async () => {
  const { apiKey } = await t.tenant();
  for (const [query, path] of [
    ['lastSeenBefore=yesterday', 'querystring:/lastSeenBefore'],
    ['lastSeenAfter=2025-13-45T00:00:00Z', 'querystring:/lastSeenAfter'],
    ['certificateExpiresBefore=99999999999999999999', 'querystring:/certificateExpiresBefore'],
    ['certificateExpiresBefore=next%20week', 'querystring:/certificateExpiresBefore'],
    // Date.parse alone reads -1 as 2001 and 2020-1 as a month.
    ['lastSeenBefore=-1', 'querystring:/lastSeenBefore'],
    ['lastSeenBefore=2020-1', 'querystring:/lastSeenBefore'],
  ]) {
    const r = await t.call('GET', `/v1/devices?${query}`, { token: apiKey });
    assert.equal(r.status, 400, `${query}: ${r.text}`);
    assert.match(String(r.headers['content-type']), /application\/problem\+json/);
    assert.equal(r.body.code, 'VALIDATION_FAILED', query);
    assert.equal(r.body.errors[0].path, path, query);
  }
  for (const query of ['lastSeenBefore=', `lastSeenAfter=${'1'.repeat(41)}`, 'neverSeen=maybe']) {
    const r = await t.call('GET', `/v1/devices?${query}`, { token: apiKey });
    assert.equal(r.status, 400, `${query}: ${r.text}`);
    assert.equal(r.body.code, 'VALIDATION_FAILED', query);
  }
  const r = await bulk(apiKey, {
    filter: { certificateExpiresBefore: 'soon' },
    action: { type: 'disable' },
    dryRun: true,
  });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.body.code, 'VALIDATION_FAILED');
  assert.equal(r.body.errors[0].path, '/filter/certificateExpiresBefore');
  const n = await bulk(apiKey, { filter: { lastSeenAfter: 5 }, action: { type: 'disable' }, dryRun: true });
  assert.equal(n.status, 400, n.text);
});

/** A device provisioned with a CSR (its tenant's issuing CA then exists), and that CA's id. */
async function provisioned(apiKey: string, serial: string) {
  const { csr } = deviceKeyAndCsr(work);
  const pt = await t.call('POST', '/v1/provisioning-tokens', {
    token: apiKey,
    body: { name: 'filters', kind: 'device', serial, approval: 'auto' },
  });
  assert.equal(pt.status, 201, pt.text);
  const r = await t.call('POST', '/v1/device/provisioning/operations', {
    token: pt.body.secret,
    body: { serial, csr },
  });
  assert.ok(r.body.deviceId, r.text);
  const [ca] = await t.platform.db.query<{ ca_id: string }>(
    'SELECT ca_id FROM device_certificates WHERE device_id = $1',
    [r.body.deviceId],
  );
  return { deviceId: r.body.deviceId as string, caId: ca!.ca_id };
}

let serials = 0;
/** Records a certificate for the device expiring at `notAfter` (the columns the filter reads). */
async function certificate(
  tenantId: string,
  deviceId: string,
  caId: string,
  notAfter: number,
  pending = false,
): Promise<string> {
  const serial = `f17e${(++serials).toString(16).padStart(8, '0')}`;
  await t.platform.db.query(
    `INSERT INTO device_certificates (serial, tenant_id, device_id, ca_id, fingerprint, cert_pem, not_before, not_after, created_at, pending)
     SELECT $1, $2, $3, $4, 'test', cert_pem, 0, $5, 0, $6 FROM certificate_authorities WHERE id = $4`,
    [serial, tenantId, deviceId, caId, notAfter, pending],
  );
  return serial;
}

test('certificate expiry: the current certificate decides; renewed, revoked, pending and certificate-less devices as documented', async () => {
  const { apiKey, tenantId } = await t.tenant();
  const other = await t.tenant();
  const now = Date.now();
  const real = await provisioned(apiKey, 'FLT-1'); // a year of validity
  const caId = real.caId;
  const dev = async (name: string) =>
    (await t.device(apiKey, { name, tags: name === 'soon' ? ['s'] : [] })).deviceId;
  const soon = await dev('soon');
  const expired = await dev('expired');
  const renewed = await dev('renewed');
  const revoked = await dev('revoked');
  const pending = await dev('pending');
  const none = await dev('none');
  await certificate(tenantId, soon, caId, now + 5 * DAY);
  await certificate(tenantId, expired, caId, now - DAY);
  await certificate(tenantId, renewed, caId, now + 5 * DAY);
  await certificate(tenantId, renewed, caId, now + 300 * DAY);
  const revokedSerial = await certificate(tenantId, revoked, caId, now + 5 * DAY);
  await certificate(tenantId, pending, caId, now + 400 * DAY);
  await certificate(tenantId, pending, caId, now + 5 * DAY, true);
  const otherCa = (await provisioned(other.apiKey, 'FLT-2')).caId;
  const foreign = (await t.device(other.apiKey, { name: 'foreign' })).deviceId;
  await certificate(other.tenantId, foreign, otherCa, now + 5 * DAY);

  const rv = await t.call('POST', `/v1/certificates/${revokedSerial}/revoke`, { token: apiKey, body: {} });
  assert.equal(rv.status, 204, rv.text);

  const in30 = now + 30 * DAY;
  assert.deepEqual(await ids(apiKey, `certificateExpiresBefore=${in30}`), sorted(soon, expired));
  assert.deepEqual(await ids(apiKey, `certificateExpiresBefore=${now}`), [expired]);
  const in2y = encodeURIComponent(new Date(now + 2 * 365 * DAY).toISOString());
  assert.deepEqual(
    await ids(apiKey, `certificateExpiresBefore=${in2y}`),
    sorted(soon, expired, renewed, pending, real.deviceId),
    'every device with a live certificate; the revoked-only and the certificate-less never',
  );
  assert.ok(!(await ids(apiKey, `certificateExpiresBefore=${in2y}`)).includes(none));
  assert.deepEqual(await ids(other.apiKey, `certificateExpiresBefore=${in30}`), [foreign]);
  // With the other filters.
  assert.deepEqual(await ids(apiKey, `certificateExpiresBefore=${in30}&tag=s`), [soon]);
  assert.deepEqual(
    await ids(apiKey, `certificateExpiresBefore=${in30}&neverSeen=true`),
    sorted(soon, expired),
  );

  // The bulk dry run with the filter counts the same devices, none of the other tenant's.
  const dry = await bulk(apiKey, {
    filter: { certificateExpiresBefore: new Date(in30).toISOString() },
    action: { type: 'addTags', tags: ['renew-me'] },
    dryRun: true,
  });
  assert.deepEqual(dry.body, { dryRun: true, matched: 2, wouldChange: 2, changed: 0 }, dry.text);
  const done = await bulk(apiKey, {
    filter: { certificateExpiresBefore: String(in30) },
    action: { type: 'addTags', tags: ['renew-me'] },
    expectMatched: 2,
  });
  assert.equal(done.body.changed, 2, done.text);
  assert.deepEqual(await ids(apiKey, 'tag=renew-me'), sorted(soon, expired));
  assert.deepEqual(await ids(other.apiKey, 'tag=renew-me'), []);
});
