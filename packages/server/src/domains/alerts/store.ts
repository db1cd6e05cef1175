/**
 * SQL of alerts: `alert_rules`, `alert_states` (pending timers), `alerts`. The evaluator's reads
 * (`thresholdPage`, `absencePage`) walk one rule's target devices a page at a time in id order, each
 * joined by primary key to the one latest value, timer and open alert it needs.
 */
import type { DeviceVisibility } from '../../platform/caller.js';
import type { Queryable } from '../../store/db.js';
import type { CheckedRule } from './conditions.js';
import type {
  AbsenceCondition,
  Alert,
  AlertResolution,
  AlertRule,
  AlertStateName,
  AlertTarget,
  ThresholdCondition,
} from './alerts.js';

export interface RuleRow {
  id: string;
  tenant_id: string;
  name: string;
  kind: 'threshold' | 'absence';
  severity: AlertRule['severity'];
  enabled: boolean;
  target: AlertTarget;
  condition: ThresholdCondition | AbsenceCondition;
  created_at: number;
  created_by: string | null;
  updated_at: number;
}

export interface AlertRow {
  id: string;
  tenant_id: string;
  rule_id: string;
  rule_name: string;
  device_id: string;
  kind: AlertRule['kind'];
  severity: AlertRule['severity'];
  state: AlertStateName;
  value: number | null;
  reason: string;
  fired_at: number;
  acknowledged_at: number | null;
  acknowledged_by: string | null;
  resolved_at: number | null;
  resolved_by: string | null;
  resolved_value: number | null;
  resolution: AlertResolution | null;
  updated_at: number;
}

/** One target device of a rule as a pass sees it. */
export interface Observation {
  device_id: string;
  /** Threshold: the latest value of the key as a number (booleans as 0/1), null when none. */
  value: number | null;
  /** Absence: since when the device has been silent, null when it is not (connected). */
  silent_since: number | null;
  pending_since: number | null;
  alert_id: string | null;
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export const toRule = (r: RuleRow): AlertRule => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  severity: r.severity,
  enabled: r.enabled,
  target: r.target,
  threshold: r.kind === 'threshold' ? (r.condition as ThresholdCondition) : null,
  absence: r.kind === 'absence' ? (r.condition as AbsenceCondition) : null,
  createdAt: Number(r.created_at),
  createdBy: r.created_by,
  updatedAt: Number(r.updated_at),
});

export const toAlert = (r: AlertRow): Alert => ({
  id: r.id,
  ruleId: r.rule_id,
  ruleName: r.rule_name,
  deviceId: r.device_id,
  kind: r.kind,
  severity: r.severity,
  state: r.state,
  value: num(r.value),
  reason: r.reason,
  firedAt: Number(r.fired_at),
  acknowledgedAt: num(r.acknowledged_at),
  acknowledgedBy: r.acknowledged_by,
  resolvedAt: num(r.resolved_at),
  resolvedBy: r.resolved_by,
  resolvedValue: num(r.resolved_value),
  resolution: r.resolution,
  updatedAt: Number(r.updated_at),
});

/** The WHERE terms that keep a rule's target devices (`d`), enabled ones only. */
function targetWhere(target: AlertTarget, params: unknown[]): string {
  const where = [`d.status = 'enabled'`];
  if (target.tags) where.push(`d.tags && $${params.push(target.tags)}::text[]`);
  if (target.deviceIds) where.push(`d.id = ANY($${params.push(target.deviceIds)}::text[])`);
  return where.join(' AND ');
}

/** The device of alert `a` is one a scoped caller sees. */
function visibleWhere(visible: DeviceVisibility | undefined, params: unknown[]): string {
  if (!visible) return 'true';
  return `EXISTS (SELECT 1 FROM devices d WHERE d.id = a.device_id AND d.tenant_id = a.tenant_id
            AND (d.tags && $${params.push(visible.tags)}::text[] OR d.id = ANY($${params.push(visible.deviceIds)}::text[])))`;
}

export function alertStore(db: Queryable) {
  return {
    async rules(tenantId: string): Promise<RuleRow[]> {
      return db.query<RuleRow>('SELECT * FROM alert_rules WHERE tenant_id = $1 ORDER BY id', [tenantId]);
    },
    async rule(tenantId: string, id: string, lock = false): Promise<RuleRow | undefined> {
      const rows = await db.query<RuleRow>(
        `SELECT * FROM alert_rules WHERE tenant_id = $1 AND id = $2${lock ? ' FOR UPDATE' : ''}`,
        [tenantId, id],
      );
      return rows[0];
    },
    async countRules(tenantId: string): Promise<number> {
      const [r] = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM alert_rules WHERE tenant_id = $1',
        [tenantId],
      );
      return Number(r?.n ?? 0);
    },
    /** Serialises rule creation per tenant, so the count check holds against concurrent creates. */
    async lockTenant(tenantId: string): Promise<void> {
      await db.query('SELECT id FROM tenants WHERE id = $1 FOR UPDATE', [tenantId]);
    },
    async insertRule(
      tenantId: string,
      id: string,
      r: CheckedRule,
      by: string | null,
      at: number,
    ): Promise<RuleRow> {
      const [row] = await db.query<RuleRow>(
        `INSERT INTO alert_rules (id, tenant_id, name, kind, severity, enabled, target, condition, created_at, created_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9) RETURNING *`,
        [
          id,
          tenantId,
          r.name,
          r.kind,
          r.severity,
          r.enabled,
          JSON.stringify(r.target),
          JSON.stringify(r.condition),
          at,
          by,
        ],
      );
      return row!;
    },
    async updateRule(tenantId: string, id: string, r: CheckedRule, at: number): Promise<RuleRow | undefined> {
      const [row] = await db.query<RuleRow>(
        `UPDATE alert_rules SET name = $3, kind = $4, severity = $5, enabled = $6, target = $7, condition = $8,
                updated_at = $9 WHERE tenant_id = $1 AND id = $2 RETURNING *`,
        [
          tenantId,
          id,
          r.name,
          r.kind,
          r.severity,
          r.enabled,
          JSON.stringify(r.target),
          JSON.stringify(r.condition),
          at,
        ],
      );
      return row;
    },
    async deleteRule(tenantId: string, id: string): Promise<boolean> {
      const rows = await db.query('DELETE FROM alert_rules WHERE tenant_id = $1 AND id = $2 RETURNING id', [
        tenantId,
        id,
      ]);
      return rows.length > 0;
    },
    /** Every enabled rule of every tenant: the evaluator's work list. */
    async enabledRules(): Promise<RuleRow[]> {
      return db.query<RuleRow>('SELECT * FROM alert_rules WHERE enabled ORDER BY id');
    },

    /** A page of a threshold rule's target devices after `afterId`, with what a pass needs of each. */
    async thresholdPage(rule: RuleRow, afterId: string, limit: number): Promise<Observation[]> {
      const c = rule.condition as ThresholdCondition;
      const params: unknown[] = [rule.tenant_id, rule.id, afterId, c.key];
      const where = targetWhere(rule.target, params);
      return db.query<Observation>(
        `SELECT d.id AS device_id,
                CASE WHEN l.num IS NOT NULL THEN l.num WHEN l.bool IS NOT NULL THEN (CASE WHEN l.bool THEN 1 ELSE 0 END) END AS value,
                NULL::bigint AS silent_since, s.pending_since, a.id AS alert_id
           FROM devices d
           LEFT JOIN telemetry_latest l ON l.device_id = d.id AND l.key = $4 AND l.tenant_id = d.tenant_id
           LEFT JOIN alert_states s ON s.rule_id = $2 AND s.device_id = d.id
           LEFT JOIN alerts a ON a.rule_id = $2 AND a.device_id = d.id AND a.state <> 'resolved'
          WHERE d.tenant_id = $1 AND d.id > $3 AND ${where}
          ORDER BY d.id LIMIT $${params.push(limit)}`,
        params,
      );
    },
    /**
     * A page of an absence rule's target devices: for telemetry, silent since the newest reading of
     * any key (or the device's creation when it never sent one); for presence, since it went offline
     * (or was created), null while connected.
     */
    async absencePage(rule: RuleRow, afterId: string, limit: number): Promise<Observation[]> {
      const c = rule.condition as AbsenceCondition;
      const params: unknown[] = [rule.tenant_id, rule.id, afterId];
      const where = targetWhere(rule.target, params);
      const silent =
        c.of === 'telemetry'
          ? `coalesce((SELECT max(l.ts) FROM telemetry_latest l WHERE l.device_id = d.id), d.created_at)`
          : `CASE WHEN d.connected THEN NULL ELSE coalesce(d.last_disconnected_at, d.last_seen_at, d.created_at) END`;
      return db.query<Observation>(
        `SELECT d.id AS device_id, NULL::float8 AS value, ${silent} AS silent_since,
                NULL::bigint AS pending_since, a.id AS alert_id
           FROM devices d
           LEFT JOIN alerts a ON a.rule_id = $2 AND a.device_id = d.id AND a.state <> 'resolved'
          WHERE d.tenant_id = $1 AND d.id > $3 AND ${where}
          ORDER BY d.id LIMIT $${params.push(limit)}`,
        params,
      );
    },
    /** Open alerts of a rule whose device no longer is in its target (tags changed, disabled). */
    async openOutsideTarget(rule: RuleRow, limit: number): Promise<{ id: string }[]> {
      const params: unknown[] = [rule.tenant_id, rule.id];
      const where = targetWhere(rule.target, params);
      return db.query<{ id: string }>(
        `SELECT a.id FROM alerts a JOIN devices d ON d.id = a.device_id
          WHERE a.tenant_id = $1 AND a.rule_id = $2 AND a.state <> 'resolved' AND NOT (${where})
          LIMIT $${params.push(limit)}`,
        params,
      );
    },

    async setPending(rule: RuleRow, deviceId: string, since: number, value: number | null, at: number) {
      await db.query(
        `INSERT INTO alert_states (rule_id, device_id, tenant_id, pending_since, value, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (rule_id, device_id) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
        [rule.id, deviceId, rule.tenant_id, since, value, at],
      );
    },
    async clearPending(ruleId: string, deviceIds: readonly string[]): Promise<void> {
      if (deviceIds.length === 0) return;
      await db.query('DELETE FROM alert_states WHERE rule_id = $1 AND device_id = ANY($2::text[])', [
        ruleId,
        deviceIds,
      ]);
    },
    /** Forgets the timers of devices that left a rule's target (or were disabled). */
    async clearPendingOutsideTarget(rule: RuleRow): Promise<void> {
      const params: unknown[] = [rule.id];
      const where = targetWhere(rule.target, params);
      await db.query(
        `DELETE FROM alert_states s USING devices d
          WHERE s.rule_id = $1 AND d.id = s.device_id AND NOT (${where})`,
        params,
      );
    },
    async clearRulePending(ruleId: string): Promise<void> {
      await db.query('DELETE FROM alert_states WHERE rule_id = $1', [ruleId]);
    },

    /** Opens an alert; undefined when one is open for the rule and device already. */
    async insertAlert(
      a: Omit<
        AlertRow,
        | 'acknowledged_at'
        | 'acknowledged_by'
        | 'resolved_at'
        | 'resolved_by'
        | 'resolved_value'
        | 'resolution'
      >,
    ): Promise<AlertRow | undefined> {
      const [row] = await db.query<AlertRow>(
        `INSERT INTO alerts (id, tenant_id, rule_id, rule_name, device_id, kind, severity, state, value, reason, fired_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (rule_id, device_id) WHERE state <> 'resolved' DO NOTHING RETURNING *`,
        [
          a.id,
          a.tenant_id,
          a.rule_id,
          a.rule_name,
          a.device_id,
          a.kind,
          a.severity,
          a.state,
          a.value,
          a.reason,
          a.fired_at,
          a.updated_at,
        ],
      );
      return row;
    },
    /**
     * Moves an alert from one of `from` to `to` with the columns that go with it; the row before and
     * after, or undefined when its state was none of `from`.
     */
    async transition(
      id: string,
      from: readonly AlertStateName[],
      to: 'acknowledged' | 'resolved',
      v: { at: number; by: string; value?: number | null; resolution?: AlertResolution },
    ): Promise<{ previous: AlertStateName; row: AlertRow } | undefined> {
      const set =
        to === 'acknowledged'
          ? `state = 'acknowledged', acknowledged_at = $3, acknowledged_by = $4, updated_at = $3`
          : `state = 'resolved', resolved_at = $3, resolved_by = $4, resolved_value = $5, resolution = $6, updated_at = $3`;
      const params: unknown[] = [id, [...from], v.at, v.by];
      if (to === 'resolved') params.push(v.value ?? null, v.resolution);
      const rows = await db.query<AlertRow & { previous: AlertStateName }>(
        `WITH old AS (SELECT id, state FROM alerts WHERE id = $1 FOR UPDATE)
         UPDATE alerts a SET ${set} FROM old
          WHERE a.id = old.id AND old.state = ANY($2::text[]) RETURNING a.*, old.state AS previous`,
        params,
      );
      const r = rows[0];
      if (!r) return undefined;
      const { previous, ...row } = r;
      return { previous, row };
    },
    async alert(tenantId: string, id: string, visible?: DeviceVisibility): Promise<AlertRow | undefined> {
      const params: unknown[] = [tenantId, id];
      const rows = await db.query<AlertRow>(
        `SELECT a.* FROM alerts a WHERE a.tenant_id = $1 AND a.id = $2 AND ${visibleWhere(visible, params)}`,
        params,
      );
      return rows[0];
    },
    async openOfRule(tenantId: string, ruleId: string): Promise<{ id: string }[]> {
      return db.query<{ id: string }>(
        `SELECT id FROM alerts WHERE tenant_id = $1 AND rule_id = $2 AND state <> 'resolved'`,
        [tenantId, ruleId],
      );
    },
    /** A page newest first, one row more than `limit` when there are more. */
    async alerts(
      tenantId: string,
      q: {
        state?: AlertStateName | 'open';
        deviceId?: string;
        ruleId?: string;
        beforeId?: string;
        limit: number;
        visible?: DeviceVisibility;
      },
    ): Promise<AlertRow[]> {
      const params: unknown[] = [tenantId];
      const where = ['a.tenant_id = $1'];
      if (q.state === 'open') where.push(`a.state <> 'resolved'`);
      else if (q.state) where.push(`a.state = $${params.push(q.state)}`);
      if (q.deviceId) where.push(`a.device_id = $${params.push(q.deviceId)}`);
      if (q.ruleId) where.push(`a.rule_id = $${params.push(q.ruleId)}`);
      if (q.beforeId) where.push(`a.id < $${params.push(q.beforeId)}`);
      where.push(visibleWhere(q.visible, params));
      return db.query<AlertRow>(
        `SELECT a.* FROM alerts a WHERE ${where.join(' AND ')} ORDER BY a.id DESC LIMIT $${params.push(q.limit + 1)}`,
        params,
      );
    },
  };
}
export type AlertStore = ReturnType<typeof alertStore>;
