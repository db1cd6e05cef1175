import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTlsMaterial } from './bootstrap.js';

function sans(pem: string): string {
  return new X509Certificate(pem).subjectAltName ?? '';
}

test('the server certificate is kept while it fits and issued anew for new host names', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mooring-pki-'));
  const opts = { dataDir, certFile: '', keyFile: '', hostnames: [] as string[] };
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
  });
  writeFileSync(join(dataDir, 'own.pem'), own.cert);
  writeFileSync(join(dataDir, 'own.key'), own.key);
  const m = await ensureTlsMaterial({
    dataDir,
    certFile: join(dataDir, 'own.pem'),
    keyFile: join(dataDir, 'own.key'),
    hostnames: [],
  });
  assert.equal(m.operatorCertificate, true);
  assert.equal(m.cert, own.cert);
  assert.notEqual(m.ca, own.ca);
});
