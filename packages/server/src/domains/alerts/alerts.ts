/**
 * Alerts (docs/alerts.md): per tenant, rules that watch devices, and the alerts they raise. A rule is a
 * threshold on a telemetry key (breached for `forSeconds` before it fires; resolved only past a
 * separate clear value: hysteresis) or the absence of telemetry or of a connection for some minutes.
 * An alert goes firing → acknowledged → resolved; a resolved alert never opens again, the next breach
 * is a new alert. The evaluator (a leased cluster job) keeps what it must remember between passes in
 * the store, and every change of an alert writes an `alert.changed` outbox fact in its transaction.
 */
import type { TenantCaller } from '../../platform/caller.js';
import type { Page } from '../../platform/pagination.js';

export type AlertSeverity = 'info' | 'warning' | 'error' | 'critical';
export type AlertRuleKind = 'threshold' | 'absence';
export type AlertStateName = 'firing' | 'acknowledged' | 'resolved';
export type AlertResolution = 'cleared' | 'manual' | 'rule_changed' | 'rule_deleted' | 'out_of_target';
export type ThresholdOp = '>' | '>=' | '<' | '<=';

export interface AlertTarget {
  tags?: string[];
  deviceIds?: string[];
}

export interface ThresholdCondition {
  key: string;
  op: ThresholdOp;
  value: number;
  clearValue: number;
  forSeconds: number;
}

export interface AbsenceCondition {
  minutes: number;
  of: 'telemetry' | 'presence';
}

export interface AlertRule {
  id: string;
  name: string;
  kind: AlertRuleKind;
  severity: AlertSeverity;
  enabled: boolean;
  target: AlertTarget;
  threshold: ThresholdCondition | null;
  absence: AbsenceCondition | null;
  createdAt: number;
  createdBy: string | null;
  updatedAt: number;
}

/** A rule as a request gives it: `clearValue` defaults to `value`, `forSeconds` to 0. */
export interface AlertRuleInput {
  name: string;
  kind: AlertRuleKind;
  severity?: AlertSeverity;
  enabled?: boolean;
  target?: AlertTarget;
  threshold?: Omit<ThresholdCondition, 'clearValue' | 'forSeconds'> & {
    clearValue?: number;
    forSeconds?: number;
  };
  absence?: AbsenceCondition;
}

export interface Alert {
  id: string;
  ruleId: string;
  ruleName: string;
  deviceId: string;
  kind: AlertRuleKind;
  severity: AlertSeverity;
  state: AlertStateName;
  value: number | null;
  reason: string;
  firedAt: number;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  resolvedAt: number | null;
  resolvedBy: string | null;
  resolvedValue: number | null;
  resolution: AlertResolution | null;
  updatedAt: number;
}

export interface AlertListQuery {
  /** `open`: firing or acknowledged. */
  state?: AlertStateName | 'open';
  deviceId?: string;
  ruleId?: string;
  cursor?: string;
  limit?: number;
}

export interface AlertService {
  listRules(caller: TenantCaller): Promise<AlertRule[]>;
  getRule(caller: TenantCaller, ruleId: string): Promise<AlertRule>;
  /** INVALID_ALERT_RULE, ALERT_RULE_LIMIT_EXCEEDED. */
  createRule(caller: TenantCaller, input: AlertRuleInput): Promise<AlertRule>;
  /**
   * Replaces a rule. A change of its condition or target, or disabling it, resolves its open alerts
   * (`rule_changed`) and forgets its pending timers: the next pass judges afresh.
   */
  updateRule(caller: TenantCaller, ruleId: string, input: AlertRuleInput): Promise<AlertRule>;
  /** Deletes a rule; its open alerts are resolved (`rule_deleted`), its alerts kept. */
  deleteRule(caller: TenantCaller, ruleId: string): Promise<void>;

  /** Newest first; a caller scoped to some devices sees their alerts only. */
  list(caller: TenantCaller, q: AlertListQuery): Promise<Page<Alert>>;
  get(caller: TenantCaller, alertId: string): Promise<Alert>;
  /** firing → acknowledged; ALERT_STATE_CONFLICT otherwise. */
  acknowledge(caller: TenantCaller, alertId: string): Promise<Alert>;
  /**
   * Resolves an open alert by hand (`manual`). Its rule's timer for the device starts again: a
   * condition that still holds raises a new alert after its `for`.
   */
  resolve(caller: TenantCaller, alertId: string): Promise<Alert>;
}

/** The evaluator: one pass over every enabled rule. */
export interface AlertEvaluator {
  tick(): Promise<{ rules: number; devices: number; fired: number; resolved: number }>;
}
