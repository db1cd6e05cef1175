/** Reading a device's telemetry and events. */
import { Type } from '@sinclair/typebox';
import { EVENT_SEVERITIES } from '../events.js';
import { TelemetryValueSchema } from '../telemetry.js';
import {
  Answer,
  Cursor,
  EpochMs,
  ItemsOf,
  MAX_DURATION_SECONDS,
  Nullable,
  OpenObject,
  PageLimit,
  PageOf,
  operation,
} from './common.js';
import { DeviceParams } from './devices.js';

const Time = Type.String({ description: 'epoch milliseconds or RFC 3339', maxLength: 40 });
export const TelemetryRangeQuery = Type.Object(
  {
    from: Type.Optional(Time),
    to: Type.Optional(Time),
    key: Type.Optional(Type.String({ maxLength: 64 })),
    cursor: Type.Optional(Cursor),
    limit: Type.Optional(PageLimit),
  },
  { additionalProperties: false },
);
export const TelemetryAggregateQuery = Type.Object(
  {
    key: Type.String({ minLength: 1, maxLength: 64 }),
    from: Type.Optional(Time),
    to: Type.Optional(Time),
    bucket: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_DURATION_SECONDS,
        description: 'bucket width in seconds (default 60)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const TelemetryPoint = Answer({ ts: EpochMs, key: Type.String(), value: TelemetryValueSchema });
export const LatestValue = Answer({ key: Type.String(), ts: EpochMs, value: TelemetryValueSchema });
export const AggregateBucket = Answer({
  start: EpochMs,
  count: Type.Integer({ minimum: 0 }),
  min: Nullable(Type.Number()),
  max: Nullable(Type.Number()),
  avg: Nullable(Type.Number()),
});
export const StoredEvent = Answer({
  id: Type.Integer({ minimum: 0 }),
  ts: EpochMs,
  receivedAt: EpochMs,
  type: Type.String(),
  severity: Type.Union(EVENT_SEVERITIES.map((s) => Type.Literal(s))),
  message: Nullable(Type.String()),
  data: Nullable(OpenObject('what the device sent in `data`')),
});

export const telemetryOperations = {
  getTelemetry: operation({
    method: 'GET',
    path: '/v1/devices/{deviceId}/telemetry',
    params: DeviceParams,
    query: TelemetryRangeQuery,
    responses: { 200: PageOf(TelemetryPoint) },
  }),
  getLatestTelemetry: operation({
    method: 'GET',
    path: '/v1/devices/{deviceId}/telemetry/latest',
    params: DeviceParams,
    responses: { 200: ItemsOf(LatestValue) },
  }),
  aggregateTelemetry: operation({
    method: 'GET',
    path: '/v1/devices/{deviceId}/telemetry/aggregate',
    params: DeviceParams,
    query: TelemetryAggregateQuery,
    responses: { 200: ItemsOf(AggregateBucket) },
  }),
  getEvents: operation({
    method: 'GET',
    path: '/v1/devices/{deviceId}/events',
    params: DeviceParams,
    query: TelemetryRangeQuery,
    responses: { 200: PageOf(StoredEvent) },
  }),
};
