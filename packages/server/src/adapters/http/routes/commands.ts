import { Type } from '@sinclair/typebox';
import { COMMAND_STATUSES } from '@mooring/protocol';
import { idempotent } from '../idempotency.js';
import { tenantCaller, type RoutePlugin } from '../context.js';
import { MAX_DURATION_SECONDS } from './schemas.js';

const DeviceParams = Type.Object({ deviceId: Type.String({ maxLength: 64 }) });
const CommandParams = Type.Object({
  deviceId: Type.String({ maxLength: 64 }),
  commandId: Type.String({ maxLength: 64 }),
});
const CommandCreate = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }),
    params: Type.Optional(Type.Unknown({ description: 'any JSON value, at most 16 KiB' })),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_DURATION_SECONDS })),
  },
  { additionalProperties: false },
);
const ListQuery = Type.Object(
  {
    status: Type.Optional(Type.Union(COMMAND_STATUSES.map((s) => Type.Literal(s)))),
    cursor: Type.Optional(Type.String({ maxLength: 512 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  },
  { additionalProperties: false },
);

export const commandRoutes: RoutePlugin = (app, { services, db }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['commands'];
  app.post<{ Params: typeof DeviceParams.static; Body: typeof CommandCreate.static }>(
    '/v1/devices/:deviceId/commands',
    {
      config,
      schema: {
        tags,
        summary: 'Send a command (accepts Idempotency-Key)',
        params: DeviceParams,
        body: CommandCreate,
      },
    },
    async (request, reply) =>
      idempotent(db, request, reply, 201, () =>
        services.commands.create(tenantCaller(request), request.params.deviceId, request.body),
      ),
  );
  app.get<{ Params: typeof DeviceParams.static; Querystring: typeof ListQuery.static }>(
    '/v1/devices/:deviceId/commands',
    {
      config,
      schema: { tags, summary: 'List commands, newest first', params: DeviceParams, querystring: ListQuery },
    },
    async (request) => services.commands.list(tenantCaller(request), request.params.deviceId, request.query),
  );
  app.get<{ Params: typeof CommandParams.static }>(
    '/v1/devices/:deviceId/commands/:commandId',
    { config, schema: { tags, summary: 'Get a command with its status and result', params: CommandParams } },
    async (request) =>
      services.commands.get(tenantCaller(request), request.params.deviceId, request.params.commandId),
  );
};
