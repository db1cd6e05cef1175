import { Type } from '@sinclair/typebox';
import { idempotent } from '../idempotency.js';
import { tenantCaller, type RoutePlugin } from '../context.js';

const Tag = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:=-]+$' });
const Name = Type.String({ minLength: 1, maxLength: 128 });
const Metadata = Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), {
  description: 'free-form JSON object, at most 8 KiB',
});
const DeviceCreate = Type.Object(
  {
    name: Name,
    serial: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_.:-]{1,64}$',
        description: "the manufacturer's serial, unique in the tenant",
      }),
    ),
    tags: Type.Optional(Type.Array(Tag, { maxItems: 32 })),
    metadata: Type.Optional(Metadata),
  },
  { additionalProperties: false },
);
const DeviceUpdate = Type.Object(
  {
    name: Type.Optional(Name),
    tags: Type.Optional(Type.Array(Tag, { maxItems: 32 })),
    metadata: Type.Optional(Metadata),
    status: Type.Optional(Type.Union([Type.Literal('enabled'), Type.Literal('disabled')])),
  },
  { additionalProperties: false, minProperties: 1 },
);
const DeviceParams = Type.Object({ deviceId: Type.String({ maxLength: 64 }) });
const KeyParams = Type.Object({
  deviceId: Type.String({ maxLength: 64 }),
  keyId: Type.String({ maxLength: 64 }),
});
const ListQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
    tag: Type.Optional(Tag),
    status: Type.Optional(Type.Union([Type.Literal('enabled'), Type.Literal('disabled')])),
    connected: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const deviceRoutes: RoutePlugin = (app, { services, db }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['devices'];

  app.post<{ Body: typeof DeviceCreate.static }>(
    '/v1/devices',
    { config, schema: { tags, summary: 'Register a device (accepts Idempotency-Key)', body: DeviceCreate } },
    async (request, reply) =>
      idempotent(db, request, reply, 201, () => services.devices.create(tenantCaller(request), request.body)),
  );
  app.get<{ Querystring: typeof ListQuery.static }>(
    '/v1/devices',
    {
      config,
      schema: {
        tags,
        summary: 'List devices (cursor pagination; filter by tag, status, connected)',
        querystring: ListQuery,
      },
    },
    async (request) => services.devices.list(tenantCaller(request), request.query),
  );
  app.get<{ Params: typeof DeviceParams.static }>(
    '/v1/devices/:deviceId',
    { config, schema: { tags, summary: 'Get a device with its presence', params: DeviceParams } },
    async (request) => services.devices.get(tenantCaller(request), request.params.deviceId),
  );
  app.patch<{ Params: typeof DeviceParams.static; Body: typeof DeviceUpdate.static }>(
    '/v1/devices/:deviceId',
    {
      config,
      schema: {
        tags,
        summary: 'Update name, tags, metadata or status (disabling drops live sessions)',
        params: DeviceParams,
        body: DeviceUpdate,
      },
    },
    async (request) => services.devices.update(tenantCaller(request), request.params.deviceId, request.body),
  );
  for (const [action, status] of [
    ['disable', 'disabled'],
    ['enable', 'enabled'],
  ] as const) {
    app.post<{ Params: typeof DeviceParams.static }>(
      `/v1/devices/:deviceId/${action}`,
      {
        config,
        schema: {
          tags,
          summary: `${action[0]!.toUpperCase()}${action.slice(1)} a device`,
          params: DeviceParams,
        },
      },
      async (request) => services.devices.update(tenantCaller(request), request.params.deviceId, { status }),
    );
  }
  app.delete<{ Params: typeof DeviceParams.static }>(
    '/v1/devices/:deviceId',
    {
      config,
      schema: { tags, summary: 'Delete a device with its keys, commands and data', params: DeviceParams },
    },
    async (request, reply) => {
      await services.devices.delete(tenantCaller(request), request.params.deviceId);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: typeof DeviceParams.static }>(
    '/v1/devices/:deviceId/access-keys',
    {
      config,
      schema: { tags, summary: 'Issue a device access key (secret shown once)', params: DeviceParams },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await services.devices.createAccessKey(tenantCaller(request), request.params.deviceId)),
  );
  app.get<{ Params: typeof DeviceParams.static }>(
    '/v1/devices/:deviceId/access-keys',
    { config, schema: { tags, summary: "List a device's access keys (no secrets)", params: DeviceParams } },
    async (request) => ({
      items: await services.devices.listAccessKeys(tenantCaller(request), request.params.deviceId),
    }),
  );
  app.delete<{ Params: typeof KeyParams.static }>(
    '/v1/devices/:deviceId/access-keys/:keyId',
    {
      config,
      schema: { tags, summary: 'Revoke an access key (drops sessions that used it)', params: KeyParams },
    },
    async (request, reply) => {
      await services.devices.revokeAccessKey(
        tenantCaller(request),
        request.params.deviceId,
        request.params.keyId,
      );
      return reply.code(204).send();
    },
  );
  app.get<{ Params: typeof DeviceParams.static; Querystring: { limit?: number } }>(
    '/v1/devices/:deviceId/presence',
    {
      config,
      schema: {
        tags,
        summary: 'Connect and disconnect history, newest first',
        params: DeviceParams,
        querystring: Type.Object(
          { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })) },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => ({
      items: await services.presence.history(
        tenantCaller(request),
        request.params.deviceId,
        request.query.limit ?? 50,
      ),
    }),
  );
};
