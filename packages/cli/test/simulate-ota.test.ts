/**
 * `mooring simulate` with OTA against a real server: simulated devices take a deployment through the
 * device SDK's agent, and the injected faults hit exactly the devices the seed picks: an install that
 * fails, a device that crash-loops after reporting success, a download that breaks off half-way and
 * is resumed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestPlatform, type TestPlatform } from '../../server/test/harness.js';
import { otaFault, Simulator } from '../src/simulate.js';

const BIN = fileURLToPath(new URL('../bin/mooring.mjs', import.meta.url));
let t: TestPlatform;
let work: string;
let caFile: string;

before(async () => {
  t = await startTestPlatform();
  work = mkdtempSync(join(tmpdir(), 'mooring-cli-sim-ota-'));
  caFile = join(work, 'ca.pem');
  writeFileSync(caFile, t.platform.caCert);
});
after(async () => {
  await t.stop();
  rmSync(work, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/**
 * A tenant with `n` devices made beforehand, and `mooring simulate` running them on firmware 1.0.0
 * (`extra` options added) in its own temporary directory, until `stop` sends SIGTERM.
 */
async function fleet(n: number, extra: string[]) {
  const { apiKey } = await t.tenant();
  const made: { deviceId: string; accessKey: string }[] = [];
  for (let i = 0; i < n; i++) made.push(await t.device(apiKey));
  const file = join(work, `fleet-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(file, JSON.stringify(made.map((d) => ({ deviceId: d.deviceId, accessKey: d.accessKey }))));
  const simTmp = mkdtempSync(join(work, 'tmp-'));
  const child = spawn(
    process.execPath,
    [
      BIN,
      ...['--server', `https://localhost:${t.platform.httpPort}`, '--ca', caFile, '--token', apiKey],
      ...['simulate', '-n', String(n), '--credentials', file, '--rate', '0.2'],
      ...['--mqtt', `mqtts://localhost:${t.platform.mqttPort}`],
      ...['--firmware-version', '1.0.0', '--hardware-class', 'sim-hw', '--json', ...extra],
    ],
    {
      env: { ...process.env, MOORING_CONFIG_DIR: join(work, 'config'), TMPDIR: simTmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  // Every device reported the firmware it runs: the deployment can target it.
  for (const d of made)
    await until(`${d.deviceId} reporting firmware`, async () => {
      const r = await t.call('GET', `/v1/devices/${d.deviceId}`, { token: apiKey });
      return r.body.firmware?.version === '1.0.0' ? true : undefined;
    });
  return {
    apiKey,
    ids: made.map((d) => d.deviceId),
    simTmp,
    async deploy(size = 4096) {
      const art = await t.call('POST', '/v1/artifacts?version=2.0.0&hardwareClass=sim-hw&sequence=1', {
        token: apiKey,
        raw: randomBytes(size),
        headers: { 'content-type': 'application/octet-stream' },
      });
      assert.equal(art.status, 201, art.text);
      const dep = await t.call('POST', '/v1/deployments', {
        token: apiKey,
        body: {
          artifactId: art.body.id,
          target: { deviceIds: made.map((d) => d.deviceId) },
          phases: [{ percent: 100, soakSeconds: 0 }],
          healthGate: { enabled: false },
          statusRule: { failurePercent: 100, minExecutions: 1 },
          retries: { max: 0, backoffSeconds: 1 },
        },
      });
      assert.equal(dep.status, 201, dep.text);
      return dep.body.id as string;
    },
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      assert.equal(code, 0, stderr);
      return JSON.parse(stdout) as { ota: Record<string, number> };
    },
  };
}

async function finished(apiKey: string, deploymentId: string) {
  const dep = await until('the deployment to complete', async () => {
    const r = await t.call('GET', `/v1/deployments/${deploymentId}`, { token: apiKey });
    return r.body.status === 'active' ? undefined : r.body;
  });
  const ops = await t.call('GET', `/v1/deployments/${deploymentId}/devices?limit=100`, { token: apiKey });
  const states = new Map<string, { state: string; code?: string }>(
    ops.body.items.map((o: { deviceId: string; state: string; code?: string }) => [o.deviceId, o]),
  );
  return { dep, states };
}

test('install failures hit exactly the devices the seed picks; the others update and report 2.0.0', async () => {
  const seed = '1';
  const failing = [0, 1, 2, 3, 4, 5].filter((i) => otaFault(seed, 'installFailure', i, 0.5));
  assert.ok(failing.length > 0 && failing.length < 6, 'the seed picks some devices, not all');
  const f = await fleet(6, ['--seed', seed, '--ota-install-failure-rate', '0.5']);
  const id = await f.deploy();
  const { dep, states } = await finished(f.apiKey, id);
  assert.equal(dep.status, 'completed', JSON.stringify(dep));
  for (const [i, deviceId] of f.ids.entries()) {
    const op = states.get(deviceId)!;
    if (failing.includes(i)) {
      assert.equal(op.state, 'failed', `device ${i}: ${JSON.stringify(op)}`);
      assert.equal(op.code, 'INSTALL_FAILED');
    } else {
      assert.equal(op.state, 'succeeded', `device ${i}: ${JSON.stringify(op)}`);
      const d = await t.call('GET', `/v1/devices/${deviceId}`, { token: f.apiKey });
      assert.equal(d.body.firmware.version, '2.0.0', 'the rebooted device reports the new version');
    }
  }
  const otaDirs = () => readdirSync(f.simTmp).filter((n) => n.startsWith('mooring-sim-ota-'));
  assert.equal(
    otaDirs().length,
    1,
    "the devices keep their OTA state in the simulator's temporary directory",
  );
  const out = await f.stop();
  assert.deepEqual(out.ota, {
    offers: 6,
    installed: 6 - failing.length,
    succeeded: 6 - failing.length,
    failed: failing.length,
    rebootLooping: 0,
    downloadResumptions: 0,
  });
  assert.deepEqual(otaDirs(), [], 'the OTA directories are removed at exit');
});

test('a reboot-looping device reports success, then reconnects again and again with a crash event each boot', async () => {
  const f = await fleet(1, ['--ota-reboot-loop-rate', '1', '--ota-reboot-loop-every', '1s']);
  const [deviceId] = f.ids;
  const id = await f.deploy();
  const { states } = await finished(f.apiKey, id);
  assert.equal(states.get(deviceId!)!.state, 'succeeded');
  const connects = await until('several connects after the update', async () => {
    const r = await t.call('GET', `/v1/devices/${deviceId}/presence?limit=100`, { token: f.apiKey });
    const n = r.body.items.filter((e: { event: string }) => e.event === 'connected').length;
    return n >= 5 ? n : undefined;
  });
  assert.ok(connects >= 5);
  const events = await t.call('GET', `/v1/devices/${deviceId}/events?limit=100`, { token: f.apiKey });
  const crashes = events.body.items.filter(
    (e: { type: string; severity: string }) => e.type === 'crash' && e.severity === 'critical',
  );
  assert.ok(crashes.length >= 2, JSON.stringify(events.body));
  const out = await f.stop();
  assert.equal(out.ota.rebootLooping, 1);
  assert.equal(out.ota.succeeded, 1);
});

test('a download broken off half-way is resumed with Range and the update still succeeds; the rebooted device takes desired configuration and reports it', async () => {
  const f = await fleet(1, ['--ota-download-interruption-rate', '1']);
  const id = await f.deploy(256 * 1024);
  const { states } = await finished(f.apiKey, id);
  const deviceId = f.ids[0]!;
  assert.equal(states.get(deviceId)!.state, 'succeeded');

  // The operator's change reaches the device running 2.0.0 and comes back as its reported document.
  const patch = await t.call('PATCH', `/v1/devices/${deviceId}/config/desired`, {
    token: f.apiKey,
    body: { sampling: { intervalSeconds: 30 }, mode: 'eco' },
    headers: { 'content-type': 'application/merge-patch+json' },
  });
  assert.equal(patch.status, 200, patch.text);
  const twin = await until('the device to report the desired configuration', async () => {
    const r = await t.call('GET', `/v1/devices/${deviceId}/config`, { token: f.apiKey });
    return r.body.acknowledgedVersion === patch.body.desired.version ? r.body : undefined;
  });
  assert.deepEqual(twin.reported.document, { sampling: { intervalSeconds: 30 }, mode: 'eco' });
  assert.deepEqual(twin.pending, {});

  const out = (await f.stop()) as unknown as { ota: Record<string, number>; configApplied: number };
  assert.equal(out.ota.succeeded, 1);
  assert.equal(out.ota.downloadResumptions, 1, 'one ranged request after the break');
  assert.equal(out.configApplied, 1);
});

test('a firmware version or hardware class the platform would refuse, or a reboot loop of 0 s, is a usage error before any device starts', async () => {
  const { apiKey } = await t.tenant();
  const run = (args: string[]) =>
    new Promise<{ code: number; stderr: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [
          BIN,
          ...['--server', `https://localhost:${t.platform.httpPort}`, '--ca', caFile, '--token', apiKey],
          ...['simulate', '-n', '1', '--provisioning-token', 'pt_unused', ...args],
        ],
        {
          env: { ...process.env, MOORING_CONFIG_DIR: join(work, 'config') },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
    });
  for (const args of [
    ['--firmware-version', 'abc'],
    ['--firmware-version', '1.0.0', '--hardware-class', 'no spaces'],
    ['--firmware-version', '1.0.0', '--ota-reboot-loop-every', '0'],
  ]) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.doesNotMatch(r.stderr, /devices connected/);
  }
});

test('reboot-loop ticks while a reboot is under way start no second device', async () => {
  const sim = new Simulator({
    http: { url: 'https://127.0.0.1:1', ca: '' },
    mqttUrl: 'mqtt://127.0.0.1:1',
    count: 1,
    rate: 1,
    keys: [],
    ota: { version: '1.0.0', hardwareClass: 'sim-hw' },
  });
  const started: string[] = [];
  const fake = (name: string) => ({
    start: async () => {
      started.push(name);
      await sleep(200);
    },
    stop: async () => sleep(50),
  });
  const s = sim as unknown as {
    units: unknown[];
    makeDevice: (u: { version: string }) => unknown;
    reboot: (index: number, version?: string) => void;
  };
  let n = 0;
  s.makeDevice = (u) => fake(`${++n}@${u.version}`);
  s.units[0] = { index: 0, device: fake('0'), version: '1.0.0', looping: false, interrupted: new Set() };
  s.reboot(0);
  s.reboot(0);
  s.reboot(0);
  s.reboot(0, '2.0.0');
  await until('the reboots to settle', async () => (started.length >= 2 ? true : undefined), 5_000);
  await sleep(600);
  assert.deepEqual(started, ['1@1.0.0', '2@2.0.0']);
  await sim.stop();
});
