/**
 * The webhooks phase: telemetry forwarded to a webhook, end to end.
 *
 * Setup (not timed): a tenant of its own (so that no other phase's tenant starts forwarding), N
 * devices with access keys, N MQTT/TLS connections in the load generator, a local HTTPS receiver in
 * this process (its own CA, answering 200 at once) and one webhook taking `telemetry.batch` and
 * `device.event`, verified before the load starts.
 *
 * Timed: the load generator offers a fixed total rate of QoS 1 messages, round-robin over the
 * devices, each one reading `{"seq": n}` numbered per device, for a warm-up and a window. The
 * receiver notes when each reading arrives; the load generator when each PUBACK arrived. Afterwards
 * every acknowledged reading must have arrived (`missing`), and each one's time from its PUBACK to
 * its arrival gives the end-to-end latency.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { receiverCertificates } from '../test/webhook-receiver.js';
import type { Rest } from './rest.js';
import {
  ackedOf,
  connectDevices,
  latencySummary,
  publishSummary,
  sequencedLoad,
  SEQ_KEY,
  waitForArrivals,
  type ForwardingPhaseDeps,
} from './forwarding.js';
import { round, Samples, sleep } from './stats.js';

/** The reading's key: its value is the reading's number on its device. */

interface Reading {
  key: string;
  ts: number;
  value: unknown;
}

interface EventBody {
  type?: string;
  id?: string;
  deviceId?: string;
  challenge?: string;
  data?: { devices?: { deviceId: string; readings: Reading[] }[] };
}

export interface BenchReceiver {
  url: string;
  ca: string;
  /** Requests other than the challenge, by event type. */
  deliveries: Record<string, number>;
  readings: number;
  /** Event ids seen more than once (at-least-once delivery). */
  duplicateEvents: number;
  /** Called for every telemetry.batch, with when its body was read (epoch ms). */
  onBatch: (deviceId: string, readings: Reading[], at: number) => void;
  /** Delivery counts while `measuring()` holds are also counted here. */
  window: { deliveries: number; readings: number };
  measuring: boolean;
  close(): Promise<void>;
}

/**
 * A webhook receiver on 127.0.0.1 with its own CA: it answers the challenge, answers every event 200
 * as soon as its body is read, and keeps counts only (no bodies), so it can take a saturated
 * publisher's forwarding for minutes.
 */
export async function startBenchReceiver(): Promise<BenchReceiver> {
  const tls = await receiverCertificates();
  const seen = new Set<string>();
  let server: Server | undefined = undefined;
  const r: BenchReceiver = {
    url: '',
    ca: tls.ca,
    deliveries: {},
    readings: 0,
    duplicateEvents: 0,
    onBatch: () => undefined,
    window: { deliveries: 0, readings: 0 },
    measuring: false,
    close: () =>
      new Promise<void>((resolve) => {
        if (!server) return resolve();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      let json: EventBody = {};
      try {
        json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as EventBody;
      } catch {
        /* counted under 'unparsed' */
      }
      if (json.type === 'webhook.verification') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ challenge: json.challenge }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      const type = json.type ?? 'unparsed';
      r.deliveries[type] = (r.deliveries[type] ?? 0) + 1;
      if (json.id) {
        if (seen.has(json.id)) r.duplicateEvents++;
        else seen.add(json.id);
      }
      if (type !== 'telemetry.batch') return;
      const devices = json.data?.devices ?? [];
      const count = devices.reduce((n, d) => n + d.readings.length, 0);
      r.readings += count;
      if (r.measuring) {
        r.window.deliveries++;
        r.window.readings += count;
      }
      for (const d of devices) r.onBatch(d.deviceId, d.readings, at);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  r.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return r;
}

/** Creates a webhook for the receiver in the key's tenant and waits until it passed its challenge. */
export async function createActiveWebhook(
  rest: Rest,
  apiKey: string,
  receiver: BenchReceiver,
  eventTypes: string[],
): Promise<string> {
  const created = await rest.expect<{ webhook: { id: string } }>(201, 'POST', '/v1/webhooks', apiKey, {
    name: 'bench-receiver',
    url: receiver.url,
    eventTypes,
    caPem: receiver.ca,
  });
  const id = created.webhook.id;
  const until = performance.now() + 15_000;
  for (;;) {
    const w = await rest.expect<{ status: string; statusReason?: string }>(
      200,
      'GET',
      `/v1/webhooks/${id}`,
      apiKey,
    );
    if (w.status === 'active') break;
    if (performance.now() > until)
      throw new Error(`the webhook is still '${w.status}' after 15 s (${w.statusReason ?? 'no reason'})`);
    await sleep(100);
  }
  // The node reads which tenants forward when an endpoint passes its challenge; give that read time.
  await sleep(1_000);
  return id;
}

export type WebhooksPhaseDeps = ForwardingPhaseDeps;

export async function webhooksPhase(deps: WebhooksPhaseDeps) {
  const { rest, load, log } = deps;
  log(`webhooks: a tenant of its own with ${deps.devices} devices, a local HTTPS receiver`);
  const receiver = await startBenchReceiver();
  deps.onCleanup(() => receiver.close());
  const { apiKey, devices } = await deps.tenant(deps.devices);
  const webhookId = await createActiveWebhook(rest, apiKey, receiver, ['telemetry.batch', 'device.event']);
  const conn = await connectDevices(load, devices, {
    mqttPort: deps.mqttPort,
    ca: deps.ca,
    topic: (id) => `d/${id}/telemetry`,
  });
  log(`webhooks: ${conn.count} TLS device connections in ${conn.ms} ms`);

  // First arrival of each reading, per device, indexed by its number.
  const arrived = new Map<string, Map<number, number>>(devices.map((d) => [d.id, new Map()]));
  let duplicateReadings = 0;
  let foreignReadings = 0;
  let lastArrival = 0;
  receiver.onBatch = (deviceId, readings, at) => {
    const got = arrived.get(deviceId);
    for (const r of readings) {
      if (!got || r.key !== SEQ_KEY || typeof r.value !== 'number') {
        foreignReadings++;
        continue;
      }
      if (got.has(r.value)) duplicateReadings++;
      else got.set(r.value, at);
    }
    lastArrival = at;
  };

  log(
    `webhooks: ${deps.rate} msgs/s offered over ${deps.devices} devices, ` +
      `${deps.warmupSeconds} s warm-up + ${deps.seconds} s`,
  );
  const done = deps.meter();
  const markStart = load.onMark;
  let windowStart = 0;
  let windowEnd = 0;
  load.onMark = (at) => {
    markStart(at);
    if (at === 'start') {
      windowStart = performance.now();
      receiver.measuring = true;
    } else {
      windowEnd = performance.now();
      receiver.measuring = false;
    }
  };
  const pub = await sequencedLoad(load, deps, 'reading');
  const cpu = await done();
  const windowSeconds = (windowEnd - windowStart) / 1000;
  const inWindow = { ...receiver.window };

  // Everything acknowledged must arrive: wait for the forwarder's last drain and its deliveries.
  const acked = ackedOf(pub);
  const lastAck = acked.reduce((m, a) => Math.max(m, a.at), 0);
  const missingNow = () => acked.filter((a) => !arrived.get(a.device)?.has(a.seq)).length;
  const missingWithinWait = await waitForArrivals(missingNow, deps.drainMs, deps.maxDrainMs);
  await sleep(500); // a late duplicate would still be counted

  const latency = new Samples();
  let missing = 0;
  for (const a of acked) {
    const got = arrived.get(a.device)?.get(a.seq);
    if (got === undefined) missing++;
    else latency.add(got - a.at);
  }
  const batches = receiver.deliveries['telemetry.batch'] ?? 0;
  log(
    `webhooks: ${round(inWindow.deliveries / windowSeconds, 1)} deliveries/s, ` +
      `${round(inWindow.readings / windowSeconds, 1)} readings/s in the window; ` +
      `missing ${missing} of ${acked.length}; PUBACK → receipt p50 ${latency.percentiles().p50} ms, ` +
      `p99 ${latency.percentiles().p99} ms`,
  );
  await load.request({ type: 'close' }, 'closed', 20_000);
  // Disabled, so that whatever runs after this phase does not forward for its tenant.
  await rest.expect(200, 'PATCH', `/v1/webhooks/${webhookId}`, apiKey, { enabled: false });
  return {
    measures:
      `${deps.devices} devices of a tenant of their own publish QoS 1 telemetry over MQTT/TLS at a fixed total rate ` +
      '(open loop, round-robin), one reading per message numbered per device; one active webhook takes ' +
      'telemetry.batch (and device.event) to an HTTPS receiver in the orchestrator process that answers 200 at ' +
      'once. deliveriesPerSec and readingsPerSec: telemetry.batch requests, and the readings in them, the ' +
      'receiver got during the measurement window (after the warm-up). missing: readings whose PUBACK the ' +
      'device got and the receiver never did (waiting after the last PUBACK until everything arrived, nothing ' +
      'arrived for drainMs, or maxDrainMs passed). endToEndMs: from the PUBACK ' +
      "reaching the device (the load generator's clock) to the receiver reading the request that carried the " +
      'reading (the same machine clock, Date.now()), per reading, first arrival.',
    deliveriesPerSec: round(inWindow.deliveries / windowSeconds, 1),
    readingsPerSec: round(inWindow.readings / windowSeconds, 1),
    readingsPerDelivery: inWindow.deliveries ? round(inWindow.readings / inWindow.deliveries, 2) : 0,
    endToEndMs: latencySummary(latency),
    delivery: {
      ackedReadings: acked.length,
      deliveredReadings: acked.length - missing,
      missing,
      missingWhenWaitEnded: missingWithinWait,
      duplicateReadings,
      foreignReadings,
      duplicateEvents: receiver.duplicateEvents,
      deliveriesByType: receiver.deliveries,
      telemetryBatches: batches,
      readingsReceived: receiver.readings,
      lastArrivalAfterLastPubackMs: lastArrival && lastAck ? lastArrival - lastAck : null,
    },
    publish: publishSummary(pub),
    params: {
      devices: deps.devices,
      rate: deps.rate,
      warmupSeconds: deps.warmupSeconds,
      seconds: deps.seconds,
      drainMs: deps.drainMs,
      maxDrainMs: deps.maxDrainMs,
      windowSeconds: round(windowSeconds, 2),
    },
    cpu,
    // The MQTT bridge's forwarded msgs/s is measured by the bridge phase (bench/bridge.ts).
  };
}
