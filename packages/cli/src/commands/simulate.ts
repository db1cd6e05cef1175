/** `mooring simulate`: a fleet of virtual devices against a server. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { parseFirmwareReport } from '@mooring/protocol';
import { act, parseJson, seconds } from '../act.js';
import { UsageError } from '../context.js';

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description('run N virtual devices: provisioned with a batch token, or from an access-key file')
    .option('-n, --count <n>', 'devices', '10')
    .option('--rate <perSecond>', 'telemetry messages per device per second', '1')
    .option('--keys <list>', 'telemetry keys, comma-separated', 'temp,hum')
    .option(
      '--provisioning-token <pt>',
      'a PT the devices provision themselves with (one that needs approval: each prints its code and waits)',
    )
    .option('--credentials <file>', 'JSON array of {deviceId, accessKey} made beforehand')
    .option('--serial-prefix <prefix>', 'serials of provisioned devices', 'SIM')
    .option('--mqtt <url>', 'MQTT over TLS URL (default: the server host, port 8883)')
    .option('--flaky <share>', 'share of devices whose connection drops now and then', '0')
    .option('--command-delay <duration>', 'how long command handlers take', '0s')
    .option('--command-failure <share>', 'share of commands that fail', '0')
    .option('--duration <duration>', 'stop after this long (default: until Ctrl-C)')
    .option('--concurrency <n>', 'devices connecting at once while the fleet comes up', '50')
    .option('--firmware-version <v>', 'the firmware the devices run: they report it and take OTA updates')
    .option('--hardware-class <class>', 'the hardware class they report (with --firmware-version)', 'sim')
    .option('--seed <seed>', 'picks the devices the OTA faults hit (the same seed, the same devices)', '1')
    .option('--ota-install-failure-rate <share>', 'share of devices whose install fails', '0')
    .option(
      '--ota-reboot-loop-rate <share>',
      'share of devices that crash-loop after a successful update',
      '0',
    )
    .option('--ota-reboot-loop-every <duration>', 'how often a looping device restarts', '3s')
    .option(
      '--ota-download-interruption-rate <share>',
      'share of devices whose download breaks off half-way',
      '0',
    )
    .action(
      act(async (ctx, o: Record<string, string | undefined>) => {
        const server = ctx.server();
        if (!server.ca)
          throw new UsageError('the simulator pins the platform CA: pass --ca (or use a profile with one)');
        const url = new URL(server.url);
        const credentials = o.credentials
          ? (parseJson(readFileSync(o.credentials, 'utf8'), o.credentials) as {
              deviceId: string;
              accessKey: string;
            }[])
          : undefined;
        if (!credentials && !o.provisioningToken)
          throw new UsageError('give --provisioning-token or --credentials');
        const count = Number(o.count);
        const rates = {
          installFailureRate: share(o.otaInstallFailureRate!, '--ota-install-failure-rate'),
          rebootLoopRate: share(o.otaRebootLoopRate!, '--ota-reboot-loop-rate'),
          downloadInterruptionRate: share(o.otaDownloadInterruptionRate!, '--ota-download-interruption-rate'),
        };
        if (!o.firmwareVersion && Object.values(rates).some((r) => r > 0))
          throw new UsageError(
            'the OTA faults need --firmware-version (devices without firmware take no updates)',
          );
        // Checked here by the platform's parser, not by each device after the fleet started.
        if (o.firmwareVersion) {
          const firmware = parseFirmwareReport({
            version: o.firmwareVersion,
            hardwareClass: o.hardwareClass,
          });
          if (!firmware.ok)
            throw new UsageError(
              `--firmware-version/--hardware-class: ${firmware.error.message} (${firmware.error.path})`,
            );
        }
        const rebootLoopMs = seconds(o.otaRebootLoopEvery!) * 1000;
        if (rebootLoopMs <= 0) throw new UsageError('--ota-reboot-loop-every must be longer than 0s');
        if (credentials && credentials.length < count)
          throw new UsageError(`${o.credentials} holds ${credentials.length} devices, fewer than --count`);
        // Loaded here, not with the command line: the device SDK (MQTT, X.509) is most of its start-up.
        const { Simulator } = await import('../simulate.js');
        const sim = new Simulator({
          http: {
            url: server.url,
            ca: server.ca,
            ...(url.hostname !== 'localhost' ? { servername: 'localhost' } : {}),
          },
          mqttUrl: o.mqtt ?? `mqtts://${url.hostname}:8883`,
          count,
          rate: Number(o.rate),
          keys: o.keys!.split(',').filter(Boolean),
          ...(o.provisioningToken ? { provisioningToken: o.provisioningToken } : {}),
          ...(credentials ? { credentials } : {}),
          serialPrefix: o.serialPrefix!,
          flaky: Number(o.flaky),
          commandDelayMs: seconds(o.commandDelay!) * 1000,
          commandFailure: Number(o.commandFailure),
          concurrency: Number(o.concurrency),
          ...(o.firmwareVersion
            ? {
                ota: {
                  version: o.firmwareVersion,
                  hardwareClass: o.hardwareClass!,
                  seed: o.seed!,
                  ...rates,
                  rebootLoopMs,
                },
              }
            : {}),
        });
        const bar =
          !ctx.out.json && process.stderr.isTTY
            ? new SingleBar(
                { format: 'connecting [{bar}] {value}/{total} devices', stream: process.stderr },
                Presets.shades_classic,
              )
            : undefined;
        bar?.start(count, 0);
        sim.on('progress', (done) => bar?.update(done));
        sim.on('verificationCode', (serial, code) =>
          ctx.out.note(`${serial} is waiting for approval; the code on its display: ${code}`),
        );
        const t0 = Date.now();
        await sim.start();
        bar?.stop();
        const up = sim.stats();
        const startedSent = up.sent;
        ctx.out.note(`${up.connected} devices connected in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        const t1 = Date.now();
        const report = setInterval(() => {
          const s = sim.stats();
          const ota = s.ota
            ? `  ota offers ${s.ota.offers} installed ${s.ota.installed} succeeded ${s.ota.succeeded} failed ${s.ota.failed} looping ${s.ota.rebootLooping} resumed ${s.ota.downloadResumptions}`
            : '';
          ctx.out.note(
            `connected ${s.connected}/${s.devices}  sent ${s.sent}  buffered ${s.buffered}  reconnects ${s.reconnects}  commands ${s.commands}  config ${s.configApplied}${ota}  rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB`,
          );
        }, 5_000);
        await new Promise<void>((resolve) => {
          if (o.duration) setTimeout(resolve, seconds(o.duration) * 1000);
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        clearInterval(report);
        const s = sim.stats();
        const seconds_ = (Date.now() - t1) / 1000;
        const summary = {
          ...s,
          seconds: Math.round(seconds_ * 10) / 10,
          deliveredReadingsPerSec: Math.round((s.sent - startedSent - s.buffered) / seconds_),
          rssMb: Math.round(process.memoryUsage().rss / 2 ** 20),
        };
        await sim.stop();
        ctx.out.result(summary, () => ctx.out.fields(summary));
      }),
    );
}

function share(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new UsageError(`${flag} takes a share from 0 to 1`);
  return n;
}
