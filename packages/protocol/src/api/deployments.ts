/**
 * Deployments (`docs/ota.md`): an artifact rolled out to a snapshot of target devices in phases, each
 * with a soak time, stopped by a status rule or a health gate, paused, resumed, aborted or stopped by
 * an operator; and the device side of each operation.
 */
import { Type } from '@sinclair/typebox';
import { OtaMessageSchema, OtaReportSchema, OTA_STATES } from '../ota.js';
import { HardwareClass, Semver } from './artifacts.js';
import {
  Answer,
  Cursor,
  EpochMs,
  IdParam,
  ItemsOf,
  MAX_DURATION_SECONDS,
  Nullable,
  NullableEpochMs,
  PageLimit,
  PageOf,
  Tag,
  operation,
} from './common.js';

export const DEPLOYMENT_STATUSES = ['active', 'paused', 'completed', 'aborted', 'stopped'] as const;
export const DeploymentStatus = Type.Union(DEPLOYMENT_STATUSES.map((s) => Type.Literal(s)));
export const OtaStateSchema = Type.Union(OTA_STATES.map((s) => Type.Literal(s)));

/** Limits of a deployment request. */
export const DEPLOYMENT_LIMITS = {
  maxDeviceIds: 10_000,
  maxTags: 32,
  maxPhases: 20,
  maxRetries: 10,
  maxNameLength: 128,
  maxReasonLength: 256,
} as const;

const Seconds = (description: string, minimum = 0) =>
  Type.Integer({ minimum, maximum: MAX_DURATION_SECONDS, description });

export const DeploymentTarget = Type.Object(
  {
    tags: Type.Optional(
      Type.Array(Tag, {
        minItems: 1,
        maxItems: DEPLOYMENT_LIMITS.maxTags,
        description: 'devices with any of these tags',
      }),
    ),
    deviceIds: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
        minItems: 1,
        maxItems: DEPLOYMENT_LIMITS.maxDeviceIds,
        description: 'these devices; each must be able to take the artifact, or nothing is created',
      }),
    ),
    versions: Type.Optional(
      Type.Array(Semver, { minItems: 1, maxItems: 32, description: 'devices running one of these versions' }),
    ),
    belowVersion: Type.Optional(Semver),
  },
  {
    additionalProperties: false,
    description:
      'which devices: every condition given must hold (tags: any of them). The artifact adds its own: its hardware class, its minimum version, and a running version below its own.',
  },
);

export const DeploymentPhase = Type.Object(
  {
    percent: Type.Number({
      exclusiveMinimum: 0,
      maximum: 100,
      description: 'share of the targets offered by the end of this phase',
    }),
    soakSeconds: Type.Optional(
      Seconds('after every device of the phase finished, wait this long before the next phase', 0),
    ),
  },
  { additionalProperties: false },
);

export const StatusRule = Type.Object(
  {
    failurePercent: Type.Number({
      minimum: 0,
      maximum: 100,
      description: 'abort when the failed share of finished executions exceeds this',
    }),
    minExecutions: Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      description: '… once at least this many finished',
    }),
  },
  { additionalProperties: false },
);

export const HealthGate = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean({ default: true })),
    marginPercent: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 100,
        description:
          'pause when the updated cohort is worse than the control by more than this many percentage points',
      }),
    ),
    minSample: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        description: 'updated devices needed before the gate judges',
      }),
    ),
    windowSeconds: Type.Optional(Seconds('how far back reboots and crash events count', 1)),
    maxReboots: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        description: 'a device that connected more often than this in the window is rebooting',
      }),
    ),
    telemetry: Type.Optional(
      Type.Object(
        {
          key: Type.String({ minLength: 1, maxLength: 128 }),
          worseWhen: Type.Union([Type.Literal('higher'), Type.Literal('lower')]),
          marginPercent: Type.Number({
            minimum: 0,
            maximum: 10_000,
            description: 'relative difference of the cohort means',
          }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const OtaTimeouts = Type.Object(
  {
    offered: Type.Optional(Seconds('offered and not answered', 1)),
    accepted: Type.Optional(Seconds('accepted and silent', 1)),
    deferred: Type.Optional(Seconds('deferred, at most', 1)),
    downloading: Type.Optional(Seconds('no progress while downloading', 1)),
    downloaded: Type.Optional(Seconds('downloaded and not installing', 1)),
    installing: Type.Optional(Seconds('installing and silent', 1)),
    rebooting: Type.Optional(Seconds('rebooting without reporting the new version', 1)),
  },
  {
    additionalProperties: false,
    description: 'seconds a device may stay silent in each state before it is timed out',
  },
);

export const RetryPolicy = Type.Object(
  {
    max: Type.Integer({
      minimum: 0,
      maximum: DEPLOYMENT_LIMITS.maxRetries,
      description: 'further attempts after a failure or a timeout',
    }),
    backoffSeconds: Type.Optional(Seconds('delay before the first retry; doubled for each next one', 0)),
  },
  { additionalProperties: false },
);

export const RolloutRate = Type.Object(
  {
    perMinute: Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      description: 'offers per minute at the start',
    }),
    factor: Type.Optional(
      Type.Number({ minimum: 1, maximum: 10, description: 'the rate is multiplied by this …' }),
    ),
    increaseEvery: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        description: '… each time this many more devices succeeded',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'an exponential rate of offers, within the phases: perMinute × factor^floor(succeeded / increaseEvery)',
  },
);

export const MaintenanceWindow = Type.Object(
  {
    cron: Type.String({
      minLength: 9,
      maxLength: 128,
      description: 'when each window opens (5 or 6 field cron expression)',
    }),
    durationMinutes: Type.Integer({ minimum: 1, maximum: 7 * 24 * 60 }),
    timezone: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone; UTC when absent' }),
    ),
  },
  { additionalProperties: false, description: 'new offers leave only inside a window' },
);

export const DeploymentCreate = Type.Object(
  {
    artifactId: Type.String({ minLength: 1, maxLength: 64 }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: DEPLOYMENT_LIMITS.maxNameLength })),
    target: DeploymentTarget,
    phases: Type.Optional(
      Type.Array(DeploymentPhase, {
        minItems: 1,
        maxItems: DEPLOYMENT_LIMITS.maxPhases,
        description: 'rising shares ending at 100; default 1 %, 10 %, 50 %, 100 % with an hour of soak',
      }),
    ),
    maxInFlight: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        description: 'devices between offer and a final state at once',
      }),
    ),
    rate: Type.Optional(RolloutRate),
    statusRule: Type.Optional(StatusRule),
    healthGate: Type.Optional(HealthGate),
    timeouts: Type.Optional(OtaTimeouts),
    retries: Type.Optional(RetryPolicy),
    maintenanceWindow: Type.Optional(MaintenanceWindow),
  },
  { additionalProperties: false },
);

const ResolvedPhase = Answer({
  percent: Type.Number(),
  soakSeconds: Type.Integer({ minimum: 0 }),
  devices: Type.Integer({ minimum: 0 }),
});

export const HealthCohort = Answer({
  devices: Type.Integer({ minimum: 0 }),
  rebooting: Type.Integer({ minimum: 0 }),
  offline: Type.Integer({ minimum: 0 }),
  crashing: Type.Integer({ minimum: 0 }),
  unhealthy: Type.Integer({ minimum: 0, description: 'devices with any of the three' }),
  unhealthyPercent: Type.Number(),
  telemetryMean: Nullable(Type.Number()),
});

export const HealthComparison = Answer({
  at: EpochMs,
  updated: HealthCohort,
  control: HealthCohort,
  verdict: Type.Union([Type.Literal('pass'), Type.Literal('fail'), Type.Literal('insufficient')]),
  reason: Type.String(),
});

export const Deployment = Answer({
  id: Type.String(),
  tenantId: Type.String(),
  name: Nullable(Type.String()),
  artifactId: Type.String(),
  version: Type.String(),
  hardwareClass: HardwareClass,
  status: DeploymentStatus,
  statusCode: Nullable(
    Type.String({
      description:
        'why it last changed status: operator, status_rule, health_gate, emergency_stop, completed',
    }),
  ),
  statusReason: Nullable(Type.String()),
  target: Type.Unknown({ description: 'the target as created' }),
  phases: Type.Array(ResolvedPhase),
  currentPhase: Type.Integer({ minimum: 0, description: 'index into phases' }),
  phaseStartedAt: NullableEpochMs,
  soakUntil: NullableEpochMs,
  total: Type.Integer({ minimum: 0 }),
  excluded: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
    description: 'devices the target named but the artifact left out, by reason',
  }),
  counts: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: 'devices per state' }),
  executions: Type.Integer({ minimum: 0, description: 'attempts that ended' }),
  failures: Type.Integer({
    minimum: 0,
    description: 'attempts that ended other than succeeded or cancelled',
  }),
  maxInFlight: Nullable(Type.Integer()),
  rate: Nullable(Answer({ perMinute: Type.Integer(), factor: Type.Number(), increaseEvery: Type.Integer() })),
  statusRule: StatusRule,
  healthGate: Type.Unknown(),
  health: Nullable(HealthComparison),
  timeouts: Type.Record(Type.String(), Type.Integer()),
  retries: Answer({ max: Type.Integer(), backoffSeconds: Type.Integer() }),
  maintenanceWindow: Nullable(MaintenanceWindow),
  createdAt: EpochMs,
  createdBy: Nullable(Type.String()),
  updatedAt: EpochMs,
  finishedAt: NullableEpochMs,
});

export const DeploymentDevice = Answer({
  deviceId: Type.String(),
  operationId: Type.String(),
  state: OtaStateSchema,
  attempt: Type.Integer({ minimum: 0 }),
  phase: Type.Integer({ minimum: 0 }),
  progress: Nullable(Type.Integer()),
  code: Nullable(Type.String()),
  reason: Nullable(Type.String()),
  fromVersion: Nullable(Type.String()),
  stateSince: NullableEpochMs,
  deadlineAt: NullableEpochMs,
  nextAttemptAt: NullableEpochMs,
  updatedAt: EpochMs,
});

export const DeploymentParams = Type.Object({ deploymentId: IdParam });
export const DeploymentDeviceParams = Type.Object({ deploymentId: IdParam, deviceId: IdParam });
export const DeploymentListQuery = Type.Object(
  { status: Type.Optional(DeploymentStatus), limit: Type.Optional(PageLimit), cursor: Type.Optional(Cursor) },
  { additionalProperties: false },
);
export const DeploymentDevicesQuery = Type.Object(
  { state: Type.Optional(OtaStateSchema), limit: Type.Optional(PageLimit), cursor: Type.Optional(Cursor) },
  { additionalProperties: false },
);
export const DeploymentAction = Type.Object(
  { reason: Type.Optional(Type.String({ minLength: 1, maxLength: DEPLOYMENT_LIMITS.maxReasonLength })) },
  { additionalProperties: false },
);
export const EmergencyStop = Answer({
  active: Type.Boolean(),
  since: NullableEpochMs,
  by: Nullable(Type.String()),
  reason: Nullable(Type.String()),
  stoppedDeployments: Type.Optional(Type.Integer({ minimum: 0 })),
});

export const OtaOperationParams = Type.Object({ operationId: IdParam });

export const deploymentOperations = {
  createDeployment: operation({
    method: 'POST',
    path: '/v1/deployments',
    body: DeploymentCreate,
    responses: { 201: Deployment },
  }),
  listDeployments: operation({
    method: 'GET',
    path: '/v1/deployments',
    query: DeploymentListQuery,
    responses: { 200: PageOf(Deployment) },
  }),
  getDeployment: operation({
    method: 'GET',
    path: '/v1/deployments/{deploymentId}',
    params: DeploymentParams,
    responses: { 200: Deployment },
  }),
  listDeploymentDevices: operation({
    method: 'GET',
    path: '/v1/deployments/{deploymentId}/devices',
    params: DeploymentParams,
    query: DeploymentDevicesQuery,
    responses: { 200: PageOf(DeploymentDevice) },
  }),
  pauseDeployment: operation({
    method: 'POST',
    path: '/v1/deployments/{deploymentId}/pause',
    params: DeploymentParams,
    body: DeploymentAction,
    responses: { 200: Deployment },
  }),
  resumeDeployment: operation({
    method: 'POST',
    path: '/v1/deployments/{deploymentId}/resume',
    params: DeploymentParams,
    body: DeploymentAction,
    responses: { 200: Deployment },
  }),
  abortDeployment: operation({
    method: 'POST',
    path: '/v1/deployments/{deploymentId}/abort',
    params: DeploymentParams,
    body: DeploymentAction,
    responses: { 200: Deployment },
  }),
  stopDeployment: operation({
    method: 'POST',
    path: '/v1/deployments/{deploymentId}/stop',
    params: DeploymentParams,
    body: DeploymentAction,
    responses: { 200: Deployment },
  }),
  cancelDeploymentDevice: operation({
    method: 'POST',
    path: '/v1/deployments/{deploymentId}/devices/{deviceId}/cancel',
    params: DeploymentDeviceParams,
    body: DeploymentAction,
    responses: { 200: DeploymentDevice },
  }),
  getEmergencyStop: operation({
    method: 'GET',
    path: '/v1/deployments/emergency-stop',
    responses: { 200: EmergencyStop },
  }),
  setEmergencyStop: operation({
    method: 'POST',
    path: '/v1/deployments/emergency-stop',
    body: DeploymentAction,
    responses: { 200: EmergencyStop },
  }),
  liftEmergencyStop: operation({
    method: 'DELETE',
    path: '/v1/deployments/emergency-stop',
    responses: { 200: EmergencyStop },
  }),
};

export const deviceOtaOperations = {
  fetchOta: operation({
    method: 'GET',
    path: '/v1/device/ota',
    responses: { 200: ItemsOf(OtaMessageSchema) },
  }),
  reportOtaProgress: operation({
    method: 'POST',
    path: '/v1/device/ota/{operationId}/progress',
    params: OtaOperationParams,
    body: OtaReportSchema,
    responses: {
      200: Answer({ operationId: Type.String(), attempt: Type.Integer(), state: OtaStateSchema }),
    },
  }),
};
