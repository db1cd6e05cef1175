/**
 * `npm run bench`: starts Mooring (PGlite, fresh temp data dir, ephemeral ports) as a child process,
 * bootstraps a tenant and devices over REST, drives it from a separate load-generator process with
 * many MQTT/TLS device connections, runs the same load against the local Mosquitto when one answers
 * on 127.0.0.1:1883, then provisions 10,000 devices with CSRs in one factory batch and measures
 * mutual-TLS handshakes on the MQTT mTLS port with one of their certificates, and prints one JSON
 * object on stdout. Progress goes to stderr. Everything it starts is stopped and the data dir removed,
 * on success, failure or timeout.
 *
 * Tunables (environment): BENCH_CONNECTIONS, BENCH_WINDOW, BENCH_WARMUP_S, BENCH_DURATION_S,
 * BENCH_LATENCY_RATE, BENCH_COMMANDS, BENCH_BATCH_MAX_ROWS, BENCH_SKIP_MOSQUITTO=1,
 * BENCH_BULK_DEVICES (10000), BENCH_MTLS_S, BENCH_MTLS_CONCURRENCY, BENCH_API_LANES, BENCH_API_S,
 * BENCH_FLEET_DEVICES (2000), BENCH_FLEET_RATE (1 msg/s per device), BENCH_FLEET_S (20),
 * BENCH_SERVER_CPU_PROF=<dir> (V8 CPU profiles of the server over each measured Mooring window),
 * BENCH_SERVER_NODE_FLAGS (extra node flags for the server, e.g. --trace-gc), BENCH_OUT=<file> (also
 * write the JSON there), BENCH_ONLY=factory (only the bootstrap and the factory batch, with its probes)
 * or BENCH_ONLY=publish (only the MQTT publish path: throughput, PUBACK latency, command round trips,
 * for an A/B of two builds) or BENCH_ONLY=fleet-versions (only `GET /v1/fleet/versions` and the device
 * list over BENCH_FLEET_VERSIONS_DEVICES (100000) seeded device rows, BENCH_DEVICE_LIST_CALLS (40) timed
 * calls per list request, BENCH_FLEET_VERSIONS_ANALYZE=0 to leave the seeded rows without planner
 * statistics, as a PGlite store that grew by provisioning has them) or BENCH_ONLY=ota (only the OTA rollout, ota.ts:
 * BENCH_OTA_DEVICES (1000) devices, a BENCH_OTA_IMAGE_BYTES (1 MiB) image, BENCH_OTA_DOWNLOADS (64) downloads
 * in flight, BENCH_OTA_CLIENTS=child|inproc (where the MQTT clients run), BENCH_OTA_BUDGET_S (240)),
 * or BENCH_ONLY=webhooks (only telemetry forwarded to a webhook, webhooks.ts: BENCH_WEBHOOK_DEVICES (200)
 * devices, BENCH_WEBHOOK_RATE (2000) msgs/s in all, BENCH_WEBHOOK_S (20) s after a 3 s warm-up),
 * or BENCH_ONLY=bridge (only device events forwarded by the MQTT bridge to a mosquitto of its own, bridge.ts:
 * BENCH_BRIDGE_DEVICES (100) devices, BENCH_BRIDGE_RATE (1000) events/s in all, BENCH_BRIDGE_S (20) s after a
 * 3 s warm-up, first without a bridge unless BENCH_BRIDGE_CONTROL=0),
 * or BENCH_ONLY=slowloris (only a probe client's latency while BENCH_SLOWLORIS_CONNECTIONS (500) slow
 * HTTPS connections are held open for BENCH_SLOWLORIS_S (20) s, slowloris.ts),
 * BENCH_PUBLISH_WEBHOOK=same|other (with BENCH_ONLY=publish: an active webhook taking telemetry.batch in
 * the publishing tenant, or in another tenant only, before the publish phases), BENCH_DEADLINE_S (640):
 * a quick look at one phase; the full run is what docs/benchmarks.md reports unless it says otherwise.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';
import { LeanClient, type Transport } from './client.js';
import { checkCertificate, foreignCertificate, generateCsrs, pemBlocks } from './csr.js';
import type { LatencyResult, MtlsResult, Target, ThroughputResult } from './messages.js';
import { clientContext, handshake, HOLD_MS, type TlsVersion } from './mtls.js';
import { findPid, LoadGenerator, machineCpu, procCpuMs, procMemory, ServerProcess } from './procs.js';
import { BenchReport } from './report.js';
import { Rest } from './rest.js';
import { bootstrapAdminToken } from '../test/harness.js';
import type { ServerStats } from './server.js';
import { authenticatedRequests, authenticatedRequestsOnPostgres } from './api.js';
import { fleetPhase } from './fleet.js';
import { fleetVersionsPhase } from './fleet-versions.js';
import { otaPhase } from './ota.js';
import { createActiveWebhook, startBenchReceiver, webhooksPhase, type BenchReceiver } from './webhooks.js';
import { bridgePhase } from './bridge.js';
import { slowlorisPhase } from './slowloris.js';
import { mapLimit, round, Samples, sleep, type Percentiles } from './stats.js';

function intEnv(name: string, def: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got '${raw}'`);
  return n;
}

const PARAMS = {
  connections: intEnv('BENCH_CONNECTIONS', 200),
  windowPerConnection: intEnv('BENCH_WINDOW', 20),
  warmupSeconds: intEnv('BENCH_WARMUP_S', 3),
  durationSeconds: intEnv('BENCH_DURATION_S', 10),
  latencyOfferedMsgsPerSec: intEnv('BENCH_LATENCY_RATE', 5000),
  latencyWarmupSeconds: 2,
  commandSamples: intEnv('BENCH_COMMANDS', 200),
  verifySampleDevices: 10,
  telemetryBatchMaxRows: intEnv('BENCH_BATCH_MAX_ROWS', 5000),
  payload: '{"values":{"temp":21.5,"hum":40}}',
  rowsPerMessage: 2,
  bulkDevices: intEnv('BENCH_BULK_DEVICES', 10_000),
  mtlsConcurrency: intEnv('BENCH_MTLS_CONCURRENCY', 32),
  mtlsWarmupSeconds: 2,
  mtlsDurationSeconds: intEnv('BENCH_MTLS_S', 8),
  apiLanes: intEnv('BENCH_API_LANES', 32),
  fleetDevices: intEnv('BENCH_FLEET_DEVICES', 2000),
  fleetRate: intEnv('BENCH_FLEET_RATE', 1),
  fleetSeconds: intEnv('BENCH_FLEET_S', 20),
  apiSeconds: intEnv('BENCH_API_S', 8),
  fleetVersionsDevices: intEnv('BENCH_FLEET_VERSIONS_DEVICES', 100_000),
  deviceListCalls: intEnv('BENCH_DEVICE_LIST_CALLS', 40),
  fleetVersionsAnalyze: (process.env.BENCH_FLEET_VERSIONS_ANALYZE ?? '1') !== '0',
  otaDevices: intEnv('BENCH_OTA_DEVICES', 1000),
  otaImageBytes: intEnv('BENCH_OTA_IMAGE_BYTES', 1024 * 1024),
  otaDownloads: intEnv('BENCH_OTA_DOWNLOADS', 64),
  otaClients: (process.env.BENCH_OTA_CLIENTS || 'child') as 'child' | 'inproc',
  otaBudgetSeconds: intEnv('BENCH_OTA_BUDGET_S', 240),
  webhookDevices: intEnv('BENCH_WEBHOOK_DEVICES', 200),
  webhookRate: intEnv('BENCH_WEBHOOK_RATE', 2000),
  webhookSeconds: intEnv('BENCH_WEBHOOK_S', 20),
  bridgeDevices: intEnv('BENCH_BRIDGE_DEVICES', 100),
  bridgeRate: intEnv('BENCH_BRIDGE_RATE', 1000),
  bridgeSeconds: intEnv('BENCH_BRIDGE_S', 20),
  bridgeControl: (process.env.BENCH_BRIDGE_CONTROL ?? '1') !== '0',
  publishWebhook: (process.env.BENCH_PUBLISH_WEBHOOK ?? '') as '' | 'same' | 'other',
  slowlorisConnections: intEnv('BENCH_SLOWLORIS_CONNECTIONS', 500),
  slowlorisSeconds: intEnv('BENCH_SLOWLORIS_S', 20),
};
if (PARAMS.otaClients !== 'child' && PARAMS.otaClients !== 'inproc')
  throw new Error(`BENCH_OTA_CLIENTS must be 'child' or 'inproc', got '${String(PARAMS.otaClients)}'`);
const ONLY = process.env.BENCH_ONLY ?? '';
const ONLY_PHASES = ['', 'factory', 'publish', 'fleet-versions', 'ota', 'webhooks', 'bridge', 'slowloris'];
if (!ONLY_PHASES.includes(ONLY))
  throw new Error(
    `BENCH_ONLY must be 'factory', 'publish', 'fleet-versions', 'ota', 'webhooks', 'bridge' or 'slowloris', got '${ONLY}'`,
  );
if (!['', 'same', 'other'].includes(PARAMS.publishWebhook))
  throw new Error(`BENCH_PUBLISH_WEBHOOK must be 'same' or 'other', got '${PARAMS.publishWebhook}'`);
const TARGETS = { persistedQos1MsgsPerSec: 15_000, pubackP99MsAt5000: 50 };
/**
 * The whole run ends by this deadline (BENCH_DEADLINE_S, default 640 s): a phase that would not fit is
 * skipped, and a phase still running at the deadline is stopped; either way the JSON report says what
 * was measured and why the run stopped. On a quiet 2-core machine a full run takes about four minutes
 * before the OTA rollout, which adds one or two, and the webhooks and bridge phases about one more
 * each; on a loaded one the factory batch and the fleet can take twice their usual time.
 */
const DEADLINE_MS = intEnv('BENCH_DEADLINE_S', 640) * 1000;
/** What the OTA phase needs on a quiet machine (setup, connections, rollout), and what it may take at most. */
const OTA_NEEDS_MS = 90_000;
/** What the webhooks phase needs on a quiet machine: setup, warm-up, window, the last deliveries. */
const WEBHOOKS_NEEDS_MS = (PARAMS.webhookSeconds + 50) * 1000;
/** What the bridge phase needs on a quiet machine: broker, setup, warm-up, window, the last arrivals. */
const BRIDGE_NEEDS_MS = ((PARAMS.bridgeControl ? 2 : 1) * PARAMS.bridgeSeconds + 50) * 1000;
/** What the slowloris phase needs: the baseline, opening the connections, the window, closing. */
const SLOWLORIS_NEEDS_MS = (PARAMS.slowlorisSeconds + 15) * 1000;
/** Left for the mTLS phase and cleanup when the factory batch's request timeout is set. */
const AFTER_BULK_MS = 45_000;
const DRAIN_MS = 15_000;
const MOSQUITTO_PORT = 1883;
const PROFILE_DIR = process.env.BENCH_SERVER_CPU_PROF
  ? resolve(process.env.BENCH_SERVER_CPU_PROF)
  : undefined;

const started = performance.now();
function log(msg: string) {
  process.stderr.write(`[bench +${((performance.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------------
// Cleanup: registered as things start, run once in reverse order whatever ends the run.

const cleanups: (() => Promise<void> | void)[] = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        process.stderr.write(`bench: cleanup step failed: ${String(err)}\n`);
      }
    }
  })();
  return cleaning;
}

const report = new BenchReport(started, DEADLINE_MS);

/** One JSON object on stdout (and in BENCH_OUT), whatever ended the run. */
function printReport(result: Record<string, unknown>): void {
  const json = JSON.stringify(result, null, 2);
  try {
    if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, json + '\n');
  } catch (err) {
    process.stderr.write(`bench: cannot write BENCH_OUT: ${String(err)}\n`);
  }
  process.stdout.write(`${json}\n`);
}

let aborting = false;
/**
 * Reports the first failure only: once cleanup starts, the children's going away is expected. The
 * report of what was measured is printed before cleanup, which on a loaded machine can itself be slow;
 * cleanup gets 30 s.
 */
async function abort(message: string, code: number): Promise<void> {
  if (aborting) return;
  aborting = true;
  process.stderr.write(`bench: ${message}\n`);
  printReport(report.partial(message.split('\n')[0]!));
  setTimeout(() => {
    process.stderr.write('bench: cleanup did not finish within 30 s\n');
    process.exit(code);
  }, 30_000).unref();
  await cleanup();
  process.exit(code);
}

// ---------------------------------------------------------------------------------------------------
// Server-side readings

/** Sums every sample of a Prometheus metric whose label set contains `labels`. */
function metric(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
    if (labels && !rest.includes(labels)) continue;
    sum += Number(rest.slice(rest.lastIndexOf(' ') + 1));
  }
  return sum;
}

interface BatchCounters {
  commits: number;
  rows: number;
  commitSeconds: number;
  at: number;
}

async function batchCounters(rest: Rest): Promise<BatchCounters> {
  const r = await rest.call('GET', '/metrics');
  return {
    commits: metric(r.text, 'mooring_telemetry_batch_rows_count'),
    rows: metric(r.text, 'mooring_telemetry_batch_rows_sum'),
    commitSeconds: metric(r.text, 'mooring_telemetry_commit_seconds_sum'),
    at: performance.now(),
  };
}

/** Group-commit behaviour over a phase (warm-up and drain included), from the server's own histograms. */
function batchSummary(a: BatchCounters, b: BatchCounters) {
  const commits = b.commits - a.commits;
  const seconds = (b.at - a.at) / 1000;
  return {
    commits,
    meanRowsPerCommit: commits ? round((b.rows - a.rows) / commits, 1) : 0,
    meanCommitMs: commits ? round(((b.commitSeconds - a.commitSeconds) / commits) * 1000, 2) : 0,
    commitsPerSec: round(commits / seconds, 1),
    /** Share of the phase's wall time spent inside commits: near 100% means the store is the limit. */
    commitBusyPct: round(((b.commitSeconds - a.commitSeconds) / seconds) * 100, 1),
  };
}

interface Snapshot {
  at: number;
  /** CPU ms of [server, load generator, this process, Mosquitto?], from /proc. */
  cpuMs: (number | null)[];
  machine: ReturnType<typeof machineCpu>;
  stats: Promise<ServerStats>;
}

interface PhaseLoad {
  /** All server threads (main, GC, libuv), in % of one core. */
  serverCpuPct: number | null;
  /** Share of wall time the server's main thread was busy: 1 means it had no spare time at all. */
  serverEventLoopUtilization: number | null;
  loadgenCpuPct: number | null;
  mosquittoCpuPct?: number | null;
  /** The whole machine, all cores. */
  machineBusyPct: number | null;
  machineStealPct: number | null;
  /** CPU (% of one core) used by processes other than the server, load generator, this process and Mosquitto. */
  otherProcessesCpuPct: number | null;
  /**
   * The longest times the server's event loop was held at once during the window (ms, longest first, at
   * most 5, 20 ms or more; a 10 ms timer inside the server that fires late): the server's own view of
   * how long any client waited, free of the orchestrator's own delays.
   */
  serverLoopStallsMs: number[];
}

/**
 * Reads CPU counters when the load generator enters and leaves its measurement window, so CPU shares
 * cover exactly the measured seconds (and, with BENCH_SERVER_CPU_PROF, profiles the server over that
 * window into `<dir>/<profile>.cpuprofile`).
 */
function meter(
  load: Pick<LoadGenerator, 'onMark'> & { child?: { pid?: number | undefined } },
  server: ServerProcess,
  opts: { mosquittoPid?: number | null; profile?: string } = {},
) {
  const pids = [server.pid, load.child?.pid ?? -1, process.pid, opts.mosquittoPid ?? -1];
  const marks: Partial<Record<'start' | 'end', Snapshot>> = {};
  load.onMark = (at) => {
    marks[at] = {
      at: performance.now(),
      cpuMs: pids.map((pid) => (pid > 0 ? procCpuMs(pid) : null)),
      machine: machineCpu(),
      stats: server.stats(),
    };
    if (opts.profile && PROFILE_DIR)
      server.send(
        at === 'start'
          ? { type: 'profile-start' }
          : { type: 'profile-stop', file: join(PROFILE_DIR, `${opts.profile}.cpuprofile`) },
      );
  };
  return async (): Promise<PhaseLoad> => {
    load.onMark = () => undefined;
    const { start: a, end: b } = marks;
    if (!a || !b) throw new Error('the load generator reported no measurement window');
    const ms = b.at - a.at;
    const used = pids.map((_, i) => {
      const x = a.cpuMs[i];
      const y = b.cpuMs[i];
      return x != null && y != null ? y - x : null;
    });
    const pct = (v: number | null | undefined) => (v == null ? null : round((v / ms) * 100, 1));
    const [sa, sb] = await Promise.all([a.stats, b.stats]);
    const active = sb.elu.active - sa.elu.active;
    const total = active + (sb.elu.idle - sa.elu.idle);
    let machineBusyPct = null;
    let machineStealPct = null;
    let otherProcessesCpuPct = null;
    if (a.machine && b.machine) {
      const ticks = b.machine.total - a.machine.total;
      const busyMs = ((b.machine.busy - a.machine.busy) / ticks) * ms * availableParallelism();
      machineBusyPct = round(((b.machine.busy - a.machine.busy) / ticks) * 100, 1);
      machineStealPct = round(((b.machine.steal - a.machine.steal) / ticks) * 100, 1);
      const ours = used.reduce<number>((n, v) => n + (v ?? 0), 0);
      otherProcessesCpuPct = Math.max(0, round(((busyMs - ours) / ms) * 100, 1));
    }
    return {
      serverCpuPct: pct(used[0]),
      serverEventLoopUtilization: total > 0 ? round(active / total, 3) : null,
      loadgenCpuPct: pct(used[1]),
      ...(opts.mosquittoPid ? { mosquittoCpuPct: pct(used[3]) } : {}),
      machineBusyPct,
      machineStealPct,
      otherProcessesCpuPct,
      serverLoopStallsMs: sb.loopStallsMs,
    };
  };
}

/** Meters a window the orchestrator marks itself, without a load generator: call the answer at its end. */
function meterWindow(server: ServerProcess): () => Promise<PhaseLoad> {
  const marks = { onMark: (_at: 'start' | 'end') => undefined as void };
  const done = meter(marks, server);
  marks.onMark('start');
  return () => {
    marks.onMark('end');
    return done();
  };
}

/** Says when a phase's figures are suspect because the server did not have the machine to itself. */
function contentionNotes(phase: string, load: PhaseLoad): string[] {
  const notes: string[] = [];
  const { serverEventLoopUtilization: elu, serverCpuPct: cpu, otherProcessesCpuPct: other } = load;
  if (other !== null && other >= 20)
    notes.push(
      `${phase}: other processes used ${other}% of a core during the window (of ${availableParallelism() * 100}%); ` +
        'the figures are pessimistic — rerun on a quiet machine.',
    );
  if (elu !== null && cpu !== null && elu >= 0.95 && cpu < 80)
    notes.push(
      `${phase}: the server's event loop was busy ${Math.round(elu * 100)}% of the time but the process got ` +
        `only ${cpu}% of a core: it was starved of CPU.`,
    );
  return notes;
}

// ---------------------------------------------------------------------------------------------------

function mosquittoReachable(): Promise<string | null> {
  return new Promise((resolveProbe) => {
    const socket = netConnect({ host: '127.0.0.1', port: MOSQUITTO_PORT });
    const done = (reason: string | null) => {
      socket.destroy();
      resolveProbe(reason);
    };
    socket.setTimeout(1_000, () => done('connect to 127.0.0.1:1883 timed out'));
    socket.once('connect', () => done(null));
    socket.once('error', (err) => done(`connect to 127.0.0.1:1883 failed: ${err.message}`));
  });
}

function mosquittoVersion(): string | null {
  const r = spawnSync('mosquitto', ['-h'], { encoding: 'utf8', timeout: 2_000 });
  return /mosquitto version (\S+)/.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`)?.[1] ?? null;
}

function latencySummary(p: Percentiles) {
  return { p50: p.p50, p90: p.p90, p99: p.p99, max: p.max, samples: p.samples };
}

/** Counts a device's stored telemetry rows through the REST API, page by page. */
async function countRows(rest: Rest, apiKey: string, deviceId: string): Promise<number> {
  let rows = 0;
  let cursor: string | null = null;
  do {
    const q: string = `limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page: { items: unknown[]; nextCursor: string | null } = await rest.expect(
      200,
      'GET',
      `/v1/devices/${deviceId}/telemetry?${q}`,
      apiKey,
    );
    rows += page.items.length;
    cursor = page.nextCursor;
  } while (cursor);
  return rows;
}

interface Device {
  id: string;
  accessKey: string;
}

async function bootstrap(rest: Rest, dataDir: string, count: number, tenantName = 'bench') {
  const token = await bootstrapAdminToken((path, body, t) => rest.call('POST', path, t, body), dataDir);
  const tenant = await rest.expect<{ id: string }>(201, 'POST', '/v1/tenants', token, { name: tenantName });
  const key = await rest.expect<{ secret: string }>(201, 'POST', `/v1/tenants/${tenant.id}/api-keys`, token, {
    name: 'bench',
  });
  const apiKey = key.secret;
  const devices = await mapLimit(
    Array.from({ length: count }, (_, i) => i),
    16,
    async (i): Promise<Device> => {
      const d = await rest.expect<{ id: string }>(201, 'POST', '/v1/devices', apiKey, {
        name: `bench-${i}`,
        tags: ['bench'],
      });
      const k = await rest.expect<{ secret: string }>(201, 'POST', `/v1/devices/${d.id}/access-keys`, apiKey);
      return { id: d.id, accessKey: k.secret };
    },
  );
  return { apiKey, devices };
}

/**
 * Command round trip on a device of its own: REST create → the device receives it on
 * d/{id}/commands/{cmdId} → publishes {"status":"succeeded"} to …/result → PUBACK. The PUBACK leaves only
 * after the result is committed, so that instant is when REST reports 'succeeded'; a GET confirms it.
 */
async function commandRoundTrips(
  rest: Rest,
  apiKey: string,
  device: Device,
  transport: Transport,
  n: number,
) {
  const client = new LeanClient({
    transport,
    clientId: device.id,
    username: device.id,
    password: device.accessKey,
  });
  await client.connect();
  try {
    const granted = await client.subscribe(`d/${device.id}/commands/+`, 1);
    if (granted[0] !== 1) throw new Error(`command subscription refused: ${JSON.stringify(granted)}`);
    let onCommand: ((commandId: string) => void) | undefined;
    const prefix = `d/${device.id}/commands/`;
    client.onMessage = (topic) => {
      if (topic.startsWith(prefix) && !topic.slice(prefix.length).includes('/'))
        onCommand?.(topic.slice(prefix.length));
    };
    const acks = new Map<number, () => void>();
    client.onPuback = (id) => acks.get(id)?.();
    const within = <T>(p: Promise<T>, what: string) =>
      Promise.race([
        p,
        sleep(10_000).then(() => Promise.reject(new Error(`command round trip: no ${what} within 10 s`))),
      ]);

    const roundTrip = new Samples();
    const delivery = new Samples();
    const restVisible = new Samples();
    for (let i = 0; i < n; i++) {
      const delivered = new Promise<string>((r) => (onCommand = r));
      const t0 = performance.now();
      const created = rest.expect<{ id: string }>(201, 'POST', `/v1/devices/${device.id}/commands`, apiKey, {
        name: 'bench.ping',
        params: { i },
      });
      created.catch(() => undefined); // awaited below; this only keeps it from counting as unhandled
      const commandId = await within(delivered, 'command delivery');
      const t1 = performance.now();
      const id = client.publishOnce(`${prefix}${commandId}/result`, Buffer.from('{"status":"succeeded"}'));
      await within(new Promise<void>((r) => acks.set(id, r)), 'result PUBACK');
      acks.delete(id);
      const t2 = performance.now();
      if ((await created).id !== commandId) throw new Error('the device received a different command');
      const got = await rest.expect<{ status: string }>(
        200,
        'GET',
        `/v1/devices/${device.id}/commands/${commandId}`,
        apiKey,
      );
      if (got.status !== 'succeeded')
        throw new Error(`command ${commandId} is '${got.status}' after its PUBACK`);
      const t3 = performance.now();
      roundTrip.add(t2 - t0);
      delivery.add(t1 - t0);
      restVisible.add(t3 - t0);
    }
    const rt = roundTrip.percentiles();
    return {
      measures:
        'REST POST /v1/devices/{id}/commands sent → device receives d/{id}/commands/{cmdId} (QoS 1) → ' +
        'device publishes {"status":"succeeded"} to …/result → its PUBACK arrives (sent only after the result ' +
        'is committed); sequential, one device, no other load. Every sample is then confirmed by GET.',
      p50: rt.p50,
      p99: rt.p99,
      max: rt.max,
      samples: rt.samples,
      deliveryMs: latencySummary(delivery.percentiles()),
      createToConfirmedByGetMs: latencySummary(restVisible.percentiles()),
    };
  } finally {
    await client.end();
  }
}

async function throughputPhase(load: LoadGenerator): Promise<ThroughputResult> {
  return load.request(
    {
      type: 'throughput',
      window: PARAMS.windowPerConnection,
      warmupMs: PARAMS.warmupSeconds * 1000,
      durationMs: PARAMS.durationSeconds * 1000,
      drainMs: DRAIN_MS,
    },
    'throughput',
    (PARAMS.warmupSeconds + PARAMS.durationSeconds) * 1000 + DRAIN_MS + 15_000,
  );
}

async function latencyPhase(load: LoadGenerator): Promise<LatencyResult> {
  return load.request(
    {
      type: 'latency',
      rate: PARAMS.latencyOfferedMsgsPerSec,
      warmupMs: PARAMS.latencyWarmupSeconds * 1000,
      durationMs: PARAMS.durationSeconds * 1000,
      drainMs: DRAIN_MS,
    },
    'latency',
    (PARAMS.latencyWarmupSeconds + PARAMS.durationSeconds) * 1000 + DRAIN_MS + 15_000,
  );
}

interface MosquittoResult {
  version: string | null;
  note: string;
  persistedQos1MsgsPerSec: number;
  throughput: {
    ackedInWindow: number;
    pubackLatencyMsAtSaturation: ReturnType<typeof latencySummary>;
    unacked: number;
    cpu: PhaseLoad;
  };
  pubackLatencyMs: ReturnType<typeof latencySummary>;
  offeredMsgsPerSec: number;
  achievedMsgsPerSec: number;
  latencyRun: { sentMsgsPerSec: number; unacked: number; cpu: PhaseLoad };
}

async function runMosquitto(
  load: LoadGenerator,
  server: ServerProcess,
): Promise<{ result: MosquittoResult | null; reason: string | null; notes: string[] }> {
  const unreachable = await mosquittoReachable();
  if (unreachable) return { result: null, reason: unreachable, notes: [] };
  const transport: Transport = { kind: 'tcp', port: MOSQUITTO_PORT };
  // A raw relay: unique client ids, no credentials, topics nobody subscribes to.
  const targets: Target[] = Array.from({ length: PARAMS.connections }, (_, i) => ({
    clientId: `mooring-bench-${process.pid}-${i}`,
    topic: `mooring-bench/${process.pid}/${i}/telemetry`,
  }));
  try {
    await load.request(
      { type: 'connect', transport, targets, payload: PARAMS.payload, concurrency: 50 },
      'connected',
      60_000,
    );
  } catch (err) {
    return { result: null, reason: `connecting to Mosquitto failed: ${(err as Error).message}`, notes: [] };
  }
  const mosquittoPid = findPid('mosquitto');
  log(`mosquitto: throughput, window ${PARAMS.windowPerConnection} × ${PARAMS.connections} connections`);
  let done = meter(load, server, { mosquittoPid });
  const tp = await throughputPhase(load);
  const tpLoad = await done();
  log(`mosquitto: ${tp.msgsPerSec} msgs/s acked; latency run at ${PARAMS.latencyOfferedMsgsPerSec}/s`);
  done = meter(load, server, { mosquittoPid });
  const lat = await latencyPhase(load);
  const latLoad = await done();
  await load.request({ type: 'close' }, 'closed', 20_000);
  return {
    reason: null,
    notes: [
      ...contentionNotes('mosquitto throughput', tpLoad),
      ...contentionNotes('mosquitto latency', latLoad),
    ],
    result: {
      version: mosquittoVersion(),
      note: 'Mosquitto acknowledges QoS 1 on receipt and persists nothing here; plain TCP, no auth.',
      persistedQos1MsgsPerSec: tp.msgsPerSec,
      throughput: {
        ackedInWindow: tp.ackedInWindow,
        pubackLatencyMsAtSaturation: latencySummary(tp.latencyMs),
        unacked: tp.unacked,
        cpu: tpLoad,
      },
      pubackLatencyMs: latencySummary(lat.latencyMs),
      offeredMsgsPerSec: lat.offeredMsgsPerSec,
      achievedMsgsPerSec: lat.achievedMsgsPerSec,
      latencyRun: {
        sentMsgsPerSec: lat.sentMsgsPerSec,
        unacked: lat.unacked,
        cpu: latLoad,
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Factory bulk provisioning and mutual-TLS handshakes

interface ManifestEntry {
  serial: string;
  deviceId: string;
  certificate: string;
  chain: string;
  certificateSerial: string;
  notAfter: number;
}

interface Manifest {
  batchId: string;
  devices: number;
  items: ManifestEntry[];
}

/** Polls a route while `running()` holds, recording each response time: how responsive the server stays. */
async function probe(rest: Rest, path: string, running: () => boolean) {
  const samples = new Samples();
  let failed = 0;
  while (running()) {
    const t0 = performance.now();
    try {
      const r = await rest.call('GET', path);
      if (r.status === 200) samples.add(performance.now() - t0);
      else failed++;
    } catch {
      failed++;
    }
    await sleep(250);
  }
  return { ...latencySummary(samples.percentiles()), failed };
}

/** `openssl verify` of a leaf against the platform root, its issuing CA and that CA's CRL. */
function opensslVerify(dir: string, name: string, entry: ManifestEntry, root: string, crl: string) {
  const [issuing] = pemBlocks(entry.chain);
  const file = (suffix: string, text: string) => {
    const f = join(dir, `${name}.${suffix}`);
    writeFileSync(f, text);
    return f;
  };
  const r = spawnSync(
    'openssl',
    [
      'verify',
      '-CAfile',
      file('root.pem', root),
      '-untrusted',
      file('issuing.pem', issuing ?? ''),
      '-crl_check',
      '-CRLfile',
      file('crl.pem', crl),
      file('leaf.pem', entry.certificate),
    ],
    { encoding: 'utf8', timeout: 10_000 },
  );
  if (r.error) return { ok: null, output: `openssl not run: ${r.error.message}` };
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  return { ok: r.status === 0 && /: OK$/.test(output), output };
}

/**
 * One `POST /v1/provisioning/batches` with `n` serials, each with a CSR generated beforehand, timed from
 * the first byte sent to the whole manifest received and parsed; then the manifest is checked in full
 * (counts, uniqueness) and on a sample (certificate contents, the server's records, `openssl verify`).
 */
async function bulkProvisioning(
  rest: Rest,
  apiKey: string,
  load: LoadGenerator,
  server: ServerProcess,
  platformCa: string,
) {
  const n = PARAMS.bulkDevices;
  log(`bulk provisioning: generating ${n} ECDSA P-256 keys and CSRs (not timed)`);
  const generated = await generateCsrs(n, 2, 'BENCH-F-');
  const body = {
    batchId: 'bench-factory-1',
    items: generated.csrs.map((csr, i) => ({ serial: `BENCH-F-${i}`, csr })),
    deviceTags: ['bench-factory'],
  };
  const json = JSON.stringify(body);
  const requestBytes = Buffer.byteLength(json);
  const mb = (bytes: number) => round(bytes / 1024 ** 2, 2);
  log(`bulk provisioning: ${n} CSRs in ${generated.ms} ms; one ${mb(requestBytes)} MB request`);

  const rssBefore = procMemory(server.pid);
  // meter() reads CPU at the load generator's marks; here the orchestrator marks the request itself.
  const done = meter(load, server, { profile: 'bulkProvisioning' });
  let running = true;
  const probes = Promise.all([probe(rest, '/healthz', () => running), probe(rest, '/readyz', () => running)]);
  load.onMark('start');
  const t0 = performance.now();
  const timeoutMs = Math.max(30_000, DEADLINE_MS - (t0 - started) - AFTER_BULK_MS);
  let r: Awaited<ReturnType<Rest['call']>>;
  try {
    r = await rest.call('POST', '/v1/provisioning/batches', apiKey, undefined, { json, timeoutMs });
  } finally {
    running = false;
  }
  const seconds = (performance.now() - t0) / 1000;
  load.onMark('end');
  const cpu = await done();
  const [healthz, readyz] = await probes;
  const rssAfter = procMemory(server.pid);
  if (r.status !== 201)
    throw new Error(`bulk provisioning: expected 201, got ${r.status}: ${r.text.slice(0, 300)}`);
  const manifest = r.body as Manifest;
  log(`bulk provisioning: ${n} devices in ${round(seconds, 1)} s (${Math.round(n / seconds)}/s); verifying`);

  // In full: one certificate per serial, in order, every serial and device distinct.
  const items = manifest.items ?? [];
  const complete = items.filter(
    (e, i) =>
      e.serial === body.items[i]?.serial &&
      e.deviceId &&
      pemBlocks(e.certificate).length === 1 &&
      pemBlocks(e.chain).length === 2 &&
      e.certificateSerial,
  ).length;
  // On a sample: contents, the server's record of each certificate, and openssl with the CA's CRL.
  const sampleIdx = [...new Set([0, 1, Math.floor(n / 2), n - 1])].filter((i) => i < items.length);
  const dir = mkdtempSync(join(tmpdir(), 'mooring-bench-certs-'));
  const crls = new Map<string, string>();
  const sampled = [];
  try {
    for (const i of sampleIdx) {
      const e = items[i]!;
      const checks = await checkCertificate(e, generated.csrs[i]!, platformCa);
      const recorded = await rest.expect<{
        items: { serial: string; caId: string; revokedAt: number | null }[];
      }>(200, 'GET', `/v1/devices/${e.deviceId}/certificates`, apiKey);
      const record = recorded.items.find((c) => c.serial === e.certificateSerial.toLowerCase());
      let crl = record ? crls.get(record.caId) : undefined;
      if (record && crl === undefined) {
        crl = (await rest.call('GET', `/v1/pki/crl/${record.caId}`)).text;
        crls.set(record.caId, crl);
      }
      const openssl = opensslVerify(dir, `cert${i}`, e, platformCa, crl ?? '');
      sampled.push({
        index: i,
        ...checks,
        recordedByServer: record !== undefined && record.revokedAt === null,
        opensslVerify: openssl.ok,
        ...(openssl.ok ? {} : { opensslOutput: openssl.output.slice(0, 300) }),
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // Every check true; opensslVerify may be null (openssl not installed: the @peculiar/x509 checks stand).
  const sampleOk = sampled.every((c) =>
    Object.entries(c).every(
      ([k, v]) =>
        k === 'index' || k === 'opensslOutput' || v === true || (k === 'opensslVerify' && v === null),
    ),
  );
  const verification = {
    manifestDevices: manifest.devices,
    certificates: complete,
    distinctCertificateSerials: new Set(items.map((e) => e.certificateSerial)).size,
    distinctDeviceIds: new Set(items.map((e) => e.deviceId)).size,
    sampled,
    ok: false,
  };
  verification.ok =
    manifest.devices === n &&
    complete === n &&
    verification.distinctCertificateSerials === n &&
    verification.distinctDeviceIds === n &&
    sampleOk;
  if (!verification.ok) log(`BULK PROVISIONING VERIFICATION FAILED: ${JSON.stringify(verification)}`);
  const kb = (v: number | undefined) => (v === undefined ? null : round(v / 1024, 1));

  return {
    manifest,
    keys: generated.keys,
    notes: contentionNotes('bulk provisioning', cpu),
    result: {
      measures:
        `One POST /v1/provisioning/batches (tenant API key) with ${n} serials, each with its own CSR ` +
        '(ECDSA P-256, SHA-256, generated before timing); timed from sending the request to the whole ' +
        'JSON manifest received and parsed; devicesPerSec = devices / seconds. MB = 2^20 bytes.',
      devicesPerSec: Math.round(n / seconds),
      devices: n,
      seconds: round(seconds, 2),
      msPerDevice: round((seconds * 1000) / n, 2),
      /** Server CPU (all threads) per device: comparable across runs with different contention. */
      serverCpuMsPerDevice:
        cpu.serverCpuPct === null ? null : round((cpu.serverCpuPct * seconds * 10) / n, 2),
      requestMb: mb(requestBytes),
      responseMb: mb(Buffer.byteLength(r.text)),
      csrGeneration: {
        ms: generated.ms,
        how: 'WebCrypto ECDSA P-256 keys + @peculiar/x509 Pkcs10CertificateRequestGenerator, 32 in flight, in the orchestrator, before the timed request',
      },
      verification,
      /** GET /healthz (event loop) and /readyz (a store round trip) every 250 ms during the request. */
      probesDuringBatchMs: { healthz, readyz },
      serverRssMb: {
        before: kb(rssBefore?.rssKb),
        after: kb(rssAfter?.rssKb),
        /** VmHWM after the batch: the process's peak so far (it includes the MQTT phases). */
        hwmAfter: kb(rssAfter?.hwmKb),
      },
      cpu,
    },
  };
}

/**
 * Accept/refuse controls for the handshake criterion, then the handshake load from the load generator
 * under TLS 1.2 and TLS 1.3, with certificate 0 of the factory batch.
 */
async function mtlsHandshakes(
  rest: Rest,
  apiKey: string,
  load: LoadGenerator,
  server: ServerProcess,
  ca: string,
  manifest: Manifest,
  keys: string[],
) {
  const port = server.ready.mqttMtlsPort;
  const device = manifest.items[0]!;
  const revoked = manifest.items[1]!;
  const client = { port, ca, key: keys[0]!, cert: device.certificate + device.chain };
  const versions: TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];

  // Controls: the valid certificate is counted, a revoked one (CRL) and a foreign one are not.
  log('mtls: controls (a valid, a revoked and a foreign certificate, TLS 1.2 and 1.3)');
  await rest.expect(204, 'POST', `/v1/certificates/${revoked.certificateSerial}/revoke`, apiKey, {
    reason: 'bench: refusal control',
  });
  const foreign = await foreignCertificate();
  const contexts = {
    valid: clientContext(client),
    revoked: clientContext({ ...client, key: keys[1]!, cert: revoked.certificate + revoked.chain }),
    foreign: clientContext({ ...client, ...foreign }),
  };
  const controls: Record<string, Record<string, string>> = {};
  for (const [name, context] of Object.entries(contexts)) {
    controls[name] = {};
    for (const v of versions) {
      const o = await handshake(port, context, v).outcome;
      controls[name][v] = o.accepted ? 'accepted' : `refused (${o.reason ?? '?'})`;
    }
  }
  const controlsOk = versions.every(
    (v) =>
      controls.valid?.[v] === 'accepted' &&
      controls.revoked?.[v] !== 'accepted' &&
      controls.foreign?.[v] !== 'accepted',
  );
  if (!controlsOk) throw new Error(`mtls: the accept/refuse controls failed: ${JSON.stringify(controls)}`);

  const runs: Partial<Record<TlsVersion, { r: MtlsResult; cpu: PhaseLoad }>> = {};
  for (const v of versions) {
    log(
      `mtls: ${v} handshakes, ${PARAMS.mtlsConcurrency} in flight, ` +
        `${PARAMS.mtlsWarmupSeconds} s warm-up + ${PARAMS.mtlsDurationSeconds} s`,
    );
    const done = meter(load, server, { profile: `mtls-${v}` });
    const r = await load.request(
      {
        type: 'mtls',
        version: v,
        concurrency: PARAMS.mtlsConcurrency,
        warmupMs: PARAMS.mtlsWarmupSeconds * 1000,
        durationMs: PARAMS.mtlsDurationSeconds * 1000,
        ...client,
      },
      'mtls',
      (PARAMS.mtlsWarmupSeconds + PARAMS.mtlsDurationSeconds) * 1000 + 30_000,
    );
    runs[v] = { r, cpu: await done() };
    log(`mtls: ${v} ${r.handshakesPerSec} handshakes/s, p50 ${r.handshakeMs.p50} ms, refused ${r.refused}`);
  }
  const run = (v: TlsVersion) => {
    const x = runs[v]!;
    return {
      handshakesPerSec: x.r.handshakesPerSec,
      acceptedInWindow: x.r.acceptedInWindow,
      windowMs: x.r.windowMs,
      handshakeMs: latencySummary(x.r.handshakeMs),
      /** Server CPU (all threads) per accepted handshake: comparable across runs with different contention. */
      serverCpuMsPerHandshake:
        x.cpu.serverCpuPct === null || x.r.acceptedInWindow === 0
          ? null
          : round((x.cpu.serverCpuPct * x.r.windowMs) / 100 / x.r.acceptedInWindow, 2),
      refused: x.r.refused,
      ...(x.r.refused ? { refusedReasons: x.r.refusedReasons } : {}),
      cpu: x.cpu,
    };
  };
  const notes = versions.flatMap((v) => [
    ...contentionNotes(`mtls ${v}`, runs[v]!.cpu),
    ...(runs[v]!.r.refused
      ? [
          `mtls ${v}: ${runs[v]!.r.refused} handshake(s) with the valid certificate did not complete as accepted.`,
        ]
      : []),
  ]);
  return {
    notes,
    result: {
      measures:
        'Full mutual-TLS handshakes per second (no session resumption) on the MQTT mTLS port with one ' +
        'device certificate of the batch (ECDSA P-256 leaf + issuing CA + root; the server checks the ' +
        'chain and the CRLs), from the load generator process, closed loop with a fixed number of ' +
        'handshakes in flight. A handshake counts when it completed (TLS 1.2: secureConnect; TLS 1.3: ' +
        'the first NewSessionTicket, which the server sends after reading the client certificate) and ' +
        `the server had not closed the socket ${HOLD_MS} ms later: Node's server finishes the TLS ` +
        'handshake and only then refuses a bad certificate by closing, so completion alone does not ' +
        'prove acceptance. The socket is then destroyed, before any MQTT CONNECT; the client moves on ' +
        'at completion, not after the hold. The controls check the criterion.',
      tls12: runs['TLSv1.2']!.r.handshakesPerSec,
      tls13: runs['TLSv1.3']!.r.handshakesPerSec,
      concurrency: PARAMS.mtlsConcurrency,
      windowSeconds: PARAMS.mtlsDurationSeconds,
      tls12Run: run('TLSv1.2'),
      tls13Run: run('TLSv1.3'),
      controls: { ...controls, revokedCertificate: 'batch item 1, revoked through REST just before' },
    },
  };
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'mooring-bench-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
  report.set({ date: new Date().toISOString(), ...(ONLY ? { only: ONLY } : {}), machine: machine() });

  const serverEnv = {
    ...process.env,
    MOORING_DATA_DIR: dataDir,
    MOORING_DATABASE_URL: '',
    MOORING_HTTP_HOST: '127.0.0.1',
    MOORING_HTTP_PORT: '0',
    MOORING_MQTT_HOST: '127.0.0.1',
    MOORING_MQTT_PORT: '0',
    MOORING_LOG_LEVEL: 'warn',
    MOORING_DEV_INSECURE_MQTT: 'false',
    MOORING_TELEMETRY_BATCH_MAX_ROWS: String(PARAMS.telemetryBatchMaxRows),
    MOORING_CONFIG_FILE: '',
    // The webhooks phase's receiver and the bridge phase's broker listen on loopback, which outbound
    // requests and connections may not reach otherwise.
    MOORING_OUTBOUND_ALLOW_LIST: '127.0.0.1/32',
    // Every load generator runs on loopback with few credentials: the REST limits (per address, per
    // credential) would measure themselves rather than the server.
    MOORING_LIMIT_REST_REQUESTS_PER_ADDRESS: String(Number.MAX_SAFE_INTEGER),
    MOORING_LIMIT_REST_REQUESTS_PER_KEY: String(Number.MAX_SAFE_INTEGER),
    // Likewise every MQTT connection comes from 127.0.0.1 (hundreds of handshakes in flight in the
    // connect and mutual-TLS phases), and reconnect phases reuse client ids.
    MOORING_LIMIT_MQTT_PENDING_CONNECTIONS_PER_ADDRESS: String(Number.MAX_SAFE_INTEGER),
    MOORING_LIMIT_MQTT_CONNECTS_PER_CLIENT_ID: String(Number.MAX_SAFE_INTEGER),
    // The command, configuration and webhook phases send as fast as the server takes them, to few
    // devices and one tenant.
    MOORING_LIMIT_COMMANDS_CREATED_PER_DEVICE: String(Number.MAX_SAFE_INTEGER),
    MOORING_LIMIT_CONFIG_WRITES_PER_DEVICE: String(Number.MAX_SAFE_INTEGER),
    MOORING_LIMIT_WEBHOOKS_DELIVERIES_PER_TENANT: String(Number.MAX_SAFE_INTEGER),
  };
  const nodeFlags = (process.env.BENCH_SERVER_NODE_FLAGS ?? '').split(' ').filter(Boolean);

  // The first start of a fresh data dir runs PGlite's initdb, whose WebAssembly instance stays resident
  // for a while (≈ +450 MB RSS). The measured server is a restart on that dir, like any later start;
  // the first start's RSS is reported separately.
  const { server, firstStartRss } = await report.required('server start', 30_000, async () => {
    log(`first start: initialising PGlite in ${dataDir}`);
    const init = await ServerProcess.start(serverEnv, []);
    cleanups.push(() => init.stop());
    const firstStartRss = procMemory(init.pid);
    if (!init.ready.bootstrapCredentialFile)
      throw new Error('the fresh data dir produced no bootstrap credential');
    await init.stop();

    log('starting the measured server on the initialised data dir');
    const server = await ServerProcess.start(serverEnv, nodeFlags);
    cleanups.push(() => server.stop());
    server.onUnexpectedExit = (reason) => void abort(reason, 1);
    return { server, firstStartRss };
  });
  const { ready } = server;
  log(
    `server pid ${ready.pid}: https ${ready.httpPort}, mqtts ${ready.mqttPort}, mqtts-mtls ${ready.mqttMtlsPort}`,
  );
  const ca = readFileSync(ready.caFile, 'utf8');
  const rest = new Rest(ready.httpPort, ca);
  cleanups.push(() => rest.close());

  if (ONLY === 'factory') return factoryOnly(rest, dataDir, server, ca);
  if (ONLY === 'fleet-versions') return fleetVersionsOnly(rest, dataDir, server);
  if (ONLY === 'ota') return otaOnly(rest, dataDir, server, ca);
  if (ONLY === 'webhooks') return webhooksOnly(rest, dataDir, server, ca);
  if (ONLY === 'bridge') return bridgeOnly(rest, dataDir, server, ca);
  if (ONLY === 'slowloris') return slowlorisOnly(server, ca);

  let peakRssKb = 0;
  const rssMb = async () => {
    const mem = procMemory(server.pid);
    const kb = mem ? mem.rssKb : (await server.stats()).memory.rss / 1024;
    peakRssKb = Math.max(peakRssKb, kb, mem?.hwmKb ?? 0);
    return round(kb / 1024, 1);
  };

  const load = new LoadGenerator();
  cleanups.push(() => load.stop());
  const tls: Transport = { kind: 'tls', port: ready.mqttPort, ca };
  const { apiKey, devices, bootstrapSeconds, idleRss, connectMs } = await report.required(
    'bootstrap and connect',
    40_000,
    async () => {
      log(`bootstrap: tenant, API key, ${PARAMS.connections + 1} devices with access keys`);
      const t = performance.now();
      const { apiKey, devices } = await bootstrap(rest, dataDir, PARAMS.connections + 1);
      const bootstrapSeconds = round((performance.now() - t) / 1000, 1);
      await sleep(1_000); // let start-up and bootstrap garbage settle before the idle reading
      const idleRss = await rssMb();
      const targets: Target[] = devices.slice(0, PARAMS.connections).map((d) => ({
        clientId: d.id,
        username: d.id,
        password: d.accessKey,
        topic: `d/${d.id}/telemetry`,
      }));
      const conn = await load.request(
        { type: 'connect', transport: tls, targets, payload: PARAMS.payload, concurrency: 20 },
        'connected',
        90_000,
      );
      log(`${conn.count} TLS device connections in ${conn.ms} ms`);
      return { apiKey, devices, bootstrapSeconds, idleRss, connectMs: conn.ms };
    },
  );
  const loadDevices = devices.slice(0, PARAMS.connections);
  const commandDevice = devices[PARAMS.connections]!;
  const publishWebhook = PARAMS.publishWebhook
    ? await report.required('publish webhook', 30_000, () => setUpPublishWebhook(rest, dataDir, apiKey))
    : undefined;
  report.set({
    params: {
      ...PARAMS,
      store: 'pglite (embedded, temp data dir)',
      transport: 'MQTT 3.1.1 over TLS (127.0.0.1, servername localhost)',
      client: 'bench/client.ts: mqtt-packet + node:tls, one write per connection per tick',
      loadGenerator: 'separate process (bench/loadgen.ts)',
      mtlsClient:
        'bench/mtls.ts in the load generator: node:tls, one client SecureContext, servername localhost',
      bootstrapSeconds,
      tlsConnectMs: connectMs,
    },
  });
  const notes: string[] = [];

  // --- Throughput: closed loop, every message PUBACKed = committed.
  const tp = await report.required(
    'throughput',
    (PARAMS.warmupSeconds + PARAMS.durationSeconds) * 1000 + DRAIN_MS,
    async () => {
      log(
        `throughput: window ${PARAMS.windowPerConnection} × ${PARAMS.connections} connections, ` +
          `${PARAMS.warmupSeconds} s warm-up + ${PARAMS.durationSeconds} s`,
      );
      const b0 = await batchCounters(rest);
      const done = meter(load, server, { profile: 'throughput' });
      const tp = await throughputPhase(load);
      const tpLoad = await done();
      notes.push(...contentionNotes('throughput', tpLoad));
      report.set({
        persistedQos1MsgsPerSec: tp.msgsPerSec,
        throughput: {
          measures:
            'PUBACKs received per second over the measurement window; closed loop with a fixed number of ' +
            'QoS 1 PUBLISHes outstanding per connection. The server PUBACKs only after the group commit holding ' +
            'the message, so acked == persisted.',
          ackedInWindow: tp.ackedInWindow,
          windowMs: tp.windowMs,
          pubackLatencyMsAtSaturation: latencySummary(tp.latencyMs),
          unackedAfterDrain: tp.unacked,
          cpu: tpLoad,
          batches: batchSummary(b0, await batchCounters(rest)),
        },
        notes,
      });
      log(`throughput: ${tp.msgsPerSec} persisted msgs/s`);
      return tp;
    },
  );

  // --- Verification: acked == stored, on a sample of devices and in total.
  await report.optional('verification', 10_000, async () => {
    log('verification: acked == stored, through REST');
    const step = Math.max(1, Math.floor(loadDevices.length / PARAMS.verifySampleDevices));
    const sample = loadDevices.filter((_, i) => i % step === 0).slice(0, PARAMS.verifySampleDevices);
    const counted = await mapLimit(sample, 4, async (d) => ({
      expected: (tp.ackedByClient[d.id] ?? 0) * PARAMS.rowsPerMessage,
      rows: await countRows(rest, apiKey, d.id),
    }));
    const metricsText = (await rest.call('GET', '/metrics')).text;
    const telemetryAccepted = metric(metricsText, 'mooring_messages_in_total', 'kind="telemetry"');
    const verification = {
      sampledDevices: sample.length,
      expectedRows: counted.reduce((n, c) => n + c.expected, 0),
      verifiedRows: counted.reduce((n, c) => n + c.rows, 0),
      devicesMatching: counted.filter((c) => c.rows === c.expected).length,
      ackedMessagesTotal: tp.ackedTotal,
      serverCountedTelemetryMessages: telemetryAccepted,
      ok: false,
    };
    verification.ok =
      verification.devicesMatching === sample.length &&
      telemetryAccepted === tp.ackedTotal &&
      tp.unacked === 0;
    if (!verification.ok) log(`VERIFICATION MISMATCH: ${JSON.stringify(verification)}`);
    report.set({ verification });
  });

  // --- Latency at a fixed offered load (open loop).
  await report.optional(
    'latency',
    (PARAMS.latencyWarmupSeconds + PARAMS.durationSeconds) * 1000 + DRAIN_MS,
    async () => {
      log(`latency: ${PARAMS.latencyOfferedMsgsPerSec} msgs/s offered for ${PARAMS.durationSeconds} s`);
      const b0 = await batchCounters(rest);
      const done = meter(load, server, { profile: 'latency' });
      const lat = await latencyPhase(load);
      const latLoad = await done();
      notes.push(...contentionNotes('latency', latLoad));
      log(
        `latency: p50 ${lat.latencyMs.p50} ms, p99 ${lat.latencyMs.p99} ms, achieved ${lat.achievedMsgsPerSec}/s`,
      );
      report.set({
        pubackLatencyMs: latencySummary(lat.latencyMs),
        offeredMsgsPerSec: lat.offeredMsgsPerSec,
        achievedMsgsPerSec: lat.achievedMsgsPerSec,
        targets: {
          persistedQos1MsgsPerSec: TARGETS.persistedQos1MsgsPerSec,
          pubackP99MsAt5000: TARGETS.pubackP99MsAt5000,
          throughputMet: tp.msgsPerSec >= TARGETS.persistedQos1MsgsPerSec,
          latencyMet:
            lat.latencyMs.p99 <= TARGETS.pubackP99MsAt5000 &&
            lat.achievedMsgsPerSec >= 0.98 * lat.offeredMsgsPerSec &&
            lat.unacked === 0,
        },
        latencyRun: {
          measures:
            'Open loop: a pacer offers a fixed rate round-robin across all connections regardless of acks; ' +
            'latency is from writing the PUBLISH to receiving its PUBACK, for messages sent in the window.',
          sentMsgsPerSec: lat.sentMsgsPerSec,
          unacked: lat.unacked,
          p99BySecondMs: lat.p99BySecondMs,
          maxBySecondMs: lat.maxBySecondMs,
          cpu: latLoad,
          batches: batchSummary(b0, await batchCounters(rest)),
        },
      });
    },
  );

  // --- Commands, with the load connections idle.
  await report.optional('commands', 15_000, async () => {
    log(`commands: ${PARAMS.commandSamples} sequential round trips`);
    const commandRoundTripMs = await commandRoundTrips(
      rest,
      apiKey,
      commandDevice,
      tls,
      PARAMS.commandSamples,
    );
    log(`commands: p50 ${commandRoundTripMs.p50} ms, p99 ${commandRoundTripMs.p99} ms`);
    report.set({ commandRoundTripMs });
  });
  if (publishWebhook) report.set({ publishWebhook: publishWebhookReport(publishWebhook) });
  if (ONLY === 'publish') return { wallSeconds: round((performance.now() - started) / 1000, 1) };

  // --- Authenticated REST requests with an operator API key (auth, grants, guard, one device read).
  const api = await report.optional('authenticated api', (PARAMS.apiSeconds + 4) * 1000, async () => {
    const operatorKey = await rest.expect<{ secret: string }>(201, 'POST', '/v1/api-keys', apiKey, {
      name: 'bench-operator',
      role: 'operator',
    });
    log(`api: GET /v1/devices/{id} with an API key, ${PARAMS.apiLanes} lanes, ${PARAMS.apiSeconds} s`);
    const api = await authenticatedRequests({
      port: server.ready.httpPort,
      ca,
      apiKey: operatorKey.secret,
      path: `/v1/devices/${commandDevice.id}`,
      lanes: PARAMS.apiLanes,
      warmupSeconds: 2,
      durationSeconds: PARAMS.apiSeconds,
      serverPid: server.pid,
    });
    log(`api: ${api.requestsPerSec} req/s, p99 ${api.latencyMs.p99} ms`);
    report.set({ authenticatedApi: authenticatedApiReport(api, undefined) });
    return api;
  });

  const endRss = await rssMb();
  const endMemory = (await server.stats()).memory;
  const mb = (bytes: number) => round(bytes / 1024 ** 2, 1);
  report.set({
    serverRssMb: {
      measures:
        'VmRSS of the server process. idle: restarted on the initialised data dir, after the REST ' +
        'bootstrap, before any MQTT connection; peak: VmHWM over the run; end: after the Mooring phases.',
      firstStartOfFreshDataDir: firstStartRss ? round(firstStartRss.rssKb / 1024, 1) : null,
      idle: idleRss,
      peak: round(peakRssKb / 1024, 1),
      end: endRss,
      // Where the end RSS lives: the V8 heap, vs. buffers and PGlite's WebAssembly memory outside it.
      endBreakdown: {
        v8HeapTotal: mb(endMemory.heapTotal),
        v8HeapUsed: mb(endMemory.heapUsed),
        external: mb(endMemory.external),
        arrayBuffers: mb(endMemory.arrayBuffers),
      },
    },
  });
  await load.request({ type: 'close' }, 'closed', 20_000);

  // --- The same load against Mosquitto.
  if (process.env.BENCH_SKIP_MOSQUITTO === '1')
    report.set({ mosquitto: null, mosquittoReason: 'BENCH_SKIP_MOSQUITTO=1', ratio: null });
  else
    await report.optional('mosquitto', 60_000, async () => {
      log('mosquitto: probing 127.0.0.1:1883');
      const mosquitto = await runMosquitto(load, server);
      if (mosquitto.reason) log(`mosquitto: skipped (${mosquitto.reason})`);
      notes.push(...mosquitto.notes);
      report.set({
        mosquitto: mosquitto.result,
        ...(mosquitto.result ? {} : { mosquittoReason: mosquitto.reason }),
        // Mooring's persisted rate over Mosquitto's acked rate, same client, connections and window.
        ratio: mosquitto.result ? round(tp.msgsPerSec / mosquitto.result.persistedQos1MsgsPerSec, 3) : null,
      });
    });

  // --- Factory bulk provisioning, then mTLS handshakes with one of its certificates. After every phase
  // above, so that their figures (RSS included) are those of a run without these.
  const bulk = await report.optional('bulk provisioning', AFTER_BULK_MS, async () => {
    const bulk = await bulkProvisioning(rest, apiKey, load, server, ca);
    notes.push(...bulk.notes);
    report.set({ bulkProvisioning: bulk.result });
    return bulk;
  });
  if (bulk)
    await report.optional('mtls handshakes', (PARAMS.mtlsDurationSeconds * 2 + 10) * 1000, async () => {
      const mtls = await mtlsHandshakes(rest, apiKey, load, server, ca, bulk.manifest, bulk.keys);
      notes.push(...mtls.notes);
      report.set({ mtlsHandshakesPerSec: mtls.result });
    });

  // --- A simulated fleet: N devices provisioning themselves, then holding TLS connections.
  await report.optional('fleet', (PARAMS.fleetSeconds + 60) * 1000, async () => {
    log(
      `fleet: mooring simulate, ${PARAMS.fleetDevices} devices at ${PARAMS.fleetRate} msg/s each, ${PARAMS.fleetSeconds} s`,
    );
    const fleet = await fleetPhase({
      rest,
      apiKey,
      serverPid: server.pid,
      httpPort: server.ready.httpPort,
      mqttPort: server.ready.mqttPort,
      caFile: server.ready.caFile,
      count: PARAMS.fleetDevices,
      rate: PARAMS.fleetRate,
      seconds: PARAMS.fleetSeconds,
      onCleanup: (step) => cleanups.push(step),
    });
    log(
      `fleet: ${fleet.connected}/${fleet.devices} connected, ${fleet.deliveredReadingsPerSec} readings/s delivered, server +${fleet.serverKbPerConnectedDevice} kB/device, simulator ${fleet.simulatorKbPerDevice} kB/device`,
    );
    report.set({
      fleet: {
        measures:
          'mooring simulate in its own process: each device provisions itself (auto-approved batch PT, no CSR) and ' +
          'holds one MQTT/TLS connection with its registration token, sending one reading per message at the ' +
          'given rate. delivered = readings acknowledged per second over the window; server kB per device = ' +
          "growth of the server's RSS peak over its RSS before the phase, per connected device.",
        ...fleet,
      },
    });
  });

  // --- Authenticated REST requests again, on a server using the local PostgreSQL.
  if (api)
    await report.optional('authenticated api (postgres)', (PARAMS.apiSeconds + 20) * 1000, async () => {
      log('api: the same on a second server with the local PostgreSQL');
      const apiPg = await authenticatedRequestsOnPostgres(serverEnv, {
        lanes: PARAMS.apiLanes,
        durationSeconds: PARAMS.apiSeconds,
      });
      log(
        apiPg.result
          ? `api (postgres): ${apiPg.result.requestsPerSec} req/s`
          : `api (postgres): ${apiPg.reason}`,
      );
      report.set({ authenticatedApi: authenticatedApiReport(api, apiPg) });
    });

  // --- Fleet versions: last, because it adds 100,000 device rows to the measured server's store.
  await report.optional('fleet versions', 150_000, async () => {
    report.set({ fleetVersions: await fleetVersions(rest, apiKey, server) });
  });

  // --- OTA: a 1,000-device rollout of a 1 MiB image, on the store the phases above filled.
  await report.optional('ota', OTA_NEEDS_MS, () => ota(rest, apiKey, server, ca));

  // --- Webhooks: last, in a tenant of its own, so that no phase above forwards anything.
  await report.optional('webhooks', WEBHOOKS_NEEDS_MS, async () => {
    report.set({ webhooks: await webhooks(rest, dataDir, server, ca, load) });
  });

  // --- The MQTT bridge: after the webhooks phase, in a tenant of its own, to a mosquitto of its own.
  await report.optional('bridge', BRIDGE_NEEDS_MS, () => bridge(rest, dataDir, server, ca, load));

  // --- Slowloris: a probe client served while slow HTTPS connections are held open.
  await report.optional('slowloris', SLOWLORIS_NEEDS_MS, async () => {
    report.set({ slowloris: await slowloris(server, ca) });
  });

  return { wallSeconds: round((performance.now() - started) / 1000, 1) };
}

const fleetVersions = (rest: Rest, apiKey: string, server: ServerProcess) =>
  fleetVersionsPhase({
    rest,
    apiKey,
    devices: PARAMS.fleetVersionsDevices,
    seed: (tenantId, devices, analyze) => server.seedFleet(tenantId, devices, analyze),
    analyze: PARAMS.fleetVersionsAnalyze,
    meter: () => meterWindow(server),
    listCalls: PARAMS.deviceListCalls,
    log,
  });

const ota = (rest: Rest, apiKey: string, server: ServerProcess, ca: string) =>
  otaPhase({
    rest,
    apiKey,
    ca,
    httpPort: server.ready.httpPort,
    mqttPort: server.ready.mqttPort,
    serverPid: server.pid,
    devices: PARAMS.otaDevices,
    imageBytes: PARAMS.otaImageBytes,
    downloads: PARAMS.otaDownloads,
    clients: PARAMS.otaClients,
    // Within the run's deadline, leaving time for the report and cleanup.
    budgetMs: Math.min(PARAMS.otaBudgetSeconds * 1000, report.remainingMs() - 20_000),
    set: (figures) => report.set(figures),
    ...(PROFILE_DIR
      ? {
          profile: (at: 'start' | 'stop', name: string) =>
            server.send(
              at === 'start'
                ? { type: 'profile-start' }
                : { type: 'profile-stop', file: join(PROFILE_DIR, `${name}.cpuprofile`) },
            ),
        }
      : {}),
    onCleanup: (step) => void cleanups.push(step),
    log,
  });

/** `BENCH_ONLY=ota`: the OTA rollout on a fresh server. */
async function otaOnly(rest: Rest, dataDir: string, server: ServerProcess, ca: string) {
  const { apiKey } = await report.required('bootstrap', 10_000, () => bootstrap(rest, dataDir, 0));
  const phase = await report.required('ota', OTA_NEEDS_MS, () => ota(rest, apiKey, server, ca));
  return { ota: phase, wallSeconds: round((performance.now() - started) / 1000, 1) };
}

const webhooks = (rest: Rest, dataDir: string, server: ServerProcess, ca: string, load: LoadGenerator) =>
  webhooksPhase({
    rest,
    load,
    ca,
    mqttPort: server.ready.mqttPort,
    tenant: (count) => bootstrap(rest, dataDir, count, 'bench-webhooks'),
    devices: PARAMS.webhookDevices,
    rate: PARAMS.webhookRate,
    warmupSeconds: PARAMS.warmupSeconds,
    seconds: PARAMS.webhookSeconds,
    drainMs: 10_000,
    maxDrainMs: Math.max(10_000, Math.min(120_000, report.remainingMs() - 60_000)),
    meter: () => meter(load, server, { profile: 'webhooks' }),
    onCleanup: (step) => void cleanups.push(step),
    log,
  });

/** `BENCH_ONLY=webhooks`: telemetry forwarded to a webhook, on a fresh server. */
async function webhooksOnly(rest: Rest, dataDir: string, server: ServerProcess, ca: string) {
  const load = new LoadGenerator();
  cleanups.push(() => load.stop());
  const phase = await report.required('webhooks', WEBHOOKS_NEEDS_MS, () =>
    webhooks(rest, dataDir, server, ca, load),
  );
  return { webhooks: phase, wallSeconds: round((performance.now() - started) / 1000, 1) };
}

const bridge = (rest: Rest, dataDir: string, server: ServerProcess, ca: string, load: LoadGenerator) =>
  bridgePhase({
    rest,
    load,
    ca,
    mqttPort: server.ready.mqttPort,
    tenant: (count) => bootstrap(rest, dataDir, count, 'bench-bridge'),
    devices: PARAMS.bridgeDevices,
    rate: PARAMS.bridgeRate,
    warmupSeconds: PARAMS.warmupSeconds,
    seconds: PARAMS.bridgeSeconds,
    control: PARAMS.bridgeControl,
    drainMs: 10_000,
    maxDrainMs: Math.max(10_000, Math.min(120_000, report.remainingMs() - 60_000)),
    meter: () => meter(load, server, { profile: 'bridge' }),
    outboxPending: () => server.outboxPending(),
    set: (figures) => report.set(figures),
    onCleanup: (step) => void cleanups.push(step),
    log,
  });

/** `BENCH_ONLY=bridge`: device events forwarded by the MQTT bridge, on a fresh server. */
async function bridgeOnly(rest: Rest, dataDir: string, server: ServerProcess, ca: string) {
  const load = new LoadGenerator();
  cleanups.push(() => load.stop());
  const phase = await report.required('bridge', BRIDGE_NEEDS_MS, () =>
    bridge(rest, dataDir, server, ca, load),
  );
  return { bridge: phase, wallSeconds: round((performance.now() - started) / 1000, 1) };
}

const slowloris = (server: ServerProcess, ca: string) =>
  slowlorisPhase({
    port: server.ready.httpPort,
    ca,
    connections: PARAMS.slowlorisConnections,
    seconds: PARAMS.slowlorisSeconds,
    baselineSeconds: 3,
    log,
  });

/** `BENCH_ONLY=slowloris`: the probe under slow connections, on a fresh server. */
async function slowlorisOnly(server: ServerProcess, ca: string) {
  const phase = await report.required('slowloris', SLOWLORIS_NEEDS_MS, () => slowloris(server, ca));
  return { slowloris: phase, wallSeconds: round((performance.now() - started) / 1000, 1) };
}

interface PublishWebhook {
  mode: 'same' | 'other';
  receiver: BenchReceiver;
  webhookTenant: string;
}

/**
 * BENCH_PUBLISH_WEBHOOK: an active webhook taking telemetry.batch before the publish phases, in the
 * publishing tenant ('same': its telemetry is written for forwarding in the group commit, drained
 * and delivered during the phases) or in a tenant of its own ('other': the publishing tenant forwards
 * nothing).
 */
async function setUpPublishWebhook(rest: Rest, dataDir: string, apiKey: string): Promise<PublishWebhook> {
  const mode = PARAMS.publishWebhook as 'same' | 'other';
  const receiver = await startBenchReceiver();
  cleanups.push(() => receiver.close());
  const key = mode === 'same' ? apiKey : (await bootstrap(rest, dataDir, 0, 'bench-other')).apiKey;
  log(
    `publish webhook: an active webhook taking telemetry.batch in ${mode === 'same' ? 'the publishing tenant' : 'another tenant'}`,
  );
  await createActiveWebhook(rest, key, receiver, ['telemetry.batch']);
  return { mode, receiver, webhookTenant: mode === 'same' ? 'bench' : 'bench-other' };
}

function publishWebhookReport(w: PublishWebhook) {
  return {
    measures:
      'BENCH_PUBLISH_WEBHOOK: the publish phases ran with an active webhook taking telemetry.batch ' +
      (w.mode === 'same'
        ? 'in the publishing tenant (its readings are written for forwarding in the group commit and delivered meanwhile).'
        : 'in another tenant only (the publishing tenant forwards nothing).'),
    mode: w.mode,
    webhookTenant: w.webhookTenant,
    deliveriesByType: w.receiver.deliveries,
    readingsReceived: w.receiver.readings,
  };
}

/** `BENCH_ONLY=fleet-versions`: the distribution query over seeded devices, on a fresh server. */
async function fleetVersionsOnly(rest: Rest, dataDir: string, server: ServerProcess) {
  const { apiKey } = await report.required('bootstrap', 10_000, () => bootstrap(rest, dataDir, 0));
  const phase = await report.required('fleet versions', 150_000, () => fleetVersions(rest, apiKey, server));
  return { fleetVersions: phase, wallSeconds: round((performance.now() - started) / 1000, 1) };
}

function machine() {
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? null,
    memoryGb: round(totalmem() / 1024 ** 3, 1),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

type ApiResult = Awaited<ReturnType<typeof authenticatedRequests>>;
type ApiOnPostgres = Awaited<ReturnType<typeof authenticatedRequestsOnPostgres>>;

function authenticatedApiReport(api: ApiResult, apiPg: ApiOnPostgres | undefined) {
  return {
    measures:
      'GET /v1/devices/{id} with an operator API key: closed-loop lanes on kept-alive HTTPS sockets; every ' +
      'request authenticates the key (SHA-256 digest lookup), resolves its grants and passes the access guard. ' +
      'The client shares the 2 cores with the server.',
    target: 5000,
    embedded: { store: 'pglite', met: api.requestsPerSec >= 5000, ...api },
    postgres: !apiPg
      ? { store: 'postgresql (local)', reason: 'not run' }
      : apiPg.result
        ? { store: 'postgresql (local)', met: apiPg.result.requestsPerSec >= 5000, ...apiPg.result }
        : { store: 'postgresql (local)', reason: apiPg.reason },
  };
}

/** `BENCH_ONLY=factory`: the factory batch on a server that has run nothing else. */
async function factoryOnly(rest: Rest, dataDir: string, server: ServerProcess, ca: string) {
  const { apiKey } = await report.required('bootstrap', 10_000, () => bootstrap(rest, dataDir, 0));
  const load = new LoadGenerator();
  cleanups.push(() => load.stop());
  const bulk = await report.required('bulk provisioning', AFTER_BULK_MS, () =>
    bulkProvisioning(rest, apiKey, load, server, ca),
  );
  return {
    bulkProvisioning: bulk.result,
    notes: bulk.notes,
    wallSeconds: round((performance.now() - started) / 1000, 1),
  };
}

const watchdog = setTimeout(() => {
  void abort(`did not finish within ${DEADLINE_MS / 1000} s; stopped`, 1);
}, DEADLINE_MS);
process.once('SIGINT', () => void abort('interrupted', 130));
// Whatever goes wrong, the children and the data dir still go.
process.on('uncaughtException', (err) => void abort(`uncaught: ${err.stack ?? err.message}`, 1));
process.on('unhandledRejection', (err) => void abort(`unhandled rejection: ${String(err)}`, 1));
process.once('SIGTERM', () => void abort('terminated', 143));

try {
  const result = report.complete(await main());
  await cleanup();
  clearTimeout(watchdog);
  printReport(result);
} catch (err) {
  clearTimeout(watchdog);
  await abort(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, 1);
}
