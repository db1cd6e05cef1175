/**
 * The MQTT bridge over TLS against a real broker: a mosquitto of the test's own, with three TLS
 * listeners on free ports and certificates from a throwaway CA made here.
 *
 * - mutual TLS: a client certificate of that CA is required, and its CN is the MQTT user name;
 * - user name and password (a mosquitto_passwd file), no client certificate asked for;
 * - a certificate of the same CA for another name only (`broker.test`), anonymous clients.
 *
 * A subscriber connected over TLS (with a client certificate of its own) receives what the bridges
 * forward. A bridge that cannot connect (no client certificate, a wrong password, a CA that did not
 * issue the broker's certificate, a certificate for another name) forwards nothing and shows why in
 * its status while the server keeps answering; once a PATCH corrects the password or the CA, every
 * event spooled meanwhile arrives. A name, not an address, in the URL is checked against the
 * certificate too (the forwarder with a resolver of the test's). A platform without the allow-list
 * refuses the broker on 127.0.0.1.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import type { PlatformEvent } from '@mooring/protocol';
import { createBridgeSupervisor } from '../src/domains/bridges/supervisor.js';
import { createAddressPolicy } from '../src/platform/outbound/address-policy.js';
import { openTestPglite } from './pglite-template.js';
import { startTestPlatform, type TestPlatform } from './harness.js';
import { bridgeServiceOn, quiet } from './bridge-service.js';
import { ALLOW, freePort, spoolOver, startMosquitto, stopProcess, until } from './mosquitto.js';
import { authority, leaf, type Authority, type Leaf } from './test-pki.js';

const BRIDGE_USER = 'mooring-bridge';
const BRIDGE_PASSWORD = randomBytes(12).toString('base64url');

let work: string;
let ca: Authority;
/** Another CA with the same name as `ca` and a key of its own: a broker certificate never chains to it. */
let impostor: Authority;
let bridgeClient: Leaf;
let broker: ChildProcess;
let ports: { mtls: number; password: number; named: number };
/** mosquitto_passwd is there (it comes with mosquitto): the password listener exists. */
let passwords = true;
let platform: TestPlatform;
let subscriber: MqttClient;
const received: { topic: string; id: string }[] = [];

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'mooring-bridge-tls-'));
  // mosquitto started as root runs as its own user, which must reach and read the files here
  // (mkdtemp makes the directory owner-only); the keys are throwaway.
  chmodSync(work, 0o711);
  const file = (name: string, text: string) => {
    const path = join(work, name);
    writeFileSync(path, text, { mode: 0o644 });
    return path;
  };
  ca = await authority('CN=bridge test CA');
  impostor = await authority('CN=bridge test CA');
  // The broker's certificate names 127.0.0.1 as an IP address and nothing else (its CN is no host).
  const server = await leaf(ca, 'CN=broker', 'server', [{ type: 'ip', value: '127.0.0.1' }]);
  const named = await leaf(ca, 'CN=broker.test', 'server', [{ type: 'dns', value: 'broker.test' }]);
  bridgeClient = await leaf(ca, `CN=${BRIDGE_USER}`, 'client');
  const reader = await leaf(ca, 'CN=subscriber', 'client');

  const passwordFile = file('passwords', '');
  try {
    execFileSync('mosquitto_passwd', ['-b', passwordFile, BRIDGE_USER, BRIDGE_PASSWORD], { stdio: 'pipe' });
    chmodSync(passwordFile, 0o644);
  } catch {
    passwords = false;
  }
  ports = { mtls: await freePort(), password: await freePort(), named: await freePort() };
  const serverFiles = [
    `certfile ${file('server.pem', server.cert)}`,
    `keyfile ${file('server.key', server.key)}`,
  ];
  broker = await startMosquitto(
    work,
    [
      // Authentication is set per listener: each listener below has its own.
      'per_listener_settings true',
      'log_dest none',
      `listener ${ports.mtls} 127.0.0.1`,
      ...serverFiles,
      `cafile ${file('ca.pem', ca.pem)}`,
      'require_certificate true',
      'use_identity_as_username true',
      'allow_anonymous false',
      ...(passwords
        ? [
            `listener ${ports.password} 127.0.0.1`,
            ...serverFiles,
            `password_file ${passwordFile}`,
            'allow_anonymous false',
          ]
        : []),
      `listener ${ports.named} 127.0.0.1`,
      `certfile ${file('named.pem', named.cert)}`,
      `keyfile ${file('named.key', named.key)}`,
      'allow_anonymous true',
    ],
    passwords ? [ports.mtls, ports.password, ports.named] : [ports.mtls, ports.named],
  );

  platform = await startTestPlatform(ALLOW);
  subscriber = mqtt.connect({
    protocol: 'mqtts',
    host: '127.0.0.1',
    port: ports.mtls,
    ca: ca.pem,
    cert: reader.cert,
    key: reader.key,
    // A persistent session: should its connection drop, the broker keeps what arrives meanwhile.
    clientId: `bridge-tls-${randomBytes(3).toString('hex')}`,
    clean: false,
    reconnectPeriod: 250,
  });
  subscriber.on('message', (topic, payload) =>
    received.push({ topic, id: (JSON.parse(payload.toString()) as PlatformEvent).id }),
  );
  await new Promise<void>((resolve, reject) => {
    subscriber.once('error', reject);
    subscriber.once('connect', () =>
      subscriber.subscribe('tls/#', { qos: 1 }, (e) => (e ? reject(e) : resolve())),
    );
  });
});

after(async () => {
  subscriber?.end(true);
  await platform?.stop();
  if (broker) await stopProcess(broker);
  rmSync(work, { recursive: true, force: true });
});

let serial = 0;
/** Spools `count` device events for the tenant, as the fan-out does; resolves to their ids. */
async function spool(tenantId: string, count: number): Promise<string[]> {
  const service = spoolOver(platform.platform.db);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `evt_tls${String(++serial).padStart(6, '0')}`;
    const event: PlatformEvent = {
      id,
      type: 'device.event',
      tenantId,
      deviceId: 'dev_tls',
      occurredAt: Date.now(),
      data: { i },
    };
    assert.ok((await service.enqueue(event, [])) >= 1);
    ids.push(id);
  }
  return ids;
}

/** The ids received on topics under `prefix`. */
const receivedUnder = (prefix: string) =>
  new Set(received.filter((r) => r.topic.startsWith(prefix)).map((r) => r.id));

async function createBridge(apiKey: string, body: Record<string, unknown>): Promise<string> {
  const r = await platform.call('POST', '/v1/bridges', {
    token: apiKey,
    body: { name: 'tls', eventTypes: ['device.event'], ...body },
  });
  assert.equal(r.status, 201, r.text);
  return r.body.id as string;
}

async function bridge(apiKey: string, id: string) {
  const r = await platform.call('GET', `/v1/bridges/${id}`, { token: apiKey });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** Waits until the bridge has recorded a failed connection, and returns its status then. */
async function failed(apiKey: string, id: string) {
  return until(async () => {
    const b = await bridge(apiKey, id);
    assert.notEqual(b.status.lastError, null, 'no connection error yet');
    return b.status;
  }, 15_000);
}

/** Every id in `ids` arrived under `prefix`, and the bridge's spool is empty. */
async function delivered(apiKey: string, id: string, prefix: string, ids: string[]) {
  await until(() => {
    const got = receivedUnder(prefix);
    const missing = ids.filter((x) => !got.has(x));
    assert.deepEqual(missing, [], `not yet received under ${prefix}`);
  }, 20_000);
  await until(async () => {
    const { status } = await bridge(apiKey, id);
    assert.equal(status.connected, true);
    assert.equal(status.spoolRows, 0);
    assert.ok(status.forwarded >= ids.length, `forwarded ${status.forwarded}`);
  }, 5_000);
}

/** A failing bridge: not connected, what was spooled still spooled, nothing under its topics. */
async function heldBack(apiKey: string, id: string, prefix: string, spooled: number) {
  // Long enough for the forwarder's retries (0.5 s, 1 s, …) to have tried again.
  await sleep(1_500);
  const { status } = await bridge(apiKey, id);
  assert.equal(status.connected, false);
  assert.equal(status.forwarded, 0);
  assert.equal(status.spoolRows, spooled);
  assert.equal(receivedUnder(prefix).size, 0);
}

test('a bridge with a client certificate forwards over mutual TLS; without it the broker refuses it', async () => {
  const { tenantId, apiKey } = await platform.tenant();
  const url = `mqtts://127.0.0.1:${ports.mtls}`;
  const withCert = await createBridge(apiKey, {
    url,
    ca: ca.pem,
    clientCert: bridgeClient.cert,
    clientKey: bridgeClient.key,
    topicTemplate: `tls/mtls/${tenantId}/{eventId}`,
  });
  const shown = await bridge(apiKey, withCert);
  assert.equal(shown.hasClientKey, true);
  assert.equal(shown.clientKey, undefined);
  await until(async () => assert.equal((await bridge(apiKey, withCert)).status.connected, true), 15_000);
  const ids = await spool(tenantId, 10);
  await delivered(apiKey, withCert, `tls/mtls/${tenantId}/`, ids);
  assert.equal((await bridge(apiKey, withCert)).status.lastError, null);

  // The same listener, the same CA, no client certificate: the TLS handshake fails.
  const other = await platform.tenant();
  const withoutCert = await createBridge(other.apiKey, {
    url,
    ca: ca.pem,
    topicTemplate: `tls/mtls/${other.tenantId}/{eventId}`,
  });
  const refused = await failed(other.apiKey, withoutCert);
  // The handshake alert by its reason, not OpenSSL's whole line with its thread id and source path.
  assert.match(refused.lastError, /^TLS failed: /);
  assert.doesNotMatch(refused.lastError, /error:[0-9A-F]+:|\n/);
  await spool(other.tenantId, 3);
  await heldBack(other.apiKey, withoutCert, `tls/mtls/${other.tenantId}/`, 3);
});

test('user name and password over mqtts: a wrong password is an error in the bridge status, nothing is lost, a PATCH corrects it', async (t: TestContext) => {
  if (!passwords) {
    t.skip('mosquitto_passwd is not installed');
    return;
  }
  const { tenantId, apiKey } = await platform.tenant();
  const prefix = `tls/password/${tenantId}/`;
  const id = await createBridge(apiKey, {
    url: `mqtts://127.0.0.1:${ports.password}`,
    ca: ca.pem,
    username: BRIDGE_USER,
    password: 'not the password',
    topicTemplate: `${prefix}{eventId}`,
  });
  const status = await failed(apiKey, id);
  assert.match(status.lastError, /^Connection refused: (Not authorized|Bad username or password)/);
  assert.equal(status.connected, false);
  const ids = await spool(tenantId, 10);
  await heldBack(apiKey, id, prefix, 10);
  // The server is still there and answers.
  assert.equal((await platform.call('GET', '/v1/bridges', { token: apiKey })).status, 200);

  const patched = await platform.call('PATCH', `/v1/bridges/${id}`, {
    token: apiKey,
    body: { password: BRIDGE_PASSWORD },
  });
  assert.equal(patched.status, 200, patched.text);
  assert.equal(patched.body.hasPassword, true);
  assert.equal(patched.body.password, undefined);
  await delivered(apiKey, id, prefix, ids);
});

test('the broker certificate is verified against the bridge CA: another CA of the same name, or none, does not connect', async () => {
  const { tenantId, apiKey } = await platform.tenant();
  const prefix = `tls/ca/${tenantId}/`;
  const common = {
    url: `mqtts://127.0.0.1:${ports.mtls}`,
    clientCert: bridgeClient.cert,
    clientKey: bridgeClient.key,
  };
  const wrongCa = await createBridge(apiKey, {
    ...common,
    ca: impostor.pem,
    topicTemplate: `${prefix}a/{eventId}`,
  });
  // No CA: Node's public CAs, which did not issue it either.
  const noCa = await createBridge(apiKey, { ...common, topicTemplate: `${prefix}b/{eventId}` });
  for (const id of [wrongCa, noCa]) {
    const status = await failed(apiKey, id);
    assert.match(status.lastError, /^TLS failed: .*(certificate|verify)/);
  }
  const ids = await spool(tenantId, 5);
  await heldBack(apiKey, wrongCa, prefix, 5);
  await heldBack(apiKey, noCa, prefix, 5);

  const patched = await platform.call('PATCH', `/v1/bridges/${wrongCa}`, {
    token: apiKey,
    body: { ca: ca.pem },
  });
  assert.equal(patched.status, 200, patched.text);
  await delivered(apiKey, wrongCa, `${prefix}a/`, ids);
  assert.equal(receivedUnder(`${prefix}b/`).size, 0);
});

test('the broker certificate must name the address in the URL: one of the right CA for another name does not connect', async () => {
  const { tenantId, apiKey } = await platform.tenant();
  const prefix = `tls/name/${tenantId}/`;
  const id = await createBridge(apiKey, {
    url: `mqtts://127.0.0.1:${ports.named}`,
    ca: ca.pem,
    topicTemplate: `${prefix}{eventId}`,
  });
  const status = await failed(apiKey, id);
  assert.match(status.lastError, /^TLS failed: .*altnames.*IP: 127\.0\.0\.1 is not in the cert's list/);
  await spool(tenantId, 3);
  await heldBack(apiKey, id, prefix, 3);
});

test('a name in the URL is checked against the broker certificate too (the name resolved by the test)', async () => {
  const db = await openTestPglite();
  const policy = createAddressPolicy({ allowList: ['127.0.0.1/32'] });
  const { tenant, caller, box, service } = await bridgeServiceOn(db, 'tls-names', policy);
  const supervisor = createBridgeSupervisor({
    db,
    box,
    policy,
    nodeId: 'tls-test',
    logger: quiet,
    // broker.test, and every other name, is the test's broker.
    resolve: async () => [{ address: '127.0.0.1', family: 4 }],
  });
  try {
    const prefix = `tls/dns/${tenant.id}/`;
    // The certificate on this listener names broker.test: the name matches.
    const right = await service.create(caller, {
      name: 'named',
      url: `mqtts://broker.test:${ports.named}`,
      ca: ca.pem,
      topicTemplate: `${prefix}right/{eventId}`,
      eventTypes: ['device.event'],
    });
    // The certificate on this one names 127.0.0.1 only, where broker.test resolves all the same.
    const wrong = await service.create(caller, {
      name: 'unnamed',
      url: `mqtts://broker.test:${ports.mtls}`,
      ca: ca.pem,
      clientCert: bridgeClient.cert,
      clientKey: bridgeClient.key,
      topicTemplate: `${prefix}wrong/{eventId}`,
      eventTypes: ['device.event'],
    });
    const event: PlatformEvent = {
      id: `evt_dns${randomBytes(4).toString('hex')}`,
      type: 'device.event',
      tenantId: tenant.id,
      deviceId: 'dev_dns',
      occurredAt: Date.now(),
      data: {},
    };
    assert.equal(await service.enqueue(event, []), 2);
    await supervisor.tick();
    await until(() => assert.ok(receivedUnder(`${prefix}right/`).has(event.id)), 15_000);
    const status = await until(async () => {
      const s = (await service.get(caller, wrong.id)).status;
      assert.notEqual(s.lastError, null);
      return s;
    }, 15_000);
    assert.match(status.lastError ?? '', /^TLS failed: .*altnames.*broker\.test/);
    assert.equal(status.connected, false);
    assert.equal((await service.get(caller, right.id)).status.connected, true);
    assert.equal(receivedUnder(`${prefix}wrong/`).size, 0);
  } finally {
    await supervisor.stop();
    await db.close();
  }
});

test('without the allow-list a broker on 127.0.0.1 is refused, however the address is written', async () => {
  const strict = await startTestPlatform();
  try {
    const { apiKey } = await strict.tenant();
    const body = {
      name: 'loopback',
      ca: ca.pem,
      clientCert: bridgeClient.cert,
      clientKey: bridgeClient.key,
      topicTemplate: 'tls/{eventId}',
      eventTypes: ['device.event'],
    };
    for (const url of [
      `mqtts://127.0.0.1:${ports.mtls}`,
      `mqtts://127.1:${ports.mtls}`,
      `mqtts://2130706433:${ports.mtls}`,
      `mqtts://[::ffff:127.0.0.1]:${ports.mtls}`,
      `mqtts://localhost:${ports.mtls}`,
    ]) {
      const r = await strict.call('POST', '/v1/bridges', { token: apiKey, body: { ...body, url } });
      assert.equal(r.status, 400, `${url}: ${r.text}`);
      assert.equal(r.body.errors[0].path, '/url', url);
    }
    // Nor can a bridge be pointed there afterwards.
    const created = await strict.call('POST', '/v1/bridges', {
      token: apiKey,
      body: { ...body, url: 'mqtts://broker.example.com', enabled: false },
    });
    assert.equal(created.status, 201, created.text);
    const moved = await strict.call('PATCH', `/v1/bridges/${created.body.id}`, {
      token: apiKey,
      body: { url: `mqtts://127.0.0.1:${ports.mtls}` },
    });
    assert.equal(moved.status, 400, moved.text);
    assert.equal(moved.body.errors[0].path, '/url');
  } finally {
    await strict.stop();
  }
});
