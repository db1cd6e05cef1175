/**
 * Factory bulk provisioning: one call turns serials (some with CSRs made on the line) into per-unit
 * provisioning tokens or certificates plus a manifest; a retry returns the same manifest and mints
 * nothing new; a bad CSR refuses the whole batch before anything is created.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectMqtt, startTestPlatform, type TestPlatform } from './harness.js';
import { deviceKeyAndCsr } from './openssl.js';

let t: TestPlatform;
let apiKey: string;
const work = mkdtempSync(join(tmpdir(), 'mooring-factory-'));
before(async () => {
  t = await startTestPlatform();
  ({ apiKey } = await t.tenant());
});
after(async () => {
  await t.stop();
});

test('a batch yields certificates for units with CSRs and tokens for the others, idempotently', async () => {
  const a = deviceKeyAndCsr(work);
  const b = deviceKeyAndCsr(work);
  const body = {
    batchId: 'line7-2026-11-22',
    items: [{ serial: 'F7-001', csr: a.csr }, { serial: 'F7-002', csr: b.csr }, { serial: 'F7-003' }],
    deviceTags: ['line:7'],
  };
  const r = await t.call('POST', '/v1/provisioning/batches', { token: apiKey, body });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.body.devices, 3);
  const [first, , third] = r.body.items;
  assert.ok(first.deviceId && first.certificate && first.chain && first.certificateSerial);
  assert.equal(third.deviceId, undefined);
  assert.match(third.provisioningToken, /^mpt_/);

  // The unit with a certificate connects over mutual TLS at once.
  const c = await connectMqtt(t.platform.mqttMtlsPort, t.platform.caCert, {
    clientId: first.deviceId,
    key: a.key,
    cert: first.certificate + first.chain,
  });
  c.end(true);
  // The unit with a token provisions itself (auto approval).
  const op = await t.call('POST', '/v1/device/provisioning/operations', {
    token: third.provisioningToken,
    body: { serial: 'F7-003' },
  });
  assert.equal(op.body.status, 'approved');

  const again = await t.call('POST', '/v1/provisioning/batches', { token: apiKey, body });
  assert.equal(again.status, 201);
  assert.deepEqual(again.body, r.body, 'a retry returns the same manifest');
  const devices = await t.call('GET', '/v1/devices?tag=line:7', { token: apiKey });
  assert.equal(devices.body.items.length, 3, 'nothing was minted twice');
  const changed = await t.call('POST', '/v1/provisioning/batches', {
    token: apiKey,
    body: { ...body, items: body.items.slice(0, 1) },
  });
  assert.equal(changed.body.code, 'IDEMPOTENCY_KEY_REUSED');

  const csv = await t.call('POST', '/v1/provisioning/batches', {
    token: apiKey,
    body,
    headers: { accept: 'text/csv' },
  });
  assert.match(String(csv.headers['content-type']), /^text\/csv/);
  const lines = csv.text.trim().split('\n');
  assert.equal(lines[0], 'serial,deviceId,provisioningTokenId,provisioningToken,certificateSerial,notAfter');
  assert.equal(lines.length, 4);
  assert.ok(lines[3]!.startsWith('F7-003,,ptk_'));
});

test('one bad CSR or a repeated serial refuses the whole batch and creates nothing', async () => {
  const good = deviceKeyAndCsr(work);
  const bad = deviceKeyAndCsr(work, { digest: 'sha1' });
  const r = await t.call('POST', '/v1/provisioning/batches', {
    token: apiKey,
    body: {
      batchId: 'bad-1',
      items: [
        { serial: 'B-1', csr: good.csr },
        { serial: 'B-2', csr: bad.csr },
      ],
    },
  });
  assert.equal(r.body.code, 'CSR_INVALID');
  assert.match(r.body.detail, /item 1 \(B-2\)/);
  const dup = await t.call('POST', '/v1/provisioning/batches', {
    token: apiKey,
    body: { batchId: 'bad-2', items: [{ serial: 'B-3' }, { serial: 'B-3' }] },
  });
  assert.equal(dup.body.code, 'VALIDATION_FAILED');
  const list = await t.call('GET', '/v1/devices', { token: apiKey });
  assert.equal(list.body.items.filter((d: { serial: string }) => d.serial?.startsWith('B-')).length, 0);
});
