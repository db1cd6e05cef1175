/**
 * Factory bulk provisioning: one call turns serials (some with CSRs made on the line) into per-unit
 * provisioning tokens or certificates plus a manifest; a retry returns the same manifest and mints
 * nothing new; a bad CSR refuses the whole batch before anything is created.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectMqtt, startTestPlatform, type TestPlatform } from './harness.js';
import { deviceKeyAndCsr } from './openssl.js';
import { createSecretBox, loadSecretKey } from '../src/platform/secret-box.js';

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

test('a large batch is stored and answered in slices: the event loop keeps turning, each chain is stored once per part, and a retry reads every part back', async () => {
  // One CSR for every unit: the platform signs each unit its own certificate all the same, and the
  // test spends its time on the batch, not on making keys.
  const { csr } = deviceKeyAndCsr(work);
  const n = 1_200;
  const body = {
    batchId: 'large-1',
    items: Array.from({ length: n }, (_, i) => ({ serial: `L-${i}`, csr })),
  };
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const started = performance.now();
  const r = await t.call('POST', '/v1/provisioning/batches', { token: apiKey, body });
  const requestMs = performance.now() - started;
  delay.disable();
  assert.equal(r.status, 201, r.text.slice(0, 300));
  assert.equal(r.body.items.length, n);
  assert.ok(r.body.items.every((e: { chain?: string }) => e.chain === r.body.items[0].chain));
  // The old way (one transaction for every audit record, one sealed manifest, one JSON.stringify)
  // held the event loop for a large share of the batch at its end; each slice now holds it briefly.
  // The bound is relative to the request's own time, so that a machine slowed by other work (which
  // stretches both) does not fail it; the benchmark measures the real figure.
  const maxMs = delay.max / 1e6;
  assert.ok(
    maxMs < Math.max(400, requestMs / 10),
    `the event loop was held for ${Math.round(maxMs)} ms at once, in a request of ${Math.round(requestMs)} ms`,
  );

  // Stored in parts of 200 units, each chain once per part, sealed.
  const parts = await t.platform.db.query<{ part: number; sealed_items: string }>(
    `SELECT p.part, p.sealed_items FROM provisioning_batch_parts p
       JOIN provisioning_batches b ON b.manifest_id = p.manifest_id
      WHERE b.batch_id = 'large-1' ORDER BY p.part`,
  );
  assert.deepEqual(
    parts.map((p) => p.part),
    [0, 1, 2, 3, 4, 5],
  );
  assert.equal(parts[0]!.sealed_items.includes('BEGIN CERTIFICATE'), false, 'sealed at rest');
  const box = createSecretBox(loadSecretKey('', t.dataDir));
  const first = JSON.parse(box.open(parts[0]!.sealed_items)) as { chains: string[]; items: unknown[] };
  assert.equal(first.chains.length, 1, 'the chain is stored once, not with every unit');
  assert.equal(first.items.length, 200);

  const again = await t.call('POST', '/v1/provisioning/batches', { token: apiKey, body });
  assert.equal(again.status, 201);
  assert.equal(again.text, r.text, 'a retry returns the same manifest, byte for byte');
});

test('two attempts at the same batch at once: a retry returns the one that was kept, and no stray manifest parts stay', async () => {
  const body = {
    batchId: 'twice-1',
    items: Array.from({ length: 450 }, (_, i) => ({ serial: `T-${i}` })),
  };
  const [a, b] = await Promise.all([
    t.call('POST', '/v1/provisioning/batches', { token: apiKey, body }),
    t.call('POST', '/v1/provisioning/batches', { token: apiKey, body }),
  ]);
  const kept = [a, b].filter((r) => r.status === 201);
  assert.ok(kept.length >= 1, `${a.status} ${b.status}`);
  const again = await t.call('POST', '/v1/provisioning/batches', { token: apiKey, body });
  assert.equal(again.status, 201);
  assert.ok(
    kept.some((r) => r.text === again.text),
    'the retry returns the manifest of an attempt that answered 201',
  );
  const stray = await t.platform.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM provisioning_batch_parts p
      WHERE NOT EXISTS (SELECT 1 FROM provisioning_batches b WHERE b.manifest_id = p.manifest_id)`,
  );
  assert.equal(stray[0]!.n, 0);
});
