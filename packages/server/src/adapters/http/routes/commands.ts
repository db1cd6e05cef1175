/** Commands to devices: send, list, get. */
import type { CommandCreate, CommandListQuery, CommandParams, DeviceParams } from '@mooring/protocol';
import { idempotent } from '../idempotency.js';
import { tenantCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';

export const commandRoutes: RoutePlugin = (app, { services, db }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['commands'];
  app.post<{ Params: typeof DeviceParams.static; Body: typeof CommandCreate.static }>(
    '/v1/devices/:deviceId/commands',
    {
      config,
      schema: {
        ...api('sendCommand', config.auth),
        tags,
        summary: 'Send a command (accepts Idempotency-Key)',
      },
    },
    async (request, reply) =>
      idempotent(db, request, reply, 201, () =>
        services.commands.create(tenantCaller(request), request.params.deviceId, request.body),
      ),
  );
  app.get<{ Params: typeof DeviceParams.static; Querystring: typeof CommandListQuery.static }>(
    '/v1/devices/:deviceId/commands',
    {
      config,
      schema: {
        ...api('listCommands', config.auth),
        tags,
        summary: 'List commands, newest first',
      },
    },
    async (request) => services.commands.list(tenantCaller(request), request.params.deviceId, request.query),
  );
  app.get<{ Params: typeof CommandParams.static }>(
    '/v1/devices/:deviceId/commands/:commandId',
    {
      config,
      schema: {
        ...api('getCommand', config.auth),
        tags,
        summary: 'Get a command with its status and result',
      },
    },
    async (request) =>
      services.commands.get(tenantCaller(request), request.params.deviceId, request.params.commandId),
  );
};
