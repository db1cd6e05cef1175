/**
 * The OTA agent wired into `MooringDevice` against a real server: the update keys and the image come
 * over the HTTPS device API with the device's own credential, and the manifest the server signed
 * verifies with the key the device fetched (and a tampered one does not).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OtaOffer, OtaReport } from '@mooring/protocol';
import { startTestPlatform, type TestPlatform } from '../../server/test/harness.js';
import { MemoryCredentialStore, MooringDevice, type OtaOptions } from '../src/index.js';

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

/** The offer the platform would send for `artifact` (the manifest, signature and key it answers). */
function offerFor(artifact: any, operationId: string): OtaOffer {
  const { artifactId: _id, createdAt: _at, ...manifest } = artifact.manifest;
  return {
    type: 'offer',
    operationId,
    deploymentId: 'dep_sdk',
    attempt: 1,
    artifact: { id: artifact.id, ...manifest, signature: artifact.signature, keyId: artifact.keyId },
    downloadPath: `/v1/device/artifacts/${artifact.id}`,
  };
}

async function device(ota: Partial<OtaOptions>) {
  const d = await t.device(apiKey);
  const dev = new MooringDevice({
    store: new MemoryCredentialStore({
      deviceId: d.deviceId,
      accessKey: d.accessKey,
      provisioningToken: '',
      registrationToken: '',
      registrationTokenExpiresAt: Date.now() + 86_400_000,
    }),
    http: { url: `https://127.0.0.1:${t.platform.httpPort}`, ca: t.platform.caCert, servername: 'localhost' },
    mqttUrl: `mqtts://127.0.0.1:${t.platform.mqttPort}`,
    servername: 'localhost',
    backoff: { baseMs: 100, capMs: 1_000 },
    firmware: { version: '1.4.0', hardwareClass: 'sdk-board' },
    ota: { dir: mkdtempSync(join(tmpdir(), 'mooring-sdk-ota-')), install: () => undefined, ...ota },
  });
  const reports: OtaReport[] = [];
  dev.ota!.on('progress', (e) => reports.push(e.report));
  await dev.start();
  return { dev, reports };
}

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the device verifies the server-signed manifest with the fetched key, downloads with its credential and installs', async () => {
  const image = randomBytes(700_000);
  const artifact = await uploaded(image, {
    version: '1.5.0',
    hardwareClass: 'sdk-board',
    minVersion: '1.0.0',
    sequence: 7,
  });
  let written: Buffer | undefined;
  const { dev, reports } = await device({
    install: (file) => {
      written = readFileSync(file);
    },
  });
  assert.throws(
    () =>
      new MooringDevice({
        store: new MemoryCredentialStore(),
        http: { url: 'https://iot.example', ca: '' },
        mqttUrl: 'mqtts://iot.example',
        ota: { dir: tmpdir(), install: () => undefined },
      }),
    /firmware option/,
  );
  await dev.ota!.handle(offerFor(artifact, 'op_sdk_1'));
  await until(() => reports.some((r) => r.state === 'rebooting'), 'the install');
  assert.ok(written?.equals(image));
  assert.deepEqual(
    reports.filter((r) => r.state !== 'downloading').map((r) => r.state),
    ['accepted', 'downloaded', 'installing', 'rebooting'],
  );

  // The same manifest with a field changed does not verify with the server's key.
  const tampered = offerFor(artifact, 'op_sdk_2');
  tampered.artifact.minVersion = null;
  const other = await device({});
  await other.dev.ota!.handle(tampered);
  await until(() => other.reports.some((r) => r.state === 'rejected'), 'the refusal');
  assert.equal(other.reports.at(-1)!.code, 'SIGNATURE_INVALID');
  await dev.stop();
  await other.dev.stop();
});
