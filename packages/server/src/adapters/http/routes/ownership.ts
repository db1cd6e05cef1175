/** Ownership transfer: release a unit to a new owner, claim it with the code. */
import type { DeviceClaim, DeviceParams, DeviceRelease } from '@mooring/protocol';
import { tenantCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';

export const ownershipRoutes: RoutePlugin = (app, { services }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['ownership'];
  app.post<{ Params: typeof DeviceParams.static; Body: typeof DeviceRelease.static }>(
    '/v1/devices/:deviceId/release',
    {
      config,
      schema: {
        ...api('releaseDevice', config.auth),
        tags,
        summary: 'Release a device to a new owner: revokes its credentials; returns a one-time claim code',
      },
    },
    async (request) =>
      services.ownership.release(tenantCaller(request), request.params.deviceId, {
        keepData: request.body.keepData,
      }),
  );
  app.post<{ Body: typeof DeviceClaim.static }>(
    '/v1/devices/claim',
    {
      config,
      schema: {
        ...api('claimDevice', config.auth),
        tags,
        summary: 'Claim a released device with its claim code',
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          await services.ownership.claim(
            tenantCaller(request),
            request.body.claimCode,
            request.body.name ? { name: request.body.name } : {},
          ),
        ),
  );
};
