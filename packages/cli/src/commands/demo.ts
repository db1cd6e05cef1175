/**
 * `mooring demo`: an embedded server on free ports with a fresh data directory, a tenant with an
 * owner API key saved as the `demo` profile, a simulated fleet sending telemetry and answering
 * commands, and one field device waiting for approval with its code printed. Ctrl-C stops it all.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { MooringClient } from '@mooring/client';
import { MemoryCredentialStore, MooringDevice, provision } from '@mooring/device-sdk';
import { act } from '../act.js';
import { saveProfile } from '../profiles.js';
import { Simulator } from '../simulate.js';

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
        const { loadConfig, startPlatform } = await import('@mooring/server');
        const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'mooring-demo-'));
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
        const url = `https://localhost:${platform.httpPort}`;
        const mqttUrl = `mqtts://localhost:${platform.mqttPort}`;
        const http = { url, ca: platform.caCert };
        const admin = JSON.parse(readFileSync(join(dataDir, 'bootstrap-admin.json'), 'utf8')) as {
          username: string;
          password: string;
        };
        const anon = new MooringClient({ baseUrl: url, ca: platform.caCert });
        const { token } = await anon.op<{ token: string }>('login', {}, { body: admin });
        const asAdmin = anon.withToken(token);
        const tenant = await asAdmin.op<{ id: string }>('createTenant', {}, { body: { name: 'demo' } });
        const key = await asAdmin.op<{ secret: string }>(
          'createTenantApiKey',
          { tenantId: tenant.id },
          { body: { name: 'demo owner' } },
        );
        const api = anon.withToken(key.secret);
        saveProfile(
          'demo',
          { server: url, ca: platform.caCert, token: key.secret, tokenKind: 'api-key' },
          'if-none',
        );

        const fleetPt = await api.op<{ secret: string }>(
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
        await sim.start();

        const fieldPt = await api.op<{ secret: string }>(
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

        const first = sim.devices[0]?.deviceId ?? '<deviceId>';
        ctx.out.line(
          [
            '',
            `Mooring demo is running (Ctrl-C stops it). Data: ${dataDir}`,
            `  REST API:  ${url}/v1   (OpenAPI: ${url}/openapi.json)`,
            `  MQTT:      ${mqttUrl}   mutual TLS: mqtts://localhost:${platform.mqttMtlsPort}`,
            `  CA:        ${platform.caFile}`,
            `  Admin:     ${admin.username} / ${admin.password}`,
            `  Tenant:    demo (${tenant.id}); its owner API key is saved as the CLI profile 'demo'`,
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
        await new Promise<void>((resolve) => {
          if (o.duration) setTimeout(resolve, Number(o.duration) * 1000);
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        ctx.out.note('stopping…');
        stopWaiting.abort();
        await sim.stop();
        await field?.stop();
        await platform.stop();
        await waiting;
        anon.close();
      }),
    );
}
