/**
 * Device PKI over real sockets: a CSR made on the device → certificate on approval → MQTT over mutual
 * TLS accepted; the chain and CRL pass `openssl verify`; certificates from another CA, expired and
 * revoked ones are refused at the TLS handshake; revocation drops the live session; weak, SHA-1,
 * malformed and forged CSRs are refused with a reason; renewal over an authenticated connection.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { closed, connectMqtt, startTestPlatform, type TestPlatform } from './harness.js';
import { deviceKeyAndCsr, issueWithCa, makeCa, openssl } from './openssl.js';
import { createPkiService } from '../src/domains/pki/service.js';
import { pkiStore } from '../src/domains/pki/store.js';
import { deviceStore } from '../src/domains/devices/store.js';
import { transactionOf } from '../src/store/db.js';
import { Errors } from '../src/errors.js';
import { createSecretBox, loadSecretKey } from '../src/platform/secret-box.js';
import { createLocalBus } from '../src/platform/bus.js';
import { x509 } from '../src/domains/pki/x509.js';

let t: TestPlatform;
let apiKey: string;
const work = mkdtempSync(join(tmpdir(), 'mooring-pki-test-'));

before(async () => {
  t = await startTestPlatform();
  ({ apiKey } = await t.tenant());
});
after(async () => {
  await t.stop();
});

async function provisionWithCsr(serial: string, csr: string) {
  const pt = await t.call('POST', '/v1/provisioning-tokens', {
    token: apiKey,
    body: { name: 'pki', kind: 'device', serial, approval: 'auto' },
  });
  const r = await t.call('POST', '/v1/device/provisioning/operations', {
    token: pt.body.secret,
    body: { serial, csr },
  });
  return r;
}

/** A second PKI service over the running platform's store, keys and root, on a clock of the test's. */
function platformPkiWithClock(now: () => number) {
  const dataDir = t.dataDir;
  const db = t.platform.db;
  return createPkiService({
    store: pkiStore(db),
    storeOn: pkiStore,
    transaction: transactionOf(db, pkiStore),
    deviceRecords: (tx) => deviceStore(tx ?? db),
    requireDevice: async (caller, id) => {
      if (!(await deviceStore(db).get(caller.tenantId, id))) throw Errors.deviceNotFound(id);
    },
    bus: createLocalBus(),
    box: createSecretBox(loadSecretKey('', dataDir)),
    root: {
      certPem: readFileSync(join(dataDir, 'pki', 'ca.pem'), 'utf8'),
      keyPem: createSecretBox(loadSecretKey('', dataDir)).open(
        readFileSync(join(dataDir, 'pki', 'ca.key.sealed'), 'utf8'),
      ),
    },
    certificateValidityDays: 30,
    now,
  });
}

function mtls(deviceId: string, key: string, cert: string) {
  return connectMqtt(t.platform.mqttMtlsPort, t.platform.caCert, { clientId: deviceId, key, cert });
}

/** Resolves with the TLS-level outcome of presenting a client certificate to the mTLS port. */
function handshake(key: string, cert: string): Promise<'accepted' | string> {
  return new Promise((resolve) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port: t.platform.mqttMtlsPort,
      servername: 'localhost',
      ca: t.platform.caCert,
      key,
      cert,
    });
    s.once('secureConnect', () => {
      // TLS 1.3 finishes the client's side before the server has checked the certificate: wait for
      // the server's verdict (an alert closes the socket at once).
      s.once('error', (e) => resolve(e.message));
      setTimeout(() => {
        resolve(s.destroyed ? 'closed' : 'accepted');
        s.destroy();
      }, 300);
    });
    s.once('error', (e) => resolve(e.message));
  });
}

test('a CSR becomes a certificate on approval; the device connects over mutual TLS; openssl verifies chain and CRL', async () => {
  const { key, csr } = deviceKeyAndCsr(work);
  const r = await provisionWithCsr('PKI-1', csr);
  assert.equal(r.body.status, 'approved', r.text);
  const { deviceId, certificate, certificateChain } = r.body;
  assert.match(certificate, /BEGIN CERTIFICATE/);
  assert.equal((certificateChain.match(/BEGIN CERTIFICATE/g) ?? []).length, 2, 'issuing CA then root');

  const client = await mtls(deviceId, key, certificate + certificateChain);
  await client.publishAsync(`d/${deviceId}/telemetry`, JSON.stringify({ values: { viaMtls: 1 } }), {
    qos: 1,
  });
  client.end(true);
  const points = await t.call('GET', `/v1/devices/${deviceId}/telemetry?from=0`, { token: apiKey });
  assert.equal(points.body.items.length, 1);
  const history = await t.call('GET', `/v1/devices/${deviceId}/presence`, { token: apiKey });
  assert.equal(history.body.items.at(-1).transport, 'mqtts-mtls');

  // The certificate binds tenant and device.
  const text = openssl(['x509', '-noout', '-subject', '-ext', 'subjectAltName'], certificate);
  assert.match(text, new RegExp(`CN ?= ?${deviceId}`));
  assert.match(text, new RegExp(`URI:urn:mooring:[a-z0-9_]+:${deviceId}`));

  const certs = await t.call('GET', `/v1/devices/${deviceId}/certificates`, { token: apiKey });
  const [meta] = certs.body.items;
  const crl = await t.call('GET', `/v1/pki/crl/${meta.caId}`);
  assert.equal(crl.status, 200);
  const [issuing, root] = certificateChain
    .split(/(?<=-----END CERTIFICATE-----)\n?/)
    .filter((s: string) => s.includes('BEGIN'));
  const files = {
    leaf: join(work, 'leaf.pem'),
    issuing: join(work, 'issuing.pem'),
    root: join(work, 'root.pem'),
    crl: join(work, 'crl.pem'),
  };
  writeFileSync(files.leaf, certificate);
  writeFileSync(files.issuing, issuing);
  writeFileSync(files.root, root);
  writeFileSync(files.crl, crl.text);
  const ok = openssl([
    'verify',
    '-CAfile',
    files.root,
    '-untrusted',
    files.issuing,
    '-crl_check',
    '-CRLfile',
    files.crl,
    files.leaf,
  ]);
  assert.match(ok, /: OK/);
  assert.equal(root.trim(), t.platform.caCert.trim());

  // A client id that is not the certificate's device is refused.
  await assert.rejects(
    connectMqtt(t.platform.mqttMtlsPort, t.platform.caCert, {
      clientId: 'dev_other',
      key,
      cert: certificate + certificateChain,
    }),
    (e) => (e as { code?: number }).code === 4,
  );
});

test('certificates from another CA and expired ones are refused at the handshake', async () => {
  // Another CA: a self-made one.
  const { key, cert: evil } = issueWithCa(work, makeCa(work, 'Evil CA'), 'evil-device');
  assert.notEqual(await handshake(key, evil), 'accepted');

  // Expired: issued by the real tenant CA with a clock two years back.
  const pki = await platformPkiWithClock(() => Date.now() - 2 * 365 * 86_400_000);
  const fresh = deviceKeyAndCsr(work);
  const r = await provisionWithCsr('PKI-EXP', fresh.csr);
  const tenantId = (await t.call('GET', `/v1/devices/${r.body.deviceId}`, { token: apiKey })).body.tenantId;
  const expired = await pki.issue(tenantId, r.body.deviceId, fresh.csr);
  assert.equal(
    await handshake(fresh.key, r.body.certificate + r.body.certificateChain),
    'accepted',
    'the current certificate works',
  );
  assert.notEqual(await handshake(fresh.key, expired.certificate + expired.chain), 'accepted');
});

test('a revoked certificate drops its live session within 5 s and is refused at the next handshake', async () => {
  const { key, csr } = deviceKeyAndCsr(work);
  const r = await provisionWithCsr('PKI-REV', csr);
  const chain = r.body.certificate + r.body.certificateChain;
  const client = await mtls(r.body.deviceId, key, chain);
  const serial = (await t.call('GET', `/v1/devices/${r.body.deviceId}/certificates`, { token: apiKey })).body
    .items[0].serial;
  const gone = closed(client, 5000);
  const started = Date.now();
  assert.equal(
    (
      await t.call('POST', `/v1/certificates/${serial}/revoke`, {
        token: apiKey,
        body: { reason: 'key compromise' },
      })
    ).status,
    204,
  );
  await gone;
  assert.ok(Date.now() - started < 5000);
  // the trust reload is asynchronous but quick
  await new Promise((res) => setTimeout(res, 200));
  assert.notEqual(await handshake(key, chain), 'accepted');
  const certs = await t.call('GET', `/v1/devices/${r.body.deviceId}/certificates`, { token: apiKey });
  assert.equal(certs.body.items[0].revocationReason, 'key compromise');
  // openssl agrees with the published CRL
  const crl = await t.call('GET', `/v1/pki/crl/${certs.body.items[0].caId}`);
  const [issuing] = r.body.certificateChain
    .split(/(?<=-----END CERTIFICATE-----)\n?/)
    .filter((s: string) => s.includes('BEGIN'));
  writeFileSync(join(work, 'rleaf.pem'), r.body.certificate);
  writeFileSync(join(work, 'rissuing.pem'), issuing);
  writeFileSync(join(work, 'rroot.pem'), t.platform.caCert);
  writeFileSync(join(work, 'rcrl.pem'), crl.text);
  assert.throws(
    () =>
      openssl([
        'verify',
        '-CAfile',
        join(work, 'rroot.pem'),
        '-untrusted',
        join(work, 'rissuing.pem'),
        '-crl_check',
        '-CRLfile',
        join(work, 'rcrl.pem'),
        join(work, 'rleaf.pem'),
      ]),
    /revoked/,
  );
  // another tenant cannot revoke or even see it
  const other = await t.tenant();
  assert.equal(
    (await t.call('POST', `/v1/certificates/${serial}/revoke`, { token: other.apiKey, body: {} })).body.code,
    'CERTIFICATE_NOT_FOUND',
  );
});

const badCsrs: { desc: string; make: () => string; reason: RegExp }[] = [
  {
    desc: 'malformed',
    make: () => '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----',
    reason: /PKCS#10/,
  },
  { desc: 'signed with SHA-1', make: () => deviceKeyAndCsr(work, { digest: 'sha1' }).csr, reason: /SHA-1/ },
  {
    desc: 'with a 1024-bit RSA key',
    make: () =>
      deviceKeyAndCsr(work, { algo: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'] }).csr,
    reason: /1024 bits is too weak/,
  },
  {
    desc: 'whose signature does not match its key',
    make: () => {
      const a = deviceKeyAndCsr(work).csr;
      // flip one byte in the signature
      const der = Buffer.from(a.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
      der[der.length - 5] = der[der.length - 5]! ^ 0xff;
      return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    },
    reason: /does not verify|PKCS#10/,
  },
];

for (const c of badCsrs) {
  test(`a CSR ${c.desc} is refused with CSR_INVALID`, async () => {
    const r = await provisionWithCsr(`BAD-${Math.random().toString(36).slice(2, 8)}`, c.make());
    assert.equal(r.body.code, 'CSR_INVALID', r.text);
    assert.match(r.body.detail, c.reason);
  });
}

test('the HTTPS device API accepts a device by its client certificate alone, until it is revoked', async () => {
  const { key, csr } = deviceKeyAndCsr(work);
  const r = await provisionWithCsr('PKI-HTTPS', csr);
  const clientCert = { key, cert: r.body.certificate + r.body.certificateChain };
  const sent = await t.call('POST', '/v1/device/telemetry', {
    clientCert,
    body: { values: { viaHttpsMtls: 1 } },
  });
  assert.equal(sent.status, 202, sent.text);
  const points = await t.call('GET', `/v1/devices/${r.body.deviceId}/telemetry?from=0`, { token: apiKey });
  assert.equal(points.body.items.length, 1);
  // A certificate from another CA is not an identity.
  const other = issueWithCa(work, makeCa(work, 'Other CA'), 'other-device');
  const refused = await t.call('POST', '/v1/device/telemetry', {
    clientCert: { key: other.key, cert: other.cert },
    body: { values: { t: 1 } },
  });
  assert.equal(refused.body.code, 'INVALID_CREDENTIALS');
  const serial = (await t.call('GET', `/v1/devices/${r.body.deviceId}/certificates`, { token: apiKey })).body
    .items[0].serial;
  await t.call('POST', `/v1/certificates/${serial}/revoke`, { token: apiKey, body: {} });
  const after = await t.call('POST', '/v1/device/telemetry', { clientCert, body: { values: { t: 2 } } });
  assert.equal(after.body.code, 'INVALID_CREDENTIALS');
  // People and apps without a certificate still use the API as before.
  assert.equal((await t.call('GET', '/v1/devices', { token: apiKey })).status, 200);
});

test('a device renews its certificate over an authenticated connection', async () => {
  const first = deviceKeyAndCsr(work);
  const r = await provisionWithCsr('PKI-RENEW', first.csr);
  const next = deviceKeyAndCsr(work);
  const renewed = await t.call('POST', '/v1/device/certificates', {
    token: r.body.registrationToken,
    body: { csr: next.csr },
  });
  assert.equal(renewed.status, 201, renewed.text);
  const client = await mtls(r.body.deviceId, next.key, renewed.body.certificate + renewed.body.chain);
  client.end(true);
  const weak = await t.call('POST', '/v1/device/certificates', {
    token: r.body.registrationToken,
    body: { csr: deviceKeyAndCsr(work, { digest: 'sha1' }).csr },
  });
  assert.equal(weak.body.code, 'CSR_INVALID');
});

test('trust re-signs CRLs older than a day (the hourly reload hands current ones to the listeners)', async () => {
  let clock = Date.now();
  const pki = await platformPkiWithClock(() => clock);
  const nextUpdates = async () =>
    (await pki.trust()).crls
      .filter((c) => c.includes('X509 CRL'))
      .map((c) => new x509.X509Crl(c.replace(/X509 CRL/g, 'CRL')).nextUpdate!.getTime());
  assert.ok((await nextUpdates()).every((n) => n > clock));
  clock += 8 * 86_400_000; // a quiet week and a day later
  await pki.refreshTrust();
  assert.ok(
    (await nextUpdates()).every((n) => n > clock),
    'every CRL handed to the listeners is current',
  );
});
