/**
 * What every change of an alert writes with it, shared by the service (acknowledge, resolve by hand,
 * rule changes) and the evaluator: the row, and in the same transaction an `alert.changed` outbox
 * fact; changes no request made (the rule's own) are audited as `system:alerts`.
 */
import type { FactWriter } from '../../platform/outbox.js';
import { newId } from '../../ids.js';
import type { AuditSink } from '../audit/audit.js';
import type { AlertResolution, AlertStateName } from './alerts.js';
import type { AlertRow, AlertStore, RuleRow } from './store.js';

export const SYSTEM_ACTOR = 'system:alerts';

export interface AlertEffectDeps {
  outbox: FactWriter;
  audit: AuditSink;
}

export function alertEffects(deps: AlertEffectDeps) {
  async function changed(row: AlertRow, previous: AlertStateName | null, value: number | null, at: number) {
    await deps.outbox.add('alert.changed', {
      tenantId: row.tenant_id,
      alertId: row.id,
      ruleId: row.rule_id,
      deviceId: row.device_id,
      state: row.state,
      previous,
      severity: row.severity,
      value,
      at,
    });
  }
  function audited(row: AlertRow, action: string, changes: Record<string, unknown>) {
    deps.audit({
      tenantId: row.tenant_id,
      actor: SYSTEM_ACTOR,
      action,
      target: row.id,
      changes: { ruleId: row.rule_id, deviceId: row.device_id, ...changes },
    });
  }

  return {
    /** Opens an alert for the rule and device; undefined when one is open already. */
    async fire(
      s: AlertStore,
      rule: RuleRow,
      deviceId: string,
      value: number | null,
      reason: string,
      at: number,
    ): Promise<AlertRow | undefined> {
      const row = await s.insertAlert({
        id: newId('alt', at),
        tenant_id: rule.tenant_id,
        rule_id: rule.id,
        rule_name: rule.name,
        device_id: deviceId,
        kind: rule.kind,
        severity: rule.severity,
        state: 'firing',
        value,
        reason,
        fired_at: at,
        updated_at: at,
      });
      if (!row) return undefined;
      await changed(row, null, value, at);
      audited(row, 'alerts.fired', { reason, value });
      return row;
    },

    /** firing → acknowledged by a person or key (the request itself is audited). */
    async acknowledge(s: AlertStore, id: string, by: string, at: number) {
      const moved = await s.transition(id, ['firing'], 'acknowledged', { at, by });
      if (moved) await changed(moved.row, moved.previous, moved.row.value, at);
      return moved;
    },

    /**
     * Resolves an open alert. `by` is the person or key for a request, undefined for the rule's own
     * resolution (audited here).
     */
    async resolve(
      s: AlertStore,
      id: string,
      resolution: AlertResolution,
      value: number | null,
      at: number,
      by?: string,
    ) {
      const moved = await s.transition(id, ['firing', 'acknowledged'], 'resolved', {
        at,
        by: by ?? SYSTEM_ACTOR,
        value,
        resolution,
      });
      if (!moved) return undefined;
      await changed(moved.row, moved.previous, value, at);
      if (by === undefined)
        audited(moved.row, 'alerts.resolved', { resolution, value, previous: moved.previous });
      return moved;
    },
  };
}
export type AlertEffects = ReturnType<typeof alertEffects>;
