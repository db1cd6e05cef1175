/**
 * Deployments driven through the service and the orchestrator on the store, with an injected clock
 * and devices simulated by their reports: the status rule, the health gate (which a status-only rule
 * would have missed), the emergency stop, per-state timeouts, cancels, retries and the maintenance
 * window. The MQTT and HTTPS paths are covered in test/ota.test.ts.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { storeBackends } from '../../../test/postgres.js';
import { migrate } from '../../store/migrate.js';
import { transactionOf, type Db } from '../../store/db.js';
import { createCursors } from '../../platform/pagination.js';
import { createSecretBox } from '../../platform/secret-box.js';
import { createLocalNotifier } from '../../platform/notifier.js';
import { createOutbox } from '../../platform/outbox.js';
import { isAppError } from '../../errors.js';
import { createTenancyService } from '../tenancy/service.js';
import { tenancyStore } from '../tenancy/store.js';
import { createArtifactService } from '../artifacts/service.js';
import { artifactStore } from '../artifacts/store.js';
import { chunkStorage } from '../artifacts/chunk-storage.js';
import type { AuditEvent } from '../audit/audit.js';
import type { DeploymentCreate } from './deployments.js';
import { createDeploymentServices } from './service.js';
import { deploymentStore } from './store.js';
import { createOrchestrator } from './orchestrator.js';

const platform = { tenantId: '', principal: { kind: 'platform-admin' as const, userId: 'usr_admin' } };
const HOUR = 3600_000;

async function* once(bytes: Buffer) {
  yield bytes;
}

/** A tenant with `n` devices running 1.0.0 on hardware `hw`, an artifact 2.0.0, and the services. */
async function setup(db: Db, n: number, name: string) {
  const tenant = await createTenancyService({ store: tenancyStore(db) }).createTenant(
    platform,
    `${name}-${randomBytes(3).toString('hex')}`,
  );
  const caller = {
    tenantId: tenant.id,
    principal: { kind: 'user' as const, userId: 'usr_op', tenantId: tenant.id, grants: [] },
  };
  const artifacts = createArtifactService({
    store: artifactStore(db),
    transaction: transactionOf(db, artifactStore),
    storage: chunkStorage(db),
    box: createSecretBox(randomBytes(32)),
    cursors: createCursors(randomBytes(32)),
    maxBytes: 1 << 20,
    mayDownload: async () => true,
    deployedIn: (tenantId, artifactId) => deploymentStore(db).runningOf(tenantId, artifactId),
  });
  const artifact = await artifacts.upload(
    caller,
    { version: '2.0.0', hardwareClass: 'hw', sequence: 2 },
    once(randomBytes(100)),
  );
  const t0 = Date.UTC(2026, 11, 7, 14, 0, 0);
  await db.query(
    `INSERT INTO devices (id, tenant_id, name, created_at, updated_at, connected, firmware_version, hardware_class,
                          fw_major, fw_minor, fw_patch, fw_pre)
     SELECT $1 || lpad(i::text, 5, '0'), $2, 'd' || i, $3, $3, true, '1.0.0', 'hw', 1, 0, 0, '~'
       FROM generate_series(1, $4) AS i`,
    [`dev_${name}_`, tenant.id, t0, n],
  );
  const clock = { now: t0 };
  const audits: AuditEvent[] = [];
  const store = deploymentStore(db);
  const outbox = createOutbox({ db });
  const bus = createLocalNotifier();
  const { deployments, ota, effects } = createDeploymentServices({
    store,
    transaction: transactionOf(db, deploymentStore),
    outbox,
    bus,
    cursors: createCursors(randomBytes(32)),
    audit: (e) => audits.push(e),
    nudge: () => undefined,
    now: () => clock.now,
    artifact: async (c, id) => {
      const a = await artifacts.get(c, id);
      return { ...a.manifest, id: a.id, signature: a.signature, keyId: a.keyId };
    },
  });
  const orchestrator = createOrchestrator({
    store,
    transaction: transactionOf(db, deploymentStore),
    effects,
    now: () => clock.now,
  });
  const device = (deviceId: string) => ({ tenantId: tenant.id, deviceId });
  /** The devices holding an offer now, with its operation and attempt. */
  async function offered(deploymentId: string) {
    return db.query<{ device_id: string; operation_id: string; attempt: number }>(
      `SELECT device_id, operation_id, attempt FROM deployment_devices WHERE deployment_id = $1 AND state = 'offered' ORDER BY rank`,
      [deploymentId],
    );
  }
  /** A device walks an offer through to the end: succeeded with 2.0.0, or failed at install. */
  async function walk(
    op: { device_id: string; operation_id: string; attempt: number },
    outcome: 'succeed' | 'fail',
  ) {
    const d = device(op.device_id);
    const r = (state: string, extra: object = {}) =>
      ota.report(d, op.operation_id, { attempt: op.attempt, state, ...extra } as never);
    await r('accepted');
    await r('downloading', { progress: 50 });
    await r('downloaded');
    await r('installing');
    if (outcome === 'fail') return r('failed', { code: 'FLASH_ERROR', reason: 'write failed' });
    await r('rebooting');
    return r('succeeded', { version: '2.0.0' });
  }
  async function connects(deviceId: string, times: number) {
    for (let i = 0; i < times; i++)
      await db.query(
        `INSERT INTO presence_events (tenant_id, device_id, at, event) VALUES ($1, $2, $3, 'connected')`,
        [tenant.id, deviceId, clock.now + i],
      );
  }
  const create = (input: Omit<DeploymentCreate, 'artifactId'>) =>
    deployments.create(caller, { artifactId: artifact.id, ...input });
  return {
    tenant,
    caller,
    artifact,
    artifacts,
    deployments,
    ota,
    orchestrator,
    clock,
    audits,
    offered,
    walk,
    connects,
    create,
    device,
    db,
  };
}

for (const [name, open] of storeBackends) {
  describe(`deployments on ${name}`, () => {
    let db: Db;
    let close: () => Promise<void>;
    before(async () => {
      ({ db, close } = await open());
      await migrate(db);
    });
    after(async () => close());

    test('status rule: 10 % install failures abort at 5 % after 20 executions, before 50 ran', async () => {
      const s = await setup(db, 1000, `st${name.slice(0, 2)}`);
      const dep = await s.create({
        target: {},
        phases: [{ percent: 10, soakSeconds: 0 }, { percent: 100 }],
        statusRule: { failurePercent: 5, minExecutions: 20 },
        healthGate: { enabled: false },
        retries: { max: 0 },
      });
      assert.equal(dep.total, 1000);
      assert.equal(dep.phases[0]!.devices, 100);
      await s.orchestrator.tick();
      const ops = await s.offered(dep.id);
      assert.equal(ops.length, 100, 'the first phase is offered in one pass');
      let i = 0;
      for (const op of ops) {
        const now = await s.deployments.get(s.caller, dep.id);
        if (now.status !== 'active') break;
        // Every tenth install fails: 10 %.
        await s.walk(op, ++i % 10 === 0 ? 'fail' : 'succeed').catch((e: unknown) => {
          if (!(isAppError(e) && e.code === 'OTA_OPERATION_NOT_OPEN')) throw e;
        });
      }
      const after = await s.deployments.get(s.caller, dep.id);
      assert.equal(after.status, 'aborted');
      assert.equal(after.statusCode, 'status_rule');
      assert.ok(after.executions < 50, `aborted after ${after.executions} executions`);
      assert.ok(after.executions >= 20);
      assert.ok((after.counts.cancelled ?? 0) > 900, 'the queued and offered devices were cancelled');
      assert.ok(
        s.audits.some(
          (a) => a.action === 'deployments.aborted' && a.target === dep.id && a.actor === 'system:ota',
        ),
      );
      assert.equal((await s.orchestrator.tick()).offered, 0, 'an aborted deployment offers nothing more');
    });

    test('health gate: 8 % reboot-looping after success pause it before phase 2, where a status rule passes', async () => {
      const s = await setup(db, 1000, `hg${name.slice(0, 2)}`);
      const dep = await s.create({
        target: {},
        phases: [{ percent: 5, soakSeconds: 600 }, { percent: 50, soakSeconds: 600 }, { percent: 100 }],
        statusRule: { failurePercent: 5, minExecutions: 20 },
        healthGate: { marginPercent: 5, minSample: 20, windowSeconds: 3600, maxReboots: 2 },
      });
      await s.orchestrator.tick();
      const ops = await s.offered(dep.id);
      assert.equal(ops.length, 50);
      let i = 0;
      for (const op of ops) {
        await s.walk(op, 'succeed');
        // One in twelve (8 %) reports success and then reboots over and over.
        if (++i % 12 === 0) await s.connects(op.device_id, 5);
      }
      s.clock.now += 10_000;
      await s.orchestrator.tick();
      s.clock.now += 601_000;
      await s.orchestrator.tick();
      const paused = await s.deployments.get(s.caller, dep.id);
      assert.equal(paused.status, 'paused', JSON.stringify(paused.health));
      assert.equal(paused.statusCode, 'health_gate');
      assert.equal(paused.currentPhase, 0, 'paused before phase 2');
      assert.ok((paused.counts.succeeded ?? 0) <= 60);
      assert.equal(paused.health?.verdict, 'fail');
      assert.equal(paused.health?.updated.rebooting, 4);
      // The status rule saw only successes: alone, it would have let phase 2 start.
      assert.equal(paused.failures, 0);
      assert.equal(paused.executions, 50);
      s.clock.now += HOUR;
      assert.equal((await s.orchestrator.tick()).offered, 0, 'a paused deployment offers nothing');
      assert.ok(s.audits.some((a) => a.action === 'deployments.paused' && a.target === dep.id));
    });

    test('a healthy deployment walks its phases after each soak and completes', async () => {
      const s = await setup(db, 40, `ok${name.slice(0, 2)}`);
      const dep = await s.create({
        target: {},
        phases: [{ percent: 25, soakSeconds: 60 }, { percent: 100 }],
        healthGate: { minSample: 5 },
      });
      await s.orchestrator.tick();
      for (const op of await s.offered(dep.id)) await s.walk(op, 'succeed');
      await s.orchestrator.tick();
      let d = await s.deployments.get(s.caller, dep.id);
      assert.equal(d.currentPhase, 0);
      assert.ok(d.soakUntil !== null && d.soakUntil > s.clock.now, 'the soak started');
      s.clock.now += 30_000;
      assert.equal((await s.orchestrator.tick()).offered, 0, 'nothing is offered during the soak');
      s.clock.now += 31_000;
      assert.equal((await s.orchestrator.tick()).offered, 30);
      d = await s.deployments.get(s.caller, dep.id);
      assert.equal(d.currentPhase, 1);
      assert.equal(d.health?.verdict, 'pass');
      await assert.rejects(
        s.artifacts.delete(s.caller, s.artifact.id),
        (e: unknown) => isAppError(e) && e.code === 'ARTIFACT_IN_USE',
        'an artifact being rolled out cannot be deleted',
      );
      for (const op of await s.offered(dep.id)) await s.walk(op, 'succeed');
      await s.orchestrator.tick();
      d = await s.deployments.get(s.caller, dep.id);
      assert.equal(d.status, 'completed');
      await s.artifacts.delete(s.caller, s.artifact.id);
      assert.equal(d.counts.succeeded, 40);
      assert.equal(d.executions, 40);
    });

    test('emergency stop: no offer after it, a cancel to every device not yet installing', async () => {
      const s = await setup(db, 30, `es${name.slice(0, 2)}`);
      const dep = await s.create({
        target: {},
        phases: [{ percent: 50, soakSeconds: 0 }, { percent: 100 }],
        retries: { max: 2, backoffSeconds: 1 },
      });
      await s.orchestrator.tick();
      const ops = await s.offered(dep.id);
      assert.equal(ops.length, 15);
      // One device is installing, one downloading, the rest only offered.
      const [installing, downloading] = ops;
      for (const st of ['accepted', 'downloading', 'downloaded', 'installing'])
        await s.ota.report(s.device(installing!.device_id), installing!.operation_id, {
          attempt: 1,
          state: st,
        } as never);
      await s.ota.report(s.device(downloading!.device_id), downloading!.operation_id, {
        attempt: 1,
        state: 'downloading',
        progress: 10,
      });
      const stop = await s.deployments.setEmergencyStop(s.caller, 'bad build');
      assert.equal(stop.active, true);
      assert.equal(stop.stoppedDeployments, 1);
      const d = await s.deployments.get(s.caller, dep.id);
      assert.equal(d.status, 'stopped');
      assert.equal(d.counts.installing, 1, 'an install under way runs to its end');
      const cancel = await s.ota.messagesFor(s.device(downloading!.device_id));
      assert.deepEqual(
        cancel.map((m) => m.message.type),
        ['cancel'],
      );
      assert.equal((await s.ota.messagesFor(s.device(installing!.device_id)))[0]?.message.type, 'offer');
      await assert.rejects(
        s.deployments.cancelDevice(s.caller, dep.id, installing!.device_id),
        (e: unknown) =>
          isAppError(e) && e.code === 'OTA_OPERATION_NOT_OPEN' && e.details.state === 'installing',
        'an install under way is not cancelled',
      );
      assert.equal((await s.orchestrator.tick()).offered, 0);
      await assert.rejects(
        s.artifacts.delete(s.caller, s.artifact.id),
        (e: unknown) => isAppError(e) && e.code === 'ARTIFACT_IN_USE',
        'a stopped deployment still needs the image its installing device holds',
      );
      // The install fails after the stop: retries are left, but a stopped deployment retries nothing,
      // so the device is free for the next deployment rather than queued for ever.
      const failed = await s.ota.report(s.device(installing!.device_id), installing!.operation_id, {
        attempt: 1,
        state: 'failed',
      });
      assert.equal(failed.state, 'failed');
      // Acknowledged, the cancel is not sent again.
      await s.ota.report(s.device(downloading!.device_id), downloading!.operation_id, {
        attempt: 1,
        state: 'cancelled',
      });
      assert.deepEqual(await s.ota.messagesFor(s.device(downloading!.device_id)), []);
      // A report of a cancelled operation is refused with its state.
      await assert.rejects(
        s.ota.report(s.device(ops[2]!.device_id), ops[2]!.operation_id, { attempt: 1, state: 'accepted' }),
        (e: unknown) =>
          isAppError(e) && e.code === 'OTA_OPERATION_NOT_OPEN' && e.details.state === 'cancelled',
      );
      await assert.rejects(
        s.create({ target: {} }),
        (e: unknown) => isAppError(e) && e.code === 'OTA_EMERGENCY_STOP_ACTIVE',
      );
      await s.deployments.liftEmergencyStop(s.caller);
      assert.equal((await s.deployments.emergencyStop(s.caller)).active, false);
    });

    test('every state has a deadline: a silent device times out, is retried, then freed', async () => {
      const s = await setup(db, 7, `to${name.slice(0, 2)}`);
      const timeouts = {
        offered: 60,
        accepted: 60,
        deferred: 60,
        downloading: 60,
        downloaded: 60,
        installing: 60,
        rebooting: 60,
      };
      const dep = await s.create({
        target: {},
        phases: [{ percent: 100 }],
        timeouts,
        retries: { max: 1, backoffSeconds: 10 },
        maxInFlight: 7,
      });
      await s.orchestrator.tick();
      const ops = await s.offered(dep.id);
      const states = [
        'offered',
        'accepted',
        'deferred',
        'downloading',
        'downloaded',
        'installing',
        'rebooting',
      ];
      const path: Record<string, string[]> = {
        offered: [],
        accepted: ['accepted'],
        deferred: ['deferred'],
        downloading: ['accepted', 'downloading'],
        downloaded: ['downloading', 'downloaded'],
        installing: ['downloaded', 'installing'],
        rebooting: ['installing', 'rebooting'],
      };
      for (const [k, st] of states.entries())
        for (const step of path[st]!)
          await s.ota.report(s.device(ops[k]!.device_id), ops[k]!.operation_id, {
            attempt: 1,
            state: step,
          } as never);
      s.clock.now += 59_000;
      assert.equal((await s.orchestrator.tick()).timedOut, 0);
      s.clock.now += 2_000;
      const first = await s.orchestrator.tick();
      assert.equal(first.timedOut, 7, 'one device silent in each state timed out');
      let d = await s.deployments.get(s.caller, dep.id);
      assert.equal(d.failures, 7);
      assert.equal(d.counts.queued, 7, 'each waits for its retry');
      s.clock.now += 11_000;
      assert.equal(
        (await s.orchestrator.tick()).offered,
        7,
        'retried after the backoff, the slots being free',
      );
      const again = await s.offered(dep.id);
      assert.ok(again.every((o) => o.attempt === 2));
      // The old attempt's reports are refused.
      await assert.rejects(
        s.ota.report(s.device(again[0]!.device_id), again[0]!.operation_id, {
          attempt: 1,
          state: 'accepted',
        }),
        (e: unknown) => isAppError(e) && e.code === 'OTA_OPERATION_NOT_OPEN',
      );
      s.clock.now += 61_000;
      await s.orchestrator.tick();
      d = await s.deployments.get(s.caller, dep.id);
      assert.equal(d.counts.timed_out, 7, 'out of retries: timed out for good');
      assert.equal(d.status, 'aborted', 'and the status rule (10 % after 10) ended it');
      const page = await s.deployments.devices(s.caller, dep.id, { state: 'timed_out' });
      assert.equal(page.items[0]?.code, 'TIMED_OUT');
      assert.match(page.items[0]!.reason!, /silent in offered/);
    });

    test('a cancel of one device is at once; a maintenance window holds offers until it opens', async () => {
      const s = await setup(db, 5, `mw${name.slice(0, 2)}`);
      // Created at 14:00 UTC with a window 02:00–04:00.
      const dep = await s.create({
        target: {},
        phases: [{ percent: 100 }],
        maintenanceWindow: { cron: '0 2 * * *', durationMinutes: 120, timezone: 'UTC' },
      });
      for (let h = 0; h < 12; h++) {
        assert.equal((await s.orchestrator.tick()).offered, 0, `no offer at ${14 + h}:00`);
        s.clock.now += HOUR;
      }
      // 02:00 the next day.
      assert.equal(new Date(s.clock.now).getUTCHours(), 2);
      assert.equal((await s.orchestrator.tick()).offered, 5);
      const [op] = await s.offered(dep.id);
      const cancelled = await s.deployments.cancelDevice(s.caller, dep.id, op!.device_id, 'not this one');
      assert.equal(cancelled.state, 'cancelled');
      assert.equal((await s.ota.messagesFor(s.device(op!.device_id)))[0]?.message.type, 'cancel');
      await assert.rejects(
        s.deployments.cancelDevice(s.caller, dep.id, op!.device_id),
        (e: unknown) => isAppError(e) && e.code === 'OTA_OPERATION_NOT_OPEN',
      );
    });

    test('a device may defer until it begins installing, but not go back once installing', async () => {
      const s = await setup(db, 2, `df${name.slice(0, 2)}`);
      const dep = await s.create({ target: {}, phases: [{ percent: 100 }] });
      await s.orchestrator.tick();
      const [a, b] = await s.offered(dep.id);
      const report = (op: typeof a, state: string) =>
        s.ota.report(s.device(op!.device_id), op!.operation_id, { attempt: 1, state } as never);
      for (const st of ['accepted', 'downloading', 'downloaded', 'deferred', 'installing'])
        assert.equal((await report(a, st)).state, st, `${st} after a download`);
      const offer = (await s.ota.messagesFor(s.device(a!.device_id)))[0]!.message;
      assert.equal(offer.type === 'offer' && offer.timeouts?.rebooting, 900, 'the offer names the deadlines');
      await assert.rejects(
        report(a, 'deferred'),
        (e: unknown) =>
          isAppError(e) && e.code === 'OTA_OPERATION_NOT_OPEN' && e.details.state === 'installing',
      );
      await report(b, 'installing');
      await assert.rejects(
        report(b, 'downloading'),
        (e: unknown) => isAppError(e) && e.code === 'OTA_OPERATION_NOT_OPEN',
      );
    });

    test('an exponential rate: offers per minute grow by the factor as devices succeed', async () => {
      const s = await setup(db, 40, `rt${name.slice(0, 2)}`);
      const dep = await s.create({
        target: {},
        phases: [{ percent: 100 }],
        rate: { perMinute: 5, factor: 2, increaseEvery: 5 },
      });
      assert.deepEqual(dep.rate, { perMinute: 5, factor: 2, increaseEvery: 5 });
      assert.equal((await s.orchestrator.tick()).offered, 5);
      assert.equal((await s.orchestrator.tick()).offered, 0, 'the budget of the minute is spent');
      for (const op of await s.offered(dep.id)) await s.walk(op, 'succeed');
      s.clock.now += 60_000;
      assert.equal((await s.orchestrator.tick()).offered, 10, '5 succeeded: twice the rate');
      for (const op of await s.offered(dep.id)) await s.walk(op, 'succeed');
      s.clock.now += 60_000;
      assert.equal((await s.orchestrator.tick()).offered, 25, '15 succeeded: 5 × 2³ = 40, 25 left');
    });

    test('targeting: the artifact leaves out other hardware, newer firmware and busy devices; named ones are refused', async () => {
      const s = await setup(db, 6, `tg${name.slice(0, 2)}`);
      const ids = (
        await s.db.query<{ id: string }>('SELECT id FROM devices WHERE tenant_id = $1 ORDER BY id', [
          s.tenant.id,
        ])
      ).map((r) => r.id);
      await s.db.query(`UPDATE devices SET hardware_class = 'other' WHERE id = $1`, [ids[0]]);
      await s.db.query(`UPDATE devices SET firmware_version = '3.0.0', fw_major = 3 WHERE id = $1`, [ids[1]]);
      await s.db.query(`UPDATE devices SET firmware_version = NULL, hardware_class = NULL WHERE id = $1`, [
        ids[2],
      ]);
      await assert.rejects(
        s.create({ target: { deviceIds: [ids[0]!, ids[3]!, 'dev_nope'] } }),
        (e: unknown) =>
          isAppError(e) &&
          e.code === 'DEPLOYMENT_TARGET_REFUSED' &&
          JSON.stringify(e.errors).includes('hardware_class') &&
          JSON.stringify(e.errors).includes('dev_nope: not_found'),
      );
      const dep = await s.create({ target: {} });
      assert.equal(dep.total, 3);
      assert.deepEqual(dep.excluded, { hardware_class: 1, not_newer: 1, no_firmware_report: 1 });
      await assert.rejects(
        s.create({ target: {} }),
        (e: unknown) =>
          isAppError(e) &&
          e.code === 'DEPLOYMENT_TARGET_EMPTY' &&
          (e.details.excluded as Record<string, number>).busy === 3,
      );
      await assert.rejects(
        s.deployments.resume(s.caller, dep.id),
        (e: unknown) =>
          isAppError(e) && e.code === 'DEPLOYMENT_STATE_CONFLICT' && e.details.deploymentStatus === 'active',
      );
    });
  });
}
