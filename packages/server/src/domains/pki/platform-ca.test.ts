import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CA_KEY_SEALED_FILE, ensureTlsMaterial } from './platform-ca.js';
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
