/**
 * Fleet versions: the firmware distribution and the minimum-supported-version policy; and the
 * devices' recent failures and refusals.
 */
import type {
  FleetPolicySet,
  FleetProblemCountsQuery,
  FleetProblemsQuery,
  FleetVersionsQuery,
} from '@mooring/protocol';
import { parseTime, tenantCaller, type RoutePlugin } from '../context.js';
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
  const from = (value: string | undefined) =>
    value === undefined ? {} : { from: parseTime(value, 0, 'from') };
  app.get<{ Querystring: typeof FleetProblemsQuery.static }>(
    '/v1/fleet/problems',
    {
      config,
      schema: {
        ...api('listFleetProblems', config.auth),
        tags,
        summary: "The devices' recent failures and refusals, newest first (by kind and device)",
      },
    },
    async (request) => {
      const { from: f, ...q } = request.query;
      return services.fleetProblems.list(tenantCaller(request), { ...q, ...from(f) });
    },
  );
  app.get<{ Querystring: typeof FleetProblemCountsQuery.static }>(
    '/v1/fleet/problems/counts',
    {
      config,
      schema: {
        ...api('countFleetProblems', config.auth),
        tags,
        summary: 'How many failures and refusals of each kind the devices had since a time (24 h by default)',
      },
    },
    async (request) => {
      const { from: f, ...q } = request.query;
      return services.fleetProblems.counts(tenantCaller(request), { ...q, ...from(f) });
    },
  );
};
