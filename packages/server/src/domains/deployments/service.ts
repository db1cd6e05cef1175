/** Deployments over the store: operator actions, and the device side of each operation. */
import { parseSemver, type OtaMessage, type VersionKey } from '@mooring/protocol';
import { AppError } from '../../errors.js';
import { newId } from '../../ids.js';
import { principalName, type TenantCaller } from '../../platform/caller.js';
import { clampLimit, type Cursors } from '../../platform/pagination.js';
import type { Notifier } from '../../platform/notifier.js';
import type { FactWriter } from '../../platform/outbox.js';
import type { Transaction } from '../../store/db.js';
import { whenCommitted } from '../../store/ambient.js';
import type { AuditSink } from '../audit/audit.js';
import type { Artifact, ArtifactManifest } from '../artifacts/artifacts.js';
import type {
  Deployment,
  DeploymentService,
  DeploymentStatus,
  EmergencyStop,
  OtaDeviceService,
} from './deployments.js';
import { resolveSettings } from './settings.js';
import { apply } from './transitions.js';
import {
  toDeploymentDevice,
  type Changed,
  type DeploymentRow,
  type DeploymentStore,
  type TargetQuery,
} from './store.js';

/** The artifact facts a deployment needs (its manifest and signature), read through the artifacts contract. */
export type DeployableArtifact = Omit<ArtifactManifest, 'artifactId' | 'createdAt'> &
  Pick<Artifact, 'id' | 'signature' | 'keyId'>;

export interface DeploymentDeps {
  store: DeploymentStore;
  transaction: Transaction<DeploymentStore>;
  outbox: FactWriter;
  bus: Notifier;
  cursors: Cursors;
  audit: AuditSink;
  /** ARTIFACT_NOT_FOUND unless the caller's tenant has it. */
  artifact(caller: TenantCaller, artifactId: string): Promise<DeployableArtifact>;
  /** Something changed that the orchestrator should look at soon (after the commit). */
  nudge(): void;
  now?: () => number;
}

const notFound = (id: string) => new AppError('DEPLOYMENT_NOT_FOUND', `deployment ${id} not found`);
const isRankCursor = (v: unknown): v is { rank: number } =>
  typeof v === 'object' && v !== null && typeof (v as { rank?: unknown }).rank === 'number';
const isIdCursor = (v: unknown): v is { id: string } =>
  typeof v === 'object' && v !== null && typeof (v as { id?: unknown }).id === 'string';

function keyOf(version: string, path: string): VersionKey {
  const parsed = parseSemver(version);
  if (!parsed.ok)
    throw new AppError('VALIDATION_FAILED', parsed.message, { errors: [{ path, message: parsed.message }] });
  return parsed.key;
}

export function toDeployment(r: DeploymentRow, counts: Record<string, number>): Deployment {
  const s = r.settings;
  return {
    id: r.id,
    tenantId: r.tenant_id,
    name: r.name,
    artifactId: r.artifact_id,
    version: s.version,
    hardwareClass: s.hardwareClass,
    status: r.status,
    statusCode: r.status_code,
    statusReason: r.status_reason,
    target: r.target,
    phases: s.phases,
    currentPhase: r.current_phase,
    phaseStartedAt: r.phase_started_at,
    soakUntil: r.soak_until,
    total: r.total,
    excluded: r.excluded,
    counts,
    executions: r.executions,
    failures: r.failures,
    maxInFlight: s.maxInFlight,
    rate: s.rate ?? null,
    statusRule: s.statusRule,
    healthGate: s.healthGate,
    health: r.health,
    timeouts: s.timeouts,
    retries: s.retries,
    maintenanceWindow: s.maintenanceWindow,
    createdAt: r.created_at,
    createdBy: r.created_by,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
  };
}

/**
 * What every change of deployments writes with it: the outbox facts of changed operations and
 * statuses, the notice that devices' feeds changed, and (for changes no request made) an audit record.
 * Shared by the service and the orchestrator.
 */
export function deploymentEffects(
  deps: Pick<DeploymentDeps, 'store' | 'outbox' | 'bus' | 'audit' | 'nudge'>,
) {
  return {
    async operationsChanged(d: { id: string; tenant_id: string }, changed: readonly Changed[], at: number) {
      if (changed.length === 0) return;
      await deps.outbox.addMany(
        'ota.operation.changed',
        changed.map((c) => ({
          tenantId: d.tenant_id,
          deploymentId: d.id,
          deviceId: c.device_id,
          operationId: c.operation_id,
          attempt: c.attempt,
          previous: c.previous,
          state: c.state,
          at,
        })),
      );
    },
    feedsChanged(tenantId: string, deviceIds: string[]) {
      if (deviceIds.length > 0) deps.bus.publish('ota.changed', { tenantId, deviceIds });
    },
    /**
     * Moves a deployment from one of `from` to `to`, and for a final status cancels what has not begun
     * installing; undefined when its status was none of `from`.
     */
    async setStatus(
      d: DeploymentRow,
      from: readonly DeploymentStatus[],
      to: DeploymentStatus,
      why: { code: string; reason: string | null; actor: string | null },
      now: number,
    ): Promise<DeploymentRow | undefined> {
      const updated = await deps.store.setStatus(d.id, from, to, why, now);
      if (!updated) return undefined;
      await deps.outbox.add('deployment.status.changed', {
        tenantId: d.tenant_id,
        deploymentId: d.id,
        previous: d.status,
        status: to,
        code: why.code,
        reason: why.reason,
        at: now,
      });
      if (to === 'aborted' || to === 'stopped') {
        const cancelled = await deps.store.cancelOpen(d.id, why.reason ?? `deployment ${to}`, now);
        await this.operationsChanged(d, cancelled, now);
        this.feedsChanged(
          d.tenant_id,
          cancelled.filter((c) => c.previous !== 'queued').map((c) => c.device_id),
        );
      }
      // A change no person asked for (a rule tripped) is recorded here; requests are recorded by the API.
      if (why.actor === null)
        deps.audit({
          tenantId: d.tenant_id,
          actor: 'system:ota',
          action: `deployments.${to === 'active' ? 'resume' : to}`,
          target: d.id,
          changes: { code: why.code, reason: why.reason, previous: d.status },
        });
      if (to === 'active') whenCommitted(deps.nudge);
      return updated;
    },
  };
}
export type DeploymentEffects = ReturnType<typeof deploymentEffects>;

export function createDeploymentServices(deps: DeploymentDeps): {
  deployments: DeploymentService;
  ota: OtaDeviceService;
  effects: DeploymentEffects;
} {
  const { store, transaction, cursors } = deps;
  const now = deps.now ?? Date.now;
  const effects = deploymentEffects(deps);

  async function view(r: DeploymentRow): Promise<Deployment> {
    return toDeployment(r, (await store.counts([r.id])).get(r.id) ?? {});
  }

  async function requireDeployment(caller: TenantCaller, id: string, s = store, lock = false) {
    const d = await s.get(caller.tenantId, id, lock);
    if (!d) throw notFound(id);
    return d;
  }

  /** An operator's status change, refused with the current status when it does not apply. */
  async function operatorAction(
    caller: TenantCaller,
    id: string,
    from: readonly DeploymentStatus[],
    to: DeploymentStatus,
    code: string,
    reason: string | undefined,
  ): Promise<Deployment> {
    const result = await transaction(async (s) => {
      const d = await requireDeployment(caller, id, s, true);
      if (to === 'active' && (await s.emergencyStop(caller.tenantId)))
        throw new AppError('OTA_EMERGENCY_STOP_ACTIVE');
      // Stopping what is stopped is no error: an emergency stop may be pressed twice.
      if (to === 'stopped' && d.status === 'stopped') return d;
      const t = now();
      const actor = principalName(caller.principal);
      const updated = await effects.setStatus(d, from, to, { code, reason: reason ?? null, actor }, t);
      if (!updated)
        throw new AppError('DEPLOYMENT_STATE_CONFLICT', `deployment ${id} is ${d.status}`, {
          details: { deploymentStatus: d.status },
        });
      return updated;
    });
    return view(result);
  }

  const deployments: DeploymentService = {
    async create(caller, input) {
      const artifact = await deps.artifact(caller, input.artifactId);
      const t = now();
      const id = newId('dep', t);
      const q: TargetQuery = {
        tenantId: caller.tenantId,
        target: input.target,
        visible: caller.visible,
        hardwareClass: artifact.hardwareClass,
        versionKey: keyOf(artifact.version, '/artifactId'),
        minKey: artifact.minVersion ? keyOf(artifact.minVersion, '/artifactId') : null,
        belowKey: input.target.belowVersion ? keyOf(input.target.belowVersion, '/target/belowVersion') : null,
      };
      const created = await transaction(async (s) => {
        await s.lockTenant(caller.tenantId);
        if (await s.emergencyStop(caller.tenantId)) throw new AppError('OTA_EMERGENCY_STOP_ACTIVE');
        if (input.target.deviceIds) {
          const reasons = new Map((await s.candidateReasons(q)).map((r) => [r.id, r.reason]));
          const errors = [...new Set(input.target.deviceIds)]
            .filter((d) => reasons.get(d) !== null)
            .map((d) => ({ path: '/target/deviceIds', message: `${d}: ${reasons.get(d) ?? 'not_found'}` }));
          if (errors.length > 0)
            throw new AppError(
              'DEPLOYMENT_TARGET_REFUSED',
              `${errors.length} named devices cannot take the artifact`,
              {
                errors: errors.slice(0, 100),
              },
            );
        }
        const counts = await s.targetCounts(q);
        const total = counts.get(null) ?? 0;
        const excluded = Object.fromEntries([...counts].filter(([k]) => k !== null)) as Record<
          string,
          number
        >;
        if (total === 0)
          throw new AppError('DEPLOYMENT_TARGET_EMPTY', 'no targeted device can take this artifact', {
            details: { excluded },
          });
        const settings = resolveSettings(input, artifact, total);
        const inserted = await s.insert(
          {
            id,
            tenant_id: caller.tenantId,
            name: input.name ?? null,
            artifact_id: artifact.id,
            status: 'active',
            status_code: null,
            status_reason: null,
            target: input.target,
            settings,
            excluded,
            total,
            created_at: t,
            created_by: principalName(caller.principal),
            updated_at: t,
          },
          q,
        );
        if (inserted !== total)
          throw new AppError('DEPLOYMENT_STATE_CONFLICT', 'the targets changed meanwhile; try again');
        whenCommitted(deps.nudge);
        return (await s.get(caller.tenantId, id))!;
      });
      return view(created);
    },

    async list(caller, q) {
      const limit = clampLimit(q.limit);
      const after = cursors.decode(q.cursor, isIdCursor);
      const rows = await store.list(caller.tenantId, {
        ...(q.status ? { status: q.status } : {}),
        ...(after ? { beforeId: after.id } : {}),
        limit,
      });
      const counts = await store.counts(rows.slice(0, limit).map((r) => r.id));
      return cursors.pageOf(
        rows,
        limit,
        (r) => toDeployment(r, counts.get(r.id) ?? {}),
        (r) => ({ id: r.id }),
      );
    },

    async get(caller, id) {
      return view(await requireDeployment(caller, id));
    },

    async devices(caller, id, q) {
      const d = await requireDeployment(caller, id);
      const limit = clampLimit(q.limit);
      const after = cursors.decode(q.cursor, isRankCursor);
      const rows = await store.operations(d.id, {
        ...(q.state ? { state: q.state } : {}),
        ...(after ? { afterRank: after.rank } : {}),
        limit,
      });
      return cursors.pageOf(
        rows,
        limit,
        (r) => toDeploymentDevice(r, d.settings.phases),
        (r) => ({ rank: r.rank }),
      );
    },

    pause: (caller, id, reason) => operatorAction(caller, id, ['active'], 'paused', 'operator', reason),
    resume: (caller, id, reason) => operatorAction(caller, id, ['paused'], 'active', 'operator', reason),
    abort: (caller, id, reason) =>
      operatorAction(caller, id, ['active', 'paused'], 'aborted', 'operator', reason),
    stop: (caller, id, reason) =>
      operatorAction(caller, id, ['active', 'paused'], 'stopped', 'emergency_stop', reason),

    async cancelDevice(caller, id, deviceId, reason) {
      return transaction(async (s) => {
        const d = await requireDeployment(caller, id, s);
        const op = await s.operationOf(d.id, deviceId, true);
        if (!op)
          throw new AppError('OTA_OPERATION_NOT_FOUND', `device ${deviceId} is not in deployment ${id}`);
        if (!op.open && op.state !== 'queued')
          throw new AppError('OTA_OPERATION_NOT_OPEN', `the operation already ended ${op.state}`, {
            details: { state: op.state, attempt: op.attempt },
          });
        const t = now();
        const held = ['offered', 'accepted', 'deferred', 'downloading', 'downloaded'].includes(op.state);
        const row = {
          ...op,
          state: 'cancelled' as const,
          cancel_pending: held,
          code: 'CANCELLED',
          reason: reason ?? 'cancelled by an operator',
          deadline_at: null,
          next_attempt_at: null,
          state_since: t,
          updated_at: t,
        };
        await s.updateOperation(row);
        await effects.operationsChanged(
          d,
          [
            {
              operation_id: op.operation_id,
              device_id: deviceId,
              attempt: op.attempt,
              previous: op.state,
              state: 'cancelled',
            },
          ],
          t,
        );
        effects.feedsChanged(d.tenant_id, [deviceId]);
        whenCommitted(deps.nudge);
        return toDeploymentDevice(row, d.settings.phases);
      });
    },

    async emergencyStop(caller) {
      const r = await store.emergencyStop(caller.tenantId);
      return stopView(r);
    },

    async setEmergencyStop(caller, reason) {
      return transaction(async (s) => {
        await s.lockTenant(caller.tenantId);
        const t = now();
        const actor = principalName(caller.principal);
        await s.setEmergencyStop(caller.tenantId, actor, reason ?? null, t);
        let stopped = 0;
        for (const id of await s.running(caller.tenantId)) {
          const d = (await s.lockById(id))!;
          const why = { code: 'emergency_stop', reason: reason ?? 'tenant emergency stop', actor };
          if (await effects.setStatus(d, ['active', 'paused'], 'stopped', why, t)) stopped++;
        }
        return { ...stopView(await s.emergencyStop(caller.tenantId)), stoppedDeployments: stopped };
      });
    },

    async liftEmergencyStop(caller) {
      await store.liftEmergencyStop(caller.tenantId);
      return stopView(undefined);
    },
  };

  const ota: OtaDeviceService = {
    async messagesFor(device) {
      const rows = await store.openForDevice(device.tenantId, device.deviceId);
      const out: { id: string; message: OtaMessage }[] = [];
      const artifacts = new Map<string, DeployableArtifact>();
      for (const r of rows) {
        if (r.state === 'cancelled' || r.cancel_pending) {
          out.push({
            id: `${r.operation_id}:${r.attempt}:cancel`,
            message: {
              type: 'cancel',
              operationId: r.operation_id,
              deploymentId: r.deployment_id,
              attempt: r.attempt,
              reason: r.reason ?? 'cancelled',
            },
          });
          continue;
        }
        let a = artifacts.get(r.artifact_id);
        if (!a) {
          const caller = { tenantId: device.tenantId, principal: { kind: 'device' as const, ...device } };
          a = await deps.artifact(caller, r.artifact_id);
          artifacts.set(r.artifact_id, a);
        }
        out.push({
          id: `${r.operation_id}:${r.attempt}:offer`,
          message: {
            type: 'offer',
            operationId: r.operation_id,
            deploymentId: r.deployment_id,
            attempt: r.attempt,
            artifact: {
              id: a.id,
              tenantId: a.tenantId,
              version: a.version,
              hardwareClass: a.hardwareClass,
              minVersion: a.minVersion,
              sequence: a.sequence,
              size: a.size,
              sha256: a.sha256,
              signature: a.signature,
              keyId: a.keyId,
            },
            downloadPath: `/v1/device/artifacts/${a.id}`,
            timeouts: r.settings.timeouts,
          },
        });
      }
      return out;
    },

    async report(device, operationId, report) {
      return transaction(async (s) => {
        const op = await s.deviceOperation(device.tenantId, device.deviceId, operationId);
        if (!op) throw new AppError('OTA_OPERATION_NOT_FOUND', `no operation ${operationId} for this device`);
        const d = (await s.lockById(op.deployment_id))!;
        const t = now();
        const tr = apply(op, report, d.settings, t);
        if (!tr) return { operationId, attempt: op.attempt, state: op.state };
        await s.updateOperation(tr.row);
        if (tr.factState !== op.state || tr.row.state !== op.state)
          await effects.operationsChanged(
            d,
            [
              {
                operation_id: op.operation_id,
                device_id: op.device_id,
                attempt: op.attempt,
                previous: op.state,
                state: tr.factState,
              },
            ],
            t,
          );
        if (tr.feedChanged) effects.feedsChanged(d.tenant_id, [device.deviceId]);
        if (tr.outcome !== 'none') {
          const counted = await s.count(d.id, 1, tr.outcome === 'failure' ? 1 : 0, t);
          const rule = d.settings.statusRule;
          if (
            tr.outcome === 'failure' &&
            counted.executions >= rule.minExecutions &&
            (counted.failures * 100) / counted.executions > rule.failurePercent
          ) {
            const reason = `${counted.failures} of ${counted.executions} executions failed (more than ${rule.failurePercent} %)`;
            await effects.setStatus(
              counted,
              ['active', 'paused'],
              'aborted',
              { code: 'status_rule', reason, actor: null },
              t,
            );
          }
          whenCommitted(deps.nudge);
        }
        return { operationId, attempt: tr.row.attempt, state: tr.row.state };
      });
    },

    mayDownload: (device, artifactId) => store.mayDownload(device.tenantId, device.deviceId, artifactId),
  };

  return { deployments, ota, effects };
}

function stopView(
  r: { since: number; by_actor: string | null; reason: string | null } | undefined,
): EmergencyStop {
  return r
    ? { active: true, since: Number(r.since), by: r.by_actor, reason: r.reason }
    : { active: false, since: null, by: null, reason: null };
}
