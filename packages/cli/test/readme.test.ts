/**
 * The README's walk-throughs, run by bash exactly as written against a fresh real server each: only
 * their first line (the data directory and port `npm start` uses) is replaced by the test server's.
 * Each must run alone to its end (set -e: any refused step fails it) and leave the reading stored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestPlatform } from '../../server/test/harness.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const FIRST_LINE = 'DATA=.mooring PORT=8443\n';

/** The `sh` blocks of the README's "Try it" section. */
function walkThroughs(): string[] {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const start = readme.indexOf('## Try it');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function bash(script: string, env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('bash', ['-c', script], {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const blocks = walkThroughs();

test('the README has two walk-throughs, each naming the data directory and port on its first line', () => {
  assert.equal(blocks.length, 2);
  for (const b of blocks) assert.ok(b.startsWith(FIRST_LINE), b.slice(0, 80));
});

for (const [i, name] of ['mooring command line', 'curl'].entries()) {
  test(`README walk-through ${i + 1} (${name}) runs alone, as written, to a stored reading`, async () => {
    const block = blocks[i]!;
    const t = await startTestPlatform();
    const config = mkdtempSync(join(tmpdir(), 'mooring-readme-'));
    try {
      const bootstrap = JSON.parse(readFileSync(join(t.dataDir, 'bootstrap-admin.json'), 'utf8')) as {
        username: string;
        password: string;
      };
      const script = [
        'set -euo pipefail',
        `DATA=${t.dataDir} PORT=${t.platform.httpPort}`,
        block.slice(FIRST_LINE.length),
        // Not the README's: hands the test what the walk-through made.
        'echo "made: $DEVICE $KEY"',
      ].join('\n');
      const r = await bash(script, { MOORING_CONFIG_DIR: config });
      assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);

      // The one-time password was replaced: it no longer logs in.
      const old = await t.call('POST', '/v1/auth/login', { body: bootstrap });
      assert.equal(old.status, 401, old.text);
      // The last command printed the reading the device sent, and the store holds it.
      const [, device, key] = /made: (dev_\S+) (mk_\S+)/.exec(r.stdout) ?? [];
      assert.ok(device && key, r.stdout);
      const shown = r.stdout.slice(0, r.stdout.indexOf('made: '));
      assert.match(shown, /temp[\s\S]*21\.5/, 'the walk-through ends by showing the reading');
      const latest = await t.call('GET', `/v1/devices/${device}/telemetry/latest`, { token: key });
      assert.equal(latest.status, 200, latest.text);
      assert.deepEqual(
        latest.body.items.map((p: { key: string; value: unknown }) => [p.key, p.value]),
        [['temp', 21.5]],
      );
    } finally {
      rmSync(config, { recursive: true, force: true });
      await t.stop();
    }
  });
}
