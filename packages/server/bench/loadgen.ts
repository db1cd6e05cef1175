/**
 * The load generator, forked by run.ts so that it has its own event loop (and, on 2 cores, its own
 * core) instead of competing with the orchestrator's timers and REST calls. It holds the device
 * connections and runs one phase per IPC command (including the mutual-TLS handshake load, mtls.ts),
 * replying with the measurements.
 */
import { performance } from 'node:perf_hooks';
import { LeanClient } from './client.js';
import type { LatencyResult, LoadCommand, LoadReply, SequencedResult, ThroughputResult } from './messages.js';
import { handshakeLoad } from './mtls.js';
import { mapLimit, Samples, sleep } from './stats.js';

/** Packet ids cycle below this, so per-id send times fit in a small array per connection. */
const ID_SPACE = 8191;

interface Conn {
  clientId: string;
  topic: string;
  client: LeanClient;
  inflight: number;
  acked: number;
  sendTimes: Float64Array;
}

let conns: Conn[] = [];

function reply(m: LoadReply) {
  process.send?.(m);
}

function send(c: Conn, now: number) {
  const id = c.client.publish();
  c.sendTimes[id] = now;
  c.inflight++;
}

function checkAlive() {
  const dead = conns.filter((c) => c.client.closedReason !== undefined);
  if (dead.length > 0)
    throw new Error(`${dead.length} connection(s) dropped during the run: ${dead[0]!.client.closedReason}`);
}

/** Waits until every connection has no message in flight, or the timeout passes. */
async function drain(timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const inflight = conns.reduce((n, c) => n + c.inflight, 0);
    if (inflight === 0 || performance.now() > deadline) return inflight;
    await sleep(10);
  }
}

function resetCounters() {
  for (const c of conns) {
    c.inflight = 0;
    c.acked = 0;
    c.client.onPuback = () => undefined;
  }
}

function ackedByClient(): Record<string, number> {
  return Object.fromEntries(conns.map((c) => [c.clientId, c.acked]));
}

/**
 * Closed loop: every connection keeps `window` QoS 1 messages outstanding and sends the next one when
 * a PUBACK arrives, so the rate is whatever the server sustains with every message acknowledged.
 */
async function throughput(cmd: Extract<LoadCommand, { type: 'throughput' }>): Promise<ThroughputResult> {
  if (cmd.window >= ID_SPACE) throw new Error(`the window must be below ${ID_SPACE} per connection`);
  resetCounters();
  const samples = new Samples();
  let measuring = false;
  let stopping = false;
  let windowAcked = 0;
  let sent = 0;
  let acked = 0;
  for (const c of conns) {
    c.client.onPuback = (id) => {
      const now = performance.now();
      c.inflight--;
      c.acked++;
      acked++;
      if (measuring) {
        windowAcked++;
        samples.add(now - c.sendTimes[id]!);
      }
      if (!stopping) {
        send(c, now);
        sent++;
      }
    };
  }
  const start = performance.now();
  for (const c of conns) for (let i = 0; i < cmd.window; i++, sent++) send(c, start);
  await sleep(cmd.warmupMs);
  checkAlive();
  reply({ type: 'mark', at: 'start' });
  const t0 = performance.now();
  measuring = true;
  await sleep(cmd.durationMs);
  measuring = false;
  stopping = true;
  const windowMs = performance.now() - t0;
  reply({ type: 'mark', at: 'end' });
  const unacked = await drain(cmd.drainMs);
  checkAlive();
  return {
    type: 'throughput',
    msgsPerSec: Math.round((windowAcked / windowMs) * 1000),
    ackedInWindow: windowAcked,
    windowMs: Math.round(windowMs),
    latencyMs: samples.percentiles(),
    sentTotal: sent,
    ackedTotal: acked,
    unacked,
    ackedByClient: ackedByClient(),
  };
}

/**
 * Open loop: a pacer sends `rate` messages per second round-robin across the connections whatever the
 * acknowledgements do, so a slow server shows up as latency, not as a lower offered load.
 */
async function latency(cmd: Extract<LoadCommand, { type: 'latency' }>): Promise<LatencyResult> {
  resetCounters();
  const samples = new Samples();
  // Per second of the window, so a periodic stall (GC, checkpoint, timer) shows as such.
  const bySecond = Array.from({ length: Math.ceil(cmd.durationMs / 1000) }, () => new Samples());
  const start = performance.now();
  const windowStart = start + cmd.warmupMs;
  const windowEnd = windowStart + cmd.durationMs;
  let sent = 0;
  let sentInWindow = 0;
  let ackedInWindow = 0;
  for (const c of conns) {
    c.client.onPuback = (id) => {
      const now = performance.now();
      const at = c.sendTimes[id]!;
      c.inflight--;
      c.acked++;
      if (now >= windowStart && now < windowEnd) ackedInWindow++;
      if (at >= windowStart && at < windowEnd) {
        samples.add(now - at);
        bySecond[Math.floor((at - windowStart) / 1000)]?.add(now - at);
      }
    };
  }
  let inWindow = false;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      if (now >= windowEnd) {
        reply({ type: 'mark', at: 'end' });
        return resolve();
      }
      if (!inWindow && now >= windowStart) {
        inWindow = true;
        reply({ type: 'mark', at: 'start' });
      }
      const due = Math.floor((cmd.rate * (now - start)) / 1000);
      for (; sent < due; sent++) {
        send(conns[sent % conns.length]!, now);
        if (now >= windowStart) sentInWindow++;
      }
      // 1 ms is the finest timer; at 5,000/s each tick sends about five messages.
      setTimeout(tick, 1);
    };
    tick();
  });
  await drain(cmd.drainMs);
  checkAlive();
  const seconds = cmd.durationMs / 1000;
  return {
    type: 'latency',
    offeredMsgsPerSec: cmd.rate,
    sentMsgsPerSec: Math.round(sentInWindow / seconds),
    achievedMsgsPerSec: Math.round(ackedInWindow / seconds),
    latencyMs: samples.percentiles(),
    p99BySecondMs: bySecond.map((b) => b.percentiles().p99),
    maxBySecondMs: bySecond.map((b) => b.percentiles().max),
    unacked: sentInWindow - samples.count,
    ackedByClient: ackedByClient(),
  };
}

/**
 * Open loop with numbered readings: a pacer sends `rate` messages per second round-robin across the
 * connections, each `{"values":{<key>: <n>}}` (with `as: 'event'`, the device event
 * `{"type":"bench","data":{<key>: <n>}}`) with n counting up per connection from 0, and records when
 * each one's PUBACK arrived (epoch ms, `Date.now()`), so that another process can match what it
 * received against what was acknowledged, and when.
 */
async function sequenced(cmd: Extract<LoadCommand, { type: 'sequenced' }>): Promise<SequencedResult> {
  resetCounters();
  const samples = new Samples();
  const start = performance.now();
  const windowStart = start + cmd.warmupMs;
  const windowEnd = windowStart + cmd.durationMs;
  const perConn = Math.ceil((cmd.rate * (cmd.warmupMs + cmd.durationMs)) / 1000 / conns.length) + 1;
  const ackedAt = conns.map(() => new Float64Array(perConn).fill(-1));
  const seqOfId = conns.map(() => new Int32Array(ID_SPACE + 1));
  const next = conns.map(() => 0);
  let sent = 0;
  let sentInWindow = 0;
  let ackedInWindow = 0;
  conns.forEach((c, i) => {
    c.client.onPuback = (id) => {
      const now = performance.now();
      c.inflight--;
      c.acked++;
      ackedAt[i]![seqOfId[i]![id]!] = Date.now();
      if (now >= windowStart && now < windowEnd) ackedInWindow++;
      const at = c.sendTimes[id]!;
      if (at >= windowStart && at < windowEnd) samples.add(now - at);
    };
  });
  let inWindow = false;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      if (now >= windowEnd) {
        reply({ type: 'mark', at: 'end' });
        return resolve();
      }
      if (!inWindow && now >= windowStart) {
        inWindow = true;
        reply({ type: 'mark', at: 'start' });
      }
      const due = Math.floor((cmd.rate * (now - start)) / 1000);
      for (; sent < due; sent++) {
        const i = sent % conns.length;
        const c = conns[i]!;
        const seq = next[i]!++;
        if (seq >= perConn) continue;
        const body =
          cmd.as === 'event'
            ? `{"type":"bench","data":{"${cmd.key}":${seq}}}`
            : `{"values":{"${cmd.key}":${seq}}}`;
        const id = c.client.publishOnce(c.topic, Buffer.from(body));
        seqOfId[i]![id] = seq;
        c.sendTimes[id] = now;
        c.inflight++;
        if (now >= windowStart) sentInWindow++;
      }
      setTimeout(tick, 1);
    };
    tick();
  });
  const unacked = await drain(cmd.drainMs);
  checkAlive();
  const seconds = cmd.durationMs / 1000;
  return {
    type: 'sequenced',
    offeredMsgsPerSec: cmd.rate,
    sentMsgsPerSec: Math.round(sentInWindow / seconds),
    achievedMsgsPerSec: Math.round(ackedInWindow / seconds),
    sentTotal: next.reduce((n, k) => n + Math.min(k, perConn), 0),
    ackedTotal: conns.reduce((n, c) => n + c.acked, 0),
    unacked,
    latencyMs: samples.percentiles(),
    ackedAt: Object.fromEntries(
      conns.map((c, i) => [c.clientId, Array.from(ackedAt[i]!.subarray(0, Math.min(next[i]!, perConn)))]),
    ),
  };
}

async function handle(cmd: LoadCommand): Promise<LoadReply> {
  switch (cmd.type) {
    case 'connect': {
      const started = performance.now();
      const payload = Buffer.from(cmd.payload);
      const made = await mapLimit(cmd.targets, cmd.concurrency, async (t) => {
        const client = new LeanClient({
          transport: cmd.transport,
          clientId: t.clientId,
          idSpace: ID_SPACE,
          ...(t.username !== undefined ? { username: t.username } : {}),
          ...(t.password !== undefined ? { password: t.password } : {}),
        });
        await client.connect();
        client.setPublish(t.topic, payload);
        return {
          clientId: t.clientId,
          topic: t.topic,
          client,
          inflight: 0,
          acked: 0,
          sendTimes: new Float64Array(ID_SPACE + 1),
        };
      });
      conns.push(...made);
      return { type: 'connected', count: conns.length, ms: Math.round(performance.now() - started) };
    }
    case 'throughput':
      return throughput(cmd);
    case 'latency':
      return latency(cmd);
    case 'sequenced':
      return sequenced(cmd);
    case 'mtls': {
      const { type: _type, ...opts } = cmd;
      const r = await handshakeLoad({ ...opts, mark: (at) => reply({ type: 'mark', at }) });
      return { type: 'mtls', ...r };
    }
    case 'close':
      await Promise.all(conns.map((c) => c.client.end()));
      conns = [];
      return { type: 'closed' };
  }
}

process.on('message', (m: LoadCommand) => {
  handle(m).then(reply, (err: unknown) =>
    reply({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
  );
});
// The orchestrator is gone (finished or crashed): nothing is left to measure for.
process.on('disconnect', () => process.exit(0));
