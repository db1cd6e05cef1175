import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownerOnlyStream, writeOwnerOnly } from './files.js';

test('a secret written over a file readable by others ends owner-only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mooring-files-'));
  const file = join(dir, 'manifest.json');
  writeFileSync(file, 'old');
  chmodSync(file, 0o644);
  writeOwnerOnly(file, 'secret');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(readFileSync(file, 'utf8'), 'secret');
  assert.deepEqual(readdirSync(dir), ['manifest.json'], 'no temporary file is left');
});

test('a stream over a file readable by others is owner-only before it is written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mooring-files-'));
  const file = join(dir, 'export.jsonl');
  writeFileSync(file, 'old');
  chmodSync(file, 0o666);
  const s = ownerOnlyStream(file);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  await new Promise<void>((resolve) => s.end('new\n', resolve));
  assert.equal(readFileSync(file, 'utf8'), 'new\n');
});
