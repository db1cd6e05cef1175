/**
 * The bridge phase: device events forwarded by the MQTT bridge to a broker, end to end.
 *
 * Setup (not timed): a mosquitto of the phase's own on a free port (never the machine's broker on
 * 1883, the comparison broker of the publish phases), a subscriber in this process on `bench/#` at
 * QoS 1, a tenant of its own with N devices and access keys, N MQTT/TLS connections in the load
 * generator publishing to `d/{id}/events`, and one bridge to that broker taking `device.event` and
 * `telemetry.batch` with the topic template `bench/{deviceId}/{type}`, connected before the load starts.
 *
 * Timed: the load generator offers a fixed total rate of QoS 1 device events, round-robin over the
 * devices, each `{"type":"bench","data":{"seq": n}}` numbered per device, for a warm-up and a window:
 * one platform event, so one bridged message, per device message. The subscriber notes when each
 * event arrives; the load generator when each PUBACK arrived. Afterwards every acknowledged event must
 * have arrived (`missing`), once (`duplicates`), and in order on its topic; each one's time from its
 * PUBACK to its arrival gives the end-to-end latency. Only `device.event` is loaded: telemetry.batch
 * is taken by the bridge but no telemetry is sent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Static } from '@sinclair/typebox';
import type { BridgeStatus as BridgeStatusSchema } from '@mooring/protocol';
import mqtt from 'mqtt';
import { freePort, startMosquitto, stopProcess } from '../test/mosquitto.js';
import {
  ackedOf,
  connectDevices,
  latencySummary,
  perSecond,
  publishSummary,
  sequencedLoad,
  SEQ_KEY,
  waitForArrivals,
  type ForwardingPhaseDeps,
} from './forwarding.js';
import { round, Samples, sleep } from './stats.js';

const TOPIC_ROOT = 'bench';

export interface BridgePhaseDeps extends ForwardingPhaseDeps {
  /** The server's outbox facts not handed on yet, by type: events acknowledged and not yet spooled. */
  outboxPending(): Promise<Record<string, number>>;
  /** Records figures in the run's report as soon as they are measured. */
  set(figures: Record<string, unknown>): void;
  /** First the same load with no bridge: the publish path's own figures, to compare with. */
  control: boolean;
}

type BridgeStatus = Static<typeof BridgeStatusSchema>;

interface Envelope {
  id?: string;
  type?: string;
  deviceId?: string | null;
  data?: { data?: { [SEQ_KEY]?: unknown } | null };
}

export async function bridgePhase(d: BridgePhaseDeps) {
  const { rest, load, log } = d;
  const figures: Record<string, unknown> = {
    measures:
      `${d.devices} devices of a tenant of their own publish QoS 1 device events over MQTT/TLS to d/{id}/events ` +
      'at a fixed total rate (open loop, round-robin), each {"type":"bench","data":{"seq":n}} numbered per ' +
      'device: one device.event, so one bridged message, per device message. One bridge of the tenant ' +
      '(QoS 1, taking device.event and telemetry.batch; no telemetry is sent) forwards to a mosquitto of the ' +
      "phase's own on a free port, with the topic template bench/{deviceId}/{type}; a subscriber in the " +
      'orchestrator process takes bench/# at QoS 1. forwardedMsgsPerSec: device.event messages the ' +
      'subscriber received during the measurement window (after the warm-up), per second. endToEndMs: from ' +
      "the PUBACK reaching the device (the load generator's Date.now()) to the subscriber receiving the " +
      'message (this process, same machine clock), per event PUBACKed in the window, first arrival. missing: ' +
      'events PUBACKed to a device (warm-up included) and never received (waiting after the last PUBACK ' +
      'until everything arrived, nothing arrived for drainMs, or maxDrainMs passed). duplicates: messages ' +
      'of an event id already received. orderViolations: first arrivals on a topic (one device) whose number ' +
      "is below one already received on it. spool: the bridge's status from GET /v1/bridges/{id}, read at the " +
      'marks and about every second during the load (rowsSampled: [seconds since the load started, spoolRows]). ' +
      'outbox: device.event facts the server has not fanned out yet (not yet in the spool), read from its ' +
      'store. unaccounted: missing minus the outbox (read first when the wait ended) minus the spool (read ' +
      'next), the missing counted last: above a handful (messages on their way from the broker), events were ' +
      'lost; below 0 when events moved on between the reads (counted in both, or arrived before the count). ' +
      'withoutBridge: the same load on the same connections before the bridge exists (nothing is forwarded, ' +
      'no outbox fact written): the publish figures to compare `publish` with.',
    params: {
      devices: d.devices,
      rate: d.rate,
      warmupSeconds: d.warmupSeconds,
      seconds: d.seconds,
      drainMs: d.drainMs,
      maxDrainMs: d.maxDrainMs,
    },
  };
  const publish = (more: Record<string, unknown>) => {
    Object.assign(figures, more);
    d.set({ bridge: { ...figures } });
  };
  publish({});

  // Whatever an earlier phase left connected in the load generator would publish here too.
  await load.request({ type: 'close' }, 'closed', 20_000);

  // --- The customer's broker: a mosquitto of our own, and a subscriber on everything bridged.
  const work = mkdtempSync(join(tmpdir(), 'mooring-bench-broker-'));
  d.onCleanup(() => rmSync(work, { recursive: true, force: true }));
  const port = await freePort();
  const broker = await startMosquitto(
    work,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'log_dest none',
      // The subscriber's queue must hold whatever it falls behind by: by default mosquitto keeps 1000
      // messages per client and drops the rest, after acknowledging them to the bridge.
      'max_queued_messages 0',
    ],
    [port],
  );
  d.onCleanup(() => stopProcess(broker));
  log(`bridge: mosquitto pid ${broker.pid} on 127.0.0.1:${port}`);
  const subscriber = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    clientId: `mooring-bench-bridge-${process.pid}`,
    // A reconnect (the orchestrator's loop held too long) keeps the session and its queued messages.
    clean: false,
    reconnectPeriod: 500,
  });
  d.onCleanup(() => new Promise<void>((resolve) => subscriber.end(true, {}, () => resolve())));
  let subscriberConnects = 0;
  subscriber.on('connect', () => subscriberConnects++);
  subscriber.on('error', (e) => log(`bridge: subscriber: ${e.message}`));
  await new Promise<void>((resolve, reject) => {
    const go = () =>
      subscriber.subscribe(`${TOPIC_ROOT}/#`, { qos: 1 }, (e, granted) =>
        e ? reject(e) : granted?.[0]?.qos === 1 ? resolve() : reject(new Error('subscription refused')),
      );
    if (subscriber.connected) go();
    else subscriber.once('connect', go);
  });

  // --- The tenant, its devices' connections and its bridge.
  log(`bridge: a tenant of its own with ${d.devices} devices`);
  const { apiKey, devices } = await d.tenant(d.devices);
  const conn = await connectDevices(load, devices, {
    mqttPort: d.mqttPort,
    ca: d.ca,
    topic: (id) => `d/${id}/events`,
  });
  log(`bridge: ${conn.count} TLS device connections in ${conn.ms} ms`);
  if (d.control) {
    log(`bridge: the same load without a bridge first, ${d.rate} device events/s`);
    const meterControl = d.meter();
    const control = await sequencedLoad(load, d, 'event');
    publish({ withoutBridge: { publish: publishSummary(control), cpu: await meterControl() } });
  }
  const created = await rest.expect<{ id: string }>(201, 'POST', '/v1/bridges', apiKey, {
    name: 'bench-broker',
    url: `mqtt://127.0.0.1:${port}`,
    topicTemplate: `${TOPIC_ROOT}/{deviceId}/{type}`,
    eventTypes: ['device.event', 'telemetry.batch'],
    qos: 1,
  });
  const bridgeId = created.id;
  const readStatus = async () =>
    (await rest.expect<{ status: BridgeStatus }>(200, 'GET', `/v1/bridges/${bridgeId}`, apiKey)).status;
  // Read often, against a server that may stall for seconds: a kept-alive socket it closed just as it
  // was reused fails the request (ECONNRESET), and a GET is simply tried again once.
  const status = () => readStatus().catch(() => sleep(200).then(readStatus));
  const connectBy = performance.now() + 20_000;
  for (let s = await status(); !s.connected; s = await status()) {
    if (performance.now() > connectBy)
      throw new Error(`the bridge is not connected after 20 s (${s.lastError ?? 'no error'})`);
    await sleep(200);
  }
  // The node reads which tenants forward when an integration changes; give that read time.
  await sleep(1_000);

  // --- What arrives: first arrival of each event per device, indexed by its number.
  const arrived = new Map<string, Map<number, number>>(devices.map((x) => [x.id, new Map()]));
  const ids = new Set<string>();
  const lastSeqOnTopic = new Map<string, number>();
  const byType: Record<string, number> = {};
  let duplicates = 0;
  let orderViolations = 0;
  let foreign = 0;
  let lastArrival = 0;
  let measuring = false;
  const windowCounts = { messages: 0, firstArrivals: 0 };
  const arrivalsBySecond: number[] = [];
  let windowStartEpoch = 0;
  subscriber.on('message', (topic, payload) => {
    const at = Date.now();
    let e: Envelope;
    try {
      e = JSON.parse(payload.toString('utf8')) as Envelope;
    } catch {
      byType.unparsed = (byType.unparsed ?? 0) + 1;
      return;
    }
    const type = e.type ?? 'untyped';
    byType[type] = (byType[type] ?? 0) + 1;
    if (type !== 'device.event') return;
    lastArrival = at;
    if (measuring) {
      windowCounts.messages++;
      const s = Math.floor((at - windowStartEpoch) / 1000);
      arrivalsBySecond[s] = (arrivalsBySecond[s] ?? 0) + 1;
    }
    if (e.id !== undefined) {
      if (ids.has(e.id)) return void duplicates++;
      ids.add(e.id);
    }
    const seq = e.data?.data?.[SEQ_KEY];
    const got = e.deviceId ? arrived.get(e.deviceId) : undefined;
    if (!got || typeof seq !== 'number') return void foreign++;
    // An event under a new id with a number already received: the device's message made two events.
    if (got.has(seq)) return void duplicates++;
    got.set(seq, at);
    if (measuring) windowCounts.firstArrivals++;
    const last = lastSeqOnTopic.get(topic) ?? -1;
    if (seq < last) orderViolations++;
    else lastSeqOnTopic.set(topic, seq);
  });

  // --- The load, with the bridge's status read every second meanwhile.
  log(
    `bridge: ${d.rate} device events/s offered over ${d.devices} devices, ` +
      `${d.warmupSeconds} s warm-up + ${d.seconds} s`,
  );
  const done = d.meter();
  const markMeter = load.onMark;
  let windowStart = 0;
  let windowEnd = 0;
  let windowEndEpoch = 0;
  let atWindowStart: Promise<BridgeStatus> | undefined;
  let atWindowEnd: Promise<BridgeStatus> | undefined;
  const outbox = () =>
    d
      .outboxPending()
      .then((p) => p['device.event'] ?? 0)
      .catch(() => null);
  let outboxAtStart: Promise<number | null> = Promise.resolve(null);
  let outboxAtEnd: Promise<number | null> = Promise.resolve(null);
  load.onMark = (at) => {
    markMeter(at);
    if (at === 'start') {
      windowStart = performance.now();
      windowStartEpoch = Date.now();
      measuring = true;
      atWindowStart = status();
      outboxAtStart = outbox();
    } else {
      windowEnd = performance.now();
      windowEndEpoch = Date.now();
      measuring = false;
      atWindowEnd = status();
      outboxAtEnd = outbox();
    }
  };
  let loading = true;
  let maxSpoolRows = 0;
  const rowsSampled: [number, number][] = [];
  const loadStart = performance.now();
  const sampling = (async () => {
    while (loading) {
      const s = await status().catch(() => undefined);
      if (s) {
        maxSpoolRows = Math.max(maxSpoolRows, s.spoolRows);
        rowsSampled.push([round((performance.now() - loadStart) / 1000, 1), s.spoolRows]);
      }
      await sleep(1_000);
    }
  })();
  let pub;
  try {
    pub = await sequencedLoad(load, d, 'event');
  } finally {
    loading = false;
  }
  await sampling;
  const cpu = await done();
  const windowSeconds = (windowEnd - windowStart) / 1000;
  const inWindow = { ...windowCounts };
  const [startStatus, endStatus, startOutbox, endOutbox] = await Promise.all([
    atWindowStart,
    atWindowEnd,
    outboxAtStart,
    outboxAtEnd,
  ]);
  const forwardedInWindow = startStatus && endStatus ? endStatus.forwarded - startStatus.forwarded : null;
  publish({
    forwardedMsgsPerSec: perSecond(inWindow.messages, windowSeconds),
    publish: publishSummary(pub),
    window: {
      seconds: round(windowSeconds, 2),
      messagesReceived: inWindow.messages,
      firstArrivals: inWindow.firstArrivals,
      arrivalsBySecond: Array.from(arrivalsBySecond, (n) => n ?? 0),
      // The server's own count of rows the broker acknowledged, over the same window.
      forwardedByServerPerSec:
        forwardedInWindow === null ? null : perSecond(forwardedInWindow, windowSeconds),
    },
    spool: { atWindowStart: startStatus, atWindowEnd: endStatus, maxSpoolRows, rowsSampled },
    outbox: { atWindowStart: startOutbox, atWindowEnd: endOutbox },
    cpu,
  });

  // --- Everything acknowledged must arrive: wait for the outbox, the spool and the forwarder.
  const acked = ackedOf(pub);
  const lastAck = acked.reduce((m, a) => Math.max(m, a.at), 0);
  const missingNow = () => acked.filter((a) => !arrived.get(a.device)?.has(a.seq)).length;
  const waitStart = performance.now();
  const missingWhenWaitEnded = await waitForArrivals(missingNow, d.drainMs, d.maxDrainMs);
  const waitedMs = Math.round(performance.now() - waitStart);
  await sleep(500); // a late duplicate would still be counted
  // Where the events still missing are, read upstream first: an event moving on between the reads is
  // counted twice rather than not at all, so only a loss makes `unaccounted` positive (beyond the few
  // messages on their way from the broker to the subscriber).
  const outboxAfterWait = await outbox();
  const afterWait = await status();

  const latency = new Samples();
  let missing = 0;
  for (const a of acked) {
    const got = arrived.get(a.device)?.get(a.seq);
    if (got === undefined) missing++;
    else if (a.at >= windowStartEpoch && a.at < windowEndEpoch) latency.add(got - a.at);
  }
  const e2e = latencySummary(latency);
  log(
    `bridge: ${perSecond(inWindow.messages, windowSeconds)} msgs/s forwarded in the window; missing ${missing} ` +
      `of ${acked.length}; PUBACK → subscriber p50 ${e2e.p50} ms, p99 ${e2e.p99} ms; ` +
      `duplicates ${duplicates}, order violations ${orderViolations}; dropped ${afterWait.dropped}; ` +
      `still in the outbox ${outboxAfterWait ?? '?'}, in the spool ${afterWait.spoolRows}`,
  );
  publish({
    endToEndMs: e2e,
    delivery: {
      ackedEvents: acked.length,
      deliveredEvents: acked.length - missing,
      missing,
      missingWhenWaitEnded,
      waitedMs,
      inOutboxWhenWaitEnded: outboxAfterWait,
      inSpoolWhenWaitEnded: afterWait.spoolRows,
      unaccounted: outboxAfterWait === null ? null : missing - outboxAfterWait - afterWait.spoolRows,
      duplicates,
      orderViolations,
      foreign,
      messagesByType: byType,
      lastArrivalAfterLastPubackMs: lastArrival && lastAck ? lastArrival - lastAck : null,
      subscriberConnects,
    },
    spool: {
      atWindowStart: startStatus,
      atWindowEnd: endStatus,
      afterWait,
      maxSpoolRows,
      rowsSampled,
    },
    outbox: { atWindowStart: startOutbox, atWindowEnd: endOutbox, afterWait: outboxAfterWait },
  });

  await load.request({ type: 'close' }, 'closed', 20_000);
  // Disabled, so that whatever runs after this phase does not forward for its tenant.
  await rest.expect(200, 'PATCH', `/v1/bridges/${bridgeId}`, apiKey, { enabled: false });
  // The forwarder stops at the supervisor's next tick; stopping the broker first would only log an error.
  const stopBy = performance.now() + 5_000;
  while ((await status()).connected && performance.now() < stopBy) await sleep(200);
  await new Promise<void>((resolve) => subscriber.end(true, {}, () => resolve()));
  await stopProcess(broker);
  return { ...figures };
}
