import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CA_KEY_SEALED_FILE, SERVER_CERT_LIFETIME_DAYS, ensureTlsMaterial } from './platform-ca.js';
import { DAY_MS, ECDSA_SHA256, generateEcKeys, importEcPrivateKey, randomSerial, x509 } from './x509.js';
import { createSecretBox } from '../../platform/secret-box.js';

const box = createSecretBox(randomBytes(32));

function sans(pem: string): string {
  return new X509Certificate(pem).subjectAltName ?? '';
}

test('the server certificate is kept while it fits and issued anew for new host names', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mooring-pki-'));
  const opts = { dataDir, certFile: '', keyFile: '', hostnames: [] as string[], box };
  const first = await ensureTlsMaterial(opts);
  assert.equal(first.generated, true);
  const leaf = new X509Certificate(first.cert);
  assert.ok(leaf.verify(new X509Certificate(first.ca).publicKey), 'signed by the platform CA');
  assert.match(sans(first.cert), /DNS:localhost/);

  const again = await ensureTlsMaterial(opts);
  assert.equal(again.generated, false);
  assert.equal(again.cert, first.cert);

  const renamed = await ensureTlsMaterial({ ...opts, hostnames: ['iot.example.com', '10.1.2.3'] });
  assert.equal(renamed.generated, true);
  assert.equal(renamed.ca, first.ca, 'the CA stays');
  assert.match(sans(renamed.cert), /DNS:iot\.example\.com/);
  assert.match(sans(renamed.cert), /IP Address:10\.1\.2\.3/);
});

test("an operator's certificate is served as it is and flagged", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mooring-pki-'));
  const own = await ensureTlsMaterial({
    dataDir: mkdtempSync(join(tmpdir(), 'mooring-own-')),
    certFile: '',
    keyFile: '',
    hostnames: [],
    box,
  });
  writeFileSync(join(dataDir, 'own.pem'), own.cert);
  writeFileSync(join(dataDir, 'own.key'), own.key);
  const m = await ensureTlsMaterial({
    dataDir,
    certFile: join(dataDir, 'own.pem'),
    keyFile: join(dataDir, 'own.key'),
    hostnames: [],
    box,
  });
  assert.equal(m.operatorCertificate, true);
  assert.equal(m.cert, own.cert);
  assert.notEqual(m.ca, own.ca);
});

test('the platform CA key is sealed at rest; a plain key from an older data directory is sealed and removed', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mooring-pki-'));
  const opts = { dataDir, certFile: '', keyFile: '', hostnames: [] as string[], box };
  const first = await ensureTlsMaterial(opts);
  const sealedFile = join(dataDir, 'pki', CA_KEY_SEALED_FILE);
  const sealed = readFileSync(sealedFile, 'utf8');
  assert.equal(statSync(sealedFile).mode & 0o777, 0o600);
  assert.equal(sealed.includes('PRIVATE KEY'), false, 'no PEM at rest');
  assert.equal(box.open(sealed), first.caKeyPem);
  assert.equal(existsSync(join(dataDir, 'pki', 'ca.key.pem')), false);
  // Another secret key cannot open it: the start fails instead of making a new CA.
  await assert.rejects(ensureTlsMaterial({ ...opts, box: createSecretBox(randomBytes(32)) }));

  // An older data directory: the plain key is sealed and deleted, and the CA is unchanged.
  const older = mkdtempSync(join(tmpdir(), 'mooring-pki-'));
  const made = await ensureTlsMaterial({ ...opts, dataDir: older });
  const { rmSync } = await import('node:fs');
  rmSync(join(older, 'pki', CA_KEY_SEALED_FILE));
  writeFileSync(join(older, 'pki', 'ca.key.pem'), made.caKeyPem, { mode: 0o600 });
  const migrated = await ensureTlsMaterial({ ...opts, dataDir: older });
  assert.equal(migrated.ca, made.ca);
  assert.equal(migrated.caKeyPem, made.caKeyPem);
  assert.equal(existsSync(join(older, 'pki', 'ca.key.pem')), false);
  assert.equal(existsSync(join(older, 'pki', CA_KEY_SEALED_FILE)), true);
});

test('the server certificate lives 366 days at most; a longer one from an older version is issued anew', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mooring-pki-'));
  const opts = { dataDir, certFile: '', keyFile: '', hostnames: [] as string[], box };
  const first = await ensureTlsMaterial(opts);
  const leaf = new X509Certificate(first.cert);
  const lifetime = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
  assert.equal(lifetime, SERVER_CERT_LIFETIME_DAYS * DAY_MS);
  assert.equal(SERVER_CERT_LIFETIME_DAYS, 366);

  // What earlier versions made: the same CA and names, valid 825 days from a day before.
  const caKey = await importEcPrivateKey(first.caKeyPem);
  const keys = await generateEcKeys();
  const san = new x509.X509Certificate(first.cert).getExtension(x509.SubjectAlternativeNameExtension);
  assert.ok(san);
  const start = Date.now() - DAY_MS;
  const old = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: leaf.subject.replace(/\n/g, ', '),
    issuer: new x509.X509Certificate(first.ca).subject,
    notBefore: new Date(start),
    notAfter: new Date(start + 825 * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [san],
  });
  writeFileSync(join(dataDir, 'pki', 'server.pem'), old.toString('pem') + '\n' + first.ca);
  const renewed = await ensureTlsMaterial(opts);
  assert.equal(renewed.generated, true, 'the 825-day certificate was replaced');
  assert.notEqual(renewed.cert, first.cert);
  const next = new X509Certificate(renewed.cert);
  assert.equal(Date.parse(next.validTo) - Date.parse(next.validFrom), SERVER_CERT_LIFETIME_DAYS * DAY_MS);
});
