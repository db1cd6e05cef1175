/**
 * `mooring deployments` against a real server: create with every policy option, list, show, the
 * devices' operations, pause/resume/abort/stop, cancel one device, refusals with their codes, `watch`
 * to the end of a deployment, and the tenant's emergency stop.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  eventually,
  startTestPlatform,
  type HttpResponse,
  type TestPlatform,
} from '../../server/test/harness.js';
import { serverArgs, startCli, type Run } from './run-cli.js';

let t: TestPlatform;
let work: string;
let caFile: string;

interface Made {
  deviceId: string;
  accessKey: string;
}

/**
 * A device taking its offer, when it holds one, through the HTTPS device API step by step to success
 * on `version`; false when it holds none (yet: its phase may not have begun).
 */
async function update(d: Made, version: string): Promise<boolean> {
  const r = await t.call('GET', '/v1/device/ota', { token: d.accessKey });
  assert.equal(r.status, 200, r.text);
  const offer = (r.body.items as { type: string; operationId: string; attempt: number }[]).find(
    (m) => m.type === 'offer',
  );
  if (!offer) return false;
  for (const state of ['accepted', 'downloading', 'downloaded', 'installing', 'rebooting', 'succeeded']) {
    const sent: HttpResponse = await t.call('POST', `/v1/device/ota/${offer.operationId}/progress`, {
      token: d.accessKey,
      body: {
        attempt: offer.attempt,
        state,
        ...(state === 'downloading' ? { progress: 50 } : {}),
        ...(state === 'succeeded' ? { version } : {}),
      },
    });
    assert.equal(sent.status, 200, `${state}: ${sent.text}`);
  }
  return true;
}

/** A tenant of its own per test: deployments of one test never hold the devices of another. */
interface Tenant {
  apiKey: string;
  run(args: string[], opts?: { json?: boolean }): Promise<Run>;
  spawn(args: string[]): { done: Promise<Run>; stdout: () => string };
}

function start(apiKey: string, args: string[]) {
  return startCli([...serverArgs(t.platform.httpPort, caFile, apiKey), ...args], {
    configDir: join(work, 'config'),
  });
}

async function tenant(): Promise<Tenant> {
  const { apiKey } = await t.tenant();
  return {
    apiKey,
    run: (args, opts = {}) => start(apiKey, opts.json === false ? args : [...args, '--json']).done,
    spawn: (args) => start(apiKey, args),
  };
}

/** Devices that reported running `version` on `hardwareClass`, with these tags. */
async function devices(
  apiKey: string,
  n: number,
  tags: string[],
  version = '1.0.0',
  hardwareClass = 'board-d',
) {
  const made = [];
  for (let i = 0; i < n; i++) {
    const d = await t.device(apiKey, { name: `unit-${randomBytes(4).toString('hex')}`, tags });
    const r = await t.call('PUT', '/v1/device/firmware', {
      token: d.accessKey,
      body: { version, hardwareClass },
    });
    assert.ok(r.status < 300, r.text);
    made.push(d);
  }
  return made;
}

async function artifact(m: Tenant, version = '2.0.0', sequence = '1', hardwareClass = 'board-d') {
  const file = join(work, `fw-${randomBytes(4).toString('hex')}.bin`);
  writeFileSync(file, randomBytes(4096));
  const up = await m.run([
    'artifacts',
    'upload',
    file,
    '--firmware-version',
    version,
    '--hardware-class',
    hardwareClass,
    '--sequence',
    sequence,
  ]);
  assert.equal(up.code, 0, up.stderr);
  return up.json.id as string;
}

before(async () => {
  t = await startTestPlatform();
  work = mkdtempSync(join(tmpdir(), 'mooring-cli-deployments-'));
  caFile = join(work, 'ca.pem');
  writeFileSync(caFile, t.platform.caCert);
});
after(async () => {
  await t.stop();
  rmSync(work, { recursive: true, force: true });
});

test('create with every policy option, list, show, devices; pause, resume, cancel one device, abort; refusals', async () => {
  const m = await tenant();
  const tagged = await devices(m.apiKey, 3, ['line:a']);
  await devices(m.apiKey, 1, ['line:b']);
  const artifactId = await artifact(m);

  const created = await m.run([
    'deployments',
    'create',
    '--artifact',
    artifactId,
    '--name',
    'spring',
    '--tag',
    'line:a',
    '--firmware-version',
    '1.0.0',
    '--phases',
    '50:2h,100',
    '--soak',
    '1h',
    '--max-in-flight',
    '2',
    '--abort-failures',
    '40',
    '--abort-after',
    '3',
    '--health-margin',
    '5',
    '--health-min-sample',
    '2',
    '--health-window',
    '1h',
    '--retries',
    '2',
    '--retry-backoff',
    '30s',
    '--window-cron',
    '0 2 * * *',
    '--window-minutes',
    '120',
    '--window-tz',
    'Europe/Berlin',
    '--timeout',
    'downloading=10m',
  ]);
  assert.equal(created.code, 0, created.stderr);
  const d = created.json;
  assert.match(d.id, /\S/);
  assert.equal(d.name, 'spring');
  assert.equal(d.artifactId, artifactId);
  assert.equal(d.version, '2.0.0');
  assert.equal(d.status, 'active');
  assert.equal(d.total, 3, 'the three devices of line:a, not the one of line:b');
  assert.deepEqual(
    d.phases.map((p: { percent: number; soakSeconds: number }) => [p.percent, p.soakSeconds]),
    [
      [50, 7200],
      [100, 3600],
    ],
  );
  assert.equal(d.maxInFlight, 2);
  assert.deepEqual(d.statusRule, { failurePercent: 40, minExecutions: 3 });
  assert.deepEqual(d.retries, { max: 2, backoffSeconds: 30 });
  assert.deepEqual(d.maintenanceWindow, {
    cron: '0 2 * * *',
    durationMinutes: 120,
    timezone: 'Europe/Berlin',
  });
  assert.equal(d.timeouts.downloading, 600);
  assert.equal(d.healthGate.marginPercent, 5);
  assert.equal(d.healthGate.minSample, 2);
  assert.equal(d.healthGate.windowSeconds, 3600);

  const list = await m.run(['deployments', 'list']);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(
    list.json.map((x: { id: string }) => x.id),
    [d.id],
  );
  assert.deepEqual((await m.run(['deployments', 'list', '--status', 'paused'])).json, []);

  const shown = await m.run(['deployments', 'show', d.id]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal(shown.json.id, d.id);
  const human = await m.run(['deployments', 'show', d.id], { json: false });
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /status\s+active/);
  assert.match(human.stdout, /phase\s+1 of 2: 50 %/);
  assert.match(human.stdout, /devices\s+3 targeted/);
  assert.match(human.stdout, /healthGate\s+/);
  assert.match(human.stdout, /STATE\s+DEVICES/);

  const ops = await m.run(['deployments', 'devices', d.id]);
  assert.equal(ops.code, 0, ops.stderr);
  assert.deepEqual(
    ops.json.map((o: { deviceId: string }) => o.deviceId).sort(),
    tagged.map((x) => x.deviceId).sort(),
  );
  // The maintenance window opens at 02:00 Berlin time: nothing may be offered yet, unless it is open.
  const queued = await m.run(['deployments', 'devices', d.id, '--state', 'queued']);
  assert.equal(queued.code, 0, queued.stderr);

  const paused = await m.run(['deployments', 'pause', d.id, '--reason', 'support calls']);
  assert.equal(paused.code, 0, paused.stderr);
  assert.equal(paused.json.status, 'paused');
  assert.equal(paused.json.statusReason, 'support calls');
  assert.deepEqual(
    (await m.run(['deployments', 'list', '--status', 'paused'])).json.map((x: { id: string }) => x.id),
    [d.id],
  );
  const resumed = await m.run(['deployments', 'resume', d.id]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(resumed.json.status, 'active');

  const one = tagged[0]!.deviceId;
  const cancelled = await m.run(['deployments', 'cancel', d.id, one, '--reason', 'on a ship']);
  assert.equal(cancelled.code, 0, cancelled.stderr);
  assert.equal(cancelled.json.deviceId, one);
  assert.equal(cancelled.json.state, 'cancelled');
  const after = await m.run(['deployments', 'devices', d.id, '--state', 'cancelled']);
  assert.deepEqual(
    after.json.map((o: { deviceId: string }) => o.deviceId),
    [one],
  );

  const aborted = await m.run(['deployments', 'abort', d.id, '--reason', 'wrong build']);
  assert.equal(aborted.code, 0, aborted.stderr);
  assert.equal(aborted.json.status, 'aborted');
  assert.equal(aborted.json.statusReason, 'wrong build');
  const again = await m.run(['deployments', 'resume', d.id]);
  assert.equal(again.code, 1, again.stderr);
  assert.equal(again.json.error.code, 'DEPLOYMENT_STATE_CONFLICT');
  assert.match(again.stderr, /DEPLOYMENT_STATE_CONFLICT \(409\)/);
  assert.match(again.stderr, /status: "aborted"/i, 'the status the deployment is in');

  const missing = await m.run(['deployments', 'show', 'dep_nothing']);
  assert.equal(missing.code, 4, missing.stderr);
  assert.equal(missing.json.error.code, 'DEPLOYMENT_NOT_FOUND');
  const empty = await m.run(['deployments', 'create', '--artifact', artifactId, '--tag', 'line:none']);
  assert.equal(empty.code, 1, empty.stderr);
  assert.equal(empty.json.error.code, 'DEPLOYMENT_TARGET_EMPTY');
  const bad = await m.run(['deployments', 'create', '--artifact', artifactId, '--all', '--phases', '50,20']);
  assert.equal(bad.code, 1, bad.stderr);
  assert.equal(bad.json.error.code, 'VALIDATION_FAILED');
  const usage = await m.run(['deployments', 'create', '--artifact', artifactId]);
  assert.equal(usage.code, 2, 'no target without --all');
});

test('stop, and the emergency stop: every running deployment stopped, new ones refused until lifted', async () => {
  const m = await tenant();
  await devices(m.apiKey, 2, ['line:a']);
  await devices(m.apiKey, 2, ['line:b']);
  const artifactId = await artifact(m);
  const create = async (tag: string) => {
    const r = await m.run([
      'deployments',
      'create',
      '--artifact',
      artifactId,
      '--tag',
      tag,
      '--phases',
      '100',
    ]);
    assert.equal(r.code, 0, r.stderr);
    return r.json.id as string;
  };
  const first = await create('line:a');
  const stopped = await m.run(['deployments', 'stop', first, '--reason', 'halt']);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.equal(stopped.json.status, 'stopped');

  // A watch of a finished deployment prints it once and says how it ended.
  const watched = await m.run(['deployments', 'watch', first]);
  assert.equal(watched.code, 1, watched.stderr);
  assert.equal(watched.json.status, 'stopped');

  const a = await create('line:a');
  const b = await create('line:b');
  assert.equal((await m.run(['deployments', 'emergency-stop', '--status'])).json.active, false);
  const stop = await m.run(['deployments', 'emergency-stop', '--reason', 'bad batch']);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(stop.json.active, true);
  assert.equal(stop.json.reason, 'bad batch');
  assert.equal(stop.json.stoppedDeployments, 2);
  for (const id of [a, b]) assert.equal((await m.run(['deployments', 'show', id])).json.status, 'stopped');
  const status = await m.run(['deployments', 'emergency-stop', '--status']);
  assert.equal(status.json.active, true);
  const human = await m.run(['deployments', 'emergency-stop', '--status'], { json: false });
  assert.match(human.stdout, /active\s+true/);
  const refused = await m.run(['deployments', 'create', '--artifact', artifactId, '--tag', 'line:a']);
  assert.equal(refused.code, 1, refused.stderr);
  assert.equal(refused.json.error.code, 'OTA_EMERGENCY_STOP_ACTIVE');
  const lifted = await m.run(['deployments', 'emergency-stop', '--lift']);
  assert.equal(lifted.code, 0, lifted.stderr);
  assert.equal(lifted.json.active, false);
  await create('line:a');
  assert.equal((await m.run(['deployments', 'emergency-stop', '--lift', '--status'])).code, 2);
});

test('watch follows a deployment live, one JSON line per poll, until it is aborted', async () => {
  const m = await tenant();
  await devices(m.apiKey, 2, ['line:w']);
  const artifactId = await artifact(m);
  const created = await m.run(['deployments', 'create', '--artifact', artifactId, '--all']);
  assert.equal(created.code, 0, created.stderr);
  const watch = m.spawn(['deployments', 'watch', created.json.id, '--json']);
  await eventually(() => watch.stdout().split('\n').filter(Boolean).length >= 2, 30_000, 'two polls');
  const aborted = await m.run(['deployments', 'abort', created.json.id]);
  assert.equal(aborted.code, 0, aborted.stderr);
  const r = await watch.done;
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { id: string; status: string });
  assert.ok(lines.length >= 3, r.stdout);
  assert.ok(lines.every((l) => l.id === created.json.id));
  assert.equal(lines[0]!.status, 'active');
  assert.equal(lines.at(-1)!.status, 'aborted');
});

test('watch follows a deployment to completion as devices update: exit 0, JSON lines, and a line per change when piped', async () => {
  const m = await tenant();
  const made = await devices(m.apiKey, 2, ['line:c']);
  const artifactId = await artifact(m, '3.1.0');
  const created = await m.run([
    'deployments',
    'create',
    '--artifact',
    artifactId,
    '--tag',
    'line:c',
    '--phases',
    '50,100',
    '--soak',
    '0',
    '--no-health-gate',
  ]);
  assert.equal(created.code, 0, created.stderr);
  assert.deepEqual(created.json.healthGate.enabled, false);
  const id = created.json.id as string;
  const json = m.spawn(['deployments', 'watch', id, '--json']);
  const piped = m.spawn(['deployments', 'watch', id, '--interval', '1']);
  // The devices are ranked at random: whichever the first phase offered goes first.
  const pending = new Set(made);
  await eventually(
    async () => {
      for (const d of [...pending]) if (await update(d, '3.1.0')) pending.delete(d);
      return pending.size === 0;
    },
    30_000,
    'both devices updated',
  );
  const [j, p] = await Promise.all([json.done, piped.done]);
  assert.equal(j.code, 0, j.stderr);
  const lines = j.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { status: string; counts: Record<string, number> });
  assert.equal(lines.at(-1)!.status, 'completed');
  assert.equal(lines.at(-1)!.counts.succeeded, 2);
  assert.equal(p.code, 0, p.stderr);
  const text = p.stdout.trim().split('\n');
  assert.match(text.at(-1)!, /completed, phase 2 of 2: 100 % .*succeeded 2/);
  assert.equal(new Set(text.map((l) => l.slice(25))).size, text.length, 'a line only when something changed');

  const shown = await m.run(['deployments', 'show', id], { json: false });
  assert.match(shown.stdout, /status\s+completed/);
  assert.match(shown.stdout, /succeeded\s+2\s+100\.0 %/);
  const ops = await m.run(['deployments', 'devices', id, '--state', 'succeeded']);
  assert.equal(ops.json.length, 2);
});
