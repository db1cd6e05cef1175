/**
 * The evaluator: one pass judges every enabled rule against its target devices, from what the store
 * holds alone, so that any node can make the next pass (a leased cluster job, every 5 s:
 * `workers/jobs.ts`).
 *
 * Per rule, the target devices are read a page at a time in id order, each with the one latest value
 * (or the silence) its condition needs, its pending timer and its open alert, all joined by primary
 * key; only the devices whose state changes are written, in one transaction per page that also holds
 * the outbox facts. A pass therefore never holds the store (or PGlite's event loop) for more than one
 * page, and a crash mid-pass loses nothing: what was committed is the state, the rest is judged again.
 *
 * Times are the injected clock's: a breach starts `pending_since`, the alert fires once the breach
 * has lasted `forSeconds` at a pass; a process that restarts in the middle of a `for` finds the timer
 * in `alert_states` and fires on time.
 */
import type { Transaction } from '../../store/db.js';
import type { AlertEvaluator } from './alerts.js';
import { decideAbsence, decideThreshold, type Decision } from './conditions.js';
import type { AlertEffects } from './effects.js';
import type { AlertStore, Observation, RuleRow } from './store.js';
import type { AbsenceCondition, ThresholdCondition } from './alerts.js';

/** Devices read per query. */
export const EVALUATION_PAGE = 500;

export interface EvaluatorDeps {
  store: AlertStore;
  transaction: Transaction<AlertStore>;
  effects: AlertEffects;
  now?: () => number;
  pageSize?: number;
}

export function createAlertEvaluator(deps: EvaluatorDeps): AlertEvaluator {
  const { store, effects } = deps;
  const now = deps.now ?? Date.now;
  const pageSize = deps.pageSize ?? EVALUATION_PAGE;

  function decide(rule: RuleRow, o: Observation, t: number): Decision {
    const open = o.alert_id !== null;
    if (rule.kind === 'threshold')
      return decideThreshold(
        rule.condition as ThresholdCondition,
        o.value === null ? null : Number(o.value),
        o.pending_since === null ? null : Number(o.pending_since),
        open,
        t,
      );
    return decideAbsence(
      rule.condition as AbsenceCondition,
      o.silent_since === null ? null : Number(o.silent_since),
      open,
      t,
    );
  }

  /** Writes one page's changes in one transaction; counts what fired and resolved. */
  async function apply(rule: RuleRow, changes: [Observation, Decision][], t: number) {
    let fired = 0;
    let resolved = 0;
    await deps.transaction(async (s) => {
      const cleared: string[] = [];
      for (const [o, d] of changes) {
        const wasPending = o.pending_since !== null;
        if (d.kind === 'fire') {
          if (await effects.fire(s, rule, o.device_id, d.value, d.reason, t)) fired++;
          if (wasPending) cleared.push(o.device_id);
        } else if (d.kind === 'resolve') {
          if (await effects.resolve(s, o.alert_id!, 'cleared', d.value, t)) resolved++;
          if (wasPending) cleared.push(o.device_id);
        } else if (d.pendingSince === null) cleared.push(o.device_id);
        else
          await s.setPending(rule, o.device_id, d.pendingSince, o.value === null ? null : Number(o.value), t);
      }
      await s.clearPending(rule.id, cleared);
    });
    return { fired, resolved };
  }

  async function evaluate(rule: RuleRow, t: number) {
    let devices = 0;
    let fired = 0;
    let resolved = 0;
    // Devices that left the target (tags changed, disabled): their open alerts end, timers go.
    for (;;) {
      const outside = await store.openOutsideTarget(rule, pageSize);
      if (outside.length === 0) break;
      await deps.transaction(async (s) => {
        for (const { id } of outside) if (await effects.resolve(s, id, 'out_of_target', null, t)) resolved++;
      });
      if (outside.length < pageSize) break;
    }
    if (rule.kind === 'threshold') await store.clearPendingOutsideTarget(rule);

    let after = '';
    for (;;) {
      const page =
        rule.kind === 'threshold'
          ? await store.thresholdPage(rule, after, pageSize)
          : await store.absencePage(rule, after, pageSize);
      devices += page.length;
      const changes: [Observation, Decision][] = [];
      for (const o of page) {
        const d = decide(rule, o, t);
        const pending = o.pending_since === null ? null : Number(o.pending_since);
        if (d.kind !== 'none' || d.pendingSince !== pending) changes.push([o, d]);
      }
      if (changes.length > 0) {
        const r = await apply(rule, changes, t);
        fired += r.fired;
        resolved += r.resolved;
      }
      if (page.length < pageSize) break;
      after = page[page.length - 1]!.device_id;
    }
    return { devices, fired, resolved };
  }

  return {
    async tick() {
      const totals = { rules: 0, devices: 0, fired: 0, resolved: 0 };
      for (const rule of await store.enabledRules()) {
        const r = await evaluate(rule, now());
        totals.rules++;
        totals.devices += r.devices;
        totals.fired += r.fired;
        totals.resolved += r.resolved;
      }
      return totals;
    },
  };
}
