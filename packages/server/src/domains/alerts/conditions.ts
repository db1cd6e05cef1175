/**
 * The rules of alert rules, as pure functions: checking a rule as given, and what one observation of
 * a device means for it (breach, clear, absence). The evaluator applies them; nothing here reads the
 * store or a clock.
 */
import { ALERT_LIMITS } from '@mooring/protocol';
import { AppError, type FieldError } from '../../errors.js';
import type {
  AbsenceCondition,
  AlertRuleInput,
  AlertSeverity,
  AlertTarget,
  ThresholdCondition,
  ThresholdOp,
} from './alerts.js';

const SEVERITIES: readonly AlertSeverity[] = ['info', 'warning', 'error', 'critical'];
const OPS: readonly ThresholdOp[] = ['>', '>=', '<', '<='];
const KEY = /^[A-Za-z0-9_.-]{1,64}$/;
const TAG = /^[A-Za-z0-9_.:=-]{1,64}$/;

/** A rule as stored: every default applied. */
export interface CheckedRule {
  name: string;
  kind: 'threshold' | 'absence';
  severity: AlertSeverity;
  enabled: boolean;
  target: AlertTarget;
  condition: ThresholdCondition | AbsenceCondition;
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown, min: number, max: number): v is number =>
  Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;

function stringList(
  v: unknown,
  path: string,
  max: number,
  ok: (s: string) => boolean,
  errors: FieldError[],
): string[] | undefined {
  if (v === undefined) return undefined;
  if (
    !Array.isArray(v) ||
    v.length === 0 ||
    v.length > max ||
    !v.every((s) => typeof s === 'string' && ok(s))
  ) {
    errors.push({ path, message: `1–${max} valid strings` });
    return undefined;
  }
  return [...new Set(v as string[])];
}

/** Checks a rule as a request gives it; INVALID_ALERT_RULE naming every field that is wrong. */
export function checkRule(input: AlertRuleInput): CheckedRule {
  const errors: FieldError[] = [];
  const name = typeof input.name === 'string' ? input.name.trim() : '';
  if (name.length === 0 || name.length > ALERT_LIMITS.maxNameLength)
    errors.push({ path: '/name', message: `1–${ALERT_LIMITS.maxNameLength} characters` });
  const severity = input.severity ?? 'warning';
  if (!SEVERITIES.includes(severity)) errors.push({ path: '/severity', message: SEVERITIES.join(', ') });
  const t = input.target ?? {};
  const target: AlertTarget = {};
  const tags = stringList(t.tags, '/target/tags', ALERT_LIMITS.maxTags, (s) => TAG.test(s), errors);
  const ids = stringList(
    t.deviceIds,
    '/target/deviceIds',
    ALERT_LIMITS.maxDeviceIds,
    (s) => s.length <= 64,
    errors,
  );
  if (tags) target.tags = tags;
  if (ids) target.deviceIds = ids;

  let condition: ThresholdCondition | AbsenceCondition | undefined;
  if (input.kind === 'threshold') {
    if (input.absence !== undefined)
      errors.push({ path: '/absence', message: 'a threshold rule has no absence condition' });
    const th = input.threshold;
    if (!th) errors.push({ path: '/threshold', message: 'a threshold rule needs {key, op, value}' });
    else {
      if (typeof th.key !== 'string' || !KEY.test(th.key))
        errors.push({ path: '/threshold/key', message: 'a telemetry key: [A-Za-z0-9_.-], 1–64 characters' });
      if (!OPS.includes(th.op)) errors.push({ path: '/threshold/op', message: OPS.join(', ') });
      if (!isFiniteNumber(th.value)) errors.push({ path: '/threshold/value', message: 'a finite number' });
      const clearValue = th.clearValue ?? th.value;
      const forSeconds = th.forSeconds ?? 0;
      if (!isFiniteNumber(clearValue))
        errors.push({ path: '/threshold/clearValue', message: 'a finite number' });
      else if (isFiniteNumber(th.value)) {
        const above = th.op === '>' || th.op === '>=';
        if (above ? clearValue > th.value : clearValue < th.value)
          errors.push({
            path: '/threshold/clearValue',
            message: `must be on the safe side of value: ${above ? 'at most' : 'at least'} ${th.value} for '${th.op}'`,
          });
      }
      if (!isInt(forSeconds, 0, ALERT_LIMITS.maxForSeconds))
        errors.push({ path: '/threshold/forSeconds', message: `an integer 0–${ALERT_LIMITS.maxForSeconds}` });
      condition = { key: th.key, op: th.op, value: th.value, clearValue, forSeconds };
    }
  } else if (input.kind === 'absence') {
    if (input.threshold !== undefined)
      errors.push({ path: '/threshold', message: 'an absence rule has no threshold condition' });
    const a = input.absence;
    if (!a) errors.push({ path: '/absence', message: 'an absence rule needs {minutes, of}' });
    else {
      if (!isInt(a.minutes, 1, ALERT_LIMITS.maxAbsenceMinutes))
        errors.push({ path: '/absence/minutes', message: `an integer 1–${ALERT_LIMITS.maxAbsenceMinutes}` });
      if (a.of !== 'telemetry' && a.of !== 'presence')
        errors.push({ path: '/absence/of', message: 'telemetry or presence' });
      condition = { minutes: a.minutes, of: a.of };
    }
  } else errors.push({ path: '/kind', message: 'threshold or absence' });

  if (errors.length > 0 || !condition)
    throw new AppError('INVALID_ALERT_RULE', errors.map((e) => `${e.path}: ${e.message}`).join('; '), {
      errors,
    });
  return { name, kind: input.kind, severity, enabled: input.enabled ?? true, target, condition };
}

/** Whether a reading breaches the threshold. */
export function breaches(c: ThresholdCondition, v: number): boolean {
  switch (c.op) {
    case '>':
      return v > c.value;
    case '>=':
      return v >= c.value;
    case '<':
      return v < c.value;
    case '<=':
      return v <= c.value;
  }
}

/**
 * Whether a reading clears a firing alert: past `clearValue` on the safe side (for `>`: at most
 * `clearValue`; for `>=`: below it; mirrored for `<` and `<=`). Between the clear value and the
 * threshold the alert stays open.
 */
export function clears(c: ThresholdCondition, v: number): boolean {
  switch (c.op) {
    case '>':
      return v <= c.clearValue;
    case '>=':
      return v < c.clearValue;
    case '<':
      return v >= c.clearValue;
    case '<=':
      return v > c.clearValue;
  }
}

/** What a pass decides for one rule and device. */
export type Decision =
  | { kind: 'none'; pendingSince: number | null }
  | { kind: 'fire'; value: number | null; reason: string }
  | { kind: 'resolve'; value: number | null };

/**
 * A threshold rule, given the latest numeric reading (null: none, or not a number or boolean), the
 * time a breach was first seen (null: none pending), whether an alert is open, and now.
 */
export function decideThreshold(
  c: ThresholdCondition,
  value: number | null,
  pendingSince: number | null,
  open: boolean,
  now: number,
): Decision {
  if (open)
    return value !== null && clears(c, value)
      ? { kind: 'resolve', value }
      : { kind: 'none', pendingSince: null };
  if (value === null || !breaches(c, value)) return { kind: 'none', pendingSince: null };
  const since = pendingSince ?? now;
  if (now - since >= c.forSeconds * 1000)
    return {
      kind: 'fire',
      value,
      reason: `${c.key} ${value} ${c.op} ${c.value}${c.forSeconds > 0 ? ` for ${c.forSeconds} s` : ''}`,
    };
  return { kind: 'none', pendingSince: since };
}

/**
 * An absence rule, given since when the device has been silent (its last reading, or since it went
 * offline; null: it is connected, for presence), whether an alert is open, and now.
 */
export function decideAbsence(
  c: AbsenceCondition,
  silentSince: number | null,
  open: boolean,
  now: number,
): Decision {
  const absent = silentSince !== null && now - silentSince >= c.minutes * 60_000;
  if (open) return absent ? { kind: 'none', pendingSince: null } : { kind: 'resolve', value: null };
  if (!absent) return { kind: 'none', pendingSince: null };
  const what = c.of === 'telemetry' ? 'no telemetry' : 'offline';
  return {
    kind: 'fire',
    value: null,
    reason: `${what} for ${c.minutes} min (since ${new Date(silentSince).toISOString()})`,
  };
}
