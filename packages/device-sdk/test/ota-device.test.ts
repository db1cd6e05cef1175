/**
 * The OTA agent inside `MooringDevice` against a real server, end to end: an operator uploads an
 * image and deploys it; one device installs it, reboots into it and reports success, one refuses it
 * (anti-rollback), one defers and is cancelled by the operator; the platform's view of each operation
 * follows. And the agent's own checks with the server's key: a tampered manifest is refused, an image
 * no deployment offers is not served.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OtaOffer, OtaReport } from '@mooring/protocol';
import { startTestPlatform, type TestPlatform } from '../../server/test/harness.js';
import {
  deviceOtaTransport,
  MemoryCredentialStore,
  MooringDevice,
  type Credentials,
  type OtaOptions,
} from '../src/index.js';

let t: TestPlatform;
let apiKey: string;

before(async () => {
  t = await startTestPlatform();
  apiKey = (await t.tenant()).apiKey;
});
after(async () => t.stop());

async function uploaded(image: Buffer, query: Record<string, string | number>) {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
  const r = await t.call('POST', `/v1/artifacts?${qs}`, {
    token: apiKey,
    raw: image,
    headers: { 'content-type': 'application/octet-stream' },
  });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

async function credentials(): Promise<Credentials> {
  const d = await t.device(apiKey);
  return {
    deviceId: d.deviceId,
    accessKey: d.accessKey,
    provisioningToken: '',
    registrationToken: '',
    registrationTokenExpiresAt: Date.now() + 86_400_000,
  };
}

/** A device running `version` of `sdk-board`, started; `reports` collects what its agent reports. */
async function device(c: Credentials, version: string, ota: Partial<OtaOptions> = {}) {
  const dev = new MooringDevice({
    store: new MemoryCredentialStore(c),
    http: { url: `https://127.0.0.1:${t.platform.httpPort}`, ca: t.platform.caCert, servername: 'localhost' },
    mqttUrl: `mqtts://127.0.0.1:${t.platform.mqttPort}`,
    servername: 'localhost',
    backoff: { baseMs: 100, capMs: 1_000 },
    firmware: { version, hardwareClass: 'sdk-board' },
    ota: { dir: mkdtempSync(join(tmpdir(), 'mooring-sdk-ota-')), install: () => undefined, ...ota },
  });
  const reports: OtaReport[] = [];
  dev.ota!.on('progress', (e) => reports.push(e.report));
  await dev.start();
  return { dev, reports };
}

async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const reported = (reports: OtaReport[], state: string) => () => reports.some((r) => r.state === state);

test('deployed end to end: installed and confirmed after the reboot, refused as not newer, deferred and cancelled', async () => {
  const image = randomBytes(700_000);
  const [a, b, c] = [await credentials(), await credentials(), await credentials()];
  let written: Buffer | undefined;
  let rebooted = 0;
  const dirA = mkdtempSync(join(tmpdir(), 'mooring-sdk-ota-'));
  const A = await device(a, '1.4.0', {
    dir: dirA,
    install: (file) => {
      written = readFileSync(file);
    },
    reboot: () => {
      rebooted++;
    },
  });
  const B = await device(b, '1.4.0', { installedSequence: 100 });
  const C = await device(c, '1.4.0', { defer: () => ({ reason: 'on a call' }) });
  const artifact = await uploaded(image, {
    version: '1.5.0',
    hardwareClass: 'sdk-board',
    minVersion: '1.0.0',
    sequence: 7,
  });
  const dep = await t.call('POST', '/v1/deployments', {
    token: apiKey,
    body: {
      artifactId: artifact.id,
      target: { deviceIds: [a.deviceId, b.deviceId, c.deviceId] },
      phases: [{ percent: 100 }],
      healthGate: { enabled: false },
    },
  });
  assert.equal(dep.status, 201, dep.text);
  const operation = async (deviceId: string) => {
    const r = await t.call('GET', `/v1/deployments/${dep.body.id}/devices`, { token: apiKey });
    assert.equal(r.status, 200, r.text);
    return r.body.items.find((d: { deviceId: string }) => d.deviceId === deviceId);
  };
  const serverSays = (deviceId: string, state: string) =>
    until(async () => {
      const op = await operation(deviceId);
      return op?.state === state && op;
    }, `${deviceId} ${state} on the platform`);

  // A: the whole way to `rebooting`, over MQTT, with the image downloaded over the device API.
  await until(() => rebooted === 1, 'the reboot');
  assert.ok(written?.equals(image));
  assert.deepEqual(
    A.reports.filter((r) => r.state !== 'downloading').map((r) => r.state),
    ['accepted', 'downloaded', 'installing', 'rebooting'],
  );
  await serverSays(a.deviceId, 'rebooting');
  await A.dev.stop();
  // The device comes back on 1.5.0: the agent confirms, the platform counts it.
  const A2 = await device(a, '1.5.0', { dir: dirA });
  await until(reported(A2.reports, 'succeeded'), 'succeeded');
  assert.equal(A2.reports[0]!.version, '1.5.0');
  await serverSays(a.deviceId, 'succeeded');
  assert.equal(A2.dev.ota!.installedSequence, 7);

  // B: the anti-rollback floor refuses it; the platform records the code and does not retry.
  await until(reported(B.reports, 'rejected'), 'the refusal');
  const rejected = await serverSays(b.deviceId, 'rejected');
  assert.equal(rejected.code, 'SEQUENCE_NOT_NEWER');

  // C: deferred on the platform; the operator cancels; the agent acknowledges, the cancel is gone.
  await until(reported(C.reports, 'deferred'), 'the deferral');
  const deferred = await serverSays(c.deviceId, 'deferred');
  assert.equal(deferred.reason, 'on a call');
  // The transport's way while MQTT is down: the report goes over HTTPS to the same operation.
  const https = deviceOtaTransport({
    http: { url: `https://127.0.0.1:${t.platform.httpPort}`, ca: t.platform.caCert, servername: 'localhost' },
    deviceId: () => c.deviceId,
    token: () => c.accessKey!,
    client: () => undefined,
    connected: async () => undefined,
  });
  await https.report(deferred.operationId, { attempt: 1, state: 'deferred', reason: 'still on a call' });
  assert.equal((await operation(c.deviceId)).reason, 'still on a call');
  const cancel = await t.call('POST', `/v1/deployments/${dep.body.id}/devices/${c.deviceId}/cancel`, {
    token: apiKey,
    body: { reason: 'not this one' },
  });
  assert.equal(cancel.status, 200, cancel.text);
  await until(reported(C.reports, 'cancelled'), 'the acknowledgement');
  await serverSays(c.deviceId, 'cancelled');
  await until(async () => {
    const open = await t.call('GET', '/v1/device/ota', { token: c.accessKey! });
    return open.body.items.length === 0;
  }, 'no open cancel for C');

  await Promise.all([A2.dev.stop(), B.dev.stop(), C.dev.stop()]);
  // Every report followed the platform's rules: none was refused (redeliveries included).
  const metrics = (await t.call('GET', '/metrics')).text;
  const refused = metrics
    .split('\n')
    .filter(
      (l) =>
        l.startsWith('mooring_refused_total{') && /reason="(ota_report_refused|invalid_payload)"/.test(l),
    );
  assert.deepEqual(
    refused.filter((l) => !l.endsWith(' 0')),
    [],
  );
});

test("the server's signature verifies with the key the device fetches; a tampered manifest does not", async () => {
  const artifact = await uploaded(randomBytes(10_000), {
    version: '2.0.0',
    hardwareClass: 'sdk-board',
    sequence: 8,
  });
  const { artifactId: _id, createdAt: _at, ...manifest } = artifact.manifest;
  const offer = (operationId: string, change: Partial<OtaOffer['artifact']> = {}): OtaOffer => ({
    type: 'offer',
    operationId,
    deploymentId: 'dep_none',
    attempt: 1,
    artifact: {
      id: artifact.id,
      ...manifest,
      signature: artifact.signature,
      keyId: artifact.keyId,
      ...change,
    },
    downloadPath: `/v1/device/artifacts/${artifact.id}`,
  });
  const D = await device(await credentials(), '1.4.0', { retry: { baseMs: 10, maxRetries: 1 } });
  await D.dev.ota!.handle(offer('op_tampered', { minVersion: '1.0.0' }));
  await until(reported(D.reports, 'rejected'), 'the refusal');
  assert.equal(D.reports.at(-1)!.code, 'SIGNATURE_INVALID');
  // Untampered, the manifest passes; no deployment offers the image to this device, so it is not served.
  await D.dev.ota!.handle(offer('op_unoffered'));
  await until(reported(D.reports, 'failed'), 'the download failure');
  assert.deepEqual(
    D.reports.slice(1).map((r) => r.state),
    ['accepted', 'downloading', 'failed'],
  );
  assert.equal(D.reports.at(-1)!.code, 'DOWNLOAD_FAILED');
  assert.match(D.reports.at(-1)!.reason!, /ARTIFACT_NOT_FOUND/);
  await D.dev.stop();
});
