/** Fleet versions: the firmware distribution of a tenant and its minimum-supported-version policy. */
import { Type } from '@sinclair/typebox';
import { FirmwareReportSchema, HardwareClassSchema, SemverSchema } from '../firmware.js';
import { Answer, EpochMs, ItemsOf, Nullable, Tag, operation } from './common.js';

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
};

export const deviceFirmwareOperations = {
  reportFirmware: operation({
    method: 'PUT',
    path: '/v1/device/firmware',
    body: FirmwareReportSchema,
    responses: { 200: FirmwareState },
  }),
};
