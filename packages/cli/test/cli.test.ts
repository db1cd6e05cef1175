/**
 * The real `mooring` binary against a real server: login into a profile, --json output parsed,
 * tables for people, exit codes and messages for refusals, approval by verification code, a factory
 * run with its manifest, audit verification; and the command table against the API's route table.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  statSync,
  writeFileSync,
  mkdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MooringClient, OPERATIONS } from '@mooring/client';
import { ADMIN_TEST_PASSWORD, startTestPlatform, type TestPlatform } from '../../server/test/harness.js';
import { BIN, runCli, type Run } from './run-cli.js';
import { deviceKeyAndCsr } from '../../server/test/openssl.js';
import { buildProgram } from '../src/main.js';

let t: TestPlatform;
let work: string;
let caFile: string;
let server: string;

function mooring(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return runCli(args, { configDir: join(work, 'config'), ...opts });
}

before(async () => {
  t = await startTestPlatform();
  work = mkdtempSync(join(tmpdir(), 'mooring-cli-'));
  caFile = join(work, 'ca.pem');
  writeFileSync(caFile, t.platform.caCert);
  server = `https://localhost:${t.platform.httpPort}`;
});
after(async () => {
  await t.stop();
});

const adminPassword = () =>
  (JSON.parse(readFileSync(join(t.dataDir, 'bootstrap-admin.json'), 'utf8')) as { password: string })
    .password;

test('log in into a profile kept owner-readable, then manage a tenant with --json and tables', async () => {
  const oneTime = adminPassword();
  const args = ['login', '--server', server, '--ca', caFile, '-u', 'admin', '--password-stdin', '--json'];
  // The bootstrap password works once: without a new one the login stops and says how to give it.
  const refused = await mooring(args, { stdin: `${oneTime}\n` });
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /works once.*--new-password-stdin/);
  const login = await mooring([...args, '--new-password-stdin'], {
    stdin: `${oneTime}\n${ADMIN_TEST_PASSWORD}\n`,
  });
  assert.equal(login.code, 0, login.stderr);
  assert.equal(login.json.user.platformAdmin, true);
  assert.equal(login.json.passwordChanged, true);
  assert.equal(existsSync(join(t.dataDir, 'bootstrap-admin.json')), false, 'the spent file is gone');
  const profiles = join(work, 'config', 'profiles.json');
  assert.equal(statSync(profiles).mode & 0o777, 0o600);
  for (const password of [oneTime, ADMIN_TEST_PASSWORD])
    assert.equal(readFileSync(profiles, 'utf8').includes(password), false, 'the password is never stored');

  const tenant = await mooring(['tenants', 'create', 'acme-cli', '--json']);
  assert.equal(tenant.code, 0, tenant.stderr);
  const key = await mooring(['tenants', 'add-key', tenant.json.id, 'ops', '--json']);
  assert.match(key.json.secret, /^mk_/);
  const saved = await mooring([
    '-p',
    'acme',
    'login',
    '--server',
    server,
    '--ca',
    caFile,
    '--api-key',
    key.json.secret,
  ]);
  assert.equal(saved.code, 0, saved.stderr);
  const currentProfile = () => (JSON.parse(readFileSync(profiles, 'utf8')) as { current?: string }).current;
  assert.equal(currentProfile(), 'default', 'saving a key into another profile does not switch to it');
  assert.match(saved.stderr, /current profile is still 'default'.*-p acme/);
  const switched = await mooring([
    '-p',
    'acme',
    'login',
    '--server',
    server,
    '--ca',
    caFile,
    '--api-key',
    key.json.secret,
    '--use',
    '--json',
  ]);
  assert.equal(switched.code, 0, switched.stderr);
  assert.equal(switched.json.currentProfile, 'acme');
  assert.equal(currentProfile(), 'acme', '--use makes it current');
  assert.equal((await mooring(['profile', 'use', 'default'])).code, 0);

  const created = await mooring([
    '-p',
    'acme',
    'devices',
    'create',
    'pump-1',
    '--tag',
    'line:a',
    '--meta',
    'floor=2',
    '--json',
  ]);
  assert.equal(created.code, 0, created.stderr);
  assert.deepEqual(created.json.tags, ['line:a']);
  assert.deepEqual(created.json.metadata, { floor: 2 });
  const listed = await mooring(['-p', 'acme', 'devices', 'list', '--json']);
  assert.deepEqual(
    listed.json.map((d: { id: string }) => d.id),
    [created.json.id],
  );
  const table = await mooring(['-p', 'acme', 'devices', 'list']);
  assert.match(table.stdout, /^ID\s+NAME\s+SERIAL\s+STATUS\s+TAGS\s+CONNECTED/);
  assert.match(table.stdout, /pump-1\s+enabled\s+line:a/);
  const sent = await mooring([
    '-p',
    'acme',
    'commands',
    'send',
    created.json.id,
    'reboot',
    '--param',
    'delay=5',
    '--json',
  ]);
  assert.equal(sent.json.status, 'pending');
  assert.deepEqual(sent.json.params, { delay: 5 });
  const profilesList = await mooring(['profile', 'list', '--json']);
  assert.deepEqual(profilesList.json.map((p: { name: string }) => p.name).sort(), ['acme', 'default']);
  assert.equal(JSON.stringify(profilesList.json).includes('mk_'), false, 'profile list shows no credential');
});

test('refusals: the problem code, what to do, and an exit code per kind', async () => {
  const { apiKey } = await t.tenant();
  const base = ['--server', server, '--ca', caFile, '--token', apiKey];
  const missing = await mooring([...base, 'devices', 'get', 'dev_00000000000000000000']);
  assert.equal(missing.code, 4);
  assert.match(missing.stderr, /DEVICE_NOT_FOUND \(404\)/);
  const asJson = await mooring([...base, 'devices', 'get', 'dev_00000000000000000000', '--json']);
  assert.equal(asJson.code, 4);
  assert.equal(asJson.json.error.code, 'DEVICE_NOT_FOUND');

  const viewer = await mooring([...base, 'keys', 'create', 'ro', '--role', 'viewer', '--json']);
  const denied = await mooring([
    '--server',
    server,
    '--ca',
    caFile,
    '--token',
    viewer.json.secret,
    'devices',
    'create',
    'x',
  ]);
  assert.equal(denied.code, 3);
  assert.match(denied.stderr, /FORBIDDEN \(403\)/);
  assert.match(denied.stderr, /permission: "devices:write"/);
  assert.match(denied.stderr, /does not grant this action/, 'the catalogue says what it means');

  const invalid = await mooring([...base, 'devices', 'create', 'x', '--tag', 'not a tag']);
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /VALIDATION_FAILED \(400\)/);
  assert.match(invalid.stderr, /\/tags\/0/);
  const badKey = await mooring(['--server', server, '--ca', caFile, '--token', 'mk_nope', 'devices', 'list']);
  assert.equal(badKey.code, 3);
  assert.match(badKey.stderr, /INVALID_CREDENTIALS/);
  const usage = await mooring(['devices', 'frobnicate']);
  assert.equal(usage.code, 2);
  const noKey = await mooring([...base, 'keys', 'create', 'bare']);
  assert.equal(noKey.code, 2, 'nothing is granted by default: the CLI asks for a role first');
  const unreachable = await mooring([
    '--server',
    'https://127.0.0.1:1',
    '--ca',
    caFile,
    '--token',
    apiKey,
    'devices',
    'list',
  ]);
  assert.equal(unreachable.code, 5);
  assert.match(unreachable.stderr, /cannot reach/);
  const help = await mooring(['devices', 'list', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--tag <tag>/);
});

test('fleet versions: the distribution, the policy, and the devices below it', async () => {
  const { apiKey } = await t.tenant();
  const base = ['--server', server, '--ca', caFile, '--token', apiKey];
  const old = await t.device(apiKey, { name: 'old', tags: ['north'] });
  const fresh = await t.device(apiKey, { name: 'fresh' });
  await t.device(apiKey, { name: 'silent' });
  for (const [d, version] of [
    [old, '1.9.0'],
    [fresh, '1.10.0'],
  ] as const) {
    const r = await t.call('PUT', '/v1/device/firmware', {
      token: d.accessKey,
      body: { version, hardwareClass: 'gw' },
    });
    assert.equal(r.status, 200, r.text);
  }
  const set = await mooring([
    ...base,
    'fleet',
    'policy',
    'set',
    '--hardware-class',
    'gw',
    '--min-version',
    '1.10.0',
  ]);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /gw\s+1\.10\.0/);
  const versions = await mooring([...base, 'fleet', 'versions']);
  assert.equal(versions.code, 0, versions.stderr);
  assert.match(versions.stdout, /gw\s+1\.9\.0\s+1/);
  assert.match(versions.stdout, /\(never reported\)\s+1/);
  assert.match(
    versions.stderr,
    /3 devices \(0 connected, 0 disabled\), 1 never reported, 1 below the minimum version/,
  );
  const byTag = await mooring([...base, 'fleet', 'versions', '--by', 'tag', '--json']);
  assert.deepEqual(
    byTag.json.items.find((i: { tag: string | null }) => i.tag === 'north'),
    { version: '1.9.0', hardwareClass: 'gw', tag: 'north', count: 1 },
  );
  const below = await mooring([...base, 'devices', 'list', '--below-minimum', '--json']);
  assert.deepEqual(
    below.json.map((d: { id: string }) => d.id),
    [old.deviceId],
  );
  // Last seen: `old` was seen two days ago, the others never; a duration counts back from now.
  await t.platform.db.query('UPDATE devices SET last_seen_at = $2 WHERE id = $1', [
    old.deviceId,
    Date.now() - 2 * 86_400_000,
  ]);
  const listed = async (...args: string[]) => {
    const r = await mooring([...base, 'devices', 'list', ...args, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return r.json.map((d: { name: string }) => d.name).sort();
  };
  assert.deepEqual(await listed('--last-seen-before', '24h'), ['fresh', 'old', 'silent']);
  assert.deepEqual(await listed('--last-seen-before', '24h', '--seen'), ['old']);
  assert.deepEqual(await listed('--last-seen-after', '3d'), ['old']);
  assert.deepEqual(await listed('--never-seen'), ['fresh', 'silent']);
  assert.deepEqual(await listed('--certificate-expires-before', '30d'), []);
  const badTime = await mooring([...base, 'devices', 'list', '--last-seen-before', 'yesterday']);
  assert.equal(badTime.code, 1);
  assert.match(badTime.stderr, /VALIDATION_FAILED \(400\)/);
  const bad = await mooring([
    ...base,
    'fleet',
    'policy',
    'set',
    '--hardware-class',
    'gw',
    '--min-version',
    '1.x',
  ]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /VALIDATION_FAILED \(400\)/);
  const cleared = await mooring([
    ...base,
    'fleet',
    'policy',
    'set',
    '--hardware-class',
    'gw',
    '--clear',
    '--json',
  ]);
  assert.deepEqual(cleared.json, []);
  const shown = await mooring([...base, 'fleet', 'policy', 'show', '--json']);
  assert.deepEqual(shown.json, []);

  // Bulk: counted first; acting needs --yes; exactly one action.
  const counted = await mooring([
    ...base,
    'devices',
    'bulk',
    '--below-version',
    '1.10.0',
    '--add-tag',
    'update-me',
  ]);
  assert.equal(counted.code, 0, counted.stderr);
  assert.match(counted.stdout, /1 devices match; 1 would change\. Run again with --yes/);
  assert.equal((await mooring([...base, 'devices', 'list', '--tag', 'update-me', '--json'])).json.length, 0);
  const acted = await mooring([
    ...base,
    'devices',
    'bulk',
    '--below-version',
    '1.10.0',
    '--add-tag',
    'update-me',
    '--yes',
    '--json',
  ]);
  assert.equal(acted.code, 0, acted.stderr);
  assert.deepEqual(acted.json, { dryRun: false, matched: 1, wouldChange: 1, changed: 1 });
  const tagged = await mooring([...base, 'devices', 'list', '--tag', 'update-me', '--json']);
  assert.deepEqual(
    tagged.json.map((d: { id: string }) => d.id),
    [old.deviceId],
  );
  const two = await mooring([...base, 'devices', 'bulk', '--disable', '--enable']);
  assert.equal(two.code, 2, 'a usage error');
  assert.match(two.stderr, /exactly one action/);
});

test('a technician approves a waiting device by the code on its display, in one command', async () => {
  const { apiKey } = await t.tenant();
  const base = ['--server', server, '--ca', caFile, '--token', apiKey];
  const pt = await mooring([...base, 'tokens', 'create', 'field', '--max-uses', '5', '--json']);
  assert.equal(pt.code, 0, pt.stderr);
  const start = (serial: string, code: string) =>
    t.call('POST', '/v1/device/provisioning/operations', {
      token: pt.json.secret,
      body: { serial, verificationCode: code },
    });
  await start('FIELD-1', 'K7Q2XM');
  const wrong = await mooring([...base, 'approve', 'AAAAAA', '--json']);
  assert.equal(wrong.code, 1);
  assert.equal(wrong.json.error.code, 'VERIFICATION_CODE_WRONG');
  assert.equal(wrong.json.error.attemptsLeft, 4);
  await start('FIELD-2', 'ZZ9PLZ');
  const ambiguous = await mooring([...base, 'approve', 'K7Q2XM']);
  assert.equal(ambiguous.code, 2, 'two devices wait: the serial is asked for, no code is guessed');
  assert.match(ambiguous.stderr, /FIELD-1, FIELD-2|FIELD-2, FIELD-1/);
  const ok = await mooring([...base, 'approve', 'K7Q2XM', '--serial', 'FIELD-1', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.json.status, 'approved');
  assert.match(ok.json.deviceId, /^dev_/);
  const pending = await mooring([...base, 'operations', 'list', '--json']);
  assert.deepEqual(
    pending.json.map((o: { serial: string }) => o.serial),
    ['FIELD-2'],
  );

  // A rejected request is one of the fleet's recent problems, listed and counted by kind.
  const rejected = await t.call('POST', `/v1/provisioning/operations/${pending.json[0].id}/reject`, {
    token: apiKey,
    body: {},
  });
  assert.equal(rejected.status, 200, rejected.text);
  const problems = await mooring([...base, 'fleet', 'problems', '--json']);
  assert.equal(problems.code, 0, problems.stderr);
  assert.deepEqual(
    problems.json.map((p: { kind: string; serial: string }) => [p.kind, p.serial]),
    [['provisioning_rejected', 'FIELD-2']],
  );
  const counts = await mooring([...base, 'fleet', 'problems', '--counts']);
  assert.equal(counts.code, 0, counts.stderr);
  assert.match(counts.stdout, /provisioning_rejected\s+1/);
  assert.match(counts.stdout, /publish_refused\s+0/);
  const badKind = await mooring([...base, 'fleet', 'problems', '--kind', 'meltdown']);
  assert.equal(badKind.code, 2, 'a kind the API does not know is a usage error, nothing sent');
});

test('a factory run: certificates and tokens per unit, a manifest written owner-only, idempotent per batch', async () => {
  const { apiKey } = await t.tenant();
  const base = ['--server', server, '--ca', caFile, '--token', apiKey];
  const csrDir = join(work, 'csrs');
  mkdirSync(csrDir, { recursive: true });
  writeFileSync(join(csrDir, 'LINE-2.csr'), deviceKeyAndCsr(work).csr);
  const serials = join(work, 'serials.txt');
  writeFileSync(serials, '# line 7, shift 1\nLINE-1\nLINE-2\nLINE-3\n');
  const out = join(work, 'run1');
  // Manifests from an earlier run, readable by everyone: the new secrets must not inherit that.
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'manifest.json'), '{}', { mode: 0o644 });
  writeFileSync(join(out, 'manifest.csv'), '', { mode: 0o644 });
  chmodSync(join(out, 'manifest.json'), 0o644);
  chmodSync(join(out, 'manifest.csv'), 0o644);
  const run = await mooring([
    ...base,
    'factory',
    serials,
    '--batch',
    'line7-a',
    '--csr-dir',
    csrDir,
    '--tag',
    'line:7',
    '--out',
    out,
    '--json',
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(
    {
      devices: run.json.devices,
      certificates: run.json.certificates,
      provisioningTokens: run.json.provisioningTokens,
    },
    { devices: 3, certificates: 1, provisioningTokens: 2 },
  );
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  assert.equal(statSync(join(out, 'manifest.json')).mode & 0o777, 0o600);
  assert.equal(statSync(join(out, 'manifest.csv')).mode & 0o777, 0o600);
  assert.match(manifest.items[1].certificate, /BEGIN CERTIFICATE/);
  assert.match(manifest.items[0].provisioningToken, /^mpt_/);
  assert.match(readFileSync(join(out, 'manifest.csv'), 'utf8'), /^serial,deviceId,certificateSerial/);
  const again = await mooring([
    ...base,
    'factory',
    serials,
    '--batch',
    'line7-a',
    '--csr-dir',
    csrDir,
    '--tag',
    'line:7',
    '--out',
    join(work, 'run2'),
    '--json',
  ]);
  assert.equal(again.code, 0, again.stderr);
  const second = JSON.parse(readFileSync(join(work, 'run2', 'manifest.json'), 'utf8'));
  assert.deepEqual(
    second.items.map(
      (i: { deviceId?: string; provisioningTokenId?: string }) => i.deviceId ?? i.provisioningTokenId,
    ),
    manifest.items.map(
      (i: { deviceId?: string; provisioningTokenId?: string }) => i.deviceId ?? i.provisioningTokenId,
    ),
    'a rerun of the batch returns the same units',
  );
  const audit = await mooring([...base, 'audit', 'list', '--action', 'factory.issue', '--json']);
  assert.equal(audit.json.length, 3, 'one audit record per unit');
});

test('audit verify: intact exits 0; a tampered chain exits 1 and says where', async () => {
  const { tenantId, apiKey } = await t.tenant();
  const base = ['--server', server, '--ca', caFile, '--token', apiKey];
  for (const name of ['a', 'b', 'c']) await mooring([...base, 'devices', 'create', name]);
  const intact = await mooring([...base, 'audit', 'verify']);
  assert.equal(intact.code, 0, intact.stderr);
  assert.match(intact.stdout, /^intact: \d+ records/);
  await t.platform.db.query(
    `UPDATE audit_records SET actor = 'user:forged' WHERE tenant_id = $1 AND seq = 2`,
    [tenantId],
  );
  const broken = await mooring([...base, 'audit', 'verify', '--json']);
  assert.equal(broken.code, 1);
  assert.equal(broken.json.intact, false);
  assert.equal(broken.json.breaks[0].seq, 2);
  const exported = join(work, 'audit.jsonl');
  const exp = await mooring([...base, 'audit', 'export', '-o', exported]);
  assert.equal(exp.code, 0, exp.stderr);
  assert.ok(readFileSync(exported, 'utf8').trim().split('\n').length >= 4);
});

test('every management route of the API has a named operation, and every operation is a route', async () => {
  const spec = await t.call('GET', '/openapi.json');
  const routes = new Set(
    Object.entries<Record<string, unknown>>(spec.body.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    ),
  );
  const named = new Set(Object.values(OPERATIONS).map(([m, p]) => `${m} ${p}`));
  const deviceSide = (r: string) =>
    / \/v1\/device\//.test(r) || r === 'GET /metrics' || r === 'GET /v1/openapi.json';
  assert.deepEqual(
    [...routes].filter((r) => !named.has(r) && !deviceSide(r)),
    [],
    'routes without an operation',
  );
  assert.deepEqual(
    [...named].filter((r) => !routes.has(r)),
    [],
    'operations without a route',
  );
});

test('every command has a description and help', () => {
  const walk = (cmd: ReturnType<typeof buildProgram>, path: string[]): string[] =>
    cmd.commands.flatMap((c) => {
      const here = [...path, c.name()];
      const missing = c.description() ? [] : [here.join(' ')];
      assert.ok(c.helpInformation().includes('Usage:'));
      return [...missing, ...walk(c, here)];
    });
  assert.deepEqual(walk(buildProgram(), []), []);
});

test('mooring simulate: a small fleet provisions itself, sends telemetry and answers commands', async () => {
  const { apiKey } = await t.tenant();
  const base = ['--server', server, '--ca', caFile, '--token', apiKey];
  const pt = await mooring([
    ...base,
    'tokens',
    'create',
    'sim',
    '--max-uses',
    '10',
    '--auto-approve',
    '--json',
  ]);
  const sim = mooring([
    ...base,
    'simulate',
    '-n',
    '5',
    '--rate',
    '5',
    '--provisioning-token',
    pt.json.secret,
    '--mqtt',
    `mqtts://localhost:${t.platform.mqttPort}`,
    // Long enough for a command sent from another CLI process to reach a device under load.
    '--duration',
    '12s',
    '--json',
  ]);
  // While it runs: a command to one of its devices is answered.
  const device = await (async () => {
    for (let i = 0; i < 100; i++) {
      const list = await t.call('GET', '/v1/devices?connected=true', { token: apiKey });
      if (list.body.items.length === 5) return list.body.items[0];
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the fleet did not connect');
  })();
  const answered = await mooring([...base, 'commands', 'send', device.id, 'ping', '--wait', '10s', '--json']);
  assert.equal(answered.json.status, 'succeeded', answered.stderr);
  const done = await sim;
  assert.equal(done.code, 0, done.stderr);
  assert.equal(done.json.devices, 5);
  assert.equal(done.json.connected, 5);
  assert.ok(done.json.deliveredReadingsPerSec > 10, JSON.stringify(done.json));
  const latest = await t.call('GET', `/v1/devices/${device.id}/telemetry/latest`, { token: apiKey });
  assert.deepEqual(latest.body.items.map((i: { key: string }) => i.key).sort(), ['hum', 'temp']);
});

test('mooring simulate with access keys made beforehand, and slow command handlers', async () => {
  const { apiKey } = await t.tenant();
  const base = ['--server', server, '--ca', caFile, '--token', apiKey];
  const credentials = [];
  for (let i = 0; i < 2; i++) {
    const d = await t.device(apiKey);
    credentials.push({ deviceId: d.deviceId, accessKey: d.accessKey });
  }
  const file = join(work, 'fleet.json');
  writeFileSync(file, JSON.stringify(credentials));
  const sim = mooring([
    ...base,
    'simulate',
    '-n',
    '2',
    '--credentials',
    file,
    '--mqtt',
    `mqtts://localhost:${t.platform.mqttPort}`,
    '--command-delay',
    '1s',
    '--duration',
    '5s',
    '--json',
  ]);
  const deviceId = credentials[0]!.deviceId;
  for (let i = 0; i < 100; i++) {
    const d = await t.call('GET', `/v1/devices/${deviceId}`, { token: apiKey });
    if (d.body.presence.connected) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const started = Date.now();
  const answered = await mooring([
    ...base,
    'commands',
    'send',
    deviceId,
    'locate',
    '--wait',
    '10s',
    '--json',
  ]);
  assert.equal(answered.json.status, 'succeeded');
  assert.ok(Date.now() - started >= 1_000, 'the handler took the configured delay');
  const done = await sim;
  assert.equal(done.json.connected, 2, done.stderr);
  assert.equal(done.json.commands, 1);
});

/** Starts `mooring demo` and resolves once it says it is running, with its output so far and its data dir. */
async function startDemo(args: string[], config: string) {
  const child = spawn(process.execPath, [BIN, 'demo', ...args], {
    env: { ...process.env, MOORING_CONFIG_DIR: config },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run = { child, out: '', dataDir: '' };
  child.stdout.on('data', (c: Buffer) => (run.out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (run.out += c.toString()));
  const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
  for (let i = 0; i < 300 && !run.out.includes('Mooring demo is running'); i++)
    await new Promise((r) => setTimeout(r, 100));
  const m = /Data: (\S+)/.exec(run.out);
  if (!m) throw new Error(`the demo did not come up:\n${run.out}`);
  run.dataDir = m[1]!;
  return { ...run, exited };
}

test('mooring demo stopped by SIGTERM removes its data directory and its profile, and never changes the current profile', async () => {
  const config = join(work, 'demo-term-config');
  const kept = await mooring(['profile', 'set', 'prod', '--server', 'https://prod.example:8443'], {
    env: { MOORING_CONFIG_DIR: config },
  });
  assert.equal(kept.code, 0, kept.stderr);
  const profilesFile = join(config, 'profiles.json');
  const profiles = () =>
    JSON.parse(readFileSync(profilesFile, 'utf8')) as { current?: string; profiles: Record<string, unknown> };
  const demo = await startDemo(['-n', '1'], config);
  assert.ok(existsSync(demo.dataDir), demo.out);
  assert.deepEqual(Object.keys(profiles().profiles).sort(), ['demo', 'prod']);
  assert.equal(profiles().current, 'prod', 'the demo does not take over the current profile');
  demo.child.kill('SIGTERM');
  assert.equal(await demo.exited, 0, demo.out);
  assert.equal(existsSync(demo.dataDir), false, 'the temporary data directory is gone');
  assert.deepEqual(profiles(), {
    current: 'prod',
    profiles: { prod: { server: 'https://prod.example:8443' } },
  });
});

test('mooring demo: a server, a fleet sending data, and a device approved by the code it prints', async () => {
  const config = join(work, 'demo-config');
  const child = spawn(process.execPath, [BIN, 'demo', '-n', '3', '--duration', '25'], {
    env: { ...process.env, MOORING_CONFIG_DIR: config },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
  const code = await (async () => {
    // Up to a minute: the demo starts a server and a fleet, slow on a loaded machine.
    for (let i = 0; i < 600; i++) {
      const m = /shows the code ([A-Z0-9]{6})/.exec(out);
      if (m && out.includes('Mooring demo is running')) return m[1]!;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the demo did not come up:\n${out}`);
  })();
  assert.match(out, /Fleet:\s+3 simulated buoys/);
  // The console's address and a person to sign in as (the console signs in people, not API keys).
  const consoleLine = /Console:\s+(https:\/\/localhost:\d+)\/console\s+sign in as (\S+) \/ (\S+)/.exec(out);
  assert.ok(consoleLine, out);
  const [, consoleUrl, username, password] = consoleLine;
  const caPath = /CA:\s+(\S+)/.exec(out)![1]!;
  const client = new MooringClient({ baseUrl: consoleUrl!, ca: readFileSync(caPath, 'utf8') });
  try {
    const signedIn = await client.op('login', {}, { body: { username: username!, password: password! } });
    assert.ok(signedIn.token, 'the printed login works');
  } finally {
    client.close();
  }
  const demo = (args: string[]) => mooring(['-p', 'demo', ...args], { env: { MOORING_CONFIG_DIR: config } });
  const approved = await demo(['approve', code, '--json']);
  assert.equal(approved.code, 0, approved.stderr);
  const devices = await (async () => {
    for (let i = 0; i < 100; i++) {
      const list = await demo(['devices', 'list', '--connected', 'yes', '--json']);
      if (list.json?.length === 4) return list.json;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('the approved device did not connect');
  })();
  assert.deepEqual(devices.map((d: { name: string }) => d.name).sort(), [
    'BUOY-00001',
    'BUOY-00002',
    'BUOY-00003',
    'FIELD-0001',
  ]);
  // A buoy of the fleet has sent readings by now or soon: the CLI answers in a fraction of a second, so
  // this can run within the first send interval of a device that has just connected.
  const buoy = devices.find((d: { name: string }) => d.name.startsWith('BUOY-'));
  const sent = await (async () => {
    for (let i = 0; i < 50; i++) {
      const latest = await demo(['telemetry', 'latest', buoy.id, '--json']);
      if (latest.json?.length >= 1) return true;
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  })();
  assert.ok(sent, 'the fleet sends data');
  const dataDir = /Data: (\S+)/.exec(out)?.[1];
  assert.ok(dataDir && existsSync(dataDir));
  child.kill('SIGINT');
  assert.equal(await exited, 0, out);
  assert.equal(existsSync(dataDir), false, 'Ctrl-C removes the temporary data directory');
  const left = JSON.parse(readFileSync(join(config, 'profiles.json'), 'utf8')) as {
    current?: string;
    profiles: Record<string, unknown>;
  };
  assert.deepEqual(left, { profiles: {} }, 'no profile is left pointing at the stopped server');
});

test('every operation of the API has a command (the export routes are replaced by paging with progress)', async () => {
  const { readdirSync } = await import('node:fs');
  const dir = fileURLToPath(new URL('../src/commands/', import.meta.url));
  const source = readdirSync(dir)
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
  const paged = new Set(['exportAudit', 'exportPlatformAudit']);
  assert.deepEqual(
    Object.keys(OPERATIONS).filter((op) => !paged.has(op) && !source.includes(`'${op}'`)),
    [],
    'operations without a command',
  );
});
