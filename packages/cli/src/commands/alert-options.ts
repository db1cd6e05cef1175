/**
 * What `mooring alerts` builds without a server: the body of `alerts rules create|update` from flags
 * (on top of `--file`, or on top of the rule as it is for `update`), and the words a rule and an
 * alert are shown with.
 */
import {
  AbsenceCondition,
  AlertRuleKind,
  AlertSeverity,
  AlertState,
  ThresholdCondition,
  type AlertRuleInput,
  type AlertRuleAnswer,
} from '@mooring/protocol';
import { parseJson } from '../act.js';
import { UsageError } from '../context.js';
import { readText } from './config-patch.js';
import { duration, number } from './deployment-options.js';

export type RuleInput = typeof AlertRuleInput.static;
export type Rule = typeof AlertRuleAnswer.static;
type Threshold = NonNullable<RuleInput['threshold']>;
type Absence = NonNullable<RuleInput['absence']>;

/** The literals of a union of literals, from its schema (so the CLI checks what the API takes). */
const literals = (u: { anyOf: { const: unknown }[] }): string[] => u.anyOf.map((l) => String(l.const));

export const SEVERITIES = literals(AlertSeverity);
export const KINDS = literals(AlertRuleKind);
export const ALERT_STATES = [...literals(AlertState), 'open'];
export const OPS = literals(ThresholdCondition.properties.op);
export const ABSENCE_OF = literals(AbsenceCondition.properties.of);
/** `--op gt` for shells where `>` needs quoting. */
const OP_WORDS: Record<string, string> = { gt: '>', ge: '>=', gte: '>=', lt: '<', le: '<=', lte: '<=' };

export interface RuleOptions {
  file?: string;
  name?: string;
  kind?: string;
  key?: string;
  op?: string;
  value?: string;
  clearValue?: string;
  for?: string;
  minutes?: string;
  of?: string;
  severity?: string;
  tag?: string[];
  device?: string[];
  everyDevice?: boolean;
  disabled?: boolean;
  enabled?: boolean;
}

export function oneOf(flag: string, value: string, allowed: readonly string[]): string {
  if (!allowed.includes(value))
    throw new UsageError(`${flag} is one of ${allowed.join(', ')}; not '${value}'`);
  return value;
}

/** The rule of `--file`: a JSON object as the API takes it. */
function ruleFile(file: string): Partial<RuleInput> {
  const rule = parseJson(readText(file), file);
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule))
    throw new UsageError(`${file}: an alert rule is a JSON object`);
  return rule as Partial<RuleInput>;
}

/** A rule as the API answered it, as the body that replaces it with the same content. */
export function inputOf(rule: Rule): RuleInput {
  const target = {
    ...(rule.target.tags?.length ? { tags: rule.target.tags } : {}),
    ...(rule.target.deviceIds?.length ? { deviceIds: rule.target.deviceIds } : {}),
  };
  return {
    name: rule.name,
    kind: rule.kind,
    severity: rule.severity,
    enabled: rule.enabled,
    target,
    ...(rule.kind === 'threshold' && rule.threshold
      ? { threshold: { ...rule.threshold, op: rule.threshold.op as Threshold['op'] } }
      : {}),
    ...(rule.kind === 'absence' && rule.absence
      ? { absence: { ...rule.absence, of: rule.absence.of as Absence['of'] } }
      : {}),
  };
}

const THRESHOLD_FLAGS = ['key', 'op', 'value', 'clearValue', 'for'] as const;
const ABSENCE_FLAGS = ['minutes', 'of'] as const;
const flagName = (k: string) => `--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`;

/**
 * The rule `create` (over nothing, or `--file`) or `update` (over the rule as it is) sends: `base`
 * with each flag given on top. A flag of the other kind's condition is refused; `--kind` changes the
 * kind and drops the other condition; `--tag`/`--device` replace those lists.
 */
export function ruleBody(o: RuleOptions, base: Partial<RuleInput> = {}): RuleInput {
  const from: Partial<RuleInput> = o.file !== undefined ? { ...base, ...ruleFile(o.file) } : { ...base };
  const given = (keys: readonly (keyof RuleOptions)[]) => keys.filter((k) => o[k] !== undefined);
  const thresholdFlags = given(THRESHOLD_FLAGS);
  const absenceFlags = given(ABSENCE_FLAGS);
  const inferred = thresholdFlags.length ? 'threshold' : absenceFlags.length ? 'absence' : undefined;
  const kind = o.kind !== undefined ? oneOf('--kind', o.kind, KINDS) : (from.kind ?? inferred);
  if (kind === undefined)
    throw new UsageError(
      'give --kind threshold (with --key, --op, --value) or --kind absence (with --minutes, --of), or --file',
    );
  const wrong = kind === 'threshold' ? absenceFlags : thresholdFlags;
  if (wrong.length)
    throw new UsageError(`${wrong.map(flagName).join(', ')} belong to the other kind of rule, not ${kind}`);

  const body: RuleInput = { ...(from as RuleInput), kind: kind as RuleInput['kind'] };
  if (o.name !== undefined) body.name = o.name;
  if (body.name === undefined) throw new UsageError('a rule needs --name (or a name in --file)');
  if (o.severity !== undefined) body.severity = oneOf('--severity', o.severity, SEVERITIES) as never;
  if (o.disabled && o.enabled) throw new UsageError('--disabled or --enabled, not both');
  if (o.disabled) body.enabled = false;
  if (o.enabled) body.enabled = true;

  if (o.everyDevice && (o.tag || o.device))
    throw new UsageError('--every-device or --tag/--device, not both');
  if (o.everyDevice) body.target = {};
  else if (o.tag || o.device) {
    const target = { ...body.target };
    if (o.tag) target.tags = o.tag;
    if (o.device) target.deviceIds = o.device;
    body.target = target;
  }

  if (kind === 'threshold') {
    delete body.absence;
    // The condition of the rule's own kind is kept and changed; after a change of kind it starts anew.
    const t: Partial<Threshold> = { ...(from.kind === 'threshold' || !from.kind ? from.threshold : {}) };
    if (o.key !== undefined) t.key = o.key;
    if (o.op !== undefined) t.op = oneOf('--op', OP_WORDS[o.op] ?? o.op, OPS) as Threshold['op'];
    if (o.value !== undefined) {
      // A rule without hysteresis (clearValue = value, as the API answers it) keeps none at a new value.
      if (o.clearValue === undefined && t.clearValue === t.value) delete t.clearValue;
      t.value = number('--value', o.value, false);
    }
    if (o.clearValue !== undefined) t.clearValue = number('--clear-value', o.clearValue, false);
    if (o.for !== undefined) t.forSeconds = duration('--for', o.for);
    const missing = (['key', 'op', 'value'] as const).filter((k) => t[k] === undefined);
    if (missing.length)
      throw new UsageError(`a threshold rule needs ${missing.map((k) => `--${k}`).join(', ')}`);
    body.threshold = t as Threshold;
  } else {
    delete body.threshold;
    const a: Partial<Absence> = { ...(from.kind === 'absence' || !from.kind ? from.absence : {}) };
    if (o.minutes !== undefined) a.minutes = number('--minutes', o.minutes);
    if (o.of !== undefined) a.of = oneOf('--of', o.of, ABSENCE_OF) as Absence['of'];
    const missing = (['minutes', 'of'] as const).filter((k) => a[k] === undefined);
    if (missing.length)
      throw new UsageError(`an absence rule needs ${missing.map((k) => `--${k}`).join(', ')}`);
    body.absence = a as Absence;
  }
  return body;
}

/** The condition in words: `temp > 80 for 60s (clears at <= 70)`, `no telemetry for 30 min`. */
export function conditionText(r: Pick<Rule, 'kind' | 'threshold' | 'absence'>): string {
  if (r.kind === 'threshold' && r.threshold) {
    const t = r.threshold;
    const clear = t.clearValue !== t.value ? ` (clears at ${t.clearValue})` : '';
    const hold = t.forSeconds ? ` for ${t.forSeconds}s` : '';
    return `${t.key} ${t.op} ${t.value}${hold}${clear}`;
  }
  if (r.kind === 'absence' && r.absence)
    return r.absence.of === 'presence'
      ? `offline for ${r.absence.minutes} min`
      : `no telemetry for ${r.absence.minutes} min`;
  return '';
}

/** The devices a rule judges, in words. */
export function targetText(r: Pick<Rule, 'target'>): string {
  const parts = [
    r.target.tags?.length ? `tags ${r.target.tags.join(', ')}` : '',
    r.target.deviceIds?.length ? `devices ${r.target.deviceIds.join(', ')}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join(' and ') : 'every device';
}
