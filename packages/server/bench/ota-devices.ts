/**
 * The OTA devices of the ota phase (ota.ts): one raw mqtt.js client per device over MQTT/TLS, each
 * following the device contract of docs/ota.md. A device subscribes to `d/{id}/ota/+` (and
 * `d/{id}/errors`); on an offer it reports `accepted`, waits for a slot of the download pool (a fixed
 * number of downloads in flight across the whole fleet), reports `downloading`, downloads the image
 * over HTTPS from the offer's `downloadPath` with its access key as Bearer (checking size and
 * SHA-256 against the offer), then reports `downloaded`, `installing`, `rebooting` and `succeeded`
 * with the new version. Every report is QoS 1 and awaited (its PUBACK leaves after the commit).
 *
 * Runs in its own process by default (forked by ota.ts, driven over IPC like loadgen.ts), or inside
 * the orchestrator with BENCH_OTA_CLIENTS=inproc. Times are absolute (performance.timeOrigin + now,
 * ms), so the orchestrator can compare them with its own.
 */
import { createHash } from 'node:crypto';
import { Agent, request } from 'node:https';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { mapLimit, round, Samples, type Percentiles } from './stats.js';

export interface OtaDeviceSpec {
  id: string;
  accessKey: string;
}

export interface OtaFleetOptions {
  mqttPort: number;
  httpPort: number;
  ca: string;
  devices: OtaDeviceSpec[];
  /** Downloads in flight at once across the fleet. */
  downloads: number;
  /** TLS connections opened at once while connecting. */
  connectConcurrency: number;
  /** The version a device reports after its reboot. */
  newVersion: string;
}

/** What the fleet has seen so far: sent to the orchestrator every second and at the end. */
export interface OtaFleetSummary {
  devices: number;
  connected: number;
  offered: number;
  accepted: number;
  downloaded: number;
  succeeded: number;
  failed: number;
  /** First few failure messages (download errors, digest mismatches, refusals on d/{id}/errors). */
  errors: string[];
  refusals: number;
  /** Absolute times (ms) of the first and last offer received, of the first download start and the last download end, of the last success. */
  firstOfferAt: number | null;
  lastOfferAt: number | null;
  firstDownloadStartAt: number | null;
  lastDownloadEndAt: number | null;
  lastSucceededAt: number | null;
  bytesDownloaded: number;
  downloadMs: Percentiles;
  /** Offer received → `succeeded` PUBACKed, per device. */
  offerToSucceededMs: Percentiles;
  /** Most downloads that were in flight at once. */
  maxConcurrentDownloads: number;
  /** Duplicate offers (the same operation and attempt delivered again), ignored as the contract says. */
  duplicateOffers: number;
}

export type OtaFleetEvent =
  | { type: 'connected'; count: number; ms: number }
  | { type: 'all-offered'; at: number }
  | { type: 'all-succeeded'; at: number }
  | { type: 'progress'; summary: OtaFleetSummary };

/** Orchestrator → child. */
export type OtaFleetCommand = { type: 'start'; options: OtaFleetOptions } | { type: 'summary' };

/** Child → orchestrator. */
export type OtaFleetReply =
  OtaFleetEvent | { type: 'summary'; summary: OtaFleetSummary } | { type: 'error'; message: string };

const now = () => performance.timeOrigin + performance.now();

interface Offer {
  type: 'offer';
  operationId: string;
  attempt: number;
  downloadPath: string;
  artifact: { size: number; sha256: string; version: string };
}

interface Dev {
  spec: OtaDeviceSpec;
  client?: MqttClient;
  offerKey?: string;
  offerAt?: number;
  downloadStart?: number;
  downloadEnd?: number;
  succeededAt?: number;
  failed?: string;
}

export class OtaFleet {
  private readonly devs: Dev[];
  private readonly agent: Agent;
  private readonly queue: { dev: Dev; offer: Offer }[] = [];
  private active = 0;
  private maxActive = 0;
  private offered = 0;
  private accepted = 0;
  private downloaded = 0;
  private succeeded = 0;
  private failed = 0;
  private refusals = 0;
  private duplicates = 0;
  private bytes = 0;
  private readonly errors: string[] = [];
  private readonly downloadMs = new Samples();
  private readonly offerToSucceededMs = new Samples();
  private stopped = false;

  constructor(
    private readonly o: OtaFleetOptions,
    private readonly emit: (e: OtaFleetEvent) => void,
  ) {
    this.devs = o.devices.map((spec) => ({ spec }));
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: o.downloads,
      ca: o.ca,
      servername: 'localhost',
    });
  }

  /** Opens every connection and subscribes; resolves when all are subscribed. */
  async connect(): Promise<void> {
    const t0 = performance.now();
    await mapLimit(this.devs, this.o.connectConcurrency, async (dev) => {
      const client = await this.connectOne(dev);
      if (this.stopped) return void client.end(true);
      dev.client = client;
      const id = dev.spec.id;
      client.on('message', (topic, payload) => this.onMessage(dev, topic, payload));
      const granted = await client.subscribeAsync([`d/${id}/ota/+`, `d/${id}/errors`], { qos: 1 });
      if (granted.some((g) => g.qos !== 1))
        throw new Error(`subscription refused: ${JSON.stringify(granted)}`);
    });
    this.emit({ type: 'connected', count: this.devs.length, ms: Math.round(performance.now() - t0) });
  }

  private connectOne(dev: Dev): Promise<MqttClient> {
    return new Promise((resolve, reject) => {
      const client = mqtt.connect({
        protocol: 'mqtts',
        host: '127.0.0.1',
        servername: 'localhost',
        port: this.o.mqttPort,
        ca: this.o.ca,
        protocolVersion: 4,
        clientId: dev.spec.id,
        username: dev.spec.id,
        password: dev.spec.accessKey,
        reconnectPeriod: 0,
        connectTimeout: 30_000,
        keepalive: 120,
      });
      client.once('connect', () => resolve(client));
      client.once('error', (err) => {
        client.end(true);
        reject(new Error(`device ${dev.spec.id}: ${err.message}`));
      });
      client.once('close', () => reject(new Error(`device ${dev.spec.id}: closed before CONNACK`)));
    });
  }

  private onMessage(dev: Dev, topic: string, payload: Buffer): void {
    let body: { type?: string; code?: string; message?: string };
    try {
      body = JSON.parse(payload.toString()) as typeof body;
    } catch {
      return this.fail(dev, `unparsable message on ${topic}`);
    }
    if (topic.endsWith('/errors')) {
      this.refusals++;
      if (this.errors.length < 5) this.errors.push(`${dev.spec.id} refused: ${body.code} ${body.message}`);
      return;
    }
    if (body.type !== 'offer') return;
    const offer = body as unknown as Offer;
    const key = `${offer.operationId}/${offer.attempt}`;
    if (dev.offerKey === key) return void this.duplicates++;
    dev.offerKey = key;
    dev.offerAt ??= now();
    if (++this.offered === this.devs.length) this.emit({ type: 'all-offered', at: this.lastOfferAt()! });
    void this.report(dev, offer, 'accepted').then(
      () => {
        this.accepted++;
        this.queue.push({ dev, offer });
        this.pump();
      },
      (err: unknown) => this.fail(dev, String(err)),
    );
  }

  private pump(): void {
    while (this.active < this.o.downloads && this.queue.length > 0) {
      const { dev, offer } = this.queue.shift()!;
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
      void this.update(dev, offer)
        .catch((err: unknown) => this.fail(dev, err instanceof Error ? err.message : String(err)))
        .finally(() => {
          if (dev.downloadEnd === undefined) this.release();
        });
    }
  }

  private release(): void {
    this.active--;
    this.pump();
  }

  /** One device's update from its download slot on: download, then the remaining reports. */
  private async update(dev: Dev, offer: Offer): Promise<void> {
    await this.report(dev, offer, 'downloading', { progress: 0 });
    dev.downloadStart = now();
    const got = await this.download(dev, offer);
    dev.downloadEnd = now();
    this.release(); // the slot is the download's only
    this.bytes += got.size;
    this.downloadMs.add(dev.downloadEnd - dev.downloadStart);
    if (got.size !== offer.artifact.size || got.sha256 !== offer.artifact.sha256)
      throw new Error(
        `image mismatch: ${got.size} bytes, sha256 ${got.sha256}; offered ${offer.artifact.size}, ${offer.artifact.sha256}`,
      );
    this.downloaded++;
    for (const state of ['downloaded', 'installing', 'rebooting'])
      await this.report(dev, offer, state, state === 'downloaded' ? { progress: 100 } : {});
    await this.report(dev, offer, 'succeeded', { version: this.o.newVersion });
    dev.succeededAt = now();
    this.offerToSucceededMs.add(dev.succeededAt - dev.offerAt!);
    if (++this.succeeded === this.devs.length) this.emit({ type: 'all-succeeded', at: dev.succeededAt });
  }

  private download(dev: Dev, offer: Offer): Promise<{ size: number; sha256: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          servername: 'localhost',
          port: this.o.httpPort,
          agent: this.agent,
          method: 'GET',
          path: offer.downloadPath,
          headers: { authorization: `Bearer ${dev.spec.accessKey}` },
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            return reject(new Error(`GET ${offer.downloadPath}: ${res.statusCode}`));
          }
          const hash = createHash('sha256');
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            hash.update(c);
          });
          res.on('end', () => resolve({ size, sha256: hash.digest('hex') }));
          res.on('error', reject);
        },
      );
      req.setTimeout(120_000, () => req.destroy(new Error(`GET ${offer.downloadPath}: timed out`)));
      req.on('error', reject);
      req.end();
    });
  }

  private async report(dev: Dev, offer: Offer, state: string, extra: object = {}): Promise<void> {
    const client = dev.client;
    if (!client || this.stopped) throw new Error('not connected');
    await client.publishAsync(
      `d/${dev.spec.id}/ota/${offer.operationId}/progress`,
      JSON.stringify({ attempt: offer.attempt, state, ...extra }),
      { qos: 1 },
    );
  }

  private fail(dev: Dev, message: string): void {
    if (this.stopped || dev.failed) return;
    dev.failed = message;
    this.failed++;
    if (this.errors.length < 5) this.errors.push(`${dev.spec.id}: ${message}`);
  }

  private lastOfferAt(): number | null {
    return this.extreme((d) => d.offerAt, Math.max);
  }

  private extreme(pick: (d: Dev) => number | undefined, f: (a: number, b: number) => number) {
    let v: number | null = null;
    for (const d of this.devs) {
      const x = pick(d);
      if (x !== undefined) v = v === null ? x : f(v, x);
    }
    return v === null ? null : round(v, 1);
  }

  summary(): OtaFleetSummary {
    return {
      devices: this.devs.length,
      connected: this.devs.filter((d) => d.client?.connected).length,
      offered: this.offered,
      accepted: this.accepted,
      downloaded: this.downloaded,
      succeeded: this.succeeded,
      failed: this.failed,
      errors: [...this.errors],
      refusals: this.refusals,
      firstOfferAt: this.extreme((d) => d.offerAt, Math.min),
      lastOfferAt: this.lastOfferAt(),
      firstDownloadStartAt: this.extreme((d) => d.downloadStart, Math.min),
      lastDownloadEndAt: this.extreme((d) => d.downloadEnd, Math.max),
      lastSucceededAt: this.extreme((d) => d.succeededAt, Math.max),
      bytesDownloaded: this.bytes,
      downloadMs: this.downloadMs.percentiles(),
      offerToSucceededMs: this.offerToSucceededMs.percentiles(),
      maxConcurrentDownloads: this.maxActive,
      duplicateOffers: this.duplicates,
    };
  }

  /** Closes every connection and socket (no DISCONNECT wait: the server is about to stop too). */
  stop(): void {
    this.stopped = true;
    for (const d of this.devs) d.client?.end(true);
    this.agent.destroy();
  }
}

// Forked by ota.ts: one fleet per process, driven over IPC; gone when the orchestrator is.
if (process.send && process.env.MOORING_BENCH_OTA_CHILD === '1') {
  let fleet: OtaFleet | undefined;
  let ticker: NodeJS.Timeout | undefined;
  const send = (m: OtaFleetReply) => {
    if (process.connected) process.send!(m);
  };
  process.on('message', (m: OtaFleetCommand) => {
    if (m.type === 'summary') return send({ type: 'summary', summary: fleet?.summary() ?? emptySummary() });
    fleet = new OtaFleet(m.options, send);
    ticker = setInterval(() => send({ type: 'progress', summary: fleet!.summary() }), 1_000);
    fleet.connect().catch((err: unknown) => send({ type: 'error', message: String(err) }));
  });
  process.on('disconnect', () => {
    clearInterval(ticker);
    fleet?.stop();
    process.exit(0);
  });
}

export function emptySummary(): OtaFleetSummary {
  return new OtaFleet(
    { mqttPort: 0, httpPort: 0, ca: '', devices: [], downloads: 1, connectConcurrency: 1, newVersion: '' },
    () => undefined,
  ).summary();
}
