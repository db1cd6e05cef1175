/** MQTT bridges to the customer's own broker: settings and status (docs/integrations.md#mqtt-bridge). */
import type { BridgeCreate, BridgeParams, BridgeUpdate } from '@mooring/protocol';
import { tenantCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';

export const bridgeRoutes: RoutePlugin = (app, { services }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['integrations'];
  app.get(
    '/v1/bridges',
    {
      config,
      schema: {
        ...api('listBridges', config.auth),
        tags,
        summary: "List the tenant's MQTT bridges with their status",
      },
    },
    async (request) => ({ items: await services.bridges.list(tenantCaller(request)) }),
  );
  app.post<{ Body: typeof BridgeCreate.static }>(
    '/v1/bridges',
    {
      config,
      schema: {
        ...api('createBridge', config.auth),
        tags,
        summary: "Create an MQTT bridge to the customer's broker (the URL's address is checked now)",
      },
    },
    async (request, reply) =>
      reply.code(201).send(await services.bridges.create(tenantCaller(request), request.body)),
  );
  app.get<{ Params: typeof BridgeParams.static }>(
    '/v1/bridges/:bridgeId',
    {
      config,
      schema: {
        ...api('getBridge', config.auth),
        tags,
        summary: 'An MQTT bridge with its status: connection, spool depth, forwarded and dropped counts',
      },
    },
    async (request) => services.bridges.get(tenantCaller(request), request.params.bridgeId),
  );
  app.patch<{ Params: typeof BridgeParams.static; Body: typeof BridgeUpdate.static }>(
    '/v1/bridges/:bridgeId',
    {
      config,
      schema: {
        ...api('updateBridge', config.auth),
        tags,
        summary: 'Change an MQTT bridge (null removes an optional member); its forwarder reconnects',
      },
    },
    async (request) => services.bridges.update(tenantCaller(request), request.params.bridgeId, request.body),
  );
  app.delete<{ Params: typeof BridgeParams.static }>(
    '/v1/bridges/:bridgeId',
    {
      config,
      schema: { ...api('deleteBridge', config.auth), tags, summary: 'Delete an MQTT bridge and its spool' },
    },
    async (request, reply) => {
      await services.bridges.delete(tenantCaller(request), request.params.bridgeId);
      return reply.code(204).send();
    },
  );
};
