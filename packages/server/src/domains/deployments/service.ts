/**
 * Deployments over the store: the operator's side (create, list, actions, the emergency stop); the
 * device's side is `device-side.ts`, what every change writes with it `effects.ts`.
 */
import { OTA_CANCELLABLE_STATES, parseSemver, type VersionKey } from '@mooring/protocol';
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
import { createOtaDeviceService } from './device-side.js';
import { deploymentEffects, toDeployment, type DeploymentEffects } from './effects.js';
import { toDeploymentDevice, type DeploymentRow, type DeploymentStore, type TargetQuery } from './store.js';

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
      const t = now();
      const id = newId('dep', t);
      const created = await transaction(async (s) => {
        // The tenant's lock: an artifact is deleted under it too, so the one read here stays.
        await s.lockTenant(caller.tenantId);
        const artifact = await deps.artifact(caller, input.artifactId);
        const q: TargetQuery = {
          tenantId: caller.tenantId,
          target: input.target,
          hardwareClass: artifact.hardwareClass,
          versionKey: keyOf(artifact.version, '/artifactId'),
          minKey: artifact.minVersion ? keyOf(artifact.minVersion, '/artifactId') : null,
          belowKey: input.target.belowVersion
            ? keyOf(input.target.belowVersion, '/target/belowVersion')
            : null,
        };
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
        const held = (OTA_CANCELLABLE_STATES as readonly string[]).includes(op.state);
        // Queued, or with the device and not yet installing: an install under way runs to its end.
        if (op.state !== 'queued' && !held)
          throw new AppError(
            'OTA_OPERATION_NOT_OPEN',
            op.open
              ? `the device is ${op.state}: an install runs to its end`
              : `the operation already ended ${op.state}`,
            { details: { state: op.state, attempt: op.attempt } },
          );
        const t = now();
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

  const ota = createOtaDeviceService(deps, effects);

  return { deployments, ota, effects };
}

function stopView(
  r: { since: number; by_actor: string | null; reason: string | null } | undefined,
): EmergencyStop {
  return r
    ? { active: true, since: Number(r.since), by: r.by_actor, reason: r.reason }
    : { active: false, since: null, by: null, reason: null };
}
