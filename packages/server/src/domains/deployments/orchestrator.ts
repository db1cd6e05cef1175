/**
 * The orchestrator: one pass moves every deployment on, from what the store holds alone, so that any
 * node can make the next pass after another died mid-phase. It runs as a leased cluster job (one node
 * at a time) every second and when a change asks for it. Per pass:
 *
 * 1. operations past their deadline, in any deployment, end `timed_out` (retried while retries last),
 *    counted as failed executions;
 * 2. per active deployment, in its own transaction: the health gate (at most every `HEALTH_EVERY_MS`,
 *    and always before a phase ends) pauses it when the updated devices are worse than the control;
 *    a phase whose devices all finished starts its soak, and after the soak the next phase begins
 *    (after the last one the deployment completes); then the next queued devices of the phase are
 *    offered, within `maxInFlight` and the maintenance window, unless the tenant's emergency stop holds.
 *
 * Each offer is one guarded UPDATE (queued → offered, attempt + 1) committed with its outbox fact, so
 * a pass cut short by a crash offers nothing twice and strands nothing.
 */
import type { DeploymentRow, DeploymentStore } from './store.js';
import type { Transaction } from '../../store/db.js';
import type { DeploymentEffects } from './effects.js';
import type { HealthComparison, HealthCohort, Orchestrator } from './deployments.js';
import { insideWindow, rateRoom } from './settings.js';

export const HEALTH_EVERY_MS = 5_000;
/** Most offers one pass makes per deployment (the rest go on the next pass, a second later). */
export const OFFERS_PER_PASS = 5_000;

export interface OrchestratorDeps {
  store: DeploymentStore;
  transaction: Transaction<DeploymentStore>;
  effects: DeploymentEffects;
  now?: () => number;
}

function cohort(
  r:
    | {
        devices: number;
        rebooting: number;
        offline: number;
        crashing: number;
        unhealthy: number;
        mean: number | null;
      }
    | undefined,
): HealthCohort {
  const devices = r?.devices ?? 0;
  return {
    devices,
    rebooting: r?.rebooting ?? 0,
    offline: r?.offline ?? 0,
    crashing: r?.crashing ?? 0,
    unhealthy: r?.unhealthy ?? 0,
    unhealthyPercent: devices === 0 ? 0 : Math.round(((r?.unhealthy ?? 0) * 10_000) / devices) / 100,
    telemetryMean: r?.mean ?? null,
  };
}

/** Compares the updated devices with the control cohort under the deployment's gate. */
export async function evaluateHealth(
  store: DeploymentStore,
  d: DeploymentRow,
  now: number,
): Promise<HealthComparison> {
  const gate = d.settings.healthGate;
  const rows = await store.cohorts(
    d.id,
    now - gate.windowSeconds * 1000,
    gate.maxReboots,
    gate.telemetry?.key ?? null,
  );
  const updated = cohort(rows.find((r) => r.cohort === 'updated'));
  const control = cohort(rows.find((r) => r.cohort === 'control'));
  const result = (verdict: HealthComparison['verdict'], reason: string): HealthComparison => ({
    at: now,
    updated,
    control,
    verdict,
    reason,
  });
  if (updated.devices < gate.minSample)
    return result(
      'insufficient',
      `${updated.devices} updated devices, the gate judges from ${gate.minSample}`,
    );
  if (control.devices < gate.minSample)
    return result(
      'insufficient',
      `${control.devices} control devices left, the gate judges from ${gate.minSample}`,
    );
  const diff = updated.unhealthyPercent - control.unhealthyPercent;
  if (diff > gate.marginPercent)
    return result(
      'fail',
      `updated devices unhealthy ${updated.unhealthyPercent} % (rebooting ${updated.rebooting}, offline ${updated.offline}, crashing ${updated.crashing} of ${updated.devices}) vs control ${control.unhealthyPercent} %: worse by more than ${gate.marginPercent} points`,
    );
  const t = gate.telemetry;
  if (t && updated.telemetryMean !== null && control.telemetryMean !== null && control.telemetryMean !== 0) {
    const sign = t.worseWhen === 'higher' ? 1 : -1;
    const worse =
      ((updated.telemetryMean - control.telemetryMean) * sign * 100) / Math.abs(control.telemetryMean);
    if (worse > t.marginPercent)
      return result(
        'fail',
        `mean ${t.key} ${updated.telemetryMean} updated vs ${control.telemetryMean} control: ${Math.round(worse)} % worse (margin ${t.marginPercent} %)`,
      );
  }
  return result(
    'pass',
    `updated unhealthy ${updated.unhealthyPercent} % vs control ${control.unhealthyPercent} %`,
  );
}

export function createOrchestrator(deps: OrchestratorDeps): Orchestrator {
  const { store, transaction, effects } = deps;
  const now = deps.now ?? Date.now;

  async function timeOut(deploymentId: string): Promise<number> {
    return transaction(async (s) => {
      const d = await s.lockById(deploymentId);
      if (!d) return 0;
      const t = now();
      const changed = await s.timeOut(d.id, d.settings, d.status === 'active' || d.status === 'paused', t);
      if (changed.length === 0) return 0;
      await effects.operationsChanged(d, changed, t);
      effects.feedsChanged(
        d.tenant_id,
        changed.map((c) => c.device_id),
      );
      await effects.executionsEnded(d, changed.length, changed.length, t);
      return changed.length;
    });
  }

  async function step(deploymentId: string): Promise<number> {
    // The periodic health comparison reads every device of the deployment: it is made before the
    // deployment's row is locked, so reports that end an attempt do not wait for it.
    const before = await store.byId(deploymentId);
    const due =
      before?.status === 'active' &&
      before.settings.healthGate.enabled &&
      (!before.health || now() - before.health.at >= HEALTH_EVERY_MS);
    const periodic = due ? await evaluateHealth(store, before, now()) : undefined;
    return transaction(async (s) => {
      let d = await s.lockById(deploymentId);
      if (!d || d.status !== 'active') return 0;
      const t = now();
      const phases = d.settings.phases;
      const gate = d.settings.healthGate;
      let cut = phases[d.current_phase]!.devices;
      let progress = await s.progressOf(d.id, cut);

      const judge = async (health: HealthComparison) => {
        await s.setHealth(d!.id, health);
        if (health.verdict !== 'fail') return true;
        await effects.setStatus(
          d!,
          ['active'],
          'paused',
          { code: 'health_gate', reason: health.reason, actor: null },
          t,
        );
        return false;
      };
      if (periodic && !(await judge(periodic))) return 0;

      if (progress.open_in_phase === 0) {
        if (d.current_phase === phases.length - 1) {
          await effects.setStatus(
            d,
            ['active'],
            'completed',
            { code: 'completed', reason: null, actor: null },
            t,
          );
          return 0;
        }
        const soakUntil = d.soak_until ?? t + phases[d.current_phase]!.soakSeconds * 1000;
        if (soakUntil > t) {
          if (d.soak_until === null)
            await s.setPhase(d.id, { current: d.current_phase, startedAt: d.phase_started_at, soakUntil }, t);
          return 0;
        }
        // The soak is over: the gate judges once more, on what the soak showed, before the next phase.
        if (gate.enabled && !(await judge(await evaluateHealth(s, d, t)))) return 0;
        await s.setPhase(d.id, { current: d.current_phase + 1, startedAt: t, soakUntil: null }, t);
        d = { ...d, current_phase: d.current_phase + 1 };
        cut = phases[d.current_phase]!.devices;
        progress = await s.progressOf(d.id, cut);
      }

      const window = d.settings.maintenanceWindow;
      if (window && !insideWindow(window, t)) return 0;
      const slots =
        d.settings.maxInFlight === null ? OFFERS_PER_PASS : d.settings.maxInFlight - progress.in_flight;
      const rate = rateRoom(
        d.settings,
        progress.succeeded,
        { minute: d.rate_minute, offers: d.rate_offers },
        t,
      );
      const room = Math.min(slots, rate);
      if (room <= 0) return 0;
      const offered = await s.offer(
        d.id,
        cut,
        Math.min(room, OFFERS_PER_PASS),
        t,
        t + d.settings.timeouts.offered * 1000,
      );
      if (d.settings.rate && offered.length > 0)
        await s.spendRate(d.id, Math.floor(t / 60_000), offered.length);
      await effects.operationsChanged(d, offered, t);
      effects.feedsChanged(
        d.tenant_id,
        offered.map((c) => c.device_id),
      );
      return offered.length;
    });
  }

  return {
    async tick() {
      let timedOut = 0;
      for (const id of await store.withDueDeadlines(now())) timedOut += await timeOut(id);
      let offered = 0;
      // A tenant's emergency stop stops its deployments: none of them is active.
      for (const id of await store.active()) offered += await step(id);
      return { offered, timedOut };
    },
  };
}
