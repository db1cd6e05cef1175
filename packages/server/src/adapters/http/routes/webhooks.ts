/** Webhooks: endpoints, verification, secret rotation, the delivery log and replays. */
import type {
  DeliveryListQuery,
  DeliveryParams,
  ReplayRangeBody,
  RotateSecretBody,
  WebhookCreate,
  WebhookParams,
  WebhookUpdate,
} from '@mooring/protocol';
import { tenantCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';

type Params = { Params: typeof WebhookParams.static };

export const webhookRoutes: RoutePlugin = (app, { services }) => {
  const config = { auth: 'tenant' as const };
  const tags = ['integrations'];
  const s = () => services.webhooks;
  app.post<{ Body: typeof WebhookCreate.static }>(
    '/v1/webhooks',
    {
      config,
      schema: {
        ...api('createWebhook', config.auth),
        tags,
        summary: 'Create a webhook (its secret is shown once)',
      },
    },
    async (request, reply) => reply.code(201).send(await s().create(tenantCaller(request), request.body)),
  );
  app.get(
    '/v1/webhooks',
    { config, schema: { ...api('listWebhooks', config.auth), tags, summary: 'List webhooks' } },
    async (request) => ({ items: await s().list(tenantCaller(request)) }),
  );
  app.get<Params>(
    '/v1/webhooks/:webhookId',
    { config, schema: { ...api('getWebhook', config.auth), tags, summary: 'Get a webhook' } },
    async (request) => s().get(tenantCaller(request), request.params.webhookId),
  );
  app.patch<Params & { Body: typeof WebhookUpdate.static }>(
    '/v1/webhooks/:webhookId',
    {
      config,
      schema: {
        ...api('updateWebhook', config.auth),
        tags,
        summary: 'Change a webhook; a new URL, or enabling it again, verifies it again',
      },
    },
    async (request) => s().update(tenantCaller(request), request.params.webhookId, request.body),
  );
  app.delete<Params>(
    '/v1/webhooks/:webhookId',
    {
      config,
      schema: { ...api('deleteWebhook', config.auth), tags, summary: 'Delete a webhook and its deliveries' },
    },
    async (request, reply) => {
      await s().delete(tenantCaller(request), request.params.webhookId);
      return reply.code(204).send();
    },
  );
  app.post<Params>(
    '/v1/webhooks/:webhookId/verify',
    {
      config,
      schema: {
        ...api('verifyWebhook', config.auth),
        tags,
        summary: 'Send the verification challenge again',
      },
    },
    async (request, reply) =>
      reply.code(202).send(await s().verify(tenantCaller(request), request.params.webhookId)),
  );
  app.post<Params & { Body: typeof RotateSecretBody.static }>(
    '/v1/webhooks/:webhookId/rotate-secret',
    {
      config,
      schema: {
        ...api('rotateWebhookSecret', config.auth),
        tags,
        summary: 'A new signing secret; the old one also signs for overlapSeconds (default 86400)',
      },
    },
    async (request) =>
      s().rotateSecret(
        tenantCaller(request),
        request.params.webhookId,
        request.body?.overlapSeconds ?? 86_400,
      ),
  );
  app.get<Params & { Querystring: typeof DeliveryListQuery.static }>(
    '/v1/webhooks/:webhookId/deliveries',
    {
      config,
      schema: { ...api('listWebhookDeliveries', config.auth), tags, summary: 'Deliveries, newest first' },
    },
    async (request) => s().deliveries(tenantCaller(request), request.params.webhookId, request.query),
  );
  app.get<{ Params: typeof DeliveryParams.static }>(
    '/v1/webhooks/:webhookId/deliveries/:deliveryId',
    {
      config,
      schema: {
        ...api('getWebhookDelivery', config.auth),
        tags,
        summary: 'A delivery with its event and attempts',
      },
    },
    async (request) =>
      s().delivery(tenantCaller(request), request.params.webhookId, request.params.deliveryId),
  );
  app.post<{ Params: typeof DeliveryParams.static }>(
    '/v1/webhooks/:webhookId/deliveries/:deliveryId/replay',
    {
      config,
      schema: { ...api('replayWebhookDelivery', config.auth), tags, summary: 'Send a delivery again' },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(await s().replay(tenantCaller(request), request.params.webhookId, request.params.deliveryId)),
  );
  app.post<Params & { Body: typeof ReplayRangeBody.static }>(
    '/v1/webhooks/:webhookId/replay',
    {
      config,
      schema: {
        ...api('replayWebhookDeliveries', config.auth),
        tags,
        summary: 'Send again every delivery created in [from, to), optionally only those of a status',
      },
    },
    async (request) => s().replayRange(tenantCaller(request), request.params.webhookId, request.body),
  );
};
