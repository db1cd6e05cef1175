/** Alert rules and alerts over REST (docs/alerts.md). */
import { Type } from '@sinclair/typebox';
import {
  Answer,
  Cursor,
  EpochMs,
  IdParam,
  ItemsOf,
  NoContent,
  Nullable,
  NullableEpochMs,
  PageLimit,
  PageOf,
  Tag,
  operation,
} from './common.js';

export const ALERT_LIMITS = {
  /** Alert rules one tenant may hold. */
  maxRulesPerTenant: 200,
  maxTags: 16,
  maxDeviceIds: 100,
  maxForSeconds: 86_400,
  /** Longest absence a rule may wait for: a week. */
  maxAbsenceMinutes: 10_080,
  maxNameLength: 128,
} as const;

export const AlertSeverity = Type.Union([
  Type.Literal('info'),
  Type.Literal('warning'),
  Type.Literal('error'),
  Type.Literal('critical'),
]);
export const AlertRuleKind = Type.Union([Type.Literal('threshold'), Type.Literal('absence')]);
export const AlertState = Type.Union([
  Type.Literal('firing'),
  Type.Literal('acknowledged'),
  Type.Literal('resolved'),
]);
export const AlertResolution = Type.Union([
  Type.Literal('cleared'),
  Type.Literal('manual'),
  Type.Literal('rule_changed'),
  Type.Literal('rule_deleted'),
  Type.Literal('out_of_target'),
]);

export const AlertTarget = Type.Object(
  {
    tags: Type.Optional(
      Type.Array(Tag, {
        minItems: 1,
        maxItems: ALERT_LIMITS.maxTags,
        description: 'devices with any of these tags',
      }),
    ),
    deviceIds: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        minItems: 1,
        maxItems: ALERT_LIMITS.maxDeviceIds,
        description: 'these devices',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'which devices: every condition given must hold (tags: any of them); {} is every device',
  },
);

const Finite = (description: string) => Type.Number({ minimum: -1e15, maximum: 1e15, description });

export const ThresholdCondition = Type.Object(
  {
    key: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9_.-]+$',
      description: 'a telemetry key',
    }),
    op: Type.Union([Type.Literal('>'), Type.Literal('>='), Type.Literal('<'), Type.Literal('<=')]),
    value: Finite('the threshold: the rule is breached when `latest op value`'),
    clearValue: Type.Optional(
      Finite(
        'the value past which a firing alert resolves (hysteresis), on the safe side of `value`; default `value`',
      ),
    ),
    forSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: ALERT_LIMITS.maxForSeconds,
        description: 'how long the breach must last before the alert fires; default 0',
      }),
    ),
  },
  { additionalProperties: false },
);
export const AbsenceCondition = Type.Object(
  {
    minutes: Type.Integer({ minimum: 1, maximum: ALERT_LIMITS.maxAbsenceMinutes }),
    of: Type.Union([Type.Literal('telemetry'), Type.Literal('presence')], {
      description: 'telemetry: no reading for `minutes`; presence: offline for `minutes`',
    }),
  },
  { additionalProperties: false },
);

export const AlertRuleInput = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: ALERT_LIMITS.maxNameLength,
      pattern: '^[^\\u0000-\\u001f]+$',
    }),
    kind: AlertRuleKind,
    severity: Type.Optional(AlertSeverity),
    enabled: Type.Optional(Type.Boolean()),
    target: Type.Optional(AlertTarget),
    threshold: Type.Optional(ThresholdCondition),
    absence: Type.Optional(AbsenceCondition),
  },
  { additionalProperties: false },
);

export const AlertRuleAnswer = Answer({
  id: Type.String(),
  name: Type.String(),
  kind: AlertRuleKind,
  severity: AlertSeverity,
  enabled: Type.Boolean(),
  target: Answer({
    tags: Type.Optional(Type.Array(Type.String())),
    deviceIds: Type.Optional(Type.Array(Type.String())),
  }),
  threshold: Nullable(
    Answer({
      key: Type.String(),
      op: Type.String(),
      value: Type.Number(),
      clearValue: Type.Number(),
      forSeconds: Type.Integer(),
    }),
  ),
  absence: Nullable(Answer({ minutes: Type.Integer(), of: Type.String() })),
  createdAt: EpochMs,
  createdBy: Nullable(Type.String()),
  updatedAt: EpochMs,
});

export const AlertAnswer = Answer({
  id: Type.String(),
  ruleId: Type.String(),
  ruleName: Type.String(),
  deviceId: Type.String(),
  kind: AlertRuleKind,
  severity: AlertSeverity,
  state: AlertState,
  value: Nullable(Type.Number({ description: 'the reading that fired it (threshold rules)' })),
  reason: Type.String({ description: 'why it fired, in words' }),
  firedAt: EpochMs,
  acknowledgedAt: NullableEpochMs,
  acknowledgedBy: Nullable(Type.String()),
  resolvedAt: NullableEpochMs,
  resolvedBy: Nullable(Type.String({ description: 'user:…, api-key:…, or system:alerts' })),
  resolvedValue: Nullable(Type.Number()),
  resolution: Nullable(AlertResolution),
  updatedAt: EpochMs,
});

export const AlertRuleParams = Type.Object({ ruleId: IdParam });
export const AlertParams = Type.Object({ alertId: IdParam });
export const AlertListQuery = Type.Object(
  {
    state: Type.Optional(
      Type.Union([AlertState, Type.Literal('open')], { description: 'open: firing or acknowledged' }),
    ),
    deviceId: Type.Optional(IdParam),
    ruleId: Type.Optional(IdParam),
    cursor: Type.Optional(Cursor),
    limit: Type.Optional(PageLimit),
  },
  { additionalProperties: false },
);
export const AlertAction = Type.Object(
  { note: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })) },
  { additionalProperties: false },
);

export const alertOperations = {
  listAlertRules: operation({
    method: 'GET',
    path: '/v1/alert-rules',
    responses: { 200: ItemsOf(AlertRuleAnswer) },
  }),
  createAlertRule: operation({
    method: 'POST',
    path: '/v1/alert-rules',
    body: AlertRuleInput,
    responses: { 201: AlertRuleAnswer },
  }),
  getAlertRule: operation({
    method: 'GET',
    path: '/v1/alert-rules/{ruleId}',
    params: AlertRuleParams,
    responses: { 200: AlertRuleAnswer },
  }),
  putAlertRule: operation({
    method: 'PUT',
    path: '/v1/alert-rules/{ruleId}',
    params: AlertRuleParams,
    body: AlertRuleInput,
    responses: { 200: AlertRuleAnswer },
  }),
  deleteAlertRule: operation({
    method: 'DELETE',
    path: '/v1/alert-rules/{ruleId}',
    params: AlertRuleParams,
    responses: { 204: NoContent },
  }),
  listAlerts: operation({
    method: 'GET',
    path: '/v1/alerts',
    query: AlertListQuery,
    responses: { 200: PageOf(AlertAnswer) },
  }),
  getAlert: operation({
    method: 'GET',
    path: '/v1/alerts/{alertId}',
    params: AlertParams,
    responses: { 200: AlertAnswer },
  }),
  acknowledgeAlert: operation({
    method: 'POST',
    path: '/v1/alerts/{alertId}/acknowledge',
    params: AlertParams,
    body: AlertAction,
    responses: { 200: AlertAnswer },
  }),
  resolveAlert: operation({
    method: 'POST',
    path: '/v1/alerts/{alertId}/resolve',
    params: AlertParams,
    body: AlertAction,
    responses: { 200: AlertAnswer },
  }),
};
