import { ALERT_LIMITS } from '@mooring/protocol';
import { AppError } from '../../errors.js';
import { newId } from '../../ids.js';
import { principalName, type TenantCaller } from '../../platform/caller.js';
import { clampLimit, type Cursors } from '../../platform/pagination.js';
import type { Transaction } from '../../store/db.js';
import type { AlertResolution, AlertService } from './alerts.js';
import { checkRule, type CheckedRule } from './conditions.js';
import type { AlertEffects } from './effects.js';
import { toAlert, toRule, type AlertStore, type RuleRow } from './store.js';

export interface AlertServiceDeps {
  store: AlertStore;
  transaction: Transaction<AlertStore>;
  effects: AlertEffects;
  cursors: Cursors;
  now?: () => number;
}

const ruleNotFound = (id: string) => new AppError('ALERT_RULE_NOT_FOUND', `alert rule ${id} not found`);
const alertNotFound = (id: string) => new AppError('ALERT_NOT_FOUND', `alert ${id} not found`);
const isId = (v: unknown): v is string => typeof v === 'string' && v.length <= 64;

/** JSON with members in name order: jsonb keeps its own order of members. */
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );

/** Whether a rule's change makes what its open alerts and timers mean no longer hold. */
function judgedAfresh(before: RuleRow, after: CheckedRule): boolean {
  return (
    !after.enabled ||
    before.kind !== after.kind ||
    canonical(before.condition) !== canonical(after.condition) ||
    canonical(before.target) !== canonical(after.target)
  );
}

export function createAlertService(deps: AlertServiceDeps): AlertService {
  const { store, effects } = deps;
  const now = deps.now ?? Date.now;

  /** Resolves every open alert of a rule and forgets its timers, in the caller's transaction. */
  async function closeRule(
    s: AlertStore,
    rule: RuleRow,
    resolution: AlertResolution,
    by: string,
    at: number,
  ) {
    for (const { id } of await s.openOfRule(rule.tenant_id, rule.id))
      await effects.resolve(s, id, resolution, null, at, by);
    await s.clearRulePending(rule.id);
  }

  async function stateConflict(caller: TenantCaller, alertId: string, action: string): Promise<never> {
    const current = await store.alert(caller.tenantId, alertId);
    throw new AppError(
      'ALERT_STATE_CONFLICT',
      `alert ${alertId} is ${current?.state ?? 'gone'}: it cannot be ${action}`,
      { details: { state: current?.state ?? null } },
    );
  }

  return {
    async listRules(caller) {
      return (await store.rules(caller.tenantId)).map(toRule);
    },

    async getRule(caller, ruleId) {
      const r = await store.rule(caller.tenantId, ruleId);
      if (!r) throw ruleNotFound(ruleId);
      return toRule(r);
    },

    async createRule(caller, input) {
      const checked = checkRule(input);
      const at = now();
      const row = await deps.transaction(async (s) => {
        await s.lockTenant(caller.tenantId);
        const count = await s.countRules(caller.tenantId);
        if (count >= ALERT_LIMITS.maxRulesPerTenant)
          throw new AppError(
            'ALERT_RULE_LIMIT_EXCEEDED',
            `the tenant holds ${count} alert rules, the most it may`,
            { details: { limit: 'rulesPerTenant', max: ALERT_LIMITS.maxRulesPerTenant } },
          );
        return s.insertRule(caller.tenantId, newId('alr', at), checked, principalName(caller.principal), at);
      });
      return toRule(row);
    },

    async updateRule(caller, ruleId, input) {
      const checked = checkRule(input);
      const at = now();
      const row = await deps.transaction(async (s) => {
        const before = await s.rule(caller.tenantId, ruleId, true);
        if (!before) throw ruleNotFound(ruleId);
        if (judgedAfresh(before, checked))
          await closeRule(s, before, 'rule_changed', principalName(caller.principal), at);
        return (await s.updateRule(caller.tenantId, ruleId, checked, at))!;
      });
      return toRule(row);
    },

    async deleteRule(caller, ruleId) {
      await deps.transaction(async (s) => {
        const rule = await s.rule(caller.tenantId, ruleId, true);
        if (!rule) throw ruleNotFound(ruleId);
        await closeRule(s, rule, 'rule_deleted', principalName(caller.principal), now());
        await s.deleteRule(caller.tenantId, ruleId);
      });
    },

    async list(caller, q) {
      const limit = clampLimit(q.limit);
      const beforeId = deps.cursors.decode(q.cursor, isId);
      const rows = await store.alerts(caller.tenantId, {
        ...(q.state ? { state: q.state } : {}),
        ...(q.deviceId ? { deviceId: q.deviceId } : {}),
        ...(q.ruleId ? { ruleId: q.ruleId } : {}),
        ...(beforeId !== undefined ? { beforeId } : {}),
        ...(caller.visible ? { visible: caller.visible } : {}),
        limit,
      });
      return deps.cursors.pageOf(rows, limit, toAlert, (r) => r.id);
    },

    async get(caller, alertId) {
      const r = await store.alert(caller.tenantId, alertId, caller.visible);
      if (!r) throw alertNotFound(alertId);
      return toAlert(r);
    },

    async acknowledge(caller, alertId) {
      const moved = await deps.transaction(async (s) => {
        if (!(await s.alert(caller.tenantId, alertId, caller.visible))) throw alertNotFound(alertId);
        return effects.acknowledge(s, alertId, principalName(caller.principal), now());
      });
      return moved ? toAlert(moved.row) : stateConflict(caller, alertId, 'acknowledged');
    },

    async resolve(caller, alertId) {
      const moved = await deps.transaction(async (s) => {
        const current = await s.alert(caller.tenantId, alertId, caller.visible);
        if (!current) throw alertNotFound(alertId);
        const done = await effects.resolve(
          s,
          alertId,
          'manual',
          null,
          now(),
          principalName(caller.principal),
        );
        // The rule's timer for the device starts again: a condition that still holds fires anew.
        if (done) await s.clearPending(current.rule_id, [current.device_id]);
        return done;
      });
      return moved ? toAlert(moved.row) : stateConflict(caller, alertId, 'resolved');
    },
  };
}
