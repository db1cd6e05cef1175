/**
 * The server under test, as its own process so that its CPU and memory are its own: loads the
 * configuration from the environment the orchestrator sets (temp data dir, port 0, PGlite), starts the
 * platform and prints one `{"benchServer": …}` line on stdout. It stops gracefully on SIGTERM, SIGINT or
 * when the orchestrator's IPC channel goes away (so a crashed orchestrator leaves no server behind), and
 * answers `{type:'stats'}` over IPC with its event-loop utilisation and memory (and `{type:'outbox'}` with
 * the outbox facts not yet handed on); it can also CPU-profile one measured window at a time.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { loadConfig, startPlatform, type Config } from '../src/index.js';
import { seedFleetVersions } from './fleet-versions.js';

export interface ServerReady {
  pid: number;
  httpPort: number;
  mqttPort: number;
  /** MQTT over mutual TLS (client certificates), for the handshake measurement. */
  mqttMtlsPort: number;
  caFile: string;
  dataDir: string;
  bootstrapCredentialFile: string | null;
}

export interface ServerStats {
  type: 'stats';
  /** Cumulative event-loop utilisation since start; the orchestrator diffs two readings. */
  elu: { idle: number; active: number };
  memory: NodeJS.MemoryUsage;
  /**
   * The longest times the event loop was held at once since the previous reading (ms, longest first,
   * at most 5): what every client of the server waited at worst, seen from inside the server.
   */
  loopStallsMs: number[];
}

/** Orchestrator → server over IPC. */
export type ServerCommand =
  | { type: 'stats' }
  /** CPU-profile one phase (BENCH_SERVER_CPU_PROF): start, then stop writing `<dir>/<name>.cpuprofile`. */
  | { type: 'profile-start' }
  | { type: 'profile-stop'; file: string }
  /**
   * Writes `devices` device rows with firmware into the tenant (the fleet-versions phase), then
   * analyses the table when `analyze`; answers `seeded`.
   */
  | { type: 'seed-fleet'; tenantId: string; devices: number; analyze: boolean }
  /** Counts the outbox facts not handed on yet, by type (the bridge phase's backlog); answers `outbox`. */
  | { type: 'outbox'; id: number };

/** Server → orchestrator: the outbox facts not done yet, by type. */
export interface OutboxAnswer {
  type: 'outbox';
  /** The request's. */
  id: number;
  pending?: Record<string, number>;
  error?: string;
}

/** Server → orchestrator: the seed is committed. */
export interface SeedAnswer {
  type: 'seeded';
  ms?: number;
  error?: string;
}

const loaded = loadConfig(process.env);
// Every listener on an ephemeral port, including listeners added after this benchmark was written
// (a fixed default port could collide with a service on the machine, e.g. Mosquitto on 1883).
const config: Config = {
  ...loaded,
  ...Object.fromEntries(
    Object.keys(loaded)
      .filter((k) => k.endsWith('Port'))
      .map((k) => [k, 0]),
  ),
};
const platform = await startPlatform(config);

let stopping = false;
async function stop(code: number) {
  if (stopping) return;
  stopping = true;
  try {
    await platform.stop();
  } catch (err) {
    console.error('bench server: stop failed', err);
    code = 1;
  }
  // process.exit (not a hard kill) lets --cpu-prof write its profile.
  process.exit(code);
}

process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
process.on('disconnect', () => void stop(0));
// A 10 ms timer that notes how late it fires: a late tick is the event loop held by something else.
const TICK_MS = 10;
let stalls: number[] = [];
let lastTick = performance.now();
setInterval(() => {
  const t = performance.now();
  const stall = t - lastTick - TICK_MS;
  lastTick = t;
  if (stall < 20) return;
  stalls.push(Math.round(stall));
  if (stalls.length > 50) stalls = stalls.sort((a, b) => b - a).slice(0, 5);
}, TICK_MS).unref();

let profiler: Session | undefined;
process.on('message', (m: ServerCommand) => {
  switch (m.type) {
    case 'stats': {
      const { idle, active } = performance.eventLoopUtilization();
      const reply: ServerStats = {
        type: 'stats',
        elu: { idle, active },
        memory: process.memoryUsage(),
        loopStallsMs: stalls.sort((a, b) => b - a).slice(0, 5),
      };
      stalls = [];
      process.send?.(reply);
      break;
    }
    case 'seed-fleet':
      void seedFleetVersions(platform.db, m.tenantId, m.devices, m.analyze).then(
        (ms) => process.send?.({ type: 'seeded', ms } satisfies SeedAnswer),
        (err: unknown) => process.send?.({ type: 'seeded', error: String(err) } satisfies SeedAnswer),
      );
      break;
    case 'outbox':
      void platform.db
        .query<{ type: string; n: number }>(
          'SELECT type, count(*)::int AS n FROM outbox WHERE done_at IS NULL GROUP BY type',
        )
        .then(
          (rows) =>
            process.send?.({
              type: 'outbox',
              id: m.id,
              pending: Object.fromEntries(rows.map((r) => [r.type, r.n])),
            } satisfies OutboxAnswer),
          (err: unknown) =>
            process.send?.({ type: 'outbox', id: m.id, error: String(err) } satisfies OutboxAnswer),
        );
      break;
    case 'profile-start':
      // The inspector profiles only the measured window, not start-up and bootstrap.
      profiler = new Session();
      profiler.connect();
      void profiler.post('Profiler.enable').then(() => profiler?.post('Profiler.start'));
      break;
    case 'profile-stop': {
      const session = profiler;
      profiler = undefined;
      void session
        ?.post('Profiler.stop')
        .then(({ profile }) => writeFileSync(m.file, JSON.stringify(profile)))
        .catch((err: unknown) => console.error('bench server: profile failed', err))
        .finally(() => session.disconnect());
      break;
    }
  }
});

const ready: ServerReady = {
  pid: process.pid,
  httpPort: platform.httpPort,
  mqttPort: platform.mqttPort,
  mqttMtlsPort: platform.mqttMtlsPort,
  caFile: platform.caFile,
  dataDir: config.dataDir,
  bootstrapCredentialFile: platform.bootstrapCredentialFile,
};
process.stdout.write(`${JSON.stringify({ benchServer: ready })}\n`);
