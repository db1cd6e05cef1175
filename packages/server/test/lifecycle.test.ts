/**
 * The `mooring serve` process: first start creates the CA, the server certificate and a one-time admin
 * credential readable only by its owner; a second start reuses them; SIGTERM drains queued telemetry
 * before the store closes; bad configuration exits with a message naming the key; the development
 * plain-MQTT listener is a bare broker with no access to device data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { ADMIN_TEST_PASSWORD, bootstrapAdminToken, connectMqtt, startServerProcess } from './harness.js';

const bin = new URL('../../cli/bin/mooring.mjs', import.meta.url).pathname;

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
  });
}

test(
  'first start bootstraps secrets once; a restart reuses them; SIGTERM stops cleanly',
  { timeout: 90_000 },
  async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mooring-life-'));
    try {
      // Debug logging, so that the check below sees as much as the server ever logs.
      const first = await startServerProcess(dataDir, { MOORING_LOG_LEVEL: 'debug' });
      const credFile = join(dataDir, 'bootstrap-admin.json');
      assert.equal(statSync(credFile).mode & 0o777, 0o600);
      assert.equal(statSync(join(dataDir, 'pki', 'ca.key.sealed')).mode & 0o777, 0o600);
      assert.equal(statSync(join(dataDir, 'pki', 'server.key.pem')).mode & 0o777, 0o600);
      const cred = JSON.parse(readFileSync(credFile, 'utf8'));
      assert.equal(cred.username, 'admin');
      assert.ok(cred.password.length >= 24, 'a random password, not a default one');
      const token = await bootstrapAdminToken(
        (path, body, t) => first.call('POST', path, { body, ...(t ? { token: t } : {}) }),
        dataDir,
      );
      const tenant = (await first.call('POST', '/v1/tenants', { token, body: { name: 'life' } })).body;
      const apiKey = (
        await first.call('POST', `/v1/tenants/${tenant.id}/api-keys`, { token, body: { name: 'k' } })
      ).body.secret;
      const device = (await first.call('POST', '/v1/devices', { token: apiKey, body: { name: 'd' } })).body;
      const accessKey = (await first.call('POST', `/v1/devices/${device.id}/access-keys`, { token: apiKey }))
        .body.secret;

      // Fire QoS 0 telemetry (no acknowledgement to wait for), then SIGTERM at once: the graceful stop
      // must commit what the broker already accepted before it closes the store.
      const client = await connectMqtt(first.mqttPort, first.ca, {
        clientId: device.id,
        username: device.id,
        password: accessKey,
      });
      client.on('error', () => undefined);
      for (let i = 0; i < 200; i++)
        client.publish(`d/${device.id}/telemetry`, JSON.stringify({ values: { n: i } }), { qos: 0 });
      await client.publishAsync(`d/${device.id}/telemetry`, JSON.stringify({ values: { n: 200 } }), {
        qos: 1,
      });
      first.child.kill('SIGTERM');
      assert.equal(await exited(first.child), 0);
      client.end(true);

      const caBefore = readFileSync(join(dataDir, 'pki', 'ca.pem'), 'utf8');
      const second = await startServerProcess(dataDir);
      try {
        assert.equal(second.ca, caBefore, 'the platform CA is reused');
        // The first run changed the one-time password: the file is gone, its password no longer
        // works, no second credential was made, and the chosen password still works.
        assert.equal(existsSync(credFile), false, 'the spent credential file is removed');
        assert.match(second.output(), /Admin login:\s+admin, with the password chosen at the first login/);
        const old = await second.call('POST', '/v1/auth/login', { body: cred });
        assert.equal(old.status, 401);
        assert.equal(old.body.code, 'INVALID_CREDENTIALS');
        const login = await second.call('POST', '/v1/auth/login', {
          body: { username: 'admin', password: ADMIN_TEST_PASSWORD },
        });
        assert.equal(login.status, 200);
        const points = await second.call('GET', `/v1/devices/${device.id}/telemetry?key=n&from=0&limit=500`, {
          token: apiKey,
        });
        assert.equal(points.body.items.length, 201, 'every message accepted before SIGTERM was committed');
        const d = await second.call('GET', `/v1/devices/${device.id}`, { token: apiKey });
        assert.equal(d.body.presence.connected, false);
        assert.equal(d.body.presence.lastDisconnectReason, 'server_shutdown');
      } finally {
        second.child.kill('SIGTERM');
        await exited(second.child);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);

test('a port in use stops the start with status 1 and a clear message, not a hang', async () => {
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as { port: number }).port;
  const dataDir = mkdtempSync(join(tmpdir(), 'mooring-busy-'));
  try {
    const r = spawnSync(process.execPath, [bin, 'serve'], {
      env: {
        ...process.env,
        MOORING_DATA_DIR: dataDir,
        MOORING_HTTP_PORT: '0',
        MOORING_MQTT_PORT: String(port),
        MOORING_MQTT_HOST: '127.0.0.1',
        MOORING_MQTT_MTLS_PORT: '0',
        MOORING_LOG_LEVEL: 'silent',
      },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot start: 127\\.0\\.0\\.1:${port} is in use`));
  } finally {
    blocker.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('invalid configuration exits with status 2 and names the key', () => {
  const r = spawnSync(process.execPath, [bin, 'serve'], {
    env: { ...process.env, MOORING_HTTP_PORT: 'eighty' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /configuration error: MOORING_HTTP_PORT: must be an integer/);
  const u = spawnSync(process.execPath, [bin, 'serve', '--bogus'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(u.status, 2);
  assert.match(u.stderr, /unknown option '--bogus'/);
});

test(
  '--dev-insecure-mqtt opens an anonymous bare broker on 127.0.0.1 that cannot reach device data',
  { timeout: 60_000 },
  async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mooring-dev-'));
    const server = await startServerProcess(dataDir, {
      MOORING_DEV_INSECURE_MQTT: 'true',
      MOORING_DEV_INSECURE_MQTT_PORT: '0',
      MOORING_LOG_LEVEL: 'warn',
    });
    try {
      const token = await bootstrapAdminToken(
        (path, body, t) => server.call('POST', path, { body, ...(t ? { token: t } : {}) }),
        dataDir,
      );
      const tenant = (await server.call('POST', '/v1/tenants', { token, body: { name: 'dev' } })).body;
      const apiKey = (
        await server.call('POST', `/v1/tenants/${tenant.id}/api-keys`, { token, body: { name: 'k' } })
      ).body.secret;
      const device = (await server.call('POST', '/v1/devices', { token: apiKey, body: { name: 'd' } })).body;
      const accessKey = (await server.call('POST', `/v1/devices/${device.id}/access-keys`, { token: apiKey }))
        .body.secret;
      assert.ok(server.insecurePort, 'the banner names the development port');
      const spy = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.insecurePort}`, { reconnectPeriod: 0 });
      const seen: string[] = [];
      spy.on('message', (topic) => seen.push(topic));
      await spy.subscribeAsync('#');
      const dev = await connectMqtt(server.mqttPort, server.ca, {
        clientId: device.id,
        username: device.id,
        password: accessKey,
      });
      await dev.publishAsync(`d/${device.id}/telemetry`, JSON.stringify({ values: { secret: 1 } }), {
        qos: 1,
      });
      await spy.publishAsync(`d/${device.id}/telemetry`, JSON.stringify({ values: { injected: 1 } }), {
        qos: 1,
      });
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(seen, [`d/${device.id}/telemetry`], 'the dev broker sees only its own traffic');
      const points = await server.call('GET', `/v1/devices/${device.id}/telemetry?from=0`, { token: apiKey });
      assert.deepEqual(
        points.body.items.map((p: { key: string }) => p.key),
        ['secret'],
        'nothing injected reaches the platform',
      );
      dev.end(true);
      spy.end(true);
    } finally {
      server.child.kill('SIGTERM');
      await exited(server.child);
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);
