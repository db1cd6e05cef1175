/**
 * The fleet simulator: N virtual devices built on the device SDK, each its own MQTT/TLS connection,
 * sending telemetry of a configurable shape and rate, answering commands, with injected faults
 * (connections dropped at random, slow or failing command handlers). Devices provision themselves
 * with a batch provisioning token, or use access keys an operator made. Used by `mooring simulate`,
 * `mooring demo` and the benchmark.
 *
 * With `firmware`, each device reports what it runs and takes OTA updates through the SDK's agent:
 * installing is simulated, and the reboot is a new `MooringDevice` on the same credentials and OTA
 * directory that reports the new version. OTA faults (an install that throws, a reboot loop after
 * success, a download that breaks off half-way) hit devices chosen from a seed, so that a test can
 * tell which ones (`otaFault`).
 *
 * Every device takes desired configuration (docs/config.md): it applies what the platform pushes and
 * reports the same change back, so that an operator's edit shows up as reported a moment later. What
 * it applied is kept across its simulated reboots (a real device keeps it in flash).
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OTA_FINAL_STATES } from '@mooring/protocol';
import {
  MemoryCredentialStore,
  MemoryDesiredConfigStore,
  MooringDevice,
  httpJson,
  provision,
  type Credentials,
  type HttpTarget,
  type OtaTransport,
} from '@mooring/device-sdk';

export type OtaFault = 'installFailure' | 'rebootLoop' | 'downloadInterruption';

/**
 * Whether the fault with this `rate` (0 to 1) hits device `index` (0-based: the order of the
 * credentials, or serial number − 1): a function of the seed, the fault and the index only.
 */
export function otaFault(seed: string, fault: OtaFault, index: number, rate: number): boolean {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  const h = createHash('sha256').update(`${seed}\0${fault}\0${index}`).digest();
  return h.readUInt32BE(0) / 2 ** 32 < rate;
}

export interface SimulatorOtaOptions {
  /** The version and hardware class every device runs at start (reported at each connect). */
  version: string;
  hardwareClass: string;
  seed?: string;
  installFailureRate?: number;
  rebootLoopRate?: number;
  downloadInterruptionRate?: number;
  /** How long a simulated reboot takes (default 1 s). */
  rebootMs?: number;
  /** A looping device restarts this often (default 3 s). */
  rebootLoopMs?: number;
  /** Where the devices' OTA directories go (default: a new temporary directory, removed at stop). */
  dir?: string;
}

export interface SimulatorOtaStats {
  offers: number;
  installed: number;
  succeeded: number;
  failed: number;
  rebootLooping: number;
  downloadResumptions: number;
}

export interface SimulatorOptions {
  http: HttpTarget;
  mqttUrl: string;
  count: number;
  /** Telemetry messages per device per second (fractions allowed). */
  rate: number;
  /** Keys sent in each reading, as a random walk each. */
  keys: string[];
  /** Either a batch PT (auto-approved) the devices provision themselves with… */
  provisioningToken?: string;
  serialPrefix?: string;
  /** …or credentials made beforehand (`{deviceId, accessKey}`). */
  credentials?: { deviceId: string; accessKey: string }[];
  /** Share of devices whose connection drops now and then (every ~30 s on average). */
  flaky?: number;
  commandDelayMs?: number;
  /** Share of commands that fail. */
  commandFailure?: number;
  /** Devices connecting at the same time while the fleet comes up. */
  concurrency?: number;
  /** Firmware reports and OTA updates, with injected faults. */
  ota?: SimulatorOtaOptions;
}

export interface SimulatorStats {
  devices: number;
  connected: number;
  sent: number;
  buffered: number;
  dropped: number;
  reconnects: number;
  commands: number;
  /** Desired configuration versions applied and reported back. */
  configApplied: number;
  ota?: SimulatorOtaStats;
}

/** What one simulated device is across its (simulated) reboots. */
interface Unit {
  index: number;
  store: MemoryCredentialStore;
  /** The desired configuration it applied, kept across its reboots. */
  config: MemoryDesiredConfigStore;
  device: MooringDevice;
  version: string;
  dir?: string;
  looping: boolean;
  /** Download paths already broken off once. */
  interrupted: Set<string>;
  /** The simulated reboot under way: a loop tick meanwhile starts no second one. */
  rebooting?: Promise<void> | undefined;
}

export class Simulator extends EventEmitter<{
  progress: [done: number, total: number];
  /** A device provisioning with a token that needs approval shows this code and waits. */
  verificationCode: [serial: string, code: string];
}> {
  readonly devices: MooringDevice[] = [];
  private readonly units: Unit[] = [];
  private timers: NodeJS.Timeout[] = [];
  private sent = 0;
  private reconnects = 0;
  private dropped = 0;
  private commands = 0;
  private configApplied = 0;
  private stopping = false;
  private otaDir: string | undefined;
  private ownOtaDir = false;
  private readonly offersSeen = new Set<string>();
  private readonly finalSeen = new Set<string>();
  private readonly ota: SimulatorOtaStats = {
    offers: 0,
    installed: 0,
    succeeded: 0,
    failed: 0,
    rebootLooping: 0,
    downloadResumptions: 0,
  };

  constructor(private readonly opts: SimulatorOptions) {
    super();
  }

  /** Whether `fault` hits device `index` in this run. */
  faulty(fault: OtaFault, index: number): boolean {
    const o = this.opts.ota;
    if (!o) return false;
    const rate = {
      installFailure: o.installFailureRate,
      rebootLoop: o.rebootLoopRate,
      downloadInterruption: o.downloadInterruptionRate,
    }[fault];
    return otaFault(o.seed ?? '1', fault, index, rate ?? 0);
  }

  private async credentialsFor(i: number): Promise<Credentials> {
    const given = this.opts.credentials?.[i];
    if (given)
      return {
        deviceId: given.deviceId,
        accessKey: given.accessKey,
        provisioningToken: '',
        registrationToken: '',
        registrationTokenExpiresAt: Number.MAX_SAFE_INTEGER,
      };
    if (!this.opts.provisioningToken) throw new Error('give a provisioning token or credentials');
    const serial = `${this.opts.serialPrefix ?? 'SIM'}-${String(i + 1).padStart(5, '0')}`;
    return provision({
      http: this.opts.http,
      provisioningToken: this.opts.provisioningToken,
      serial,
      certificate: false,
      // With a token that needs approval the device waits, showing its code (a real one on its display).
      onVerificationCode: (code) => this.emit('verificationCode', serial, code),
      attributes: { simulated: true },
    });
  }

  private makeDevice(unit: Omit<Unit, 'device'>): MooringDevice {
    const ota = this.opts.ota;
    const device = new MooringDevice({
      store: unit.store,
      http: this.opts.http,
      mqttUrl: this.opts.mqttUrl,
      preferCertificate: false,
      ...(this.opts.http.servername ? { servername: this.opts.http.servername } : {}),
      buffer: { maxReadings: 1_000 },
      backoff: { baseMs: 1_000, capMs: 30_000 },
      keepaliveSeconds: 120,
      // The change is applied as it comes and reported as it is: the reported document follows.
      config: {
        store: unit.config,
        onDesired: (_desired, change) => {
          this.configApplied++;
          return change.patch;
        },
      },
      ...(ota && unit.dir
        ? {
            firmware: { version: unit.version, hardwareClass: ota.hardwareClass },
            ota: {
              dir: unit.dir,
              retry: { baseMs: 200, capMs: 2_000 },
              install: async (file: string) => {
                if (this.faulty('installFailure', unit.index)) throw new Error('simulated flash failure');
                // The "flash": the image is checked already; the simulated device only needs it there.
                await stat(file);
                this.ota.installed++;
              },
              // The agent reports `rebooting` before this; the restart runs after it returns.
              reboot: (offer) => {
                const t = setTimeout(
                  () => this.reboot(unit.index, offer.artifact.version),
                  ota.rebootMs ?? 1_000,
                );
                this.timers.push(t);
              },
              wrapTransport: (t: OtaTransport) => this.faultyTransport(unit.index, t),
            },
          }
        : {}),
    });
    const answer = async (params: unknown) => {
      if (this.opts.commandDelayMs) await new Promise((r) => setTimeout(r, this.opts.commandDelayMs));
      this.commands++;
      if (Math.random() < (this.opts.commandFailure ?? 0)) throw new Error('simulated failure');
      return { ok: true, echo: params ?? null };
    };
    for (const name of ['reboot', 'ping', 'set', 'locate']) device.handle(name, answer);
    device.on('reconnecting', () => this.reconnects++);
    device.on('dropped', (n) => (this.dropped += n));
    device.on('error', () => undefined);
    device.ota?.on('error', () => undefined);
    device.ota?.on('offer', (offer) => {
      const key = `${unit.index}/${offer.operationId}/${offer.attempt}`;
      if (this.offersSeen.has(key)) return;
      this.offersSeen.add(key);
      this.ota.offers++;
    });
    device.ota?.on('progress', ({ operationId, report }) => {
      const final = (OTA_FINAL_STATES as readonly string[]).includes(report.state);
      // A final report is sent again when the platform delivers the offer again (after the reboot).
      const key = `${unit.index}/${operationId}/${report.attempt}`;
      if (!final || this.finalSeen.has(key)) return;
      this.finalSeen.add(key);
      if (report.state !== 'succeeded') {
        this.ota.failed++;
        return;
      }
      this.ota.succeeded++;
      const u = this.units[unit.index];
      if (u && !u.looping && this.faulty('rebootLoop', unit.index)) {
        u.looping = true;
        this.ota.rebootLooping++;
        const t = setInterval(() => this.reboot(unit.index), ota?.rebootLoopMs ?? 3_000);
        this.timers.push(t);
      }
    });
    return device;
  }

  /**
   * The agent's transport, with the download broken off at about half of the image once per offered
   * image for a device the fault hits; every ranged request after the first byte counts as a
   * resumption.
   */
  private faultyTransport(index: number, t: OtaTransport): OtaTransport {
    return {
      ...t,
      fetchRange: async (path, start, signal) => {
        if (start > 0) this.ota.downloadResumptions++;
        const res = await t.fetchRange(path, start, signal);
        const unit = this.units[index];
        if (!unit || unit.interrupted.has(path) || !this.faulty('downloadInterruption', index)) return res;
        // Only a body that holds the middle of the image (a part file may be past it already).
        const half = Math.max(1, Math.floor((res.total ?? 0) / 2));
        if (res.total === undefined || res.status === 416 || res.start >= half) return res;
        unit.interrupted.add(path);
        const cut = half - res.start;
        const body = res.body;
        return {
          ...res,
          body: (async function* () {
            let got = 0;
            for await (const chunk of body) {
              if (got + chunk.length >= cut) {
                if (cut > got) yield chunk.subarray(0, cut - got);
                (body as { destroy?: () => void }).destroy?.();
                throw new Error('simulated interruption of the download');
              }
              got += chunk.length;
              yield chunk;
            }
          })(),
        };
      },
    };
  }

  /**
   * A simulated reboot: the device stops (its agent keeps its state in the OTA directory) and comes
   * back as a new `MooringDevice` running `version`; a device in a reboot loop reports a crash on each
   * boot.
   */
  private reboot(index: number, version?: string): void {
    const unit = this.units[index];
    if (!unit || this.stopping) return;
    // A loop tick while a reboot runs is skipped; the reboot into an update waits for it.
    if (unit.rebooting && !version) return;
    const run = (unit.rebooting ?? Promise.resolve()).then(async () => {
      if (this.stopping) return;
      const old = unit.device;
      if (version) unit.version = version;
      await old.stop();
      if (this.stopping) return;
      const device = this.makeDevice(unit);
      unit.device = device;
      this.devices[index] = device;
      await device.start();
      // Stopped while this device was starting: it must not stay connected after the stop.
      if (this.stopping) {
        await device.stop();
        return;
      }
      if (unit.looping) {
        const c = await unit.store.load();
        await httpJson(this.opts.http, 'POST', '/v1/device/events', {
          token: c!.accessKey ?? c!.registrationToken,
          body: {
            type: 'crash',
            severity: 'critical',
            message: `simulated crash after updating to ${unit.version}`,
          },
        }).catch(() => undefined);
      }
    });
    const settled: Promise<void> = run
      .catch(() => undefined)
      .finally(() => {
        if (unit.rebooting === settled) unit.rebooting = undefined;
      });
    unit.rebooting = settled;
  }

  /** Provisions (or loads) and connects every device, `concurrency` at a time. */
  async start(): Promise<void> {
    const ota = this.opts.ota;
    if (ota) {
      this.ownOtaDir = !ota.dir;
      this.otaDir = ota.dir ?? (await mkdtemp(join(tmpdir(), 'mooring-sim-ota-')));
    }
    const concurrency = this.opts.concurrency ?? 50;
    let next = 0;
    let done = 0;
    const lane = async () => {
      while (next < this.opts.count) {
        const i = next++;
        const store = new MemoryCredentialStore(await this.credentialsFor(i));
        const dir = this.otaDir ? join(this.otaDir, `device-${i}`) : undefined;
        if (dir) await mkdir(dir, { recursive: true });
        const base = {
          index: i,
          store,
          version: ota?.version ?? '',
          ...(dir ? { dir } : {}),
          looping: false,
          interrupted: new Set<string>(),
          config: new MemoryDesiredConfigStore(),
        };
        const unit: Unit = { ...base, device: this.makeDevice(base) };
        this.units[i] = unit;
        await unit.device.start();
        this.devices[i] = unit.device;
        this.emit('progress', ++done, this.opts.count);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, this.opts.count) }, lane));
    this.startTelemetry();
  }

  private startTelemetry(): void {
    const periodMs = 1000 / this.opts.rate;
    for (let i = 0; i < this.devices.length; i++) {
      const state = Object.fromEntries(this.opts.keys.map((k) => [k, 20 + Math.random() * 10]));
      // The device of the moment: a simulated reboot replaces it.
      const device = () => this.devices[i]!;
      const tick = () => {
        for (const k of this.opts.keys)
          state[k] = Math.round((state[k]! + (Math.random() - 0.5)) * 100) / 100;
        if (device().state === 'stopped') return;
        device().send({ ...state });
        this.sent++;
      };
      // A random phase, so that the fleet does not send in lockstep.
      const first = setTimeout(() => {
        tick();
        const t = setInterval(tick, periodMs);
        this.timers.push(t);
      }, Math.random() * periodMs);
      this.timers.push(first);
      if (Math.random() < (this.opts.flaky ?? 0)) {
        const t = setInterval(() => {
          if (Math.random() < 0.1) device().dropConnection();
        }, 3_000);
        this.timers.push(t);
      }
    }
  }

  stats(): SimulatorStats {
    return {
      devices: this.devices.filter(Boolean).length,
      connected: this.devices.filter((d) => d?.state === 'connected').length,
      sent: this.sent,
      buffered: this.devices.reduce((n, d) => n + (d?.buffered ?? 0), 0),
      dropped: this.dropped,
      reconnects: this.reconnects,
      commands: this.commands,
      configApplied: this.configApplied,
      ...(this.opts.ota ? { ota: { ...this.ota } } : {}),
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearTimeout(t);
    // A reboot under way sees `stopping` once its old device stopped and starts no new one; one
    // already starting its new device has put it in `units`, which is stopped here, and stops it
    // again itself when its start ends. The stop waits for those reboots (a while at most), so that
    // no device is left connected and the process can end.
    const units = this.units.filter(Boolean);
    await Promise.all(units.map((u) => u.device.stop()));
    const reboots = Promise.all(units.map((u) => u.rebooting));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([reboots, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
    clearTimeout(timer);
    await Promise.all(units.map((u) => u.device.stop()));
    if (this.otaDir && this.ownOtaDir) await rm(this.otaDir, { recursive: true, force: true });
  }
}
