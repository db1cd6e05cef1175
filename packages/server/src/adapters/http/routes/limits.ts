/** Limits: the tenant's and a device's limit values and overrides, and the refusals by a limit. */
import type { LimitEventsQuery, LimitOverridesSet } from '@mooring/protocol';
import { parseTime, tenantCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';

export const limitRoutes: RoutePlugin = (app, { services }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['limits'];
  type Device = { Params: { deviceId: string } };
  app.get(
    '/v1/tenant/limits',
    {
      config,
      schema: {
        ...api('getTenantLimits', config.auth),
        tags,
        summary: "Every limit with its default, the tenant's override and the value that applies",
      },
    },
    async (request) => ({ items: await services.limitSettings.tenantLimits(tenantCaller(request)) }),
  );
  app.put<{ Body: typeof LimitOverridesSet.static }>(
    '/v1/tenant/limits',
    {
      config,
      schema: {
        ...api('setTenantLimits', config.auth),
        tags,
        summary: "Set (at most the server's value) or, with null, clear the tenant's overrides",
      },
    },
    async (request) => ({
      items: await services.limitSettings.setTenantLimits(tenantCaller(request), request.body),
    }),
  );
  app.get<Device>(
    '/v1/devices/:deviceId/limits',
    {
      config,
      schema: {
        ...api('getDeviceLimits', config.auth),
        tags,
        summary: "The limits a device's overrides may set, with the tenant's and the device's overrides",
      },
    },
    async (request) => ({
      items: await services.limitSettings.deviceLimits(tenantCaller(request), request.params.deviceId),
    }),
  );
  app.put<Device & { Body: typeof LimitOverridesSet.static }>(
    '/v1/devices/:deviceId/limits',
    {
      config,
      schema: {
        ...api('setDeviceLimits', config.auth),
        tags,
        summary: "Set or clear a device's overrides; a device's override beats the tenant's",
      },
    },
    async (request) => ({
      items: await services.limitSettings.setDeviceLimits(
        tenantCaller(request),
        request.params.deviceId,
        request.body,
      ),
    }),
  );
  app.get<{ Querystring: typeof LimitEventsQuery.static }>(
    '/v1/limit-events',
    {
      config,
      schema: {
        ...api('listLimitEvents', config.auth),
        tags,
        summary: 'Refusals by a limit, newest first (like refusals within 10 s are counted in one)',
      },
    },
    async (request) => {
      const { from, ...q } = request.query;
      return services.limitSettings.events(tenantCaller(request), {
        ...q,
        ...(from === undefined ? {} : { from: parseTime(from, 0, 'from') }),
      });
    },
  );
};
