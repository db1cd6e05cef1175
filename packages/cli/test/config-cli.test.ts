/**
 * `mooring config` against a real server: set by --set/--unset/--patch/--file with If-Match, get (the
 * table and --json) before and after the device acknowledges, history by side and limit, schemas
 * create/list/update/delete, and the refusals printed with what they carry (the limit and its
 * numbers, the failing paths, the current version).
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

function mooring(args: string[]): Promise<Run> {
  return runCli([...serverArgs(t.platform.httpPort, caFile, apiKey), ...args], {
    configDir: join(work, 'config'),
  });
}

before(async () => {
  t = await startTestPlatform();
  apiKey = (await t.tenant()).apiKey;
  work = mkdtempSync(join(tmpdir(), 'mooring-cli-config-'));
  caFile = join(work, 'ca.pem');
  writeFileSync(caFile, t.platform.caCert);
});
after(async () => {
  await t.stop();
  rmSync(work, { recursive: true, force: true });
});

test('set, get, acknowledge, history: the twin as the command line shows it', async () => {
  const d = await t.device(apiKey);
  const first = await mooring([
    'config',
    'set',
    d.deviceId,
    '--set',
    'sampling.seconds=30',
    '--set',
    'sampling.mode=fast',
    '--set',
    'led={"color":"red"}',
    '--set',
    'tags=[1,"a"]',
    '--json',
  ]);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(first.json.desired.document, {
    sampling: { seconds: 30, mode: 'fast' },
    led: { color: 'red' },
    tags: [1, 'a'],
  });
  assert.equal(first.json.desired.version, 1);

  // A stale If-Match is refused with the current version; the right one goes through.
  const stale = await mooring(['config', 'set', d.deviceId, '--unset', 'led', '--if-match', '0']);
  assert.equal(stale.code, 1, stale.stderr);
  assert.match(stale.stderr, /CONFIG_VERSION_CONFLICT \(409\)/);
  assert.match(stale.stderr, /currentVersion: 1/);
  const file = join(work, 'patch.json');
  writeFileSync(file, JSON.stringify({ debug: true }));
  const second = await mooring([
    'config',
    'set',
    d.deviceId,
    '--file',
    file,
    '--unset',
    'led',
    '--set',
    'sampling.seconds=60',
    '--if-match',
    '1',
    '--json',
  ]);
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(second.json.desired.document, {
    sampling: { seconds: 60, mode: 'fast' },
    tags: [1, 'a'],
    debug: true,
  });
  const third = await mooring(['config', 'set', d.deviceId, '--patch', '{"debug":null}', '--json']);
  assert.equal(third.code, 0, third.stderr);
  assert.equal(third.json.desired.version, 3);

  // Before the device acknowledges: everything pending.
  const before = await mooring(['config', 'get', d.deviceId]);
  assert.equal(before.code, 0, before.stderr);
  assert.match(before.stdout, /acknowledged\s+version 0 \(3 behind\)/);
  assert.match(before.stdout, /pending\s+sampling, tags/);
  assert.match(before.stdout, /KEY\s+DESIRED\s+REPORTED\s+PENDING/);
  assert.match(before.stdout, /sampling\s+\{\S*"seconds":60\S*\}\s+yes\s+v2 \S+ api-key:/);

  const ack = await t.call('POST', '/v1/device/config/reported', {
    token: d.accessKey,
    body: { desiredVersion: 3, patch: { sampling: { seconds: 60, mode: 'fast' }, tags: [1, 'a'] } },
  });
  assert.equal(ack.status, 200, ack.text);
  const afterAck = await mooring(['config', 'get', d.deviceId]);
  assert.match(afterAck.stdout, /acknowledged\s+version 3 at /);
  assert.match(afterAck.stdout, /pending\s+none/);
  assert.match(
    afterAck.stdout,
    new RegExp(`tags\\s+\\[1,"a"\\]\\s+\\[1,"a"\\]\\s+v1 \\S+ api-key:\\S+\\s+v1 \\S+ device:${d.deviceId}`),
  );
  const json = await mooring(['config', 'get', d.deviceId, '--json']);
  assert.equal(json.json.acknowledgedVersion, 3);
  assert.deepEqual(json.json.pending, {});

  const history = await mooring(['config', 'history', d.deviceId, '--json']);
  assert.equal(history.code, 0, history.stderr);
  assert.deepEqual(
    history.json.map((e: { side: string; version: number }) => `${e.side}:${e.version}`),
    ['reported:1', 'desired:3', 'desired:2', 'desired:1'],
  );
  const desired = await mooring([
    'config',
    'history',
    d.deviceId,
    '--side',
    'desired',
    '--limit',
    '2',
    '--json',
  ]);
  assert.deepEqual(
    desired.json.map((e: { version: number }) => e.version),
    [3, 2],
  );
  const table = await mooring(['config', 'history', d.deviceId, '--side', 'desired']);
  assert.match(table.stdout, /SIDE\s+VERSION\s+AT\s+ACTOR\s+PATCH/);
  assert.match(table.stdout, /desired\s+3\s+\S+\s+api-key:\S+\s+\{"debug":null\}/);
});

test('usage errors are caught before the server: nothing to change, a path through a value, a bad If-Match', async () => {
  const d = await t.device(apiKey);
  for (const [args, message] of [
    [[], /nothing to change/],
    [['--set', 'a=1', '--set', 'a.b=2'], /a is already set to 1/],
    [['--set', 'a..b=1'], /member names joined by dots/],
    [['--patch', '[1]'], /must be a JSON object/],
    [['--patch', '{', '--set', 'a=1'], /--patch is not valid JSON/],
    [['--set', 'a=1', '--if-match', 'soon'], /--if-match takes a desired version/],
  ] as const) {
    const r = await mooring(['config', 'set', d.deviceId, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const dry = await mooring(['config', 'set', d.deviceId, '--unset', 'x.y', '--set', 'z=off', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(JSON.parse(dry.stdout).patch, { x: { y: null }, z: 'off' });
  const twin = await t.call('GET', `/v1/devices/${d.deviceId}/config`, { token: apiKey });
  assert.equal(twin.body.desired.version, 0, 'a dry run sends nothing');
});

test('refusals print their code and what they carry: limit, max and actual; the failing paths of a schema', async () => {
  const d = await t.device(apiKey, { name: 'thermo-1', tags: ['thermo'] });
  const big = await mooring(['config', 'set', d.deviceId, '--set', `blob=${'x'.repeat(40 * 1024)}`]);
  assert.equal(big.code, 1, big.stderr);
  assert.match(big.stderr, /CONFIG_LIMIT_EXCEEDED \(422\)/);
  assert.match(big.stderr, /limit: "documentBytes"/);
  assert.match(big.stderr, /max: 32768/);
  assert.match(big.stderr, /actual: 4\d{4}/);
  let deep = '1';
  for (let i = 0; i < 11; i++) deep = `{"n":${deep}}`;
  const tooDeep = await mooring(['config', 'set', d.deviceId, '--patch', deep]);
  assert.match(tooDeep.stderr, /limit: "depth"/);
  assert.match(tooDeep.stderr, /\/n\/n\/n/);

  const schema = JSON.stringify({
    type: 'object',
    properties: { setpoint: { type: 'number', maximum: 30 }, mode: { enum: ['heat', 'cool'] } },
  });
  const created = await mooring([
    'config',
    'schemas',
    'create',
    'thermostat',
    '--tag',
    'thermo',
    '--schema',
    schema,
    '--json',
  ]);
  assert.equal(created.code, 0, created.stderr);
  assert.equal(created.json.tag, 'thermo');
  const invalid = await mooring([
    'config',
    'schemas',
    'create',
    'broken',
    '--tag',
    'thermo',
    '--schema',
    '{"type":"nonsense"}',
  ]);
  assert.equal(invalid.code, 1, invalid.stderr);
  assert.match(invalid.stderr, /CONFIG_SCHEMA_INVALID/);
  const listed = await mooring(['config', 'schemas', 'list']);
  assert.match(listed.stdout, /thermostat\s+thermo/);

  const refused = await mooring(['config', 'set', d.deviceId, '--set', 'setpoint=99', '--set', 'mode=party']);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /CONFIG_SCHEMA_VIOLATION \(422\)/);
  assert.match(refused.stderr, /\/setpoint: /);
  assert.match(refused.stderr, /\/mode: /);
  assert.match(refused.stderr, /schema: "thermostat"/);

  const file = join(work, 'schema.json');
  writeFileSync(file, JSON.stringify({ type: 'object', properties: { setpoint: { maximum: 100 } } }));
  const updated = await mooring([
    'config',
    'schemas',
    'update',
    'thermostat',
    '--tag',
    'thermo',
    '--file',
    file,
  ]);
  assert.equal(updated.code, 0, updated.stderr);
  const ok = await mooring(['config', 'set', d.deviceId, '--set', 'setpoint=99', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.json.desired.document.setpoint, 99);
  const removed = await mooring(['config', 'schemas', 'delete', 'thermostat']);
  assert.equal(removed.code, 0, removed.stderr);
  const gone = await mooring(['config', 'schemas', 'delete', 'thermostat']);
  assert.equal(gone.code, 4, gone.stderr);
  assert.match(gone.stderr, /CONFIG_SCHEMA_NOT_FOUND/);
  const unknown = await mooring(['config', 'get', 'dev_nope']);
  assert.equal(unknown.code, 4, unknown.stderr);
});
