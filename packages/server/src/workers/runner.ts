/**
 * The job runner: periodic work, each job once per period across every node that shares the store.
 *
 * A `cluster` job (command expiry, audit retention, outbox delivery) is about the shared data: before
 * running it the runner takes the job's lease in `job_leases` (read `FOR UPDATE SKIP LOCKED` in a short
 * transaction, so two nodes deciding at once never both take it). It is taken only when the job's
 * period has elapsed since its last start by any node and no other node holds a live lease; the lease
 * is renewed while the job runs and given back when it ends, and lapses on its own when its holder
 * dies; a node that starts again after dying gives back at once what its earlier run held. Times are
 * the database's clock, the one clock every node shares.
 *
 * A `node` job (PGlite's CHECKPOINT, reloading this node's mTLS trust) is about this process and runs
 * on every node, without a lease.
 *
 * On every node: a run that is still going when its next period comes is not started twice; a job's
 * error is logged with its name and the runner goes on; `stop` waits for the runs in progress. Timers
 * are unref'd: they never keep the process alive.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../store/db.js';
import { outsideTransaction } from '../store/ambient.js';

export interface Job {
  /** Unique among the jobs; the lease's key for a cluster job. */
  readonly name: string;
  /** The period in milliseconds: the job runs at most once per period (per node for `node` jobs). */
  readonly everyMs: number;
  /** `cluster`: one node at a time, once per period across nodes; `node`: on every node. */
  readonly scope: 'cluster' | 'node';
  /**
   * Nudges within this long of the first one make one run (ms; default 0, at once): a job nudged by
   * every commit under load (the outbox) would otherwise run for a handful of rows at a time, its
   * fixed cost (the lease, the claim) paid each time.
   */
  readonly gatherNudgesMs?: number;
  run(): Promise<void>;
}

export interface JobLogger {
  error(obj: object, msg: string): void;
}

export interface RunnerOptions {
  db: Db;
  /** This node's id; the lease holder is the node id and a random suffix of this runner. */
  nodeId: string;
  jobs: readonly Job[];
  logger: JobLogger;
  /** How long a lease lasts before it must be renewed (ms); a dead holder loses it after this. */
  leaseMs?: number;
}

export interface JobRunner {
  /** Starts each job's timer; the first run comes one period after the start. */
  start(): void;
  /**
   * Runs the job on this node as soon as it can, its period notwithstanding (a cluster job still
   * needs its lease): new work was just committed here. A run in progress is followed by one more.
   */
  nudge(name: string): void;
  /** Tries every job once now (as if each one's period had come); resolves when those runs ended. */
  runDue(): Promise<void>;
  /** Stops the timers and waits for the runs in progress; nothing starts afterwards. */
  stop(): Promise<void>;
}

/** Timers fire a little early or late: a cluster job counts as due within this share of its period. */
const PERIOD_SLACK = 0.05;
const DEFAULT_LEASE_MS = 30_000;

interface JobState {
  job: Job;
  timer?: NodeJS.Timeout | undefined;
  running?: Promise<void> | undefined;
  /** A nudge came while the job was running: run once more when it ends. */
  again: boolean;
  /** Nudges are being gathered: the run starts when this fires. */
  gathering?: NodeJS.Timeout | undefined;
}

export function createJobRunner(options: RunnerOptions): JobRunner {
  const { db, logger } = options;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const holder = `${options.nodeId}:${randomBytes(4).toString('hex')}`;
  const states = new Map<string, JobState>();
  for (const job of options.jobs) {
    if (states.has(job.name)) throw new Error(`two jobs are named ${job.name}`);
    if (!(job.everyMs > 0)) throw new Error(`job ${job.name}: everyMs must be positive`);
    states.set(job.name, { job, again: false });
  }
  let stopped = false;

  /** Takes the job's lease; false when its period has not elapsed or another node holds it. */
  async function takeLease(job: Job, ignorePeriod: boolean): Promise<boolean> {
    const dueAfterMs = ignorePeriod ? 0 : Math.round(job.everyMs * (1 - PERIOD_SLACK));
    return db.transaction(
      async (tx) => {
        await tx.query('INSERT INTO job_leases (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [job.name]);
        // SKIP LOCKED: another node is deciding about this job right now, and will take it if due.
        const [row] = await tx.query<{ free: boolean; due: boolean }>(
          `SELECT (lease_until IS NULL OR lease_until <= now()) AS free,
                  (last_run_at IS NULL OR last_run_at <= now() - $2::double precision * interval '1 millisecond') AS due
             FROM job_leases WHERE name = $1 FOR UPDATE SKIP LOCKED`,
          [job.name, dueAfterMs],
        );
        if (!row?.free || !row.due) return false;
        await tx.query(
          `UPDATE job_leases SET holder = $2, lease_until = now() + $3::double precision * interval '1 millisecond',
             last_run_at = now() WHERE name = $1`,
          [job.name, holder, leaseMs],
        );
        return true;
      },
      { ambient: false },
    );
  }

  async function renewLease(job: Job): Promise<void> {
    await db.query(
      `UPDATE job_leases SET lease_until = now() + $3::double precision * interval '1 millisecond'
        WHERE name = $1 AND holder = $2`,
      [job.name, holder, leaseMs],
    );
  }

  async function releaseLease(job: Job, error: string | null): Promise<void> {
    await db.query(
      `UPDATE job_leases SET lease_until = NULL, last_finished_at = now(), last_error = $3
        WHERE name = $1 AND holder = $2`,
      [job.name, holder, error],
    );
  }

  async function runCluster(job: Job, ignorePeriod: boolean): Promise<void> {
    if (!(await takeLease(job, ignorePeriod))) return;
    const renew = setInterval(() => {
      renewLease(job).catch((err: unknown) =>
        logger.error({ err, job: job.name }, 'renewing a job lease failed'),
      );
    }, leaseMs / 3);
    renew.unref();
    let error: string | null = null;
    try {
      await job.run();
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      throw err;
    } finally {
      clearInterval(renew);
      await releaseLease(job, error).catch((err: unknown) =>
        logger.error({ err, job: job.name }, 'giving back a job lease failed'),
      );
    }
  }

  function attempt(state: JobState, ignorePeriod: boolean): Promise<void> {
    if (stopped) return Promise.resolve();
    if (state.running) {
      if (ignorePeriod) state.again = true;
      return state.running;
    }
    const { job } = state;
    // Scheduled work belongs to no request: it never joins the transaction of whoever nudged it.
    const run = outsideTransaction(() =>
      (job.scope === 'cluster' ? runCluster(job, ignorePeriod) : job.run()).catch((err: unknown) =>
        logger.error({ err, job: job.name }, 'job failed'),
      ),
    );
    state.running = run.finally(() => {
      state.running = undefined;
      if (state.again && !stopped) {
        state.again = false;
        void attempt(state, true);
      }
    });
    return state.running;
  }

  return {
    start() {
      // Leases an earlier run of this node still held when it died (SIGKILL, power loss) are over:
      // the next run need not wait for them to lapse (as presence's resetNode does for sessions).
      void db
        .query(
          `UPDATE job_leases SET lease_until = NULL
            WHERE left(holder, length($1) + 1) = $1 || ':' AND holder <> $2 AND lease_until IS NOT NULL`,
          [options.nodeId, holder],
        )
        .catch((err: unknown) => logger.error({ err }, 'releasing the leases of an earlier run failed'));
      for (const state of states.values()) {
        if (state.timer) continue;
        state.timer = setInterval(() => void attempt(state, false), state.job.everyMs);
        state.timer.unref();
      }
    },
    nudge(name) {
      const state = states.get(name);
      if (!state) throw new Error(`no job named ${name}`);
      const gatherMs = state.job.gatherNudgesMs ?? 0;
      if (gatherMs <= 0) return void attempt(state, true);
      if (state.gathering) return;
      state.gathering = setTimeout(() => {
        state.gathering = undefined;
        void attempt(state, true);
      }, gatherMs);
    },
    async runDue() {
      await Promise.all([...states.values()].map((state) => attempt(state, false)));
    },
    async stop() {
      stopped = true;
      for (const state of states.values()) {
        clearInterval(state.timer);
        clearTimeout(state.gathering);
        state.gathering = undefined;
      }
      // A run may end by starting one more (a nudge): wait until none is left.
      for (;;) {
        const running = [...states.values()].flatMap((s) => (s.running ? [s.running] : []));
        if (running.length === 0) return;
        await Promise.all(running);
      }
    },
  };
}
