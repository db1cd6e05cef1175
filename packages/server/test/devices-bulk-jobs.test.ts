/**
 * Bulk revocation and bulk desired configuration (POST /v1/devices/bulk, run as jobs): the dry run
 * counts, the job revokes every credential (certificate, access key, registration tokens) and drops
 * live sessions so that no credential connects again, the patch makes a version with its history on
 * each device and reaches a connected one, a device its schema refuses is skipped and named, another
 * tenant is untouched, the audit trail has the request with its counts and the job's end, and what an
 * attacker sends (no permission, a scoped grant, bad patches, a moved count, another tenant's job) is
 * refused with a named code and changes nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  closed,
  connectMqtt,
  eventually,
  nextMessage,
  startTestPlatform,
  type TestPlatform,
} from './harness.js';
import { deviceKeyAndCsr } from './openssl.js';

let t: TestPlatform;
const work = mkdtempSync(join(tmpdir(), 'mooring-bulk-jobs-test-'));
before(async () => {
  t = await startTestPlatform();
});
after(async () => {
  await t.stop();
});

const bulk = (apiKey: string, body: unknown) => t.call('POST', '/v1/devices/bulk', { token: apiKey, body });

async function finished(apiKey: string, jobId: string) {
  return eventually(
    async () => {
      const r = await t.call('GET', `/v1/devices/bulk/${jobId}`, { token: apiKey });
      assert.equal(r.status, 200, r.text);
      return r.body.status === 'done' || r.body.status === 'failed' ? r.body : undefined;
    },
    15_000,
    `bulk job ${jobId}`,
  );
}

/** A device provisioned with a CSR: a certificate and a registration token. */
async function provisioned(apiKey: string, serial: string) {
  const { key, csr } = deviceKeyAndCsr(work);
  const pt = await t.call('POST', '/v1/provisioning-tokens', {
    token: apiKey,
    body: { name: 'bulk', kind: 'device', serial, approval: 'auto' },
  });
  assert.equal(pt.status, 201, pt.text);
  const op = await t.call('POST', '/v1/device/provisioning/operations', {
    token: pt.body.secret,
    body: { serial, csr },
  });
  assert.equal(op.status, 200, op.text);
  assert.ok(op.body.registrationToken, 'no registration token with the certificate');
  const deviceId = op.body.deviceId as string;
  await t.call('PATCH', `/v1/devices/${deviceId}`, { token: apiKey, body: { tags: ['revoke-me'] } });
  const cert = op.body.certificate ? op.body.certificate + op.body.certificateChain : undefined;
  return {
    deviceId,
    withCertificate: () =>
      connectMqtt(t.platform.mqttMtlsPort, t.platform.caCert, { clientId: deviceId, key, cert: cert! }),
    withToken: () => t.connectDevice(deviceId, op.body.registrationToken),
    hasCertificate: cert !== undefined,
  };
}

async function key(apiKey: string, grants: unknown[]): Promise<string> {
  const r = await t.call('POST', '/v1/api-keys', { token: apiKey, body: { name: 'k', grants } });
  assert.equal(r.status, 201, r.text);
  return r.body.secret as string;
}

test('revoke: every credential of the matched devices stops working, their sessions drop, others stay', async () => {
  const { apiKey } = await t.tenant();
  const other = await t.tenant();
  const cert = await provisioned(apiKey, `bulk-cert-${process.pid}`);
  assert.ok(cert.hasCertificate, 'provisioning with a CSR gave no certificate');
  const keyed = await t.device(apiKey, { name: 'keyed', tags: ['revoke-me'] });
  const bare = await t.call('POST', '/v1/devices', {
    token: apiKey,
    body: { name: 'bare', tags: ['revoke-me'] },
  });
  assert.equal(bare.status, 201);
  const kept = await t.device(apiKey, { name: 'kept', tags: ['stay'] });
  const foreign = await t.device(other.apiKey, { name: 'foreign', tags: ['revoke-me'] });

  const sessions = [
    await cert.withCertificate(),
    await cert.withToken(),
    await t.connectDevice(keyed.deviceId, keyed.accessKey),
  ];
  const keptSession = await t.connectDevice(kept.deviceId, kept.accessKey);
  const foreignSession = await t.connectDevice(foreign.deviceId, foreign.accessKey);
  try {
    const filter = { tag: 'revoke-me' };
    const dry = await bulk(apiKey, { filter, action: { type: 'revoke' }, dryRun: true });
    assert.equal(dry.status, 200, dry.text);
    assert.deepEqual(
      dry.body,
      { dryRun: true, matched: 3, wouldChange: 2, changed: 0 },
      'bare has no credential',
    );

    const gone = sessions.map((s) => closed(s));
    const r = await bulk(apiKey, { filter, action: { type: 'revoke' }, expectMatched: 3 });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.body.job.status, 'queued');
    assert.equal(r.body.job.matched, 3);
    const job = await finished(apiKey, r.body.job.id);
    assert.equal(job.status, 'done', JSON.stringify(job));
    assert.deepEqual([job.matched, job.processed, job.changed, job.skipped], [3, 3, 2, 0]);
    await Promise.all(gone);
    assert.ok(keptSession.connected, 'a device outside the filter lost its session');
    assert.ok(foreignSession.connected, "another tenant's device lost its session");

    await assert.rejects(cert.withCertificate(), 'a revoked certificate connected');
    await assert.rejects(cert.withToken(), 'a revoked registration token connected');
    await assert.rejects(t.connectDevice(keyed.deviceId, keyed.accessKey), 'a revoked access key connected');
    (await t.connectDevice(foreign.deviceId, foreign.accessKey)).end(true);
    const certs = await t.call('GET', `/v1/devices/${cert.deviceId}/certificates`, { token: apiKey });
    assert.ok(certs.body.items.every((c: { revokedAt: number | null }) => c.revokedAt !== null));

    const again = await bulk(apiKey, { filter, action: { type: 'revoke' }, dryRun: true });
    assert.equal(again.body.wouldChange, 0, 'a revoked device still counts as holding a credential');

    // One record for the request, with its counts and job; one for the job's end, by the system.
    const audit = await t.call('GET', `/v1/audit?action=${encodeURIComponent('POST /v1/devices/bulk')}`, {
      token: apiKey,
    });
    const applied = audit.body.items.filter(
      (x: { changes: { request: { dryRun?: boolean } } }) => x.changes.request.dryRun !== true,
    );
    assert.equal(applied.length, 1);
    assert.deepEqual(applied[0].changes.request.action, { type: 'revoke' });
    assert.deepEqual(applied[0].changes.result, {
      dryRun: false,
      matched: 3,
      wouldChange: 2,
      changed: 0,
      jobId: r.body.job.id,
    });
    const end = await eventually(async () => {
      const a = await t.call('GET', `/v1/audit?action=device.bulk.finished`, { token: apiKey });
      return a.body.items.find((x: { target: string }) => x.target === r.body.job.id);
    });
    assert.equal(end.actor, 'system');
    assert.equal(end.changes.changed, 2);
  } finally {
    for (const s of [...sessions, keptSession, foreignSession]) s.end(true);
  }
});

test('setDesiredConfig: a version with history on each device, a connected one told, a refused one skipped', async () => {
  const { apiKey } = await t.tenant();
  const other = await t.tenant();
  const schema = await t.call('POST', '/v1/config-schemas', {
    token: apiKey,
    body: { name: 'strict', tag: 'strict', schema: { properties: { rate: { maximum: 3 } } } },
  });
  assert.equal(schema.status, 201, schema.text);
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push((await t.device(apiKey, { name: `c${i}`, tags: ['cfg'] })).deviceId);
  await t.call('PATCH', `/v1/devices/${ids[0]}/config/desired`, { token: apiKey, body: { mode: 'eco' } });
  const strict = (await t.device(apiKey, { name: 'strict', tags: ['cfg', 'strict'] })).deviceId;
  const live = await t.device(apiKey, { name: 'live', tags: ['cfg'] });
  const foreign = (await t.device(other.apiKey, { name: 'f', tags: ['cfg'] })).deviceId;
  const client = await t.connectDevice(live.deviceId, live.accessKey);
  try {
    await client.subscribeAsync(`d/${live.deviceId}/config/desired`, { qos: 1 });
    const patch = { rate: 5, mode: null };
    const dry = await bulk(apiKey, {
      filter: { tag: 'cfg' },
      action: { type: 'setDesiredConfig', patch },
      dryRun: true,
    });
    assert.deepEqual(dry.body, { dryRun: true, matched: 6, wouldChange: 6, changed: 0 });
    const pushed = nextMessage(client, (topic) => topic === `d/${live.deviceId}/config/desired`, 10_000);
    const r = await bulk(apiKey, {
      filter: { tag: 'cfg' },
      action: { type: 'setDesiredConfig', patch },
      expectMatched: 6,
    });
    assert.equal(r.status, 202, r.text);
    const job = await finished(apiKey, r.body.job.id);
    assert.equal(job.status, 'done');
    assert.deepEqual([job.processed, job.changed, job.skipped], [6, 5, 1]);
    assert.deepEqual(
      job.skippedDevices.map((s: { deviceId: string; code: string }) => [s.deviceId, s.code]),
      [[strict, 'CONFIG_SCHEMA_VIOLATION']],
    );
    assert.equal((await pushed).payload.patch.rate, 5);

    const first = await t.call('GET', `/v1/devices/${ids[0]}/config`, { token: apiKey });
    assert.deepEqual(first.body.desired.document, { rate: 5 }, 'mode deleted by the merge patch');
    assert.equal(first.body.desired.version, 2);
    const history = await t.call('GET', `/v1/devices/${ids[0]}/config/history?side=desired`, {
      token: apiKey,
    });
    assert.deepEqual(history.body.items[0].patch, patch);
    assert.equal(history.body.items[0].version, 2);
    assert.match(history.body.items[0].actor, /^api-key:/);
    for (const id of ids.slice(1))
      assert.equal(
        (await t.call('GET', `/v1/devices/${id}/config`, { token: apiKey })).body.desired.version,
        1,
      );
    const refused = await t.call('GET', `/v1/devices/${strict}/config`, { token: apiKey });
    assert.equal(refused.body.desired.version, 0, 'a device its schema refuses was changed');
    const theirs = await t.call('GET', `/v1/devices/${foreign}/config`, { token: other.apiKey });
    assert.equal(theirs.body.desired.version, 0, "another tenant's device was changed");
  } finally {
    client.end(true);
  }
});

test('no permission, a scoped grant, bad patches, a moved count and another tenant’s job: refused, nothing done', async () => {
  const { apiKey } = await t.tenant();
  const other = await t.tenant();
  const d = await t.device(apiKey, { name: 'x', tags: ['line-a'] });
  const operator = await key(apiKey, [{ role: 'operator' }]);
  const viewer = await key(apiKey, [{ role: 'viewer' }]);
  const scoped = await key(apiKey, [
    { permissions: ['config:write', 'devices:credentials', 'devices:read'], scope: { tag: 'line-a' } },
  ]);
  const revoke = { filter: {}, action: { type: 'revoke' } };
  const config = { filter: {}, action: { type: 'setDesiredConfig', patch: { a: 1 } } };
  for (const [who, body] of [
    [operator, revoke],
    [operator, { ...revoke, dryRun: true }],
    [viewer, config],
    [scoped, config],
    [scoped, revoke],
  ] as const) {
    const r = await bulk(who, body);
    assert.equal(r.status, 403, r.text);
    assert.equal(r.body.code, 'FORBIDDEN');
  }
  assert.equal(
    (await bulk(operator, { ...config, dryRun: true })).status,
    200,
    'config:write may set config',
  );

  let deep: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 12; i++) deep = { n: deep };
  for (const [patch, status, code] of [
    [[1, 2], 400, 'VALIDATION_FAILED'],
    ['text', 400, 'VALIDATION_FAILED'],
    [deep, 422, 'CONFIG_LIMIT_EXCEEDED'],
    [{ big: 'x'.repeat(70_000) }, 422, 'CONFIG_LIMIT_EXCEEDED'],
  ] as const) {
    const r = await bulk(apiKey, { filter: {}, action: { type: 'setDesiredConfig', patch } });
    assert.equal(r.status, status, r.text);
    assert.equal(r.body.code, code);
  }
  const moved = await bulk(apiKey, { ...revoke, expectMatched: 2 });
  assert.equal(moved.status, 409, moved.text);
  assert.equal(moved.body.code, 'BULK_MATCH_CHANGED');
  (await t.connectDevice(d.deviceId, d.accessKey)).end(true); // still works: nothing was revoked
  const cfg = await t.call('GET', `/v1/devices/${d.deviceId}/config`, { token: apiKey });
  assert.equal(cfg.body.desired.version, 0);

  const mine = await bulk(apiKey, config);
  assert.equal(mine.status, 202);
  const theirs = await t.call('GET', `/v1/devices/bulk/${mine.body.job.id}`, { token: other.apiKey });
  assert.equal(theirs.status, 404, theirs.text);
  assert.equal(theirs.body.code, 'BULK_JOB_NOT_FOUND');
  await finished(apiKey, mine.body.job.id);
});
