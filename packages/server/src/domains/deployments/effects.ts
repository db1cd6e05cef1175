/**
 * What every change of deployments writes with it (shared by the operator actions, the device side
 * and the orchestrator), and the answer a deployment row becomes.
 */
import type { Notifier } from '../../platform/notifier.js';
import type { FactWriter } from '../../platform/outbox.js';
import { whenCommitted } from '../../store/ambient.js';
import type { AuditSink } from '../audit/audit.js';
import type { Deployment, DeploymentStatus } from './deployments.js';
import type { Changed, DeploymentRow, DeploymentStore } from './store.js';

export interface EffectDeps {
  store: DeploymentStore;
  outbox: FactWriter;
  bus: Notifier;
  audit: AuditSink;
  /** Something changed that the orchestrator should look at soon (after the commit). */
  nudge(): void;
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
export function deploymentEffects(deps: EffectDeps) {
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
     * Counts attempts that ended (`failures` of them badly) and applies the status rule: past its
     * share of failures, the deployment is aborted in this transaction. The orchestrator is nudged:
     * slots freed, a phase may be done.
     */
    async executionsEnded(d: DeploymentRow, executions: number, failures: number, now: number) {
      const counted = await deps.store.count(d.id, executions, failures, now);
      const rule = d.settings.statusRule;
      if (
        failures > 0 &&
        counted.executions >= rule.minExecutions &&
        (counted.failures * 100) / counted.executions > rule.failurePercent
      ) {
        const reason = `${counted.failures} of ${counted.executions} executions failed or timed out (more than ${rule.failurePercent} %)`;
        await this.setStatus(
          counted,
          ['active', 'paused'],
          'aborted',
          { code: 'status_rule', reason, actor: null },
          now,
        );
      }
      whenCommitted(deps.nudge);
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
