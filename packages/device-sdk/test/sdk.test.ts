/**
 * The device SDK against a real server: provisioning with a technician's approval by code, mutual TLS
 * and token connections, commands (result, failure, unknown, timeout), registration-token refresh
 * and certificate renewal, and telemetry buffered through a server restart delivered once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrapAdminToken, httpsCall } from '../../server/test/harness.js';
import { loadConfig, startPlatform, type Platform } from '../../server/src/index.js';
import {
  FileCredentialStore,
  MemoryCredentialStore,
  MooringDevice,
  provision,
  signedTime,
  type Credentials,
  type DeviceOptions,
} from '../src/index.js';

const dataDir = mkdtempSync(join(tmpdir(), 'mooring-sdk-'));
let platform: Platform;
let ports = { http: 0, mqtt: 0, mtls: 0 };
let apiKey: string;
let adminToken: string;

async function start() {
  platform = await startPlatform(
    loadConfig({
      MOORING_DATA_DIR: dataDir,
      MOORING_HTTP_HOST: '127.0.0.1',
      MOORING_HTTP_PORT: String(ports.http),
      MOORING_MQTT_HOST: '127.0.0.1',
      MOORING_MQTT_PORT: String(ports.mqtt),
      MOORING_MQTT_MTLS_PORT: String(ports.mtls),
      MOORING_LOG_LEVEL: 'silent',
    }),
  );
  ports = { http: platform.httpPort, mqtt: platform.mqttPort, mtls: platform.mqttMtlsPort };
}

const call = (method: string, path: string, token?: string, body?: unknown) =>
  httpsCall(ports.http, platform.caCert, method, path, {
    ...(token ? { token } : {}),
    ...(body !== undefined ? { body } : {}),
  });

before(async () => {
  await start();
  adminToken = await bootstrapAdminToken((path, body, token) => call('POST', path, token, body), dataDir);
  const tenant = await call('POST', '/v1/tenants', adminToken, { name: 'sdk' });
  apiKey = (await call('POST', `/v1/tenants/${tenant.body.id}/api-keys`, adminToken, { name: 'k' })).body
    .secret;
});
after(async () => {
  await platform.stop();
});

const http = () => ({ url: `https://127.0.0.1:${ports.http}`, ca: platform.caCert, servername: 'localhost' });
const deviceOptions = (store: DeviceOptions['store'], extra: Partial<DeviceOptions> = {}): DeviceOptions => ({
  store,
  http: http(),
  mqttUrl: `mqtts://127.0.0.1:${ports.mqtt}`,
  mqttMtlsUrl: `mqtts://127.0.0.1:${ports.mtls}`,
  servername: 'localhost',
  backoff: { baseMs: 100, capMs: 1_000 },
  ...extra,
});

async function provisioned(serial: string): Promise<Credentials> {
  const pt = await call('POST', '/v1/provisioning-tokens', apiKey, {
    name: serial,
    kind: 'device',
    serial,
    approval: 'auto',
  });
  return provision({ http: http(), provisioningToken: pt.body.secret, serial });
}

async function eventually<T>(
  check: () => Promise<T | undefined | false>,
  what: string,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('provisioning: the device shows its code, a technician approves with it, the device keeps its key and certificate', async () => {
  const pt = await call('POST', '/v1/provisioning-tokens', apiKey, {
    name: 'field',
    kind: 'device',
    serial: 'SDK-1',
    approval: 'manual',
  });
  const store = new FileCredentialStore(join(dataDir, 'device', 'credentials.json'));
  let shown = '';
  const credentials = await provision({
    http: http(),
    provisioningToken: pt.body.secret,
    serial: 'SDK-1',
    attributes: { fw: '1.0.0' },
    onVerificationCode: (code) => {
      shown = code;
      // The technician types what the display shows (a wrong code first).
      void (async () => {
        const ops = await call('GET', '/v1/provisioning/operations?status=pending&serial=SDK-1', apiKey);
        const id = ops.body.items[0].id;
        const wrong = await call('POST', `/v1/provisioning/operations/${id}/approve`, apiKey, {
          verificationCode: 'WRONG1',
        });
        assert.equal(wrong.body.code, 'VERIFICATION_CODE_WRONG');
        await call('POST', `/v1/provisioning/operations/${id}/approve`, apiKey, { verificationCode: code });
      })();
    },
  });
  assert.match(shown, /^[A-Z2-9]{6}$/);
  assert.match(credentials.deviceId, /^dev_/);
  assert.match(credentials.registrationToken, /^eyJ/);
  assert.match(credentials.certificatePem!, /BEGIN CERTIFICATE/);
  assert.match(credentials.privateKeyPem!, /BEGIN PRIVATE KEY/);
  await store.save(credentials);
  assert.equal(statSync(join(dataDir, 'device', 'credentials.json')).mode & 0o777, 0o600);
  assert.deepEqual(await store.load(), credentials);
});

test('commands: a result, a failure, an unknown command and a handler that times out', async () => {
  const device = new MooringDevice(
    deviceOptions(new MemoryCredentialStore(await provisioned('SDK-CMD')), { commandTimeoutMs: 300 }),
  );
  device
    .handle('reboot', (params) => ({ rebootingIn: (params as { delay: number }).delay }))
    .handle('explode', () => {
      throw new Error('out of fuses');
    })
    .handle('slow', () => new Promise((r) => setTimeout(r, 2_000)));
  await device.start();
  assert.equal(device.state, 'connected');
  const id = device.deviceId!;
  const send = async (name: string, params?: unknown) =>
    (await call('POST', `/v1/devices/${id}/commands`, apiKey, { name, ...(params ? { params } : {}) })).body
      .id;
  const done = (cid: string) =>
    eventually(async () => {
      const c = (await call('GET', `/v1/devices/${id}/commands/${cid}`, apiKey)).body;
      return ['succeeded', 'failed'].includes(c.status) ? c : undefined;
    }, `command ${cid}`);
  const ok = await done(await send('reboot', { delay: 5 }));
  assert.deepEqual([ok.status, ok.result], ['succeeded', { rebootingIn: 5 }]);
  const failed = await done(await send('explode'));
  assert.deepEqual([failed.status, failed.error], ['failed', 'out of fuses']);
  const unknown = await done(await send('dance'));
  assert.match(unknown.error, /no handler for command 'dance'/);
  const slow = await done(await send('slow'));
  assert.match(slow.error, /timed out after 300 ms/);
  await device.stop();
});

test('firmware: reported at every connect and on change; a bad option fails at construction', async () => {
  assert.throws(
    () =>
      new MooringDevice(
        deviceOptions(new MemoryCredentialStore({} as Credentials), {
          firmware: { version: '1.2', hardwareClass: 'gw' },
        }),
      ),
    /firmware: version must be a Semantic Versioning/,
  );
  const device = new MooringDevice(
    deviceOptions(new MemoryCredentialStore(await provisioned('SDK-FW')), {
      firmware: { version: '1.4.0', hardwareClass: 'sdk-board' },
    }),
  );
  await device.start();
  const id = device.deviceId!;
  const firmware = async () => (await call('GET', `/v1/devices/${id}`, apiKey)).body.firmware;
  // Reported before the connected event: the record has it already.
  assert.equal((await firmware())?.version, '1.4.0');
  assert.equal((await firmware())?.hardwareClass, 'sdk-board');
  device.setFirmware({ version: '1.5.0', hardwareClass: 'sdk-board' });
  await eventually(async () => (await firmware())?.version === '1.5.0', 'the new version');
  // A reconnect reports again (the record changed behind the device's back in between).
  await call('PUT', '/v1/fleet/policy', apiKey, { hardwareClass: 'sdk-board', minVersion: '1.5.0' });
  const before = (await firmware()).reportedAt as number;
  const reconnected = new Promise<void>((r) => device.once('connected', r));
  device.dropConnection();
  await reconnected;
  const after = await firmware();
  assert.equal(after.version, '1.5.0');
  assert.ok(after.reportedAt > before, 'reported again at connect');
  const fleet = await call('GET', '/v1/fleet/versions', apiKey);
  assert.equal(fleet.body.belowMinimum, 0);
  await device.stop();
});

test('refresh and renewal replace the credentials in the store, and the device connects with the new ones', async () => {
  const store = new MemoryCredentialStore(await provisioned('SDK-RENEW'));
  const before = (await store.load())!;
  const device = new MooringDevice(deviceOptions(store));
  await device.start();
  await device.refresh();
  await device.renew();
  const after = (await store.load())!;
  assert.notEqual(after.registrationToken, before.registrationToken);
  assert.notEqual(after.certificatePem, before.certificatePem);
  assert.notEqual(after.privateKeyPem, before.privateKeyPem, 'a renewal uses a new key made on the device');
  await device.stop();
  // Both new credentials work: mutual TLS with the renewed certificate, and the refreshed token.
  for (const preferCertificate of [true, false]) {
    const again = new MooringDevice(deviceOptions(store, { preferCertificate }));
    await again.start();
    assert.equal(again.state, 'connected');
    await again.stop();
  }
  const certs = (await call('GET', `/v1/devices/${after.deviceId}/certificates`, apiKey)).body.items;
  assert.equal(certs.length, 2);
});

test('readings sent during a server restart wait in the buffer and arrive once, in order', async () => {
  const store = new MemoryCredentialStore(await provisioned('SDK-OUTAGE'));
  const bufferPath = join(dataDir, 'device', 'buffer.json');
  const device = new MooringDevice(
    deviceOptions(store, { preferCertificate: false, buffer: { path: bufferPath } }),
  );
  const states: string[] = [];
  device.on('state', (s) => states.push(s));
  await device.start();
  const id = device.deviceId!;
  const t0 = Date.now() - 600_000;
  for (let i = 0; i < 20; i++) device.send({ n: i }, t0 + i * 1000);
  await eventually(async () => device.buffered === 0, 'the first readings acknowledged');

  await platform.stop();
  await eventually(async () => device.state !== 'connected', 'the device noticing the outage');
  for (let i = 20; i < 120; i++) device.send({ n: i }, t0 + i * 1000);
  assert.ok(device.buffered >= 100, 'readings wait while the server is down');
  await start();
  await eventually(
    async () => device.state === 'connected' && device.buffered === 0,
    'delivery after the restart',
    20_000,
  );

  const points: { ts: number; value: number }[] = [];
  let cursor = '';
  for (;;) {
    const page = await call(
      'GET',
      `/v1/devices/${id}/telemetry?key=n&from=${t0}&to=${t0 + 200_000}&limit=500${cursor}`,
      apiKey,
    );
    points.push(...page.body.items);
    if (!page.body.nextCursor) break;
    cursor = `&cursor=${page.body.nextCursor}`;
  }
  assert.deepEqual(
    points.map((p) => p.value),
    Array.from({ length: 120 }, (_, i) => i),
    'every reading once, in order',
  );
  assert.ok(states.includes('waiting') && states.at(-1) === 'connected');
  await device.stop();
});

test('signed time verifies against the pinned key and refuses another key', async () => {
  const key = (await call('GET', '/v1/time/key')).body;
  const pinned = typeof key === 'string' ? key : key.publicKeyPem;
  const t = await signedTime(http(), pinned);
  assert.ok(Math.abs(t.serverTime - Date.now()) < 5_000);
  const { generateKeyPairSync } = await import('node:crypto');
  const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
  await assert.rejects(signedTime(http(), other), /not signed by the pinned key/);
});
