/**
 * `mooring demo`: an embedded server on free ports with a fresh data directory, a tenant with an
 * owner API key saved as the `demo` profile, a simulated fleet sending telemetry and answering
 * commands, and one field device waiting for approval with its code printed. Ctrl-C (or SIGTERM)
 * stops it all and leaves nothing behind: the temporary data directory is removed and the `demo`
 * profile, whose server is gone, is forgotten; the current profile is never changed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { MooringClient } from '@mooring/client';
import type { MooringDevice } from '@mooring/device-sdk';
import { act } from '../act.js';
import type { Ctx } from '../context.js';
import { readProfiles, saveProfile, writeProfiles } from '../profiles.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'start a server with a simulated fleet and a device waiting for approval; prints what to try',
    )
    .option('-n, --devices <n>', 'simulated devices', '20')
    .option('--rate <perSecond>', 'telemetry messages per device per second', '0.5')
    .option('--data-dir <dir>', 'data directory (default: a new temporary one)')
    .option('--duration <seconds>', 'stop after this many seconds (default: until Ctrl-C)')
    .action(
      act(async (ctx, o: { devices: string; rate: string; dataDir?: string; duration?: string }) => {
        // A signal during start-up stops the demo as soon as it is up; a second one exits at once.
        let stopRequested = false;
        let requestStop = () => undefined as void;
        const stopped = new Promise<void>((resolve) => {
          requestStop = resolve;
        });
        const ownDataDir = o.dataDir === undefined;
        const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'mooring-demo-'));
        const removeDataDir = () => {
          if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
        };
        const onSignal = (signal: NodeJS.Signals) => {
          if (stopRequested) {
            removeDataDir();
            process.exit(signal === 'SIGINT' ? 130 : 143);
          }
          stopRequested = true;
          requestStop();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        const undo: (() => Promise<void> | void)[] = [removeDataDir];
        try {
          await runDemo(ctx, o, dataDir, stopped, undo);
        } finally {
          ctx.out.note('stopping…');
          for (const step of undo.reverse()) {
            try {
              await step();
            } catch (e) {
              ctx.out.note(`demo: a stop step failed: ${(e as Error).message}`);
            }
          }
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }),
    );
}

/** Forgets the demo's profile if it is still the one this run saved (a later demo may own it now). */
function forgetDemoProfile(token: string): void {
  const data = readProfiles();
  if (data.profiles.demo?.token !== token) return;
  delete data.profiles.demo;
  if (data.current === 'demo') delete data.current;
  writeProfiles(data);
}

/**
 * Starts everything, pushing the step that undoes each part onto `undo` as soon as that part exists,
 * then waits for `stopped` (or the duration).
 */
async function runDemo(
  ctx: Ctx,
  o: { devices: string; rate: string; duration?: string },
  dataDir: string,
  stopped: Promise<void>,
  undo: (() => Promise<void> | void)[],
): Promise<void> {
  // The server and the device SDK load here, not with the command line: `mooring --help` stays fast.
  const { loadConfig, startPlatform } = await import('@mooring/server');
  const { MemoryCredentialStore, MooringDevice, provision } = await import('@mooring/device-sdk');
  const { Simulator } = await import('../simulate.js');
  const platform = await startPlatform(
    loadConfig({
      ...process.env,
      MOORING_DATA_DIR: dataDir,
      MOORING_HTTP_HOST: '127.0.0.1',
      MOORING_HTTP_PORT: '0',
      MOORING_MQTT_HOST: '127.0.0.1',
      MOORING_MQTT_PORT: '0',
      MOORING_MQTT_MTLS_PORT: '0',
      MOORING_LOG_LEVEL: process.env.MOORING_LOG_LEVEL ?? 'error',
    }),
  );
  undo.push(() => platform.stop());
  const url = `https://localhost:${platform.httpPort}`;
  const mqttUrl = `mqtts://localhost:${platform.mqttPort}`;
  const http = { url, ca: platform.caCert };
  const admin = JSON.parse(readFileSync(join(dataDir, 'bootstrap-admin.json'), 'utf8')) as {
    username: string;
    password: string;
  };
  const anon = new MooringClient({ baseUrl: url, ca: platform.caCert });
  undo.push(() => anon.close());
  // The file's password works once: the demo spends it on a new random one, which it prints.
  const oneTime = await anon.op('login', {}, { body: admin });
  const password = randomBytes(18).toString('base64url');
  await anon
    .withToken(oneTime.token)
    .op('changePassword', {}, { body: { currentPassword: admin.password, newPassword: password } });
  const { token } = await anon.op('login', {}, { body: { username: admin.username, password } });
  const asAdmin = anon.withToken(token);
  const tenant = await asAdmin.op('createTenant', {}, { body: { name: 'demo' } });
  const key = await asAdmin.op(
    'createTenantApiKey',
    { tenantId: tenant.id },
    { body: { name: 'demo owner' } },
  );
  // A person of the tenant, for the web console (it signs in people, not API keys).
  const consoleUser = { username: 'demo-operator', password: randomBytes(12).toString('base64url') };
  await asAdmin.op(
    'createTenantUser',
    { tenantId: tenant.id },
    { body: { ...consoleUser, grants: [{ role: 'owner' }] } },
  );
  const api = anon.withToken(key.secret);
  saveProfile('demo', { server: url, ca: platform.caCert, token: key.secret, tokenKind: 'api-key' }, 'never');
  undo.push(() => forgetDemoProfile(key.secret));

  const fleetPt = await api.op(
    'createProvisioningToken',
    {},
    {
      body: {
        name: 'demo fleet',
        kind: 'batch',
        maxUses: 10_000,
        approval: 'auto',
        deviceTags: ['demo', 'site:harbour'],
      },
    },
  );
  const sim = new Simulator({
    http,
    mqttUrl,
    count: Number(o.devices),
    rate: Number(o.rate),
    keys: ['temp', 'hum', 'battery'],
    provisioningToken: fleetPt.secret,
    serialPrefix: 'BUOY',
    commandDelayMs: 200,
  });
  undo.push(() => sim.stop());
  await sim.start();

  const fieldPt = await api.op(
    'createProvisioningToken',
    {},
    {
      body: {
        name: 'field unit',
        kind: 'device',
        serial: 'FIELD-0001',
        approval: 'manual',
        deviceTags: ['demo', 'field'],
      },
    },
  );
  let field: MooringDevice | undefined;
  const stopWaiting = new AbortController();
  const waiting = provision({
    signal: stopWaiting.signal,
    http,
    provisioningToken: fieldPt.secret,
    serial: 'FIELD-0001',
    certificate: true,
    onVerificationCode: (code) =>
      ctx.out.line(
        `\n  Waiting:   device FIELD-0001 shows the code ${code}. Approve it:\n             mooring -p demo approve ${code}\n`,
      ),
  })
    .then(async (credentials) => {
      field = new MooringDevice({
        store: new MemoryCredentialStore(credentials),
        http,
        mqttUrl,
        mqttMtlsUrl: `mqtts://localhost:${platform.mqttMtlsPort}`,
      });
      field.handle('locate', () => ({ blinking: true }));
      await field.start();
      ctx.out.line(
        `  Approved:  FIELD-0001 is ${credentials.deviceId}, connected over mutual TLS, sending every 2 s.`,
      );
      const t = setInterval(() => field?.send({ temp: 18 + Math.random() * 2 }), 2_000);
      t.unref();
    })
    .catch((e: unknown) => {
      if (!stopWaiting.signal.aborted) ctx.out.note(`FIELD-0001: ${(e as Error).message}`);
    });
  undo.push(async () => {
    stopWaiting.abort();
    await waiting;
    await field?.stop();
  });

  const first = sim.devices[0]?.deviceId ?? '<deviceId>';
  ctx.out.line(
    [
      '',
      `Mooring demo is running (Ctrl-C stops it). Data: ${dataDir}`,
      `  REST API:  ${url}/v1   (OpenAPI: ${url}/openapi.json)`,
      `  MQTT:      ${mqttUrl}   mutual TLS: mqtts://localhost:${platform.mqttMtlsPort}`,
      `  CA:        ${platform.caFile}`,
      `  Admin:     ${admin.username} / ${password}   (the one-time password was changed to this one)`,
      `  Tenant:    demo (${tenant.id}); its owner API key is saved as the CLI profile 'demo' (until the demo stops)`,
      platform.consoleBuilt
        ? `  Console:   ${url}/console   sign in as ${consoleUser.username} / ${consoleUser.password} (the tenant's owner)`
        : '  Console:   not built (npm run build), so not served',
      `  Fleet:     ${sim.devices.length} simulated buoys sending temp, hum, battery`,
      '',
      '  Try:',
      '    mooring -p demo devices list',
      `    mooring -p demo telemetry latest ${first}`,
      `    mooring -p demo commands send ${first} ping --wait`,
      '    mooring -p demo audit list',
      '  (from the repository: npm run mooring -- -p demo devices list)',
    ].join('\n'),
  );
  await Promise.race([
    stopped,
    new Promise<void>((resolve) => {
      if (o.duration) setTimeout(resolve, Number(o.duration) * 1000).unref();
    }),
  ]);
}
