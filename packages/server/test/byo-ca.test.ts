/**
 * Bring-your-own manufacturer CA: registration needs proof of possession; a device holding a
 * certificate from the CA is registered just in time on its first mutual-TLS connection (enabled, or
 * waiting for an operator, per the CA's policy) and uses its certificate's common name as client id;
 * the CA's own CRL revokes; disabling the CA refuses all of its devices at once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closed, connectMqtt, eventually, startTestPlatform, type TestPlatform } from './harness.js';
import { ECDSA_SHA256, importEcPrivateKey, x509 } from '../src/domains/pki/x509.js';
import { issueWithCa, makeCa, type TestCa } from './openssl.js';

let t: TestPlatform;
let apiKey: string;
const work = mkdtempSync(join(tmpdir(), 'mooring-byo-'));
before(async () => {
  t = await startTestPlatform();
  ({ apiKey } = await t.tenant());
});
after(async () => {
  await t.stop();
});

async function crlOf(ca: TestCa, revokedSerials: string[] = []) {
  const caCert = new x509.X509Certificate(ca.certPem);
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCert.subject,
    thisUpdate: new Date(Date.now() - 60_000),
    nextUpdate: new Date(Date.now() + 86_400_000),
    entries: revokedSerials.map((s) => ({ serialNumber: s, revocationDate: new Date() })),
    signingKey: await importEcPrivateKey(ca.keyPem),
    signingAlgorithm: ECDSA_SHA256,
  });
  return crl.toString('pem');
}

async function register(ca: TestCa, policy: 'auto' | 'pending', signer = ca) {
  const code = (await t.call('POST', '/v1/pki/registration-codes', { token: apiKey })).body
    .registrationCode as string;
  const verification = issueWithCa(work, signer, code);
  return t.call('POST', '/v1/pki/cas', {
    token: apiKey,
    body: {
      caCertificate: ca.certPem,
      verificationCertificate: verification.cert,
      crl: await crlOf(ca),
      registrationPolicy: policy,
      deviceTags: ['mfg:acme'],
    },
  });
}

function handshakeRefused(key: string, cert: string): Promise<boolean> {
  return new Promise((resolve) => {
    import('node:tls').then(({ connect }) => {
      const s = connect({
        host: '127.0.0.1',
        port: t.platform.mqttMtlsPort,
        servername: 'localhost',
        ca: t.platform.caCert,
        key,
        cert,
        maxVersion: 'TLSv1.2',
      });
      s.once('secureConnect', () => {
        s.destroy();
        resolve(false);
      });
      s.once('error', () => resolve(true));
    });
  });
}

test('registration needs proof of possession of the CA key', async () => {
  const ca = makeCa(work, 'Acme-Proof');
  const impostor = makeCa(work, 'Impostor');
  const notSigned = await register(ca, 'auto', impostor);
  assert.equal(notSigned.body.code, 'CA_INVALID');
  assert.match(notSigned.body.detail, /not signed by the CA/);
  const wrongCode = issueWithCa(work, ca, 'f'.repeat(48));
  const r = await t.call('POST', '/v1/pki/cas', {
    token: apiKey,
    body: {
      caCertificate: ca.certPem,
      verificationCertificate: wrongCode.cert,
      crl: await crlOf(ca),
      registrationPolicy: 'auto',
    },
  });
  assert.equal(r.body.code, 'CA_INVALID');
  assert.match(r.body.detail, /registration code/);
  const leaf = issueWithCa(work, ca, 'not-a-ca');
  const notCa = await t.call('POST', '/v1/pki/cas', {
    token: apiKey,
    body: {
      caCertificate: leaf.cert,
      verificationCertificate: leaf.cert,
      crl: await crlOf(ca),
      registrationPolicy: 'auto',
    },
  });
  assert.equal(notCa.body.code, 'CA_INVALID');
  const ok = await register(ca, 'auto');
  assert.equal(ok.status, 201, ok.text);
  assert.equal(ok.body.kind, 'external');
  const twice = await register(ca, 'auto');
  assert.equal(twice.body.code, 'CA_INVALID', 'a CA is registered once');
  // A CA named like the platform's own would break other tenants' chains (OpenSSL finds issuers by name).
  const lookalike = await register(makeCa(work, 'Mooring Platform CA'), 'auto');
  assert.equal(lookalike.body.code, 'CA_INVALID');
  assert.match(lookalike.body.detail, /subject name/);
});

test('a device with a manufacturer certificate is registered just in time and works; disabling the CA refuses it', async () => {
  const ca = makeCa(work, 'Acme-Auto');
  const registered = await register(ca, 'auto');
  assert.equal(registered.status, 201, registered.text);
  const unit = issueWithCa(work, ca, 'ACME-0001');
  const client = await connectMqtt(t.platform.mqttMtlsPort, t.platform.caCert, {
    clientId: 'ACME-0001',
    key: unit.key,
    cert: unit.cert,
  });
  await client.publishAsync('d/ACME-0001/telemetry', JSON.stringify({ values: { byo: 1 } }), { qos: 1 });
  const list = await t.call('GET', '/v1/devices?tag=mfg:acme', { token: apiKey });
  const device = list.body.items.find((d: { serial: string }) => d.serial === 'ACME-0001');
  assert.ok(device, 'registered just in time');
  assert.equal(device.status, 'enabled');
  assert.equal(
    (await t.call('GET', `/v1/devices/${device.id}/telemetry?from=0`, { token: apiKey })).body.items.length,
    1,
  );
  // It may not speak for anyone else.
  await client.publishAsync(`d/${device.id}/telemetry`, JSON.stringify({ values: { x: 1 } }), { qos: 1 });
  assert.equal(
    (await t.call('GET', `/v1/devices/${device.id}/telemetry?from=0`, { token: apiKey })).body.items.length,
    1,
  );
  await assert.rejects(
    connectMqtt(t.platform.mqttMtlsPort, t.platform.caCert, {
      clientId: 'ACME-0002',
      key: unit.key,
      cert: unit.cert,
    }),
    (e) => (e as { code?: number }).code === 4,
  );

  // The HTTPS device API registers and accepts a unit by its certificate too.
  const second = issueWithCa(work, ca, 'ACME-0002');
  const viaHttps = await t.call('POST', '/v1/device/telemetry', {
    clientCert: { key: second.key, cert: second.cert },
    body: { values: { byo: 2 } },
  });
  assert.equal(viaHttps.status, 202, viaHttps.text);

  const gone = closed(client, 5000);
  const disabled = await t.call('POST', `/v1/pki/cas/${registered.body.id}/disable`, { token: apiKey });
  assert.equal(disabled.body.status, 'disabled');
  await gone;
  assert.equal(await handshakeRefused(unit.key, unit.cert), true, 'refused at the handshake');
  await t.call('POST', `/v1/pki/cas/${registered.body.id}/enable`, { token: apiKey });
  assert.equal(await handshakeRefused(unit.key, unit.cert), false);
});

test("a pending policy registers the device disabled until an operator enables it; the CA's CRL revokes", async () => {
  const ca = makeCa(work, 'Acme-Pending');
  const registered = await register(ca, 'pending');
  const unit = issueWithCa(work, ca, 'ACME-P-01');
  await assert.rejects(
    connectMqtt(t.platform.mqttMtlsPort, t.platform.caCert, {
      clientId: 'ACME-P-01',
      key: unit.key,
      cert: unit.cert,
    }),
    (e) => (e as { code?: number }).code === 5,
  );
  const device = await eventually(async () => {
    const l = await t.call('GET', '/v1/devices?status=disabled', { token: apiKey });
    return l.body.items.find((d: { serial: string }) => d.serial === 'ACME-P-01');
  });
  assert.equal(device.metadata.pendingApproval, true);
  await t.call('POST', `/v1/devices/${device.id}/enable`, { token: apiKey });
  const c = await connectMqtt(t.platform.mqttMtlsPort, t.platform.caCert, {
    clientId: 'ACME-P-01',
    key: unit.key,
    cert: unit.cert,
  });
  c.end(true);

  // A second certificate for the same serial (a cloned or re-keyed unit, or a leaked CA key) waits
  // for approval too: refused with CONNACK 5 until an operator approves that certificate.
  const second = issueWithCa(work, ca, 'ACME-P-01');
  const mqttSecond = () =>
    connectMqtt(t.platform.mqttMtlsPort, t.platform.caCert, {
      clientId: 'ACME-P-01',
      key: second.key,
      cert: second.cert,
    });
  await assert.rejects(mqttSecond(), (e) => (e as { code?: number }).code === 5);
  const certs = (await t.call('GET', `/v1/devices/${device.id}/certificates`, { token: apiKey })).body.items;
  const pendingCert = certs.find((x: { pending: boolean }) => x.pending);
  assert.ok(pendingCert, 'listed as pending');
  assert.equal(certs.filter((x: { pending: boolean }) => !x.pending).length, 1, 'the first one is not');
  const approved = await t.call('POST', `/v1/certificates/${pendingCert.serial}/approve`, { token: apiKey });
  assert.equal(approved.body.pending, false, approved.text);
  (await mqttSecond()).end(true);

  const serial = new x509.X509Certificate(unit.cert).serialNumber;
  const updated = await t.call('PUT', `/v1/pki/cas/${registered.body.id}/crl`, {
    token: apiKey,
    body: { crl: await crlOf(ca, [serial]) },
  });
  assert.equal(updated.status, 204, updated.text);
  assert.equal(await handshakeRefused(unit.key, unit.cert), true);
  const forged = await t.call('PUT', `/v1/pki/cas/${registered.body.id}/crl`, {
    token: apiKey,
    body: { crl: await crlOf(makeCa(work, 'Other')) },
  });
  assert.equal(forged.body.code, 'CA_INVALID');
  const other = await t.tenant();
  assert.equal(
    (await t.call('POST', `/v1/pki/cas/${registered.body.id}/disable`, { token: other.apiKey })).body.code,
    'CA_NOT_FOUND',
  );
});

/** Requests over one kept-alive mutual-TLS connection, so a later request reuses the first socket. */
function keptAliveDeviceApi(key: string, cert: string) {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: t.platform.caCert, key, cert });
  return {
    post(path: string, body: unknown): Promise<{ status: number; reused: boolean; code?: string }> {
      return new Promise((resolve, reject) => {
        const req = https.request(
          {
            host: '127.0.0.1',
            servername: 'localhost',
            port: t.platform.httpPort,
            method: 'POST',
            path,
            agent,
            headers: { 'content-type': 'application/json' },
          },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                reused: req.reusedSocket,
                ...(text.startsWith('{') ? { code: JSON.parse(text).code } : {}),
              }),
            );
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify(body));
      });
    },
    close: () => agent.destroy(),
  };
}

test("a certificate revoked through its manufacturer CA's CRL is refused on connections opened before", async () => {
  const ca = makeCa(work, 'Acme-Kept');
  const registered = await register(ca, 'auto');
  assert.equal(registered.status, 201, registered.text);
  const unit = issueWithCa(work, ca, 'ACME-K-01');
  const api = keptAliveDeviceApi(unit.key, unit.cert);
  const mqttSession = await connectMqtt(t.platform.mqttMtlsPort, t.platform.caCert, {
    clientId: 'ACME-K-01',
    key: unit.key,
    cert: unit.cert,
  });
  try {
    assert.equal((await api.post('/v1/device/telemetry', { values: { t: 1 } })).status, 202);
    const gone = closed(mqttSession, 5_000);
    const serial = new x509.X509Certificate(unit.cert).serialNumber;
    const updated = await t.call('PUT', `/v1/pki/cas/${registered.body.id}/crl`, {
      token: apiKey,
      body: { crl: await crlOf(ca, [serial]) },
    });
    assert.equal(updated.status, 204, updated.text);
    // The HTTPS connection opened before the CRL: the next request on it is refused.
    const after = await api.post('/v1/device/telemetry', { values: { t: 2 } });
    assert.equal(after.reused, true, 'the request went over the kept-alive connection');
    assert.equal(after.status, 401);
    assert.equal(after.code, 'INVALID_CREDENTIALS');
    // The MQTT session is dropped, and the certificate is listed as revoked.
    await gone;
    const device = (await t.call('GET', '/v1/devices?limit=100', { token: apiKey })).body.items.find(
      (d: { name: string }) => d.name === 'ACME-K-01',
    );
    const certs = (await t.call('GET', `/v1/devices/${device.id}/certificates`, { token: apiKey })).body
      .items;
    assert.ok(certs[0].revokedAt, 'revoked in the store');
  } finally {
    api.close();
    mqttSession.end(true);
  }
});
