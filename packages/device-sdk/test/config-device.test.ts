/**
 * The desired-configuration handler of `MooringDevice` against a real server: an operator's change is
 * applied and acknowledged with what the handler reports; changes made while the device was away
 * arrive as one patch from the version it kept; a device that lost its state gets the whole document;
 * a handler that throws acknowledges nothing and is given the change again after a reconnect; pushes
 * are handled one at a time, in order; the reported configuration can change alone.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigDocument } from '@mooring/protocol';
import { eventually, startTestPlatform, type TestPlatform } from '../../server/test/harness.js';
import {
  FileDesiredConfigStore,
  MemoryCredentialStore,
  MemoryDesiredConfigStore,
  MooringDevice,
  type DesiredConfigChange,
  type DesiredConfigHandler,
  type DesiredConfigStore,
} from '../src/index.js';

let t: TestPlatform;
let apiKey: string;

before(async () => {
  t = await startTestPlatform();
  apiKey = (await t.tenant()).apiKey;
});
after(async () => t.stop());

interface Unit {
  deviceId: string;
  accessKey: string;
}

const patchDesired = async (d: Unit, patch: ConfigDocument) => {
  const r = await t.call('PATCH', `/v1/devices/${d.deviceId}/config/desired`, {
    token: apiKey,
    raw: JSON.stringify(patch),
    headers: { 'content-type': 'application/merge-patch+json' },
  });
  assert.equal(r.status, 200, r.text);
  return r.body.desired.version as number;
};

const twin = async (d: Unit) => {
  const r = await t.call('GET', `/v1/devices/${d.deviceId}/config`, { token: apiKey });
  assert.equal(r.status, 200, r.text);
  return r.body;
};

const acknowledged = (d: Unit, version: number) =>
  eventually(
    async () => {
      const tw = await twin(d);
      return tw.acknowledgedVersion === version && tw;
    },
    10_000,
    `version ${version} acknowledged`,
  );

interface Applied {
  desired: ConfigDocument;
  change: DesiredConfigChange;
}

/** A started device with the config option; `applied` lists what its handler was given. */
async function device(d: Unit, opts: { store?: DesiredConfigStore; onDesired?: DesiredConfigHandler } = {}) {
  const applied: Applied[] = [];
  const errors: Error[] = [];
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
    backoff: { baseMs: 100, capMs: 500 },
    config: {
      ...(opts.store ? { store: opts.store } : {}),
      onDesired: async (desired, change) => {
        applied.push({ desired, change });
        return opts.onDesired ? opts.onDesired(desired, change) : change.patch;
      },
    },
  });
  dev.on('error', (e) => errors.push(e));
  await dev.start();
  return { dev, applied, errors };
}

test('an operator change is applied, saved and acknowledged with what the handler reports', async () => {
  const d = await t.device(apiKey);
  await patchDesired(d, { sampling: { seconds: 10 }, led: 'red' });
  const store = new MemoryDesiredConfigStore();
  const { dev, applied } = await device(d, { store });
  // The whole document at the first connect.
  await acknowledged(d, 1);
  assert.deepEqual(applied[0]!.change, {
    version: 1,
    baseVersion: 0,
    patch: { sampling: { seconds: 10 }, led: 'red' },
    previous: {},
  });
  assert.deepEqual(dev.desiredConfig, { version: 1, document: { sampling: { seconds: 10 }, led: 'red' } });
  assert.deepEqual(await store.load(), { version: 1, desired: { sampling: { seconds: 10 }, led: 'red' } });

  // A change while connected: a patch from version 1.
  const seen = new Promise((resolve) => dev.once('desiredConfig', resolve));
  await patchDesired(d, { sampling: { seconds: 30 }, led: null });
  assert.deepEqual(await seen, { version: 2, document: { sampling: { seconds: 30 } } });
  const tw = await acknowledged(d, 2);
  assert.deepEqual(applied[1]!.change.patch, { sampling: { seconds: 30 }, led: null });
  assert.deepEqual(applied[1]!.change.previous, { sampling: { seconds: 10 }, led: 'red' });
  // The handler reported the patch it applied: the reported document follows the desired one.
  assert.deepEqual(tw.reported.document, { sampling: { seconds: 30 } });
  assert.deepEqual(tw.pending, {});
  assert.equal(tw.reported.metadata.sampling.by, `device:${d.deviceId}`);

  // The reported configuration alone.
  await dev.reportConfig({ uptimeMode: 'long' });
  const after = await twin(d);
  assert.deepEqual(after.reported.document, { sampling: { seconds: 30 }, uptimeMode: 'long' });
  assert.equal(after.reported.version, 3);
  assert.equal(after.acknowledgedVersion, 2);
  await dev.stop();
});

test('changes made while the device was away arrive as one patch from the version it kept in its file', async () => {
  const d = await t.device(apiKey);
  const file = join(mkdtempSync(join(tmpdir(), 'mooring-sdk-config-')), 'state', 'desired.json');
  await patchDesired(d, { a: 1, b: { c: 2 } });
  const first = await device(d, { store: new FileDesiredConfigStore(file) });
  await acknowledged(d, 1);
  await first.dev.stop();
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { version: 1, desired: { a: 1, b: { c: 2 } } });

  await patchDesired(d, { a: null, z: true });
  await patchDesired(d, { b: { c: 4 } });
  const second = await device(d, { store: new FileDesiredConfigStore(file) });
  await acknowledged(d, 3);
  assert.equal(second.applied.length, 1, 'one patch for the two changes');
  assert.deepEqual(second.applied[0]!.change, {
    version: 3,
    baseVersion: 1,
    patch: { a: null, z: true, b: { c: 4 } },
    previous: { a: 1, b: { c: 2 } },
  });
  assert.deepEqual(second.applied[0]!.desired, { b: { c: 4 }, z: true });

  // Up to date: a reconnect applies nothing again.
  const reconnected = new Promise((resolve) => second.dev.once('connected', () => resolve(undefined)));
  second.dev.dropConnection();
  await reconnected;
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(second.applied.length, 1);
  await second.dev.stop();
});

test('a device that lost its state gets the whole document, whether or not the platform saw it acknowledge', async () => {
  const d = await t.device(apiKey);
  await patchDesired(d, { mode: 'eco' });
  const first = await device(d);
  await acknowledged(d, 1);
  await first.dev.stop();

  // Acknowledged the current version, then lost everything: nothing is pushed unasked, so it asks.
  const fresh = await device(d, { store: new MemoryDesiredConfigStore() });
  await eventually(() => fresh.applied.length === 1, 10_000, 'the whole document');
  assert.deepEqual(fresh.applied[0]!.change, {
    version: 1,
    baseVersion: 0,
    patch: { mode: 'eco' },
    previous: {},
  });
  await fresh.dev.stop();

  // Behind the current version with nothing kept: the push from version 1 cannot apply; it resyncs.
  await patchDesired(d, { level: 3 });
  const lost = await device(d);
  await acknowledged(d, 2);
  assert.deepEqual(
    lost.applied.map((a) => [a.change.version, a.change.baseVersion]),
    [[2, 0]],
  );
  assert.deepEqual(lost.dev.desiredConfig.document, { mode: 'eco', level: 3 });
  await lost.dev.stop();
});

test('a device that applied a version whose acknowledgement was lost (a crash) acknowledges it at connect', async () => {
  const d = await t.device(apiKey);
  await patchDesired(d, { a: 1 });
  await patchDesired(d, { b: 2 });
  // Saved before the crash, never acknowledged: the platform pushes from 0, which it ignores.
  const store = new MemoryDesiredConfigStore({ version: 2, desired: { a: 1, b: 2 } });
  const { dev, applied } = await device(d, { store });
  await acknowledged(d, 2);
  assert.equal(applied.length, 0, 'nothing applied again');
  assert.deepEqual(dev.desiredConfig, { version: 2, document: { a: 1, b: 2 } });
  await patchDesired(d, { c: 3 });
  await acknowledged(d, 3);
  assert.deepEqual(applied[0]!.change.baseVersion, 2);
  await dev.stop();
});

test('a patch that starts below the version held is answered by acknowledging that version again', async () => {
  const d = await t.device(apiKey);
  await patchDesired(d, { a: 1 });
  const ack = await t.call('POST', '/v1/device/config/reported', {
    token: d.accessKey,
    body: { desiredVersion: 1 },
  });
  assert.equal(ack.status, 200, ack.text);
  await patchDesired(d, { b: 2 });
  await patchDesired(d, { c: 3 });
  // It applied version 2, but the platform recorded only 1: the push is a patch from 1 to 3.
  const store = new MemoryDesiredConfigStore({ version: 2, desired: { a: 1, b: 2 } });
  const { dev, applied } = await device(d, { store });
  await acknowledged(d, 3);
  assert.deepEqual(
    applied.map((a) => a.change),
    [{ version: 3, baseVersion: 2, patch: { c: 3 }, previous: { a: 1, b: 2 } }],
  );
  assert.deepEqual(dev.desiredConfig.document, { a: 1, b: 2, c: 3 });
  await dev.stop();
});

test('a handler that throws acknowledges nothing; the change comes again after a reconnect', async () => {
  const d = await t.device(apiKey);
  await patchDesired(d, { x: 1 });
  let refuse = true;
  const { dev, applied, errors } = await device(d, {
    onDesired: () => {
      if (refuse) throw new Error('flash busy');
    },
  });
  await eventually(() => errors.length > 0, 10_000, 'the error event');
  assert.match(errors[0]!.message, /version 1 not applied: flash busy/);
  await new Promise((r) => setTimeout(r, 200));
  const tw = await twin(d);
  assert.equal(tw.acknowledgedVersion, 0);
  assert.deepEqual(tw.reported.document, {});
  assert.deepEqual(dev.desiredConfig, { version: 0, document: {} });

  refuse = false;
  dev.dropConnection();
  await acknowledged(d, 1);
  assert.deepEqual(dev.desiredConfig, { version: 1, document: { x: 1 } });
  assert.ok(applied.length >= 2);
  await dev.stop();
});

test('pushes are handled one at a time, in order, however slow the handler', async () => {
  const d = await t.device(apiKey);
  let running = 0;
  let overlapped = false;
  const { dev, applied } = await device(d, {
    onDesired: async () => {
      overlapped ||= ++running > 1;
      await new Promise((r) => setTimeout(r, 150));
      running--;
    },
  });
  for (let i = 1; i <= 5; i++) await patchDesired(d, { step: i });
  await acknowledged(d, 5);
  await eventually(() => dev.desiredConfig.version === 5, 5_000, 'version 5 held');
  assert.equal(overlapped, false, 'two handlers ran at once');
  const versions = applied.map((a) => a.change.version);
  assert.deepEqual(
    versions,
    [...versions].sort((a, b) => a - b),
  );
  assert.deepEqual(dev.desiredConfig.document, { step: 5 });
  await dev.stop();
});

test('the file store: a missing, broken or misshapen file is no state; a save replaces it whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mooring-sdk-config-store-'));
  const file = join(dir, 'desired.json');
  const store = new FileDesiredConfigStore(file);
  assert.equal(await store.load(), undefined);
  writeFileSync(file, '{"version": 3, "desi');
  assert.equal(await store.load(), undefined);
  writeFileSync(file, JSON.stringify({ version: -1, desired: {} }));
  assert.equal(await store.load(), undefined);
  writeFileSync(file, JSON.stringify({ version: 2, desired: [1] }));
  assert.equal(await store.load(), undefined);
  await Promise.all([
    store.save({ version: 4, desired: { a: 1 } }),
    store.save({ version: 5, desired: { a: 2 } }),
  ]);
  assert.deepEqual(await store.load(), { version: 5, desired: { a: 2 } });
});
