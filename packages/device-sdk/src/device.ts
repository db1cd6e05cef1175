/**
 * A device's connection to the platform: MQTT 3.1.1 over TLS with its registration token, or over
 * mutual TLS with its certificate; reconnects with exponential backoff and full jitter; telemetry
 * through the offline buffer with a bounded window of QoS 1 messages in flight (several readings per
 * message); commands to registered handlers with a timeout, each result reported once per delivery;
 * registration-token refresh and certificate renewal before expiry; with the `config` option, the
 * desired configuration handed to a handler and acknowledged. Typed events report the state.
 */
import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import {
  parseFirmwareReport,
  topics,
  type CommandMessage,
  type ConfigDocument,
  type FirmwareReport,
} from '@mooring/protocol';
import { Backoff, sleep } from './backoff.js';
import { OfflineBuffer, type Reading } from './buffer.js';
import type { Credentials } from './credentials.js';
import { refreshRegistrationToken, renewCertificate } from './provisioning.js';
import { OtaAgent } from './ota.js';
import { deviceOtaTransport } from './ota-transport.js';
import { CommandRunner, type CommandHandler } from './command-runner.js';
import { ConfigAgent, type DesiredConfig, type DeviceConfigOptions } from './config-agent.js';
import type { ConnectionState, DeviceEvents, DeviceOptions, DeviceOtaOptions } from './device-types.js';

export type * from './device-types.js';
export type { CommandHandler };

const RENEW_CHECK_MS = 60_000;

export class MooringDevice extends EventEmitter<DeviceEvents> {
  private credentials: Credentials | undefined;
  private client: MqttClient | undefined;
  private readonly backoff: Backoff;
  private readonly commands: CommandRunner;
  private readonly buffer: OfflineBuffer;
  private inFlight = 0;
  private stopped = false;
  private wake: (() => void) | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  state: ConnectionState = 'idle';
  private firmware: FirmwareReport | undefined;
  /** The OTA agent, with the `ota` option: its events tell what it does. */
  readonly ota: OtaAgent | undefined;
  private readonly config: ConfigAgent | undefined;

  constructor(private readonly opts: DeviceOptions) {
    super();
    if (opts.firmware) this.firmware = checkFirmware(opts.firmware);
    if (opts.ota) {
      if (!this.firmware) throw new Error('ota: the firmware option is needed to check offers against');
      this.ota = this.otaAgent(opts.ota);
    }
    if (opts.config) this.config = this.configAgent(opts.config);
    this.commands = new CommandRunner(opts.commandTimeoutMs ?? 30_000);
    this.backoff = new Backoff(opts.backoff);
    this.buffer = new OfflineBuffer({
      ...(opts.buffer?.maxReadings !== undefined ? { maxReadings: opts.buffer.maxReadings } : {}),
      ...(opts.buffer?.path ? { path: opts.buffer.path } : {}),
      onDrop: (n) => this.emit('dropped', n),
    });
  }

  get deviceId(): string | undefined {
    return this.credentials?.deviceId;
  }

  /** Readings waiting for their PUBACK or not sent yet. */
  get buffered(): number {
    return this.buffer.size;
  }

  /** Handles the command `name`; its return value is the result, a throw reports `failed`. */
  handle(name: string, handler: CommandHandler): this {
    this.commands.set(name, handler);
    return this;
  }

  /** Queues a reading; it is sent when connected, in order, at least once. */
  send(values: Reading['values'], ts: number | undefined = Date.now()): void {
    this.buffer.push(ts === undefined ? { values } : { ts, values });
    this.pump();
  }

  /** Connects and keeps connecting until `stop`. Resolves when the first connection is up. */
  async start(): Promise<void> {
    this.credentials = await this.opts.store.load();
    if (!this.credentials) throw new Error('no credentials: provision the device first');
    await this.config?.load();
    await this.renewIfDue().catch((e: unknown) => this.emit('error', e as Error));
    this.renewTimer = setInterval(
      () => void this.renewIfDue().catch((e: unknown) => this.emit('error', e as Error)),
      RENEW_CHECK_MS,
    );
    this.renewTimer.unref();
    // The first connection, or a stop before it came (a start must not wait for ever on a stopped device).
    const first = new Promise<void>((resolve) => {
      const onState = (state: ConnectionState) => {
        if (state !== 'connected' && state !== 'stopped') return;
        this.off('state', onState);
        resolve();
      };
      if (this.stopped) resolve();
      else this.on('state', onState);
    });
    // An update the device rebooted into is confirmed while it connects (its report waits for MQTT).
    this.ota?.start().catch((e: unknown) => this.fail(e as Error));
    void this.loop();
    await first;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.wake?.();
    await this.ota?.stop();
    await this.config?.stop();
    const c = this.client;
    this.client = undefined;
    if (c) await new Promise<void>((r) => c.end(false, {}, () => r()));
    this.buffer.close();
    this.setState('stopped');
  }

  private setState(s: ConnectionState) {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.setState('connecting');
      const outcome = await this.connectOnce();
      if (this.stopped) {
        // Stopped while connecting: the connection that came up meanwhile must not outlive the stop.
        const c = this.client;
        this.client = undefined;
        if (outcome.ok && c) await new Promise<void>((r) => c.end(false, {}, () => r()));
        return;
      }
      if (outcome.ok) {
        this.backoff.reset();
        await outcome.closed;
        if (this.stopped) return;
      }
      const reason = outcome.ok ? 'connection lost' : outcome.reason;
      // CONNACK 4: the registration token was refused; a fresh one may fix it.
      if (!outcome.ok && outcome.code === 4 && this.credentials && !this.useCertificate()) {
        await this.refresh().catch((e: unknown) => this.emit('error', e as Error));
      }
      const delayMs = this.backoff.next(!outcome.ok && outcome.code === 5 ? 30_000 : undefined);
      this.setState('waiting');
      this.emit('reconnecting', { attempt: this.backoff.attempts, delayMs, reason });
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delayMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  private useCertificate(): boolean {
    const c = this.credentials;
    return Boolean(
      (this.opts.preferCertificate ?? true) && this.opts.mqttMtlsUrl && c?.certificatePem && c.privateKeyPem,
    );
  }

  private connectOnce(): Promise<
    { ok: true; closed: Promise<void> } | { ok: false; reason: string; code?: number }
  > {
    const c = this.credentials!;
    const mtls = this.useCertificate();
    const options: IClientOptions = {
      clientId: c.deviceId,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 15_000,
      keepalive: this.opts.keepaliveSeconds ?? 60,
      ca: this.opts.http.ca,
      ...(this.opts.servername ? { servername: this.opts.servername } : {}),
      rejectUnauthorized: true,
      ...(mtls
        ? { key: c.privateKeyPem!, cert: c.certificatePem! + (c.chainPem ?? '') }
        : { username: c.deviceId, password: c.accessKey ?? c.registrationToken }),
    };
    return new Promise((resolve) => {
      const client = mqtt.connect(mtls ? this.opts.mqttMtlsUrl! : this.opts.mqttUrl, options);
      let settled = false;
      client.once('connect', () => {
        settled = true;
        this.client = client;
        let closedResolve!: () => void;
        const closed = new Promise<void>((r) => (closedResolve = r));
        client.once('close', () => {
          if (this.client === client) this.client = undefined;
          this.inFlight = 0;
          this.buffer.rewind();
          if (!this.stopped) {
            this.emit('disconnected', 'connection lost');
            this.setState('waiting');
          }
          closedResolve();
        });
        client.on('message', (topic, payload) => void this.onMessage(topic, payload));
        const filters = [topics.commandsFilter(c.deviceId)];
        if (this.ota) filters.push(topics.otaFilter(c.deviceId));
        if (this.config) filters.push(topics.configDesired(c.deviceId));
        const subscribe = () =>
          client.subscribe(filters, { qos: 1 }, () => {
            this.setState('connected');
            this.emit('connected');
            this.config?.connected();
            this.pump();
          });
        if (this.firmware) this.publishFirmware(client, c.deviceId, this.firmware, subscribe);
        else subscribe();
        resolve({ ok: true, closed });
      });
      const fail = (reason: string, code?: number) => {
        if (settled) return;
        settled = true;
        client.end(true);
        resolve({ ok: false, reason, ...(code !== undefined ? { code } : {}) });
      };
      client.once('error', (err: Error & { code?: number }) =>
        fail(err.message, typeof err.code === 'number' ? err.code : undefined),
      );
      client.once('close', () => fail('connection closed before CONNACK'));
    });
  }

  /**
   * Changes the firmware this device reports (after an update, say): reported now when connected, and
   * at every connect from now on.
   */
  setFirmware(firmware: FirmwareReport): void {
    this.firmware = checkFirmware(firmware);
    const client = this.client;
    if (client && this.credentials) this.publishFirmware(client, this.credentials.deviceId, this.firmware);
  }

  private publishFirmware(client: MqttClient, deviceId: string, f: FirmwareReport, then?: () => void): void {
    const body = JSON.stringify({ version: f.version, hardwareClass: f.hardwareClass });
    client.publish(topics.firmware(deviceId), body, { qos: 1 }, (err) => {
      if (err) this.emit('error', err);
      then?.();
    });
  }

  /** Sends waiting readings while the window has room: several readings per QoS 1 message. */
  private pump(): void {
    const client = this.client;
    if (!client || this.state !== 'connected') return;
    const window = this.opts.window ?? 8;
    while (this.inFlight < window) {
      const batch = this.buffer.take(this.opts.batchSize ?? 50);
      if (!batch) return;
      this.inFlight++;
      const payload = JSON.stringify(batch.readings.length === 1 ? batch.readings[0] : batch.readings);
      client.publish(topics.telemetry(this.credentials!.deviceId), payload, { qos: 1 }, (err) => {
        if (this.client !== client) return;
        this.inFlight--;
        if (!err) this.buffer.ack(batch.lastSeq);
        this.pump();
      });
    }
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    const deviceId = this.credentials!.deviceId;
    if (this.config && topic === topics.configDesired(deviceId)) return this.config.handle(payload);
    const ota = `d/${deviceId}/ota/`;
    if (this.ota && topic.startsWith(ota) && !topic.slice(ota.length).includes('/')) {
      let message: unknown;
      try {
        message = JSON.parse(payload.toString('utf8'));
      } catch {
        return;
      }
      await this.ota.handle(message);
      return;
    }
    const prefix = `d/${deviceId}/commands/`;
    if (!topic.startsWith(prefix)) return;
    let command: CommandMessage;
    try {
      command = JSON.parse(payload.toString('utf8')) as CommandMessage;
    } catch {
      return;
    }
    this.emit('command', command);
    const result = await this.commands.run(command);
    this.client?.publish(topics.commandResult(deviceId, command.id), JSON.stringify(result), { qos: 1 });
  }

  private async save(next: Credentials): Promise<void> {
    this.credentials = next;
    await this.opts.store.save(next);
    this.emit('credentials', next);
  }

  private otaAgent({ wrapTransport, ...options }: DeviceOtaOptions): OtaAgent {
    const transport = deviceOtaTransport({
      http: this.opts.http,
      deviceId: () => this.credentials!.deviceId,
      token: () => this.credentials!.accessKey ?? this.credentials!.registrationToken,
      client: () => (this.state === 'connected' ? this.client : undefined),
      connected: (ms) => this.connectedWithin(ms),
    });
    const agent = new OtaAgent({
      ...options,
      firmware: () => this.firmware!,
      transport: wrapTransport ? wrapTransport(transport) : transport,
    });
    // A failed report or a retried download: the agent goes on; the firmware may listen.
    agent.on('error', (e) => this.fail(e));
    return agent;
  }

  /** The desired configuration applied last (version 0 and `{}`: none); needs the `config` option. */
  get desiredConfig(): DesiredConfig {
    if (!this.config) throw new Error('desiredConfig: the config option is not set');
    return this.config.current;
  }

  /**
   * Changes the reported configuration alone (a JSON Merge Patch), on `d/{id}/config/reported` at
   * QoS 1: resolves at the PUBACK, waiting for the connection when it is down. Needs `config`.
   */
  reportConfig(patch: ConfigDocument): Promise<void> {
    if (!this.config) return Promise.reject(new Error('reportConfig: the config option is not set'));
    return this.config.report(patch);
  }

  private configAgent(options: DeviceConfigOptions): ConfigAgent {
    return new ConfigAgent(options, {
      deviceId: () => this.credentials!.deviceId,
      client: () => (this.state === 'connected' ? this.client : undefined),
      connected: (ms) => this.connectedWithin(ms),
      applied: (config) => this.emit('desiredConfig', config),
      fail: (e) => this.fail(e),
    });
  }

  /** Resolves at the next `connected` event, or after `ms`. */
  private async connectedWithin(ms: number): Promise<void> {
    const up = new AbortController();
    const done = () => up.abort();
    this.once('connected', done);
    await sleep(ms, up.signal);
    this.off('connected', done);
  }

  /** An `error` event when the firmware listens: an OTA failure is no reason for the process to exit. */
  private fail(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  /** Drops the connection as a network fault would (the device reconnects): for tests and simulations. */
  dropConnection(): void {
    this.client?.stream.destroy();
  }

  /** A new registration token now (also run before expiry). */
  async refresh(): Promise<void> {
    await this.save(await refreshRegistrationToken(this.opts.http, this.credentials!));
  }

  /** A new certificate from a new key now (also run before expiry). */
  async renew(): Promise<void> {
    await this.save(await renewCertificate(this.opts.http, this.credentials!, this.credentials!.deviceId));
  }

  private async renewIfDue(): Promise<void> {
    const c = this.credentials;
    if (!c) return;
    const share = this.opts.renewAt ?? 0.2;
    const now = Date.now();
    if (c.accessKey) return;
    const issued = c.registrationTokenIssuedAt ?? now;
    const rtLife = Math.max(60_000, c.registrationTokenExpiresAt - issued);
    if (c.registrationTokenExpiresAt - now < share * rtLife) await this.refresh();
    if (c.certificateNotAfter && c.certificateNotBefore) {
      const life = c.certificateNotAfter - c.certificateNotBefore;
      if (c.certificateNotAfter - now < share * life) await this.renew();
    }
  }
}

/** The firmware option, checked by the platform's own parser so that a bad one fails at start. */
function checkFirmware(f: FirmwareReport): FirmwareReport {
  const parsed = parseFirmwareReport({ version: f.version, hardwareClass: f.hardwareClass });
  if (!parsed.ok) throw new Error(`firmware: ${parsed.error.message} (${parsed.error.path})`);
  return { version: parsed.value.version, hardwareClass: parsed.value.hardwareClass };
}
