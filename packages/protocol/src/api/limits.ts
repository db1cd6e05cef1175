/**
 * Limits: the values a tenant's limits have (the configured default, the tenant's override and, for
 * a device, the device's), overrides set and cleared, and the limit events: refusals by a limit,
 * kept bounded (docs/api.md#limits).
 */
import { Type } from '@sinclair/typebox';
import { DeviceParams } from './devices.js';
import {
  Answer,
  Cursor,
  EpochMs,
  IdParam,
  ItemsOf,
  Nullable,
  PageLimit,
  PageOf,
  operation,
} from './common.js';

/** Highest value an override may name; a tenant's is further bounded by the configured default. */
export const MAX_LIMIT_VALUE = 1_000_000_000_000;

const LimitName = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[a-z0-9_]+\\.[a-z0-9_]+$',
  description: 'a limit by its name (docs/operations.md#limits), e.g. rest.requests_per_key',
});
const Value = Type.Integer({ minimum: 0, maximum: MAX_LIMIT_VALUE });

export const LimitValue = Answer({
  limit: LimitName,
  scope: Type.String({ description: 'whose count it is: tenant, device, api-key, address…' }),
  unit: Type.String({ description: 'what it counts: requests, messages, bytes…' }),
  windowMs: Nullable(
    Type.Integer({ minimum: 1, maximum: MAX_LIMIT_VALUE, description: 'null: a cap on how many at once' }),
  ),
  description: Type.String(),
  overridable: Nullable(
    Type.Union([Type.Literal('tenant'), Type.Literal('device')], {
      description:
        'tenant: per tenant; device: per tenant and per device; null: a setting of the server only',
    }),
  ),
  default: Value,
  tenantOverride: Nullable(Value),
  deviceOverride: Type.Optional(Nullable(Value)),
  effective: Value,
});

export const LimitOverridesSet = Type.Object(
  {
    items: Type.Array(
      Type.Object(
        {
          limit: LimitName,
          value: Nullable(
            Type.Integer({
              minimum: 1,
              maximum: MAX_LIMIT_VALUE,
              description: 'null clears the override; at most the configured default',
            }),
          ),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 50 },
    ),
  },
  { additionalProperties: false },
);

export const LimitEventsQuery = Type.Object(
  {
    name: Type.Optional(LimitName),
    deviceId: Type.Optional(IdParam),
    from: Type.Optional(
      Type.String({
        maxLength: 40,
        description: 'epoch milliseconds or RFC 3339; default 24 hours ago, at most 30 days ago',
      }),
    ),
    cursor: Type.Optional(Cursor),
    limit: Type.Optional(PageLimit),
  },
  { additionalProperties: false },
);

export const LimitEvent = Answer({
  id: Type.String(),
  at: EpochMs,
  limit: LimitName,
  scope: Type.String(),
  subject: Type.String({ description: 'whose count: api-key:ID, user:ID, device:ID…' }),
  deviceId: Nullable(Type.String()),
  configured: Value,
  observed: Value,
  count: Type.Integer({
    minimum: 1,
    maximum: MAX_LIMIT_VALUE,
    description: 'refusals it stands for: like refusals within 10 s are counted in one event',
  }),
});

export const limitOperations = {
  getTenantLimits: operation({
    method: 'GET',
    path: '/v1/tenant/limits',
    responses: { 200: ItemsOf(LimitValue) },
  }),
  setTenantLimits: operation({
    method: 'PUT',
    path: '/v1/tenant/limits',
    body: LimitOverridesSet,
    responses: { 200: ItemsOf(LimitValue) },
  }),
  getDeviceLimits: operation({
    method: 'GET',
    path: '/v1/devices/{deviceId}/limits',
    params: DeviceParams,
    responses: { 200: ItemsOf(LimitValue) },
  }),
  setDeviceLimits: operation({
    method: 'PUT',
    path: '/v1/devices/{deviceId}/limits',
    params: DeviceParams,
    body: LimitOverridesSet,
    responses: { 200: ItemsOf(LimitValue) },
  }),
  listLimitEvents: operation({
    method: 'GET',
    path: '/v1/limit-events',
    query: LimitEventsQuery,
    responses: { 200: PageOf(LimitEvent) },
  }),
};
