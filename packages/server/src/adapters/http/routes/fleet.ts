/** Fleet versions: the firmware distribution and the minimum-supported-version policy. */
import type { FleetPolicySet, FleetVersionsQuery } from '@mooring/protocol';
import { tenantCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';

export const fleetRoutes: RoutePlugin = (app, { services }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['fleet'];
  app.get<{ Querystring: typeof FleetVersionsQuery.static }>(
    '/v1/fleet/versions',
    {
      config,
      schema: {
        ...api('getFleetVersions', config.auth),
        tags,
        summary:
          'Firmware distribution by version × hardware class (× tag), and the devices below the policy',
      },
    },
    async (request) => services.fleet.versions(tenantCaller(request), request.query),
  );
  app.get(
    '/v1/fleet/policy',
    {
      config,
      schema: {
        ...api('getFleetPolicy', config.auth),
        tags,
        summary: 'The minimum supported firmware version per hardware class',
      },
    },
    async (request) => ({ items: await services.fleet.policy(tenantCaller(request)) }),
  );
  app.put<{ Body: typeof FleetPolicySet.static }>(
    '/v1/fleet/policy',
    {
      config,
      schema: {
        ...api('setFleetPolicy', config.auth),
        tags,
        summary: 'Set (or, with a null version, remove) the minimum version of one hardware class',
      },
    },
    async (request) => ({ items: await services.fleet.setPolicy(tenantCaller(request), request.body) }),
  );
};
