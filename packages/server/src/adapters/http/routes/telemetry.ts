import { Type } from '@sinclair/typebox';
import { parseTime, tenantCaller, type RoutePlugin } from '../context.js';
import { MAX_DURATION_SECONDS } from './schemas.js';

const DeviceParams = Type.Object({ deviceId: Type.String({ maxLength: 64 }) });
const Time = Type.String({ description: 'epoch milliseconds or RFC 3339', maxLength: 40 });
const RangeQuery = Type.Object(
  {
    from: Type.Optional(Time),
    to: Type.Optional(Time),
    key: Type.Optional(Type.String({ maxLength: 64 })),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  },
  { additionalProperties: false },
);
const AggregateQuery = Type.Object(
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

const DAY_MS = 86_400_000;

function range(q: { from?: string; to?: string }) {
  const to = parseTime(q.to, Date.now() + 60_000, 'to');
  return { from: parseTime(q.from, to - DAY_MS, 'from'), to };
}

export const telemetryRoutes: RoutePlugin = (app, { services }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['telemetry'];
  app.get<{ Params: typeof DeviceParams.static; Querystring: typeof RangeQuery.static }>(
    '/v1/devices/:deviceId/telemetry',
    {
      config,
      schema: {
        tags,
        summary: 'Raw values in [from, to) (default: the last 24 h), oldest first',
        params: DeviceParams,
        querystring: RangeQuery,
      },
    },
    async (request) => {
      const { key, cursor, limit } = request.query;
      return services.telemetry.range(tenantCaller(request), request.params.deviceId, {
        ...range(request.query),
        ...(key ? { key } : {}),
        ...(cursor ? { cursor } : {}),
        ...(limit ? { limit } : {}),
      });
    },
  );
  app.get<{ Params: typeof DeviceParams.static }>(
    '/v1/devices/:deviceId/telemetry/latest',
    { config, schema: { tags, summary: 'Latest value of every key', params: DeviceParams } },
    async (request) => ({
      items: await services.telemetry.latest(tenantCaller(request), request.params.deviceId),
    }),
  );
  app.get<{ Params: typeof DeviceParams.static; Querystring: typeof AggregateQuery.static }>(
    '/v1/devices/:deviceId/telemetry/aggregate',
    {
      config,
      schema: {
        tags,
        summary: 'count/min/max/avg of a numeric key per time bucket',
        params: DeviceParams,
        querystring: AggregateQuery,
      },
    },
    async (request) => ({
      items: await services.telemetry.aggregate(tenantCaller(request), request.params.deviceId, {
        key: request.query.key,
        ...range(request.query),
        bucketMs: (request.query.bucket ?? 60) * 1000,
      }),
    }),
  );
  app.get<{ Params: typeof DeviceParams.static; Querystring: typeof RangeQuery.static }>(
    '/v1/devices/:deviceId/events',
    {
      config,
      schema: {
        tags,
        summary: 'Device events in [from, to), oldest first (key filters by type)',
        params: DeviceParams,
        querystring: RangeQuery,
      },
    },
    async (request) => {
      const { key, cursor, limit } = request.query;
      return services.telemetry.events(tenantCaller(request), request.params.deviceId, {
        ...range(request.query),
        ...(key ? { key } : {}),
        ...(cursor ? { cursor } : {}),
        ...(limit ? { limit } : {}),
      });
    },
  );
};
