/**
 * The bulk-job worker on the embedded store: a job is worked through in chunks in id order, resumes
 * where its last committed chunk ended when its worker stops mid-way (a restart: a new service on the
 * same store), never hands a device to its action twice, acts on the snapshot its request took (a
 * device added afterwards is not in it), stays in its tenant, and a chunk whose action fails is undone
 * and fails the job.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalNotifier } from '../../platform/notifier.js';
import type { FactWriter } from '../../platform/outbox.js';
import type { TenantCaller } from '../../platform/caller.js';
import { inTransaction } from '../../store/ambient.js';
import { transactionOf, type Db } from '../../store/db.js';
import { migrate } from '../../store/migrate.js';
import { openTestPglite } from '../../../test/pglite-template.js';
import { bulkJobStore } from './bulk-jobs-store.js';
import { createDeviceBulkJobService, type DeviceBulkJobDeps } from './bulk-jobs.js';

let db: Db;
before(async () => {
  db = await openTestPglite();
  await migrate(db);
  for (const tenant of ['ten_a', 'ten_b'])
    await db.query('INSERT INTO tenants (id, name, created_at) VALUES ($1, $1, 0)', [tenant]);
});
after(async () => {
  await db.close();
});

let n = 0;
async function devices(tenantId: string, count: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `dev_${tag}_${String(++n).padStart(4, '0')}`;
    await db.query(
      `INSERT INTO devices (id, tenant_id, name, tags, metadata, status, created_at, updated_at)
       VALUES ($1, $2, $1, $3, '{}', 'enabled', 0, 0)`,
      [id, tenantId, [tag]],
    );
    ids.push(id);
  }
  return ids;
}

const caller = (tenantId: string): TenantCaller =>
  ({
    tenantId,
    principal: { kind: 'api-key', keyId: 'key_test', tenantId, grants: [] },
  }) as unknown as TenantCaller;

const facts: FactWriter = { add: async () => undefined, addMany: async () => undefined };

function service(seen: string[][], over: Partial<DeviceBulkJobDeps> = {}) {
  return createDeviceBulkJobService({
    store: bulkJobStore(db),
    transaction: transactionOf(db, bulkJobStore),
    bus: createLocalNotifier(),
    outbox: facts,
    revokeCertificates: async () => [],
    parsePatch: (patch) => patch as Record<string, unknown>,
    setDesiredMany: async (tenantId, ids) => {
      seen.push([...ids]);
      const rows = await db.query<{ id: string }>(
        'UPDATE devices SET metadata = \'{"patched":true}\' WHERE tenant_id = $1 AND id = ANY($2::text[]) RETURNING id',
        [tenantId, ids],
      );
      return { changed: rows.map((r) => r.id), skipped: [] };
    },
    nudge: () => undefined,
    chunkSize: 3,
    ...over,
  });
}

const setConfig = (tag: string) => ({
  filter: { tag },
  action: { type: 'setDesiredConfig' as const, patch: { rate: 5 } },
});

test('a job stopped after two chunks resumes where it ended, each device once, on its snapshot only', async () => {
  const ids = await devices('ten_a', 10, 'resume');
  const others = await devices('ten_b', 4, 'resume');
  const seen: string[][] = [];
  const first = service(seen);
  const started = await first.setDesiredConfig(caller('ten_a'), {
    ...setConfig('resume'),
    expectMatched: 10,
  });
  assert.ok('job' in started);
  const late = await devices('ten_a', 1, 'resume'); // after the request: not in its snapshot
  assert.equal(await first.work({ maxChunks: 2 }), true, 'work left');
  const midway = await first.get(caller('ten_a'), started.job.id);
  assert.equal(midway.status, 'running');
  assert.equal(midway.processed, 6);
  assert.equal(midway.changed, 6);
  // The worker "restarts": a new service over the same store picks the job up.
  const second = service(seen);
  assert.equal(await second.work(), false, 'no work left');
  const done = await second.get(caller('ten_a'), started.job.id);
  assert.equal(done.status, 'done');
  assert.deepEqual([done.matched, done.processed, done.changed, done.skipped], [10, 10, 10, 0]);
  assert.ok(done.startedAt !== null && done.finishedAt !== null);
  assert.deepEqual(seen.flat(), ids, 'every device once, in id order');
  assert.deepEqual(
    seen.map((c) => c.length),
    [3, 3, 3, 1],
  );
  const untouched = await db.query<{ id: string }>(
    `SELECT id FROM devices WHERE id = ANY($1::text[]) AND metadata = '{}'`,
    [[...late, ...others]],
  );
  assert.equal(untouched.length, late.length + others.length, 'a later device or another tenant was changed');
  await assert.rejects(second.get(caller('ten_b'), started.job.id), /BULK_JOB_NOT_FOUND|not found/);
  const left = await db.query('SELECT 1 FROM device_bulk_job_devices WHERE job_id = $1', [started.job.id]);
  assert.equal(left.length, 0, 'the snapshot is dropped once done');
});

test('a chunk whose action fails is undone and the job fails with why; a refused count changes nothing', async () => {
  const ids = await devices('ten_a', 5, 'fails');
  const seen: string[][] = [];
  let calls = 0;
  const failing = service(seen, {
    setDesiredMany: async (tenantId, chunk) => {
      if (++calls === 2) {
        await db.query(
          `UPDATE devices SET metadata = '{"half":true}' WHERE tenant_id = $1 AND id = ANY($2::text[])`,
          [tenantId, chunk],
        );
        throw new Error('the store went away');
      }
      seen.push([...chunk]);
      return { changed: [...chunk], skipped: [] };
    },
  });
  await assert.rejects(
    failing.setDesiredConfig(caller('ten_a'), { ...setConfig('fails'), expectMatched: 4 }),
    /matches 5 devices now/,
  );
  assert.equal(
    (await db.query('SELECT 1 FROM device_bulk_jobs WHERE filter @> \'{"tag":"fails"}\'')).length,
    0,
  );
  const started = await failing.setDesiredConfig(caller('ten_a'), setConfig('fails'));
  assert.ok('job' in started);
  await failing.work();
  const job = await failing.get(caller('ten_a'), started.job.id);
  assert.equal(job.status, 'failed');
  assert.match(job.error ?? '', /the store went away/);
  assert.equal(job.processed, 3);
  const half = await db.query(`SELECT 1 FROM devices WHERE id = ANY($1::text[]) AND metadata ? 'half'`, [
    ids,
  ]);
  assert.equal(half.length, 0, 'the failed chunk was not undone');
});

test('the worker is nudged once the request has committed the job, never before, nor for a request rolled back', async () => {
  await devices('ten_a', 2, 'nudge');
  // Whether each nudge came inside a transaction: one on another connection (PostgreSQL) would not
  // see the job yet, find nothing, and leave it to the next period.
  const nudges: boolean[] = [];
  const svc = service([], { nudge: () => nudges.push(inTransaction()) });
  await db.transaction(async () => {
    const started = await svc.setDesiredConfig(caller('ten_a'), setConfig('nudge'));
    assert.ok('job' in started);
    assert.deepEqual(nudges, [], 'nudged before the job was committed');
  });
  assert.deepEqual(nudges, [false]);
  await assert.rejects(
    db.transaction(async () => {
      await svc.revoke(caller('ten_a'), { filter: { tag: 'nudge' }, action: { type: 'revoke' } });
      throw new Error('the request failed after the job was stored');
    }),
    /the request failed/,
  );
  assert.deepEqual(nudges, [false], 'nudged for a job rolled back');
  assert.equal(await svc.work(), false);
});
