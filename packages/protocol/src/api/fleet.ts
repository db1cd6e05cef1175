/** Fleet versions: the firmware distribution of a tenant and its minimum-supported-version policy. */
import { Type } from '@sinclair/typebox';
import { FirmwareReportSchema, HardwareClassSchema, SemverSchema } from '../firmware.js';
import {
  Answer,
  Cursor,
  EpochMs,
  IdParam,
  ItemsOf,
  Nullable,
  PageLimit,
  PageOf,
  Tag,
  operation,
} from './common.js';

export const FleetVersionsQuery = Type.Object(
  {
    by: Type.Optional(Type.Literal('tag', { description: 'also split every count by device tag' })),
    tag: Type.Optional(Tag),
  },
  { additionalProperties: false },
);

export const FleetPolicyEntry = Answer({
  hardwareClass: Type.String(),
  minVersion: Type.String(),
  updatedAt: EpochMs,
});

export const FleetVersions = Answer({
  total: Type.Integer({ minimum: 0, description: 'devices counted (released ones are not)' }),
  neverReported: Type.Integer({ minimum: 0, description: 'devices that never reported a firmware' }),
  connected: Type.Integer({ minimum: 0, description: 'devices connected now (the rest are offline)' }),
  disabled: Type.Integer({ minimum: 0, description: 'devices disabled by an operator' }),
  belowMinimum: Type.Integer({
    minimum: 0,
    description: 'devices below the minimum version of their hardware class',
  }),
  items: Type.Array(
    Answer({
      version: Nullable(Type.String()),
      hardwareClass: Nullable(Type.String()),
      tag: Type.Optional(Nullable(Type.String({ description: 'with ?by=tag; null: no tag' }))),
      count: Type.Integer({ minimum: 0 }),
    }),
    { description: 'counts by version × hardware class (× tag); null version: never reported' },
  ),
  policy: Type.Array(
    Answer({
      hardwareClass: Type.String(),
      minVersion: Type.String(),
      updatedAt: EpochMs,
      belowMinimum: Type.Integer({ minimum: 0 }),
    }),
  ),
});

export const FleetPolicySet = Type.Object(
  {
    hardwareClass: HardwareClassSchema,
    minVersion: Nullable(SemverSchema),
  },
  { additionalProperties: false },
);

export const FirmwareState = Answer({
  version: Type.String(),
  hardwareClass: Type.String(),
  reportedAt: EpochMs,
});

/**
 * What counts as a device's failure or refusal (docs/api.md#recent-failures-and-refusals):
 * publish_refused and connect_refused are stored when the broker refuses them (bounded per device and
 * code); the others are read from what the platform keeps anyway.
 */
export const FLEET_PROBLEM_KINDS = [
  'publish_refused',
  'connect_refused',
  'ota_failed',
  'device_error',
  'abnormal_disconnect',
  'provisioning_rejected',
  'limit_exceeded',
] as const;
export const FleetProblemKind = Type.Union(
  FLEET_PROBLEM_KINDS.map((k) => Type.Literal(k)),
  { description: 'what went wrong' },
);
const Since = Type.String({
  maxLength: 40,
  description: 'epoch milliseconds or RFC 3339; default 24 hours ago, at most 30 days ago',
});
export const FleetProblemsQuery = Type.Object(
  {
    kind: Type.Optional(FleetProblemKind),
    deviceId: Type.Optional(IdParam),
    from: Type.Optional(Since),
    cursor: Type.Optional(Cursor),
    limit: Type.Optional(PageLimit),
  },
  { additionalProperties: false },
);
export const FleetProblemCountsQuery = Type.Object(
  { deviceId: Type.Optional(IdParam), from: Type.Optional(Since) },
  { additionalProperties: false },
);
export const FleetProblem = Answer({
  id: Type.String({ description: 'the record it comes from, unique within its kind' }),
  kind: FleetProblemKind,
  deviceId: Nullable(Type.String({ description: 'null: a provisioning request that made no device' })),
  deviceName: Nullable(Type.String()),
  serial: Nullable(Type.String({ description: 'provisioning_rejected: the serial that asked' })),
  at: EpochMs,
  code: Nullable(
    Type.String({
      description:
        'the error code of a refusal, the state of a failed OTA operation, the disconnect reason, the event type',
    }),
  ),
  message: Nullable(Type.String()),
  topic: Nullable(Type.String({ description: 'publish_refused: the topic published to' })),
  count: Type.Integer({
    minimum: 1,
    description: 'how many it stands for: a stored refusal counts the like ones not stored (docs/mqtt.md)',
  }),
});
export const FleetProblemCounts = Answer({
  from: EpochMs,
  total: Type.Integer({ minimum: 0 }),
  items: Type.Array(Answer({ kind: FleetProblemKind, count: Type.Integer({ minimum: 0 }) }), {
    description: 'one per kind, every kind listed',
  }),
});

export const fleetOperations = {
  getFleetVersions: operation({
    method: 'GET',
    path: '/v1/fleet/versions',
    query: FleetVersionsQuery,
    responses: { 200: FleetVersions },
  }),
  getFleetPolicy: operation({
    method: 'GET',
    path: '/v1/fleet/policy',
    responses: { 200: ItemsOf(FleetPolicyEntry) },
  }),
  setFleetPolicy: operation({
    method: 'PUT',
    path: '/v1/fleet/policy',
    body: FleetPolicySet,
    responses: { 200: ItemsOf(FleetPolicyEntry) },
  }),
  listFleetProblems: operation({
    method: 'GET',
    path: '/v1/fleet/problems',
    query: FleetProblemsQuery,
    responses: { 200: PageOf(FleetProblem) },
  }),
  countFleetProblems: operation({
    method: 'GET',
    path: '/v1/fleet/problems/counts',
    query: FleetProblemCountsQuery,
    responses: { 200: FleetProblemCounts },
  }),
};

export const deviceFirmwareOperations = {
  reportFirmware: operation({
    method: 'PUT',
    path: '/v1/device/firmware',
    body: FirmwareReportSchema,
    responses: { 200: FirmwareState },
  }),
};
