/**
 * `mooring artifacts` and `mooring update-keys` against a real server: an image streamed from a file,
 * a detached signature by an offline key registered from a PEM file, lists, show, delete, rotation.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { artifactSignedText } from '@mooring/protocol';
import { startTestPlatform, type TestPlatform } from '../../server/test/harness.js';

const BIN = fileURLToPath(new URL('../bin/mooring.mjs', import.meta.url));
let t: TestPlatform;
let work: string;
let base: string[];
let tenantId: string;

function mooring(args: string[]): Promise<{ code: number; stdout: string; stderr: string; json: any }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...base, ...args, '--json'], {
      env: { ...process.env, MOORING_CONFIG_DIR: join(work, 'config') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        /* not JSON */
      }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
  });
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
