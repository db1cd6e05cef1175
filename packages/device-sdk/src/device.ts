/**
 * A device's connection to the platform: MQTT 3.1.1 over TLS with its registration token, or over
 * mutual TLS with its certificate; reconnects with exponential backoff and full jitter; telemetry
 * through the offline buffer with a bounded window of QoS 1 messages in flight (several readings per
 * message); commands to registered handlers with a timeout, each result reported once per delivery;
 * registration-token refresh and certificate renewal before expiry. Typed events report the state.
 */
import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { parseFirmwareReport, topics, type CommandMessage, type FirmwareReport } from '@mooring/protocol';
import { Backoff, sleep, type BackoffOptions } from './backoff.js';
import { OfflineBuffer, type Reading } from './buffer.js';
import type { CredentialStore, Credentials } from './credentials.js';
import type { HttpTarget } from './http.js';
import { refreshRegistrationToken, renewCertificate } from './provisioning.js';
import { OtaAgent, type OtaOptions, type OtaTransport } from './ota.js';
import { deviceOtaTransport } from './ota-transport.js';

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'waiting' | 'stopped';

export interface DeviceEvents {
  state: [state: ConnectionState];
  connected: [];
  disconnected: [reason: string];
  /** A connection attempt failed; the next one starts in `delayMs`. */
  reconnecting: [info: { attempt: number; delayMs: number; reason: string }];
  /** Readings dropped because the offline buffer was full (oldest first). */
  dropped: [count: number];
  /** Credentials changed (refresh, renewal): already saved to the store. */
  credentials: [credentials: Credentials];
  command: [command: CommandMessage];
  error: [error: Error];
}

export type CommandHandler = (params: unknown, command: CommandMessage) => Promise<unknown> | unknown;

export interface DeviceOptions {
  store: CredentialStore;
  http: HttpTarget;
  /** MQTT over TLS (registration token) at `mqtts://host:8883`. */
  mqttUrl: string;
  /** MQTT over mutual TLS at `mqtts://host:8884`: used when the device has a certificate. */
  mqttMtlsUrl?: string;
  /** Use the certificate (mTLS) rather than the registration token when both exist. Default true. */
  preferCertificate?: boolean;
  /** TLS server name when the URLs use an address. */
  servername?: string;
  buffer?: { maxReadings?: number; path?: string };
  /** Readings per telemetry message (default 50) and messages in flight (default 8). */
  batchSize?: number;
  window?: number;
  commandTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** Renew credentials when less than this share of their lifetime is left (default 0.2). */
  renewAt?: number;
  keepaliveSeconds?: number;
  /**
   * The firmware this device runs, reported on `d/{id}/state/firmware` at every connect (before the
   * `connected` event): what the platform's fleet versions and minimum-version policy count.
   */
  firmware?: FirmwareReport;
  /**
   * Over-the-air updates (docs/ota.md): the device subscribes to `d/{id}/ota/+` and the agent
   * (`device.ota`) checks, downloads and hands each offered image to `install`. Needs `firmware`.
   */
  ota?: DeviceOtaOptions;
}

/** The `ota` option of `MooringDevice`. */
export interface DeviceOtaOptions extends OtaOptions {
  /**
   * Wraps the transport the device gives its agent (MQTT reports, the HTTPS download and keys): for
   * tests and simulations that inject faults, such as a download that breaks off.
   */
  wrapTransport?(transport: OtaTransport): OtaTransport;
}

const RENEW_CHECK_MS = 60_000;

export class MooringDevice extends EventEmitter<DeviceEvents> {
  private credentials: Credentials | undefined;
  private client: MqttClient | undefined;
  private readonly backoff: Backoff;
  private readonly handlers = new Map<string, CommandHandler>();
  /** Results of recent commands, re-sent when a command is delivered again (at least once). */
  private readonly results = new Map<string, object>();
  private readonly buffer: OfflineBuffer;
  private inFlight = 0;
  private stopped = false;
  private wake: (() => void) | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  state: ConnectionState = 'idle';
  private firmware: FirmwareReport | undefined;
  /** The OTA agent, with the `ota` option: its events tell what it does. */
  readonly ota: OtaAgent | undefined;

  constructor(private readonly opts: DeviceOptions) {
    super();
    if (opts.firmware) this.firmware = checkFirmware(opts.firmware);
    if (opts.ota) {
      if (!this.firmware) throw new Error('ota: the firmware option is needed to check offers against');
      this.ota = this.otaAgent(opts.ota);
    }
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
    this.handlers.set(name, handler);
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
    await this.renewIfDue().catch((e: unknown) => this.emit('error', e as Error));
    this.renewTimer = setInterval(
      () => void this.renewIfDue().catch((e: unknown) => this.emit('error', e as Error)),
      RENEW_CHECK_MS,
    );
    this.renewTimer.unref();
    const first = new Promise<void>((resolve) => this.once('connected', resolve));
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
      if (this.stopped) return;
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
        const subscribe = () =>
          client.subscribe(filters, { qos: 1 }, () => {
            this.setState('connected');
            this.emit('connected');
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
    let result = this.results.get(command.id);
    if (!result) {
      const handler = this.handlers.get(command.name);
      if (!handler) result = { status: 'failed', error: `no handler for command '${command.name}'` };
      else if (command.expiresAt && Date.parse(command.expiresAt) < Date.now())
        result = { status: 'failed', error: 'command expired before it was handled' };
      else {
        const timeoutMs = this.opts.commandTimeoutMs ?? 30_000;
        let timer: NodeJS.Timeout | undefined;
        try {
          const value = await Promise.race([
            Promise.resolve().then(() => handler(command.params, command)),
            new Promise((_r, reject) => {
              timer = setTimeout(
                () => reject(new Error(`handler timed out after ${timeoutMs} ms`)),
                timeoutMs,
              );
            }),
          ]);
          result = { status: 'succeeded', ...(value !== undefined ? { result: value } : {}) };
        } catch (e) {
          result = { status: 'failed', error: String((e as Error).message ?? e).slice(0, 1024) };
        } finally {
          clearTimeout(timer);
        }
      }
      this.results.set(command.id, result);
      if (this.results.size > 256) this.results.delete(this.results.keys().next().value!);
    }
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
      connected: async (ms) => {
        const up = new AbortController();
        const done = () => up.abort();
        this.once('connected', done);
        await sleep(ms, up.signal);
        this.off('connected', done);
      },
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
