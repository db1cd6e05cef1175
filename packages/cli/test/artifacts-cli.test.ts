/**
 * `mooring artifacts` and `mooring update-keys` against a real server: an image streamed from a file,
 * a detached signature by an offline key registered from a PEM file, lists, show, delete, rotation;
 * and the offline flow of the CLI alone: `update-keys generate`, `artifacts sign`, upload.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifactSignedText } from '@mooring/protocol';
import { startTestPlatform, type TestPlatform } from '../../server/test/harness.js';
import { runCli, type Run } from './run-cli.js';

let t: TestPlatform;
let work: string;
let base: string[];
let tenantId: string;

function mooring(args: string[]): Promise<Run> {
  return runCli([...base, ...args, '--json'], { configDir: join(work, 'config') });
}

before(async () => {
  t = await startTestPlatform();
  work = mkdtempSync(join(tmpdir(), 'mooring-cli-artifacts-'));
  const caFile = join(work, 'ca.pem');
  writeFileSync(caFile, t.platform.caCert);
  const tenant = await t.tenant();
  tenantId = tenant.tenantId;
  base = ['--server', `https://localhost:${t.platform.httpPort}`, '--ca', caFile, '--token', tenant.apiKey];
});
after(async () => {
  await t.stop();
  rmSync(work, { recursive: true, force: true });
});

test('upload (server-signed and offline-signed), list, show, delete; update keys add, rotate, revoke', async () => {
  const image = randomBytes(300 * 1024);
  const file = join(work, 'fw.bin');
  writeFileSync(file, image);
  const up = await mooring([
    'artifacts',
    'upload',
    file,
    '--firmware-version',
    '1.2.3',
    '--hardware-class',
    'board-a',
    '--sequence',
    '1',
  ]);
  assert.equal(up.code, 0, up.stderr);
  assert.ok(up.json, up.stdout + up.stderr);
  assert.equal(up.json.manifest.sha256, createHash('sha256').update(image).digest('hex'));
  assert.equal(up.json.keyKind, 'server');

  const older = await mooring([
    'artifacts',
    'upload',
    file,
    '--firmware-version',
    '1.2.2',
    '--hardware-class',
    'board-a',
    '--sequence',
    '1',
  ]);
  assert.notEqual(older.code, 0);
  assert.equal(older.json.error.code, 'ARTIFACT_SEQUENCE_NOT_NEWER');

  const pair = generateKeyPairSync('ed25519');
  const pemFile = join(work, 'release.pub.pem');
  writeFileSync(pemFile, pair.publicKey.export({ format: 'pem', type: 'spki' }));
  const added = await mooring(['update-keys', 'add', pemFile, '--name', 'release']);
  assert.equal(added.code, 0, added.stderr);
  assert.equal(added.json.kind, 'offline');
  const signature = sign(
    null,
    Buffer.from(
      artifactSignedText({
        tenantId,
        version: '1.3.0',
        hardwareClass: 'board-a',
        minVersion: '1.2.0',
        sequence: 2,
        size: image.length,
        sha256: up.json.manifest.sha256,
      }),
    ),
    pair.privateKey,
  );
  const sigFile = join(work, 'fw.sig');
  writeFileSync(sigFile, signature);
  const signed = await mooring([
    'artifacts',
    'upload',
    file,
    '--firmware-version',
    '1.3.0',
    '--min-version',
    '1.2.0',
    '--hardware-class',
    'board-a',
    '--sequence',
    '2',
    '--signature',
    sigFile,
  ]);
  assert.equal(signed.code, 0, signed.stderr);
  assert.equal(signed.json.keyId, added.json.id);

  const list = await mooring(['artifacts', 'list']);
  assert.deepEqual(
    list.json.map((a: { id: string }) => a.id),
    [signed.json.id, up.json.id],
  );
  const show = await mooring(['artifacts', 'show', up.json.id]);
  assert.equal(show.json.signature, up.json.signature);
  assert.equal((await mooring(['artifacts', 'delete', up.json.id])).code, 0);
  assert.equal((await mooring(['artifacts', 'show', up.json.id])).json.error.code, 'ARTIFACT_NOT_FOUND');

  const rotated = await mooring(['update-keys', 'rotate']);
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.equal((await mooring(['update-keys', 'revoke', added.json.id])).code, 0);
  const keys = await mooring(['update-keys', 'list']);
  const status = Object.fromEntries(keys.json.map((k: { id: string; status: string }) => [k.id, k.status]));
  assert.equal(status[added.json.id], 'revoked');
  assert.equal(status[rotated.json.id], 'active');
  assert.equal(status[up.json.keyId], 'retired');
});

test('offline signing by the CLI: generate a key pair, register it, sign, upload; a signature over another sequence is refused', async () => {
  const keys = join(work, 'keys');
  const generated = await mooring(['update-keys', 'generate', '--out', keys, '--file-name', 'release']);
  assert.equal(generated.code, 0, generated.stderr);
  const { privateKeyFile, publicKeyFile, publicKey } = generated.json;
  assert.equal(privateKeyFile, join(keys, 'release.pem'));
  assert.equal(statSync(privateKeyFile).mode & 0o777, 0o600, 'the private key is owner-only');
  assert.equal(readFileSync(publicKeyFile, 'utf8').trim(), publicKey);
  assert.match(publicKey, /^[A-Za-z0-9_-]{43}$/, 'the raw 32 bytes in base64url');
  const again = await mooring(['update-keys', 'generate', '--out', keys, '--file-name', 'release']);
  assert.equal(again.code, 2, 'an existing key is never overwritten without --force');
  assert.equal(readFileSync(publicKeyFile, 'utf8').trim(), publicKey);

  const added = await mooring(['update-keys', 'add', publicKeyFile, '--name', 'cli-release']);
  assert.equal(added.code, 0, added.stderr);
  assert.equal(added.json.publicKey, publicKey);
  assert.equal(added.json.kind, 'offline');

  const image = randomBytes(200 * 1024 + 7);
  const file = join(work, 'fw-b.bin');
  writeFileSync(file, image);
  const manifest = (sequence: string) => [
    '--firmware-version',
    '2.0.0',
    '--min-version',
    '1.0.0',
    '--hardware-class',
    'board-b',
    '--sequence',
    sequence,
  ];
  const sigFile = join(work, 'fw-b.sig');
  const signed = await mooring([
    'artifacts',
    'sign',
    file,
    '--key',
    privateKeyFile,
    '--tenant',
    tenantId,
    ...manifest('5'),
    '--out',
    sigFile,
  ]);
  assert.equal(signed.code, 0, signed.stderr);
  const sha256 = createHash('sha256').update(image).digest('hex');
  const fields = {
    tenantId,
    version: '2.0.0',
    hardwareClass: 'board-b',
    minVersion: '1.0.0',
    sequence: 5,
    size: image.length,
    sha256,
  };
  assert.deepEqual(
    { ...signed.json, signature: undefined, publicKey: undefined, signedText: undefined },
    { ...fields, signature: undefined, publicKey: undefined, signedText: undefined },
  );
  assert.equal(signed.json.publicKey, publicKey);
  assert.equal(readFileSync(sigFile, 'utf8').trim(), signed.json.signature);
  const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' });
  assert.ok(
    verify(null, Buffer.from(artifactSignedText(fields)), pub, Buffer.from(signed.json.signature, 'base64')),
    'the signature covers the text of the protocol',
  );

  // The signature as printed (not a file) on the upload.
  const up = await mooring([
    'artifacts',
    'upload',
    file,
    ...manifest('5'),
    '--signature',
    signed.json.signature,
  ]);
  assert.equal(up.code, 0, up.stderr);
  assert.equal(up.json.keyId, added.json.id);
  assert.equal(up.json.keyKind, 'offline');
  assert.equal(up.json.signature, signed.json.signature);
  assert.equal(up.json.signedBytes, signed.json.signedText);

  // Signed over sequence 6, uploaded as 7: the server verifies nothing and keeps nothing.
  const other = await mooring([
    'artifacts',
    'sign',
    file,
    '--key',
    privateKeyFile,
    '--tenant',
    tenantId,
    ...manifest('6'),
  ]);
  assert.equal(other.code, 0, other.stderr);
  const refused = await mooring([
    'artifacts',
    'upload',
    file,
    ...manifest('7'),
    '--signature',
    other.json.signature,
  ]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.equal(refused.json.error.code, 'ARTIFACT_SIGNATURE_INVALID');
  // The same signature from a file, with the sequence it covers: accepted.
  writeFileSync(sigFile, other.json.signature);
  const ok = await mooring(['artifacts', 'upload', file, ...manifest('6'), '--signature', sigFile]);
  assert.equal(ok.code, 0, ok.stderr);
  const list = await mooring(['artifacts', 'list', '--hardware-class', 'board-b']);
  assert.deepEqual(
    list.json.map((a: { sequence: number }) => a.sequence),
    [6, 5],
  );
});

test('artifacts sign refuses what the upload would refuse, and keys that are not Ed25519 private keys', async () => {
  const file = join(work, 'fw-c.bin');
  writeFileSync(file, randomBytes(1000));
  const keys = join(work, 'keys-c');
  const generated = await mooring(['update-keys', 'generate', '--out', keys]);
  assert.equal(generated.code, 0, generated.stderr);
  const rsa = join(work, 'rsa.pem');
  writeFileSync(
    rsa,
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }),
  );
  const sign = (key: string, version: string, sequence: string) =>
    mooring([
      'artifacts',
      'sign',
      file,
      '--key',
      key,
      '--tenant',
      tenantId,
      '--firmware-version',
      version,
      '--hardware-class',
      'board-c',
      '--sequence',
      sequence,
    ]);
  for (const [key, version, sequence, message] of [
    [generated.json.privateKeyFile, '1.0', '1', /not a semantic version/],
    [generated.json.privateKeyFile, '1.0.0', '0', /--sequence/],
    [generated.json.publicKeyFile, '1.0.0', '1', /not a readable private key/],
    [rsa, '1.0.0', '1', /rsa key; update keys are Ed25519/],
  ] as const) {
    const r = await sign(key, version, sequence);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
  }
  // The fields are checked before the image is read.
  const unread = await mooring([
    ...['artifacts', 'sign', join(work, 'no-such-image.bin'), '--key', generated.json.privateKeyFile],
    ...[
      '--tenant',
      tenantId,
      '--firmware-version',
      '1.0.0',
      '--hardware-class',
      'board c',
      '--sequence',
      '1',
    ],
  ]);
  assert.equal(unread.code, 2, unread.stderr);
  assert.match(unread.stderr, /--hardware-class 'board c'/);
});
