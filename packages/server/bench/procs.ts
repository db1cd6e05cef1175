/**
 * The two child processes the orchestrator drives: the Mooring server (server.ts) and the load
 * generator (loadgen.ts); plus readings from /proc, which do not depend on a busy event loop answering.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { LoadCommand, LoadReply } from './messages.js';
import type { OutboxAnswer, SeedAnswer, ServerCommand, ServerReady, ServerStats } from './server.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SERVER_FILE = fileURLToPath(new URL('./server.ts', import.meta.url));
const LOADGEN_FILE = fileURLToPath(new URL('./loadgen.ts', import.meta.url));

/** Linux reports CPU time in clock ticks of 1/100 s (USER_HZ) on every mainstream architecture. */
const CLOCK_TICKS_PER_SEC = 100;

/** Resident set size and its high-water mark, in kB, from /proc/<pid>/status (null off Linux). */
export function procMemory(pid: number): { rssKb: number; hwmKb: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return null;
  }
}

/** User + system CPU time of a whole process (all threads), in ms (null off Linux). */
export function procCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses; the fields after its closing ')' start at #3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime (#14) + stime (#15)
    return (ticks / CLOCK_TICKS_PER_SEC) * 1000;
  } catch {
    return null;
  }
}

/** Machine-wide CPU counters from /proc/stat, in clock ticks summed over all cores (null off Linux). */
export function machineCpu(): { busy: number; steal: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    // cpu user nice system idle iowait irq softirq steal …
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line
      .trim()
      .split(/\s+/)
      .slice(1, 9)
      .map(Number);
    const total = user! + nice! + system! + idle! + iowait! + irq! + softirq! + steal!;
    return { busy: total - idle! - iowait!, steal: steal!, total };
  } catch {
    return null;
  }
}

/** The pid of a running process by its command name, for the Mosquitto comparison's CPU reading. */
export function findPid(comm: string): number | null {
  try {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() === comm) return Number(name);
      } catch {
        /* exited meanwhile */
      }
    }
  } catch {
    /* no /proc */
  }
  return null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export class ServerProcess {
  /** Called if the server exits without having been asked to stop. */
  onUnexpectedExit: (reason: string) => void = () => undefined;
  private stopping = false;
  private requests = 0;

  private constructor(
    readonly child: ChildProcess,
    readonly ready: ServerReady,
  ) {
    child.on('exit', (code, signal) => {
      if (!this.stopping)
        this.onUnexpectedExit(`the server exited unexpectedly (code ${code}, signal ${signal})`);
    });
  }

  /** Spawns the server and resolves with its ports once it printed its ready line. */
  static start(env: NodeJS.ProcessEnv, nodeFlags: string[]): Promise<ServerProcess> {
    const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', SERVER_FILE], {
      cwd: REPO_ROOT,
      env,
      // stdout carries the ready line (and pino's warnings, passed on to stderr); IPC carries stats.
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    // Without a listener a failed spawn or IPC send would be an uncaught 'error' event.
    child.on('error', (err) => process.stderr.write(`bench: server process: ${err.message}\n`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error('the server did not report ready within 60 s'));
      }, 60_000);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the server exited before it was ready (code ${code}, signal ${signal})`));
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const ready = line.startsWith('{"benchServer"')
          ? (JSON.parse(line) as { benchServer: ServerReady }).benchServer
          : undefined;
        if (!ready) return void process.stderr.write(`[server] ${line}\n`);
        clearTimeout(timer);
        resolve(new ServerProcess(child, ready));
      });
    });
  }

  get pid(): number {
    return this.ready.pid;
  }

  /** Event-loop utilisation and RSS as the server sees them; answered between its other work. */
  stats(timeoutMs = 10_000): Promise<ServerStats> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.off('message', onMessage);
        reject(new Error('the server did not answer a stats request'));
      }, timeoutMs);
      const onMessage = (m: ServerStats) => {
        if (m.type !== 'stats') return;
        clearTimeout(timer);
        this.child.off('message', onMessage);
        resolve(m);
      };
      this.child.on('message', onMessage);
      this.send({ type: 'stats' });
    });
  }

  /** Asks the server to seed the fleet-versions rows in its own store; resolves with the time taken. */
  seedFleet(tenantId: string, devices: number, analyze: boolean, timeoutMs = 120_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.off('message', onMessage);
        reject(new Error('the server did not finish seeding in time'));
      }, timeoutMs);
      const onMessage = (m: SeedAnswer) => {
        if (m.type !== 'seeded') return;
        clearTimeout(timer);
        this.child.off('message', onMessage);
        if (m.error !== undefined) reject(new Error(`seeding failed: ${m.error}`));
        else resolve(m.ms ?? 0);
      };
      this.child.on('message', onMessage);
      this.send({ type: 'seed-fleet', tenantId, devices, analyze });
    });
  }

  /**
   * The outbox facts the server has not handed on yet, by type, read from its own store. Requests may
   * overlap (a busy server answers late): each answer names its request.
   */
  outboxPending(timeoutMs = 30_000): Promise<Record<string, number>> {
    const id = ++this.requests;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.off('message', onMessage);
        reject(new Error('the server did not answer an outbox request'));
      }, timeoutMs);
      const onMessage = (m: OutboxAnswer) => {
        if (m.type !== 'outbox' || m.id !== id) return;
        clearTimeout(timer);
        this.child.off('message', onMessage);
        if (m.error !== undefined) reject(new Error(`reading the outbox failed: ${m.error}`));
        else resolve(m.pending ?? {});
      };
      this.child.on('message', onMessage);
      this.send({ type: 'outbox', id });
    });
  }

  send(cmd: ServerCommand): void {
    if (this.child.connected) this.child.send(cmd);
  }

  /** Graceful stop (commits everything queued, closes the store); SIGKILL after 20 s. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    if (!(await waitExit(this.child, 20_000))) {
      process.stderr.write('bench: the server did not stop within 20 s; killing it\n');
      this.child.kill('SIGKILL');
      await waitExit(this.child, 5_000);
    }
  }
}

type ReplyOf<T extends LoadReply['type']> = Extract<LoadReply, { type: T }>;

export class LoadGenerator {
  readonly child: ChildProcess;
  /** Called when the load generator enters or leaves a measurement window. */
  onMark: (at: 'start' | 'end') => void = () => undefined;
  private pending: { resolve: (m: LoadReply) => void; reject: (e: Error) => void } | undefined;

  constructor() {
    this.child = fork(LOADGEN_FILE, [], {
      cwd: REPO_ROOT,
      execArgv: ['--import', 'tsx'],
      // Its stdout goes to our stderr: our stdout carries only the final JSON.
      stdio: ['ignore', 2, 'inherit', 'ipc'],
    });
    this.child.on('error', (err) => process.stderr.write(`bench: load generator: ${err.message}\n`));
    this.child.on('message', (m: LoadReply) => {
      if (m.type === 'mark') return this.onMark(m.at);
      const p = this.pending;
      this.pending = undefined;
      if (m.type === 'error') p?.reject(new Error(`load generator: ${m.message}`));
      else p?.resolve(m);
    });
    this.child.on('exit', (code, signal) => {
      this.pending?.reject(new Error(`the load generator exited (code ${code}, signal ${signal})`));
      this.pending = undefined;
    });
  }

  /** Sends one command and resolves with its reply of the expected type. */
  request<T extends LoadReply['type']>(cmd: LoadCommand, expect: T, timeoutMs: number): Promise<ReplyOf<T>> {
    if (this.pending) return Promise.reject(new Error('load generator busy'));
    return new Promise<ReplyOf<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        reject(new Error(`load generator: no reply to '${cmd.type}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending = {
        resolve: (m) => {
          clearTimeout(timer);
          if (m.type === expect) resolve(m as ReplyOf<T>);
          else reject(new Error(`load generator: expected '${expect}', got '${m.type}'`));
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      if (this.child.connected) this.child.send(cmd);
      else this.pending.reject(new Error('the load generator is gone'));
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    // Closing the IPC channel makes it exit by itself; kill if it does not.
    if (this.child.connected) this.child.disconnect();
    if (!(await waitExit(this.child, 5_000))) {
      this.child.kill('SIGKILL');
      await waitExit(this.child, 5_000);
    }
  }
}
