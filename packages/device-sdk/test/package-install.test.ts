/**
 * The device SDK as a firmware team gets it: @mooring/protocol and @mooring/device-sdk built and
 * packed with `npm pack`, installed from the tarballs into a project outside this repository, and the
 * gateway example run there with plain node (no TypeScript loader, no source condition) against a
 * real server: it provisions itself and its readings are stored. A TypeScript consumer typechecks
 * against the declarations. The install is offline: its lock file pins every dependency at the
 * version this repository's lock file holds, and `npm ci --offline` takes them from the npm cache
 * `npm ci` filled.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, startTestPlatform, type TestPlatform } from '../../server/test/harness.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const PACKED = ['protocol', 'device-sdk'] as const;
const work = mkdtempSync(join(tmpdir(), 'mooring-package-install-'));
const project = join(work, 'firmware');
let t: TestPlatform;
/** The files in each tarball, by package name. */
let tarballFiles: Record<string, string[]> = {};

/** npm settings worth keeping from an enclosing `npm test`: where the cache and the user's config are. */
const NPM_KEPT = new Set([
  'npm_config_cache',
  'npm_config_userconfig',
  'npm_config_globalconfig',
  'npm_config_cafile',
]);

/**
 * The environment of a shell outside the repository: without the npm_* variables of an enclosing
 * `npm test` (npm_config_local_prefix and the like would steer the inner npm to the repository) and
 * without NODE_OPTIONS (the test runner's source condition).
 */
function outsideEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => (!/^npm_/i.test(k) || NPM_KEPT.has(k.toLowerCase())) && k !== 'NODE_OPTIONS',
    ),
  );
}

/** Runs a command to its end and resolves with its stdout; rejects with its output when it fails. */
function run(cmd: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { cwd, env: outsideEnv(), timeout: 120_000, maxBuffer: 16 * 2 ** 20 },
      (err, stdout, stderr) =>
        err
          ? reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`))
          : resolve(stdout),
    );
  });
}

interface LockEntry {
  version?: string;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  [field: string]: unknown;
}

/**
 * The consumer project's lock file: the tarballs, and every package they need with the version and
 * integrity of the repository's lock file (found as node finds it: nearest node_modules upwards).
 */
function consumerLock(tarballs: Record<string, string>): object {
  const repoLock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const all = repoLock.packages;
  const find = (from: string, name: string): string | undefined => {
    for (let base = from; ;) {
      const candidate = `${base ? `${base}/` : ''}node_modules/${name}`;
      if (all[candidate]) return candidate;
      if (!base) return undefined;
      const i = base.lastIndexOf('/node_modules/');
      base = i >= 0 ? base.slice(0, i) : '';
    }
  };
  // A dependency nested in a workspace folder moves under that package's folder in the consumer.
  const relocate = (loc: string) =>
    PACKED.reduce((l, p) => l.replace(`packages/${p}/`, `node_modules/@mooring/${p}/`), loc);
  const packages: Record<string, LockEntry> = {
    '': {
      name: 'firmware',
      dependencies: Object.fromEntries(Object.keys(tarballs).map((n) => [n, tarballs[n]!])),
    },
  };
  const queue: string[] = [];
  for (const p of PACKED) {
    const { dependencies } = all[`packages/${p}`]!;
    packages[`node_modules/@mooring/${p}`] = {
      version: '0.1.0',
      resolved: tarballs[`@mooring/${p}`],
      ...(dependencies ? { dependencies } : {}),
    };
    queue.push(`packages/${p}`);
  }
  for (let loc = queue.shift(); loc !== undefined; loc = queue.shift()) {
    const entry = all[loc]!;
    const names = Object.keys({
      ...entry.dependencies,
      ...entry.optionalDependencies,
      ...entry.peerDependencies,
    });
    for (const name of names.filter((n) => !n.startsWith('@mooring/'))) {
      const found = find(loc, name);
      // An optional peer the repository does not install (ws' bufferutil) is not installed here either.
      if (!found || packages[relocate(found)]) continue;
      const { dev: _dev, devOptional: _devOptional, peer: _peer, ...kept } = all[found]!;
      packages[relocate(found)] = kept;
      queue.push(found);
    }
  }
  return { name: 'firmware', lockfileVersion: 3, requires: true, packages };
}

before(async () => {
  // Build from the current sources first: the tarballs must never hold an older build.
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  await run(process.execPath, [tsc, '-b', 'packages/device-sdk'], REPO);
  const packOutput = await run(
    'npm',
    ['pack', '--json', '--pack-destination', work, ...PACKED.map((p) => `./packages/${p}`)],
    REPO,
  );
  const packed = JSON.parse(packOutput) as { name: string; filename: string; files: { path: string }[] }[];
  tarballFiles = Object.fromEntries(packed.map((p) => [p.name, p.files.map((f) => f.path)]));
  const tarballs = Object.fromEntries(packed.map((p) => [p.name, `file:../${p.filename}`]));
  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'firmware', private: true, type: 'module', dependencies: tarballs }, null, 2),
  );
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify(consumerLock(tarballs), null, 2));
  // The server starts while npm installs: on a loaded machine each takes seconds.
  const [installed, started] = await Promise.allSettled([
    run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], project).catch(
      (err: Error) => {
        // ENOTCACHED: the cache misses a package of the lock file; `npm ci` in the repository fills it.
        throw new Error(`${err.message}\n(the install is offline, from the npm cache: run npm ci first)`);
      },
    ),
    startTestPlatform(),
  ]);
  if (started.status === 'fulfilled') t = started.value;
  for (const r of [installed, started]) if (r.status === 'rejected') throw r.reason;
});

after(async () => {
  await t?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('the tarballs hold the build, its declarations and the example, and no sources', () => {
  for (const name of ['@mooring/protocol', '@mooring/device-sdk']) {
    const files = tarballFiles[name]!;
    for (const f of ['package.json', 'dist/index.js', 'dist/index.d.ts'])
      assert.ok(files.includes(f), `${name}: ${f}`);
    assert.deepEqual(
      files.filter(
        (f) => f.startsWith('src/') || f.endsWith('.ts') !== f.endsWith('.d.ts') || f.includes('tsbuildinfo'),
      ),
      [],
      name,
    );
  }
  assert.ok(tarballFiles['@mooring/device-sdk']!.includes('examples/gateway.mjs'));
});

test('the gateway example, installed from the tarballs and run with plain node, provisions itself and its readings are stored', async () => {
  const { apiKey } = await t.tenant();
  const serial = 'GW-PACKED-1';
  const pt = await t.call('POST', '/v1/provisioning-tokens', {
    token: apiKey,
    body: { name: serial, kind: 'device', serial, approval: 'auto' },
  });
  assert.equal(pt.status, 201, pt.text);
  writeFileSync(join(project, 'ca.pem'), t.platform.caCert);
  const example = join(project, 'node_modules/@mooring/device-sdk/examples/gateway.mjs');
  const gateway = spawn(process.execPath, [example], {
    cwd: project,
    env: {
      ...outsideEnv(),
      MOORING_URL: `https://127.0.0.1:${t.platform.httpPort}`,
      MOORING_CA: 'ca.pem',
      MOORING_PT: pt.body.secret,
      MOORING_SERIAL: serial,
      MOORING_MQTT_PORT: String(t.platform.mqttPort),
      MOORING_MQTT_MTLS_PORT: String(t.platform.mqttMtlsPort),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  gateway.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => gateway.once('exit', (code) => resolve(code)));
  try {
    const deviceId = await eventually(
      () => /provisioned as (\S+)/.exec(stderr)?.[1] ?? (gateway.exitCode !== null ? 'exited' : undefined),
      30_000,
      `the gateway to provision itself; its output:\n${stderr}`,
    );
    assert.notEqual(deviceId, 'exited', stderr);
    const stored = await eventually(
      async () => {
        const latest = await t.call('GET', `/v1/devices/${deviceId}/telemetry/latest`, { token: apiKey });
        const keys = (latest.body.items ?? []).map((l: { key: string }) => l.key).sort();
        return keys.length > 0 ? keys : undefined;
      },
      30_000,
      'a stored reading',
    );
    assert.deepEqual(stored, ['boiler.temp', 'pump.rpm']);
  } finally {
    gateway.kill('SIGINT');
    const timer = setTimeout(() => gateway.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timer);
    assert.equal(code, 0, `the gateway stops cleanly on SIGINT; its output:\n${stderr}`);
  }
});

test('a TypeScript project typechecks against the installed declarations', async () => {
  writeFileSync(
    join(project, 'check.ts'),
    [
      "import { MooringDevice, MemoryCredentialStore, type Credentials } from '@mooring/device-sdk';",
      "import { topics } from '@mooring/protocol';",
      'export const idOf = (credentials: Credentials): string => credentials.deviceId;',
      "const device = new MooringDevice({ store: new MemoryCredentialStore(), http: { url: 'https://x', ca: '' }, mqttUrl: 'mqtts://x' });",
      'device.send({ temp: 1 });',
      "export const topic: string = topics.telemetry('dev_1');",
      '// @ts-expect-error: readings are numbers, strings or booleans',
      'device.send({ temp: [1] });',
    ].join('\n'),
  );
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  await run(
    process.execPath,
    [tsc, '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--target', 'es2022', 'check.ts'],
    project,
  );
});
