/** Reading a device's telemetry and events. */
import type { DeviceParams, TelemetryAggregateQuery, TelemetryRangeQuery } from '@mooring/protocol';
import { parseTime, tenantCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';

const DAY_MS = 86_400_000;

function range(q: { from?: string; to?: string }) {
  const to = parseTime(q.to, Date.now() + 60_000, 'to');
  return { from: parseTime(q.from, to - DAY_MS, 'from'), to };
}

export const telemetryRoutes: RoutePlugin = (app, { services }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['telemetry'];
  app.get<{ Params: typeof DeviceParams.static; Querystring: typeof TelemetryRangeQuery.static }>(
    '/v1/devices/:deviceId/telemetry',
    {
      config,
      schema: {
        ...api('getTelemetry', config.auth),
        tags,
        summary: 'Raw values in [from, to) (default: the last 24 h), oldest first',
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
    {
      config,
      schema: {
        ...api('getLatestTelemetry', config.auth),
        tags,
        summary: 'Latest value of every key',
      },
    },
    async (request) => ({
      items: await services.telemetry.latest(tenantCaller(request), request.params.deviceId),
    }),
  );
  app.get<{ Params: typeof DeviceParams.static; Querystring: typeof TelemetryAggregateQuery.static }>(
    '/v1/devices/:deviceId/telemetry/aggregate',
    {
      config,
      schema: {
        ...api('aggregateTelemetry', config.auth),
        tags,
        summary: 'count/min/max/avg of a numeric key per time bucket',
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
  app.get<{ Params: typeof DeviceParams.static; Querystring: typeof TelemetryRangeQuery.static }>(
    '/v1/devices/:deviceId/events',
    {
      config,
      schema: {
        ...api('getEvents', config.auth),
        tags,
        summary: 'Device events in [from, to), oldest first (key filters by type)',
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
