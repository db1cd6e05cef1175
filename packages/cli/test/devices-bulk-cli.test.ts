/**
 * `mooring devices bulk --set-desired` and `--revoke` against a real server: counted first, acting only
 * with --yes, then waiting for the job's end and printing its result (changed, skipped, the job), as
 * the API has it afterwards; a patch that is not a JSON object is a usage error said in one line, with
 * nothing sent; revoking without the permission is refused with its exit code; one action only.
 * And `devices list --sort`: every page in the API's order, a sort it does not know a usage error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestPlatform, type TestPlatform } from '../../server/test/harness.js';
import { runCli, serverArgs, type Run } from './run-cli.js';

let t: TestPlatform;
let work: string;
let caFile: string;
let apiKey: string;

function mooring(args: string[], token = apiKey): Promise<Run> {
  return runCli([...serverArgs(t.platform.httpPort, caFile, token), ...args], {
    configDir: join(work, 'config'),
  });
}

before(async () => {
  t = await startTestPlatform();
  apiKey = (await t.tenant()).apiKey;
  work = mkdtempSync(join(tmpdir(), 'mooring-cli-bulk-'));
  caFile = join(work, 'ca.pem');
  writeFileSync(caFile, t.platform.caCert);
});
after(async () => {
  await t.stop();
  rmSync(work, { recursive: true, force: true });
});

const desired = async (deviceId: string) => {
  const r = await t.call('GET', `/v1/devices/${deviceId}/config`, { token: apiKey });
  assert.equal(r.status, 200, r.text);
  return r.body.desired as { version: number; document: Record<string, unknown> };
};

/** The bulk jobs the tenant's audit trail says were started. */
async function jobsStarted(): Promise<number> {
  const r = await t.call('GET', `/v1/audit?action=${encodeURIComponent('POST /v1/devices/bulk')}`, {
    token: apiKey,
  });
  assert.equal(r.status, 200, r.text);
  return r.body.items.filter((x: { changes: { result?: { jobId?: string } } }) => x.changes.result?.jobId)
    .length;
}

test('--set-desired: counted, then with --yes the job is waited for and its result printed, as the API has it', async () => {
  const schema = await t.call('POST', '/v1/config-schemas', {
    token: apiKey,
    body: { name: 'small', tag: 'small', schema: { properties: { interval: { maximum: 10 } } } },
  });
  assert.equal(schema.status, 201, schema.text);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++)
    ids.push((await t.device(apiKey, { name: `cfg-${i}`, tags: ['cli-cfg'] })).deviceId);
  const refused = (await t.device(apiKey, { name: 'small', tags: ['cli-cfg', 'small'] })).deviceId;
  const outside = (await t.device(apiKey, { name: 'outside', tags: ['elsewhere'] })).deviceId;
  const patch = '{"interval": 30, "debug": null}';

  const counted = await mooring(['devices', 'bulk', '--tag', 'cli-cfg', '--set-desired', patch]);
  assert.equal(counted.code, 0, counted.stderr);
  assert.match(counted.stdout, /4 devices match; 4 would change\. Run again with --yes/);
  for (const id of [...ids, refused])
    assert.equal((await desired(id)).version, 0, 'a count changed a device');

  const acted = await mooring(['devices', 'bulk', '--tag', 'cli-cfg', '--set-desired', patch, '--yes']);
  assert.equal(acted.code, 0, acted.stderr);
  assert.match(acted.stdout, /^4 devices matched; 3 changed, 1 skipped \(job blk_\S+: done\)\.$/m);
  for (const id of ids) {
    const d = await desired(id);
    assert.deepEqual([d.version, d.document], [1, { interval: 30 }]);
  }
  assert.equal((await desired(refused)).version, 0, 'the device its schema refuses was changed');
  assert.equal((await desired(outside)).version, 0, 'a device outside the filter was changed');

  // --json: one document, the job as it ended (read again through the API: the same).
  const again = await mooring([
    'devices',
    'bulk',
    '--tag',
    'cli-cfg',
    '--set-desired',
    '{"interval": 5}',
    '--yes',
    '--json',
  ]);
  assert.equal(again.code, 0, again.stderr);
  const job = again.json.job;
  assert.equal(job.status, 'done');
  assert.deepEqual([job.matched, job.processed, job.changed, job.skipped], [4, 4, 4, 0]);
  const stored = await t.call('GET', `/v1/devices/bulk/${job.id}`, { token: apiKey });
  assert.deepEqual(stored.body, job);
  for (const id of [...ids, refused]) assert.equal((await desired(id)).document.interval, 5);
});

test('--set-desired with a patch that is not a JSON object: a usage error in one line, nothing sent', async () => {
  const d = (await t.device(apiKey, { name: 'untouched', tags: ['cli-bad'] })).deviceId;
  const before = await jobsStarted();
  for (const [text, said] of [
    ['{"interval": 30,', /--set-desired takes a JSON object: .*JSON/],
    ['interval=30', /--set-desired takes a JSON object: /],
    ['[1, 2]', /--set-desired takes a JSON object \(a JSON Merge Patch\)/],
    ['null', /--set-desired takes a JSON object \(a JSON Merge Patch\)/],
    ['"text"', /--set-desired takes a JSON object \(a JSON Merge Patch\)/],
  ] as const) {
    for (const json of [false, true]) {
      const r = await mooring([
        'devices',
        'bulk',
        '--tag',
        'cli-bad',
        '--set-desired',
        text,
        '--yes',
        ...(json ? ['--json'] : []),
      ]);
      assert.equal(r.code, 2, `${text}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, said, text);
      assert.doesNotMatch(r.stderr, /\n\s+at |Error:|node:internal|\.ts:\d+/, `a stack trace for ${text}`);
      assert.ok(r.stderr.trim().split('\n').length <= 2, `more than the message: ${r.stderr}`);
      if (json) assert.equal(r.json?.dryRun, undefined, 'a result was printed');
    }
  }
  assert.equal(await jobsStarted(), before, 'a job was started');
  assert.equal((await desired(d)).version, 0);

  const two = await mooring(['devices', 'bulk', '--tag', 'cli-bad', '--revoke', '--set-desired', '{}']);
  assert.equal(two.code, 2, 'a usage error');
  assert.match(two.stderr, /exactly one action.*--revoke or --set-desired/);
});

test('--revoke: counted, then with --yes every credential of the matching devices stops working, the others keep theirs; refused without the permission', async () => {
  const gone = await t.device(apiKey, { name: 'revoke-1', tags: ['cli-revoke'] });
  const gone2 = await t.device(apiKey, { name: 'revoke-2', tags: ['cli-revoke'] });
  const kept = await t.device(apiKey, { name: 'keep', tags: ['cli-keep'] });
  const telemetry = (accessKey: string) =>
    t.call('POST', '/v1/device/telemetry', {
      token: accessKey,
      body: [{ ts: Date.now(), values: { v: 1 } }],
    });
  assert.equal((await telemetry(gone.accessKey)).status, 202);

  // An operator may not revoke: not allowed (exit 3), said with the code, and nothing is revoked.
  const key = await t.call('POST', '/v1/api-keys', {
    token: apiKey,
    body: { name: 'operator', grants: [{ role: 'operator' }] },
  });
  assert.equal(key.status, 201, key.text);
  const forbidden = await mooring(
    ['devices', 'bulk', '--tag', 'cli-revoke', '--revoke', '--yes'],
    key.body.secret,
  );
  assert.equal(forbidden.code, 3, forbidden.stderr);
  assert.match(forbidden.stderr, /FORBIDDEN \(403\)/);

  const counted = await mooring(['devices', 'bulk', '--tag', 'cli-revoke', '--revoke']);
  assert.equal(counted.code, 0, counted.stderr);
  assert.match(counted.stdout, /2 devices match; 2 would change\. Run again with --yes/);
  assert.equal((await telemetry(gone.accessKey)).status, 202, 'a count revoked a key');

  const acted = await mooring(['devices', 'bulk', '--tag', 'cli-revoke', '--revoke', '--yes', '--json']);
  assert.equal(acted.code, 0, acted.stderr);
  assert.equal(acted.json.job.action, 'revoke');
  assert.equal(acted.json.job.status, 'done');
  assert.deepEqual([acted.json.job.matched, acted.json.job.changed, acted.json.job.skipped], [2, 2, 0]);
  for (const d of [gone, gone2]) {
    const r = await telemetry(d.accessKey);
    assert.equal(r.status, 401, `a revoked key still works: ${r.text}`);
  }
  assert.equal((await telemetry(kept.accessKey)).status, 202, 'a device outside the filter lost its key');

  const none = await mooring(['devices', 'bulk', '--tag', 'cli-revoke', '--revoke']);
  assert.match(none.stdout, /2 devices match; 0 would change/);
});

test('devices list --sort: all pages in that order with the filters; an unknown sort is a usage error', async () => {
  const { apiKey: key } = await t.tenant();
  const made: string[] = [];
  for (const name of ['delta', 'alpha', 'charlie', 'alpha', 'bravo'])
    made.push((await t.device(key, { name, tags: name === 'bravo' ? [] : ['sorted'] })).deviceId);
  const listed = async (...args: string[]) => {
    const r = await mooring(['devices', 'list', ...args, '--json'], key);
    assert.equal(r.code, 0, r.stderr);
    return (r.json as { id: string; name: string }[]).map((d) => `${d.name} ${d.id}`);
  };
  const at = (i: number) => `${['delta', 'alpha', 'charlie', 'alpha', 'bravo'][i]} ${made[i]}`;
  assert.deepEqual(await listed('--sort', 'name'), [at(1), at(3), at(4), at(2), at(0)]);
  assert.deepEqual(await listed('--sort', 'name', '--tag', 'sorted', '--limit', '3'), [at(1), at(3), at(2)]);
  assert.deepEqual(await listed(), [0, 1, 2, 3, 4].map(at));
  assert.deepEqual(await listed('--sort', '-lastSeen'), [4, 3, 2, 1, 0].map(at));
  const bad = await mooring(['devices', 'list', '--sort', 'nme'], key);
  assert.equal(bad.code, 2, `${bad.stdout}${bad.stderr}`);
  assert.match(bad.stderr, /--sort takes one of id, name, -lastSeen, lastSeen, firmwareVersion/);
});
