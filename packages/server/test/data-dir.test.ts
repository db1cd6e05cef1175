/**
 * The data directory is owner-only (0700 directories, 0600 files) on the first start, on every start
 * after (whatever modes it was left with), and files the embedded store writes while running end
 * owner-only too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatform } from '../src/index.js';
import { testConfig } from './harness.js';

/** Every entry under `dir` (itself included) whose mode is not owner-only. */
function loose(dir: string): string[] {
  const out: string[] = [];
  const walk = (path: string) => {
    const s = lstatSync(path);
    const mode = s.mode & 0o777;
    if (mode !== (s.isDirectory() ? 0o700 : 0o600)) out.push(`${mode.toString(8)} ${path}`);
    if (s.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  return out;
}

const start = (dataDir: string) => startPlatform(testConfig(dataDir));

test('the data directory is owner-only on first start, on later starts, and after the store wrote more', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mooring-modes-'));
  try {
    const first = await start(dataDir);
    assert.deepEqual(loose(dataDir).slice(0, 5), [], 'after the first start');
    assert.ok(readdirSync(join(dataDir, 'db')).length > 0, 'the embedded store lives there');

    // The store writes new files while running (a new table, its segments, the relation-cache init
    // files the change invalidates): they end owner-only by the stop at the latest.
    await first.db.exec(
      'CREATE TABLE mode_probe (a int); INSERT INTO mode_probe SELECT generate_series(1, 50000); CHECKPOINT',
    );
    await first.stop();
    assert.deepEqual(loose(dataDir).slice(0, 5), [], 'after running and stopping');

    // A directory left loose (an older version, a copy, a restore) is tightened at the next start.
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'db'), 0o755);
    chmodSync(join(dataDir, 'db', 'PG_VERSION'), 0o666);
    chmodSync(join(dataDir, 'pki', 'ca.pem'), 0o644);
    chmodSync(join(dataDir, 'secret.key'), 0o644);
    const second = await start(dataDir);
    assert.deepEqual(loose(dataDir).slice(0, 5), [], 'after a later start');
    await second.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
