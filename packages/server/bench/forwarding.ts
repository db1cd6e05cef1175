/**
 * What the phases that follow numbered messages from a device to an integration share (the webhooks
 * and the bridge phase): their inputs, connecting a tenant's devices in the load generator, listing
 * what was acknowledged, waiting for the last arrivals, and the summaries.
 */
import { performance } from 'node:perf_hooks';
import type { SequencedResult, Target } from './messages.js';
import type { LoadGenerator } from './procs.js';
import type { Rest } from './rest.js';
import { round, sleep, type Samples } from './stats.js';

/** The data key of the numbered readings and events the forwarding phases send. */
export const SEQ_KEY = 'seq';

export interface BenchDevice {
  id: string;
  accessKey: string;
}

/** What such a phase is given. */
export interface ForwardingPhaseDeps {
  rest: Rest;
  load: LoadGenerator;
  ca: string;
  mqttPort: number;
  /** A new tenant with `count` devices (client id = username = device id): the phase's own. */
  tenant(count: number): Promise<{ apiKey: string; devices: BenchDevice[] }>;
  devices: number;
  /** Messages per second offered, over all devices. */
  rate: number;
  warmupSeconds: number;
  seconds: number;
  /** After the last PUBACK: how long to wait for the next arrival before calling the rest missing. */
  drainMs: number;
  /** …and how long at most in all. */
  maxDrainMs: number;
  /** Starts measuring the server's CPU at the load generator's marks; the returned call reads it. */
  meter(): () => Promise<unknown>;
  onCleanup(step: () => Promise<void> | void): void;
  log(line: string): void;
}

/** One MQTT/TLS connection per device in the load generator (client id = username = device id). */
export async function connectDevices(
  load: LoadGenerator,
  devices: readonly BenchDevice[],
  opts: { mqttPort: number; ca: string; topic: (deviceId: string) => string },
): Promise<{ count: number; ms: number }> {
  const targets: Target[] = devices.map((d) => ({
    clientId: d.id,
    username: d.id,
    password: d.accessKey,
    topic: opts.topic(d.id),
  }));
  return load.request(
    {
      type: 'connect',
      transport: { kind: 'tls', port: opts.mqttPort, ca: opts.ca },
      targets,
      payload: '{}',
      concurrency: 20,
    },
    'connected',
    90_000,
  );
}

export interface Acked {
  device: string;
  seq: number;
  /** When its PUBACK reached the device (epoch ms, the load generator's Date.now()). */
  at: number;
}

/** Every message of a sequenced run that was acknowledged. */
export function ackedOf(pub: SequencedResult): Acked[] {
  const acked: Acked[] = [];
  for (const [device, times] of Object.entries(pub.ackedAt))
    times.forEach((at, seq) => {
      if (at >= 0) acked.push({ device, seq, at });
    });
  return acked;
}

/**
 * Waits until `missing()` is 0, or it did not move for `drainMs` (a backlog still moving is waited
 * for), or `maxDrainMs` passed; resolves with the last count.
 */
export async function waitForArrivals(
  missing: () => number,
  drainMs: number,
  maxDrainMs: number,
): Promise<number> {
  const giveUpAt = performance.now() + maxDrainMs;
  let before = -1;
  let progressAt = performance.now();
  for (;;) {
    const left = missing();
    if (left === 0 || performance.now() > giveUpAt) return left;
    if (left !== before) progressAt = performance.now();
    else if (performance.now() - progressAt > drainMs) return left;
    before = left;
    await sleep(200);
  }
}

export function latencySummary(s: Samples) {
  const p = s.percentiles();
  return { p50: p.p50, p90: p.p90, p99: p.p99, max: p.max, samples: p.samples };
}

/** The publish side of a sequenced run: rates and PUBACK latency of the messages sent in the window. */
export function publishSummary(pub: SequencedResult) {
  return {
    offeredMsgsPerSec: pub.offeredMsgsPerSec,
    sentMsgsPerSec: pub.sentMsgsPerSec,
    achievedMsgsPerSec: pub.achievedMsgsPerSec,
    pubackLatencyMs: {
      p50: pub.latencyMs.p50,
      p90: pub.latencyMs.p90,
      p99: pub.latencyMs.p99,
      max: pub.latencyMs.max,
      samples: pub.latencyMs.samples,
    },
    sentTotal: pub.sentTotal,
    ackedTotal: pub.ackedTotal,
    unacked: pub.unacked,
  };
}

export const perSecond = (n: number, seconds: number) => (seconds > 0 ? round(n / seconds, 1) : 0);

/**
 * The phase's numbered load: `rate` messages a second over the connected devices, open loop, for the
 * warm-up and the window; resolves after the last PUBACK (or the drain) with what was acknowledged.
 */
export function sequencedLoad(
  load: LoadGenerator,
  d: Pick<ForwardingPhaseDeps, 'rate' | 'warmupSeconds' | 'seconds'>,
  as: 'reading' | 'event',
): Promise<SequencedResult> {
  return load.request(
    {
      type: 'sequenced',
      as,
      rate: d.rate,
      key: SEQ_KEY,
      warmupMs: d.warmupSeconds * 1000,
      durationMs: d.seconds * 1000,
      drainMs: 15_000,
    },
    'sequenced',
    (d.warmupSeconds + d.seconds) * 1000 + 30_000,
  );
}
