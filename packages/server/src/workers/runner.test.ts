/**
 * The job runner on both stores: a cluster job runs on one node per period however many runners share
 * the database, a node job on each; a run is never started twice at once; an error is logged with the
 * job's name and the runner goes on; a dead node's lease lapses; stop waits for the runs in progress.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { storeBackends } from '../../test/postgres.js';
import { migrate } from '../store/migrate.js';
import type { Db } from '../store/db.js';
import { createJobRunner, type Job, type JobLogger } from './runner.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const silent: JobLogger = { error: () => undefined };
let seq = 0;
const uniqueName = (what: string) => `${what}-${++seq}-${Math.random().toString(36).slice(2, 6)}`;

for (const [name, open] of storeBackends) {
  describe(`job runner on ${name}`, () => {
    let db: Db;
    let close: () => Promise<void>;
    before(async () => {
      ({ db, close } = await open());
      await migrate(db);
    });
    after(async () => {
      await close();
    });

    test('two nodes on one database run a cluster job once per period, a node job each', async () => {
      let clusterRuns = 0;
      let nodeRuns = 0;
      const jobs = (): Job[] => [
        {
          name: uniqueName('cluster'),
          everyMs: 60_000,
          scope: 'cluster',
          run: async () => {
            clusterRuns++;
            await sleep(20);
          },
        },
        { name: 'node-local', everyMs: 60_000, scope: 'node', run: async () => void nodeRuns++ },
      ];
      const shared = jobs();
      const a = createJobRunner({ db, nodeId: 'node-a', jobs: shared, logger: silent });
      const b = createJobRunner({
        db,
        nodeId: 'node-b',
        jobs: [shared[0]!, { ...shared[1]! }],
        logger: silent,
      });
      await Promise.all([a.runDue(), b.runDue(), a.runDue(), b.runDue()]);
      assert.equal(clusterRuns, 1, 'the cluster job ran once in its period');
      assert.equal(nodeRuns, 2, 'the node job ran on each node');
      // Its period has not elapsed: neither node runs it again.
      await Promise.all([a.runDue(), b.runDue()]);
      assert.equal(clusterRuns, 1);
      const [lease] = await db.query<{ holder: string; lease_until: Date | null; ran: boolean }>(
        'SELECT holder, lease_until, last_run_at IS NOT NULL AS ran FROM job_leases WHERE name = $1',
        [shared[0]!.name],
      );
      assert.ok(lease?.ran);
      assert.equal(lease?.lease_until, null, 'the lease was given back when the run ended');
      await Promise.all([a.stop(), b.stop()]);
    });

    test('a cluster job runs again on any node once its period has elapsed', async () => {
      let runs = 0;
      const job: Job = {
        name: uniqueName('short'),
        everyMs: 150,
        scope: 'cluster',
        run: async () => void runs++,
      };
      const a = createJobRunner({ db, nodeId: 'node-a', jobs: [job], logger: silent });
      const b = createJobRunner({ db, nodeId: 'node-b', jobs: [job], logger: silent });
      await a.runDue();
      await b.runDue();
      assert.equal(runs, 1);
      await sleep(200);
      await b.runDue();
      await a.runDue();
      assert.equal(runs, 2);
    });

    test('a lease held by a node that died keeps others off until it lapses', async () => {
      let runs = 0;
      const job: Job = {
        name: uniqueName('orphan'),
        everyMs: 10,
        scope: 'cluster',
        run: async () => void runs++,
      };
      await db.query(
        `INSERT INTO job_leases (name, holder, lease_until, last_run_at)
         VALUES ($1, 'dead-node:0000', now() + interval '400 milliseconds', now() - interval '1 hour')`,
        [job.name],
      );
      const runner = createJobRunner({ db, nodeId: 'node-a', jobs: [job], logger: silent });
      await runner.runDue();
      assert.equal(runs, 0, 'the job ran while another node held its lease');
      await sleep(500);
      await runner.runDue();
      assert.equal(runs, 1, 'the lapsed lease was taken over');
    });

    test('a node started again gives back at once the leases its earlier run died holding', async () => {
      let runs = 0;
      const job: Job = {
        name: uniqueName('restarted'),
        everyMs: 10,
        scope: 'cluster',
        run: async () => void runs++,
      };
      await db.query(
        `INSERT INTO job_leases (name, holder, lease_until, last_run_at)
         VALUES ($1, 'node-r:dead', now() + interval '1 hour', now() - interval '1 hour'),
                ($2, 'node-other:live', now() + interval '1 hour', now() - interval '1 hour')`,
        [job.name, `${job.name}-other`],
      );
      const runner = createJobRunner({ db, nodeId: 'node-r', jobs: [job], logger: silent });
      runner.start();
      try {
        for (let i = 0; i < 100 && runs === 0; i++) {
          await runner.runDue();
          if (runs === 0) await sleep(10);
        }
        assert.equal(runs, 1, 'the lease of the earlier run did not keep the restarted node off');
        const [other] = await db.query<{ held: boolean }>(
          'SELECT lease_until > now() AS held FROM job_leases WHERE name = $1',
          [`${job.name}-other`],
        );
        assert.equal(other?.held, true, "another node's lease is left alone");
      } finally {
        await runner.stop();
      }
    });

    test('a run still going is not started again; stop waits for it', async () => {
      let started = 0;
      let finished = 0;
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const job: Job = {
        name: uniqueName('slow'),
        everyMs: 10,
        scope: 'cluster',
        run: async () => {
          started++;
          await gate;
          finished++;
        },
      };
      const runner = createJobRunner({ db, nodeId: 'node-a', jobs: [job], logger: silent });
      runner.start();
      void runner.runDue();
      await sleep(100); // several periods: the timer fired while the first run was held
      assert.equal(started, 1, 'a run overlapped itself');
      let stopped = false;
      const stopping = runner.stop().then(() => (stopped = true));
      await sleep(30);
      assert.equal(stopped, false, 'stop returned while a job was running');
      release();
      await stopping;
      assert.equal(finished, 1);
      assert.equal(started, 1, 'a run started after stop');
    });

    test("a job's error is logged with its name and does not stop the runner", async () => {
      const logged: { obj: object; msg: string }[] = [];
      const logger: JobLogger = { error: (obj, msg) => void logged.push({ obj, msg }) };
      let runs = 0;
      const failing: Job = {
        name: 'failing-node-job',
        everyMs: 10,
        scope: 'node',
        run: async () => {
          runs++;
          throw new Error('boom');
        },
      };
      let others = 0;
      const other: Job = {
        name: uniqueName('other'),
        everyMs: 10,
        scope: 'node',
        run: async () => void others++,
      };
      const runner = createJobRunner({ db, nodeId: 'node-a', jobs: [failing, other], logger });
      await runner.runDue();
      await runner.runDue();
      assert.equal(runs, 2);
      assert.equal(others, 2);
      assert.equal(logged.length, 2);
      assert.equal((logged[0]!.obj as { job?: string }).job, 'failing-node-job');
      await runner.stop();
    });

    test('a nudge runs a cluster job before its period, and once more when it came mid-run', async () => {
      let runs = 0;
      let release!: () => void;
      let gate = new Promise<void>((r) => (release = r));
      const job: Job = {
        name: uniqueName('nudged'),
        everyMs: 60_000,
        scope: 'cluster',
        run: async () => {
          runs++;
          await gate;
        },
      };
      const runner = createJobRunner({ db, nodeId: 'node-a', jobs: [job], logger: silent });
      const first = runner.runDue();
      release();
      await first;
      assert.equal(runs, 1);
      gate = new Promise<void>((r) => (release = r));
      runner.nudge(job.name);
      await sleep(50);
      assert.equal(runs, 2, 'the nudge ran the job within its period');
      runner.nudge(job.name); // mid-run: one more run follows
      runner.nudge(job.name);
      release();
      await sleep(50);
      await runner.stop();
      assert.equal(runs, 3);
    });

    test('nudges within a job’s gathering time make one run; stop drops a gathering not yet started', async () => {
      let runs = 0;
      const job: Job = {
        name: uniqueName('gathered'),
        everyMs: 60_000,
        scope: 'cluster',
        gatherNudgesMs: 80,
        run: async () => void runs++,
      };
      const runner = createJobRunner({ db, nodeId: 'node-a', jobs: [job], logger: silent });
      for (let i = 0; i < 5; i++) {
        runner.nudge(job.name);
        await sleep(5);
      }
      assert.equal(runs, 0, 'the run waits for the nudges to gather');
      await sleep(150);
      assert.equal(runs, 1, 'five nudges made one run');
      runner.nudge(job.name);
      await runner.stop();
      await sleep(150);
      assert.equal(runs, 1, 'a run started after stop');
    });
  });
}
