/**
 * The fleet simulator: N virtual devices built on the device SDK, each its own MQTT/TLS connection,
 * sending telemetry of a configurable shape and rate, answering commands, with injected faults
 * (connections dropped at random, slow or failing command handlers). Devices provision themselves
 * with a batch provisioning token, or use access keys an operator made. Used by `mooring simulate`,
 * `mooring demo` and the benchmark.
 */
import { EventEmitter } from 'node:events';
import {
  MemoryCredentialStore,
  MooringDevice,
  provision,
  type Credentials,
  type HttpTarget,
} from '@mooring/device-sdk';

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
}

export interface SimulatorStats {
  devices: number;
  connected: number;
  sent: number;
  buffered: number;
  dropped: number;
  reconnects: number;
  commands: number;
}

export class Simulator extends EventEmitter<{ progress: [done: number, total: number] }> {
  readonly devices: MooringDevice[] = [];
  private timers: NodeJS.Timeout[] = [];
  private sent = 0;
  private reconnects = 0;
  private dropped = 0;
  private commands = 0;

  constructor(private readonly opts: SimulatorOptions) {
    super();
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
    return provision({
      http: this.opts.http,
      provisioningToken: this.opts.provisioningToken,
      serial: `${this.opts.serialPrefix ?? 'SIM'}-${String(i + 1).padStart(5, '0')}`,
      certificate: false,
      attributes: { simulated: true },
    });
  }

  private makeDevice(credentials: Credentials): MooringDevice {
    const device = new MooringDevice({
      store: new MemoryCredentialStore(credentials),
      http: this.opts.http,
      mqttUrl: this.opts.mqttUrl,
      preferCertificate: false,
      ...(this.opts.http.servername ? { servername: this.opts.http.servername } : {}),
      buffer: { maxReadings: 1_000 },
      backoff: { baseMs: 1_000, capMs: 30_000 },
      keepaliveSeconds: 120,
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
    return device;
  }

  /** Provisions (or loads) and connects every device, `concurrency` at a time. */
  async start(): Promise<void> {
    const concurrency = this.opts.concurrency ?? 50;
    let next = 0;
    let done = 0;
    const lane = async () => {
      while (next < this.opts.count) {
        const i = next++;
        const device = this.makeDevice(await this.credentialsFor(i));
        await device.start();
        this.devices[i] = device;
        this.emit('progress', ++done, this.opts.count);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, this.opts.count) }, lane));
    this.startTelemetry();
  }

  private startTelemetry(): void {
    const periodMs = 1000 / this.opts.rate;
    for (const device of this.devices) {
      const state = Object.fromEntries(this.opts.keys.map((k) => [k, 20 + Math.random() * 10]));
      const tick = () => {
        for (const k of this.opts.keys)
          state[k] = Math.round((state[k]! + (Math.random() - 0.5)) * 100) / 100;
        device.send({ ...state });
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
          if (Math.random() < 0.1) device.dropConnection();
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
    };
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    await Promise.all(this.devices.filter(Boolean).map((d) => d.stop()));
  }
}
