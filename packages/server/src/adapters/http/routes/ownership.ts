/** Ownership transfer: release a unit to a new owner, claim it with the code. */
import { Type } from '@sinclair/typebox';
import { tenantCaller, type RoutePlugin } from '../context.js';

const DeviceParams = Type.Object({ deviceId: Type.String({ maxLength: 64 }) });
const Release = Type.Object(
  {
    keepData: Type.Boolean({
      description: 'true: keep the released record and its data for your own history; false: delete them',
    }),
  },
  { additionalProperties: false },
);
const Claim = Type.Object(
  {
    claimCode: Type.String({ minLength: 1, maxLength: 128 }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);

export const ownershipRoutes: RoutePlugin = (app, { services }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['ownership'];
  app.post<{ Params: typeof DeviceParams.static; Body: typeof Release.static }>(
    '/v1/devices/:deviceId/release',
    {
      config,
      schema: {
        tags,
        summary: 'Release a device to a new owner: revokes its credentials; returns a one-time claim code',
        params: DeviceParams,
        body: Release,
      },
    },
    async (request) =>
      services.ownership.release(tenantCaller(request), request.params.deviceId, {
        keepData: request.body.keepData,
      }),
  );
  app.post<{ Body: typeof Claim.static }>(
    '/v1/devices/claim',
    { config, schema: { tags, summary: 'Claim a released device with its claim code', body: Claim } },
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
