/**
 * The device side of operations: the offers and cancels a device should hear (MQTT feed and HTTPS),
 * its progress reports (the rules in `transitions.ts`; the status rule is checked as an execution
 * ends), and whether it may download an artifact.
 */
import { parseOtaReport, type OtaMessage } from '@mooring/protocol';
import { AppError, isAppError } from '../../errors.js';
import type { TenantCaller } from '../../platform/caller.js';
import type { OtaDeviceService } from './deployments.js';
import type { DeploymentEffects } from './effects.js';
import type { DeployableArtifact, DeploymentDeps } from './service.js';
import { apply } from './transitions.js';

/** Reports that may end an attempt. */
const ENDING = new Set<string>(['succeeded', 'failed', 'rolled_back', 'rejected']);

/** Manifests kept in memory (the artifacts of the running deployments). */
const MANIFESTS_KEPT = 256;

export function createOtaDeviceService(deps: DeploymentDeps, effects: DeploymentEffects): OtaDeviceService {
  const { store, transaction } = deps;
  const now = deps.now ?? Date.now;
  /**
   * The manifests offers carry, by tenant and artifact: a manifest never changes, and an artifact
   * cannot be deleted while a deployment rolls it out, so an entry is never stale. When a rollout
   * starts, a thousand devices' feeds ask for the same one at once: one read serves them all.
   */
  const manifests = new Map<string, Promise<DeployableArtifact>>();
  function manifestOf(tenantId: string, artifactId: string, caller: TenantCaller) {
    const key = `${tenantId}:${artifactId}`;
    let m = manifests.get(key);
    if (!m) {
      if (manifests.size >= MANIFESTS_KEPT) manifests.delete(manifests.keys().next().value!);
      m = deps.artifact(caller, artifactId);
      manifests.set(key, m);
      m.catch(() => manifests.delete(key));
    }
    return m;
  }
  return {
    async messagesFor(device) {
      const rows = await store.openForDevice(device.tenantId, device.deviceId);
      const out: { id: string; message: OtaMessage }[] = [];
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
        const caller = { tenantId: device.tenantId, principal: { kind: 'device' as const, ...device } };
        // An image deleted after its deployment ended cannot be offered; the device's other messages
        // (its cancels) still go out.
        const a = await manifestOf(device.tenantId, r.artifact_id, caller).catch((e: unknown) => {
          if (isAppError(e) && e.code === 'ARTIFACT_NOT_FOUND') return undefined;
          throw e;
        });
        if (!a) continue;
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

    report(device, operationId, payload) {
      const parsed = parseOtaReport(payload);
      if (!parsed.ok)
        throw new AppError('INVALID_OTA_REPORT', parsed.message, {
          errors: [{ path: parsed.path, message: parsed.message }],
        });
      const report = parsed.value;
      return transaction(async (s) => {
        const seen = await s.deviceOperation(device.tenantId, device.deviceId, operationId, false);
        if (!seen)
          throw new AppError('OTA_OPERATION_NOT_FOUND', `no operation ${operationId} for this device`);
        // Locks in the order every writer takes them, the deployment before its operations: a report
        // that may end an attempt (and so update the counters, or abort) locks the deployment first;
        // a progress report only reads it, so the reports of one rollout do not queue on its row.
        const ends = ENDING.has(report.state);
        const d = (ends ? await s.lockById(seen.deployment_id) : await s.byId(seen.deployment_id))!;
        const op = (await s.deviceOperation(device.tenantId, device.deviceId, operationId))!;
        const t = now();
        const tr = apply(op, report, d.settings, t, d.status === 'active' || d.status === 'paused');
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
        if (tr.outcome !== 'none') await effects.executionsEnded(d, 1, tr.outcome === 'failure' ? 1 : 0, t);
        return { operationId, attempt: tr.row.attempt, state: tr.row.state };
      });
    },

    mayDownload: (device, artifactId) => store.mayDownload(device.tenantId, device.deviceId, artifactId),
  };
}
