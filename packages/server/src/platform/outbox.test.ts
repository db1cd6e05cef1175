/**
 * The outbox on both stores: a fact exists exactly when its transaction commits; each fact reaches
 * its handler, and is done only after the handler succeeded; a failure is retried with its attempts
 * and error recorded; two nodes handing facts on at once never handle one fact both.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { storeBackends } from '../../test/postgres.js';
import { migrate } from '../store/migrate.js';
import type { Db } from '../store/db.js';
import { createOutbox, defaultRetryDelayMs } from './outbox.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface FactRow {
  id: string;
  attempts: number;
  last_error: string | null;
  done: boolean;
  payload: { tenantId: string; deviceId: string };
}

test('retries back off by doubling from 1 s up to 15 minutes', () => {
  assert.deepEqual([1, 2, 3, 4].map(defaultRetryDelayMs), [1000, 2000, 4000, 8000]);
  assert.equal(defaultRetryDelayMs(11), 15 * 60_000);
  assert.equal(defaultRetryDelayMs(1000), 15 * 60_000);
});

for (const [name, open] of storeBackends) {
  describe(`outbox on ${name}`, () => {
    let db: Db;
    let close: () => Promise<void>;
    before(async () => {
      ({ db, close } = await open());
      await migrate(db);
    });
    after(async () => {
      await close();
    });

    const factsOf = (tenantId: string) =>
      db.query<FactRow>(
        `SELECT id::text AS id, attempts, last_error, done_at IS NOT NULL AS done, payload
           FROM outbox WHERE payload->>'tenantId' = $1 ORDER BY id`,
        [tenantId],
      );
    const tenant = () => `ten_${Math.random().toString(36).slice(2, 10)}`;

    test('a fact is written with its transaction and not when it rolls back', async () => {
      const outbox = createOutbox({ db });
      outbox.handle('device.deleted', async () => undefined);
      let nudges = 0;
      outbox.onAdded(() => nudges++);
      const tenantId = tenant();
      await assert.rejects(
        db.transaction(async () => {
          await outbox.add('device.deleted', { tenantId, deviceId: 'dev_rolled_back' });
          throw new Error('the change failed');
        }),
        /the change failed/,
      );
      assert.deepEqual(await factsOf(tenantId), [], 'a rolled-back fact was kept');
      assert.equal(nudges, 0, 'the worker was nudged for a fact that does not exist');

      await db.transaction(async () => {
        await outbox.add('device.deleted', { tenantId, deviceId: 'dev_committed' });
        assert.equal(nudges, 0, 'the worker was nudged before the commit');
      });
      const rows = await factsOf(tenantId);
      assert.equal(rows.length, 1);
      assert.deepEqual(rows[0]!.payload, { tenantId, deviceId: 'dev_committed' });
      assert.equal(rows[0]!.done, false);
      assert.equal(nudges, 1);

      // A fact no handler of this node takes is kept, but wakes nobody here: the worker would claim nothing.
      await db.transaction(async () => {
        await outbox.addMany('deployment.status.changed', [
          {
            tenantId,
            deploymentId: 'dep_x',
            previous: 'active',
            status: 'completed',
            code: 'completed',
            reason: null,
            at: 0,
          },
        ]);
      });
      assert.equal((await factsOf(tenantId)).length, 2);
      assert.equal(nudges, 1, 'the worker was nudged for a fact type it does not handle');
    });

    test('a fact written outside a transaction is refused', async () => {
      const outbox = createOutbox({ db });
      const tenantId = tenant();
      await assert.rejects(outbox.add('device.deleted', { tenantId, deviceId: 'dev_x' }), /transaction/);
      assert.deepEqual(await factsOf(tenantId), []);
    });

    test('a failing handler is retried; the fact is done only after it succeeded', async () => {
      const outbox = createOutbox({ db, retryDelayMs: () => 200 });
      const tenantId = tenant();
      let calls = 0;
      outbox.handle('device.deleted', async (payload, fact) => {
        if (payload.tenantId !== tenantId) return;
        calls++;
        assert.equal(fact.attempt, calls);
        if (calls === 1) throw new Error('the CA is unreachable');
      });
      await db.transaction(() => outbox.add('device.deleted', { tenantId, deviceId: 'dev_retry' }));
      await outbox.deliver();
      let [row] = await factsOf(tenantId);
      assert.equal(row!.done, false, 'a fact whose handler failed was marked done');
      assert.equal(row!.attempts, 1);
      assert.equal(row!.last_error, 'the CA is unreachable');
      await sleep(250);
      await outbox.deliver();
      [row] = await factsOf(tenantId);
      assert.equal(calls, 2);
      assert.equal(row!.done, true);
      assert.equal(row!.attempts, 2);
      assert.equal(row!.last_error, null);
      await outbox.deliver();
      assert.equal(calls, 2, 'a done fact was handed on again');
    });

    test('every handler of a type sees the fact; it is done only once all of them succeeded', async () => {
      const outbox = createOutbox({ db, retryDelayMs: () => 100 });
      const tenantId = tenant();
      const seen: string[] = [];
      let failures = 1;
      outbox.handle('device.deleted', async (payload) => {
        if (payload.tenantId === tenantId) seen.push('revoke');
      });
      outbox.handle('device.deleted', async (payload) => {
        if (payload.tenantId !== tenantId) return;
        seen.push('fan-out');
        if (failures-- > 0) throw new Error('the receiver is down');
      });
      await db.transaction(() => outbox.add('device.deleted', { tenantId, deviceId: 'dev_two' }));
      await outbox.deliver();
      assert.equal((await factsOf(tenantId))[0]!.done, false);
      await sleep(150);
      await outbox.deliver();
      assert.deepEqual(
        seen,
        ['revoke', 'fan-out', 'revoke', 'fan-out'],
        'both ran, in order, again after a failure',
      );
      assert.equal((await factsOf(tenantId))[0]!.done, true);
    });

    test('a failed fact waits for its backoff before the next attempt', async () => {
      const outbox = createOutbox({ db, retryDelayMs: () => 60_000 });
      const tenantId = tenant();
      let calls = 0;
      outbox.handle('device.deleted', async (payload) => {
        if (payload.tenantId !== tenantId) return;
        calls++;
        throw new Error('still down');
      });
      await db.transaction(() => outbox.add('device.deleted', { tenantId, deviceId: 'dev_backoff' }));
      await outbox.deliver();
      await outbox.deliver();
      assert.equal(calls, 1, 'retried before its backoff elapsed');
      // Let other tests' outboxes see it as done.
      await db.query(`UPDATE outbox SET done_at = now() WHERE payload->>'tenantId' = $1`, [tenantId]);
    });

    test('a node started again handles at once the facts its earlier run died with; another node waits for the claim', async () => {
      const tenantId = tenant();
      const writer = createOutbox({ db });
      await db.transaction(() => writer.add('device.deleted', { tenantId, deviceId: 'dev_crash' }));
      // The first run claims the fact and dies in its handler: the handler never returns.
      const first = createOutbox({ db, nodeId: 'node-a' });
      let entered!: () => void;
      const inHandler = new Promise<void>((resolve) => (entered = resolve));
      first.handle('device.deleted', async (p) => {
        if (p.tenantId !== tenantId) return;
        entered();
        await new Promise(() => undefined);
      });
      void first.deliver();
      await inHandler;
      const seen: string[] = [];
      const take = (who: string) => async (p: { tenantId: string }) => {
        if (p.tenantId === tenantId) seen.push(who);
      };
      // Another node (a name that merely starts the same way included) leaves it while the claim lasts.
      for (const nodeId of ['node-b', 'node-aa']) {
        const other = createOutbox({ db, nodeId });
        other.handle('device.deleted', take(nodeId));
        await other.deliver();
      }
      assert.deepEqual(seen, []);
      // The same node, started again, takes it at once instead of a minute later.
      const again = createOutbox({ db, nodeId: 'node-a' });
      again.handle('device.deleted', take('node-a again'));
      await again.deliver();
      assert.deepEqual(seen, ['node-a again']);
      const [fact] = await factsOf(tenantId);
      assert.equal(fact!.done, true);
    });

    test('two nodes handing facts on at once never handle one fact both', async () => {
      const tenantId = tenant();
      const writer = createOutbox({ db });
      const count = 12;
      await db.transaction(async () => {
        for (let i = 0; i < count; i++)
          await writer.add('device.deleted', { tenantId, deviceId: `dev_${i}` });
      });
      const handledBy = new Map<string, string[]>();
      const node = (nodeName: string) => {
        const outbox = createOutbox({ db });
        outbox.handle('device.deleted', async (payload) => {
          if (payload.tenantId !== tenantId) return;
          handledBy.set(payload.deviceId, [...(handledBy.get(payload.deviceId) ?? []), nodeName]);
          await sleep(15);
        });
        return outbox;
      };
      const a = node('a');
      const b = node('b');
      await Promise.all([a.deliver(), b.deliver(), a.deliver(), b.deliver()]);
      assert.equal(handledBy.size, count, 'a fact was not handed on');
      for (const [deviceId, nodes] of handledBy)
        assert.equal(nodes.length, 1, `${deviceId} was handled by ${nodes.join(' and ')}`);
      assert.ok(
        (await factsOf(tenantId)).every((r) => r.done && r.attempts === 1),
        'every fact is done after one attempt',
      );
    });

    test('a fact claimed by a node that died comes due again once its claim lapses', async () => {
      const tenantId = tenant();
      // What a node leaves when it dies while handling a fact: claimed (one attempt, due again when
      // its claim lapses), never marked done. A live node renews its claim while its handler runs.
      await db.query(
        `INSERT INTO outbox (type, payload, attempts, next_attempt_at)
         VALUES ('device.deleted', $1::jsonb, 1, now() + interval '400 milliseconds')`,
        [JSON.stringify({ tenantId, deviceId: 'dev_orphan' })],
      );
      const survivor = createOutbox({ db });
      const handled: string[] = [];
      survivor.handle('device.deleted', async (payload) => {
        if (payload.tenantId === tenantId) handled.push(payload.deviceId);
      });
      await survivor.deliver();
      assert.deepEqual(handled, [], 'a claimed fact was handed on by another node');
      await sleep(500);
      await survivor.deliver();
      assert.deepEqual(handled, ['dev_orphan']);
      const [row] = await factsOf(tenantId);
      assert.equal(row!.done, true);
      assert.equal(row!.attempts, 2);
    });

    test('a handler that runs longer than the claim keeps its fact from other nodes', async () => {
      const tenantId = tenant();
      const writer = createOutbox({ db });
      await db.transaction(() => writer.add('device.deleted', { tenantId, deviceId: 'dev_slow' }));
      const calls: string[] = [];
      const node = (nodeName: string, ms: number) => {
        const outbox = createOutbox({ db, claimMs: 300 });
        outbox.handle('device.deleted', async (payload) => {
          if (payload.tenantId !== tenantId) return;
          calls.push(nodeName);
          await sleep(ms);
        });
        return outbox;
      };
      const slow = node('slow', 900).deliver();
      await sleep(50);
      const other = node('other', 0);
      for (let i = 0; i < 5; i++) {
        await other.deliver();
        await sleep(150);
      }
      await slow;
      assert.deepEqual(calls, ['slow'], 'a fact being handled was taken by another node');
      assert.equal((await factsOf(tenantId))[0]!.done, true);
    });

    /** `n` command.result facts of a new tenant (a type no other test here writes). */
    async function results(n: number, outbox = createOutbox({ db })) {
      const tenantId = tenant();
      await db.transaction(() =>
        outbox.addMany(
          'command.result',
          Array.from({ length: n }, (_, i) => ({
            tenantId,
            deviceId: `dev_${i}`,
            commandId: `cmd_${i}`,
            name: 'reboot',
            status: 'succeeded',
            result: null,
            error: null,
            at: i,
          })),
        ),
      );
      return tenantId;
    }

    test('a batch handler takes the due facts of its type together, in the order they were written', async () => {
      const tenantId = await results(7);
      const outbox = createOutbox({ db });
      const calls: string[][] = [];
      outbox.handleBatch('command.result', async (items) => {
        calls.push(items.filter((i) => i.payload.tenantId === tenantId).map((i) => i.payload.deviceId));
        assert.ok(items.every((i) => i.fact.type === 'command.result' && i.fact.attempt === 1));
      });
      assert.equal(await outbox.deliver(), 7);
      assert.deepEqual(calls, [['dev_0', 'dev_1', 'dev_2', 'dev_3', 'dev_4', 'dev_5', 'dev_6']]);
      assert.ok((await factsOf(tenantId)).every((r) => r.done && r.attempts === 1));
    });

    test('a batch that fails is retried one fact at a time: a fact that always fails holds back no other', async () => {
      const tenantId = await results(5);
      const outbox = createOutbox({ db, retryDelayMs: () => 100 });
      const calls: string[][] = [];
      outbox.handleBatch('command.result', async (items) => {
        const mine = items.filter((i) => i.payload.tenantId === tenantId).map((i) => i.payload.deviceId);
        calls.push(mine);
        if (mine.includes('dev_3')) throw new Error('dev_3 cannot be handed on');
      });
      assert.equal(await outbox.deliver(), 5);
      assert.deepEqual(calls, [['dev_0', 'dev_1', 'dev_2', 'dev_3', 'dev_4']]);
      let rows = await factsOf(tenantId);
      assert.ok(
        rows.every((r) => !r.done && r.attempts === 1 && r.last_error === 'dev_3 cannot be handed on'),
      );
      // After the backoff, one at a time: the others are done, dev_3 waits for its next backoff.
      calls.length = 0;
      await sleep(150);
      assert.equal(await outbox.deliver(), 5);
      assert.deepEqual(calls, [['dev_0'], ['dev_1'], ['dev_2'], ['dev_3'], ['dev_4']]);
      rows = await factsOf(tenantId);
      assert.deepEqual(
        rows.map((r) => [r.payload.deviceId, r.done, r.attempts]),
        [
          ['dev_0', true, 2],
          ['dev_1', true, 2],
          ['dev_2', true, 2],
          ['dev_3', false, 2],
          ['dev_4', true, 2],
        ],
      );
      calls.length = 0;
      await sleep(150);
      await outbox.deliver();
      assert.deepEqual(calls, [['dev_3']], 'it goes on alone');
      await db.query(`UPDATE outbox SET done_at = now() WHERE payload->>'tenantId' = $1`, [tenantId]);
    });

    test('one run hands on at most its maximum, in batches, and lets the event loop run between them', async () => {
      const tenantId = await results(5);
      const outbox = createOutbox({ db, batchSize: 2 });
      const sizes: number[] = [];
      // Turns of the event loop, counted in its check phase (where the run's yield waits too): on
      // PGlite a run's statements resolve as microtasks, so without the yield no turn passes at all.
      let ticks = 0;
      let counting = true;
      const tick = () => {
        ticks++;
        if (counting) setImmediate(tick);
      };
      setImmediate(tick);
      const ticksAtBatch: number[] = [];
      outbox.handleBatch('command.result', async (items) => {
        sizes.push(items.length);
        ticksAtBatch.push(ticks);
      });
      try {
        assert.equal(await outbox.deliver(4), 4);
        assert.deepEqual(sizes, [2, 2]);
        assert.equal(await outbox.deliver(4), 1);
      } finally {
        counting = false;
      }
      assert.ok(ticksAtBatch[1]! > ticksAtBatch[0]!, 'the event loop never turned between two batches');
      assert.equal((await factsOf(tenantId)).filter((r) => r.done).length, 5);
    });

    test('done facts are purged after the time they are kept', async () => {
      const outbox = createOutbox({ db });
      const tenantId = tenant();
      await db.transaction(() => outbox.add('device.deleted', { tenantId, deviceId: 'dev_old' }));
      await db.query(
        `UPDATE outbox SET done_at = now() - interval '2 hours' WHERE payload->>'tenantId' = $1`,
        [tenantId],
      );
      assert.ok((await outbox.purgeDone(3600_000)) >= 1);
      assert.deepEqual(await factsOf(tenantId), []);
    });
  });
}
