/** Webhooks over REST: endpoints, their secrets and verification, the delivery log and replays. */
import { Type } from '@sinclair/typebox';
import { PLATFORM_EVENT_TYPES } from '../platform-events.js';
import {
  Answer,
  Cursor,
  EpochMs,
  IdParam,
  ItemsOf,
  NoContent,
  Nullable,
  NullableEpochMs,
  PageLimit,
  PageOf,
  Tag,
  operation,
} from './common.js';

export const PlatformEventTypeSchema = Type.Union(PLATFORM_EVENT_TYPES.map((t) => Type.Literal(t)));
const EventTypes = Type.Array(PlatformEventTypeSchema, {
  minItems: 1,
  maxItems: PLATFORM_EVENT_TYPES.length,
});
const Url = Type.String({ minLength: 8, maxLength: 2048, description: 'an https:// URL' });
const Secretish = Type.String({ minLength: 1, maxLength: 1024 });
export const WebhookAuthInput = Type.Union([
  Type.Object({ type: Type.Literal('none') }, { additionalProperties: false }),
  Type.Object(
    {
      type: Type.Literal('basic'),
      username: Type.String({ minLength: 1, maxLength: 256 }),
      password: Secretish,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('oauth2'),
      tokenUrl: Url,
      clientId: Type.String({ minLength: 1, maxLength: 256 }),
      clientSecret: Secretish,
      scope: Type.Optional(Type.String({ maxLength: 1024 })),
      audience: Type.Optional(Type.String({ maxLength: 1024 })),
    },
    { additionalProperties: false },
  ),
]);
const WebhookAuthView = Type.Union([
  Type.Object({ type: Type.Literal('none') }),
  Type.Object({ type: Type.Literal('basic'), username: Type.String() }),
  Type.Object({
    type: Type.Literal('oauth2'),
    tokenUrl: Type.String(),
    clientId: Type.String(),
    scope: Nullable(Type.String()),
    audience: Nullable(Type.String()),
  }),
]);
const CaPem = Type.String({
  minLength: 1,
  maxLength: 16_384,
  description: 'PEM of the CA the endpoint chains to',
});
const Tags = Type.Array(Tag, { maxItems: 32 });

export const WebhookAnswer = Answer({
  id: Type.String(),
  name: Type.String(),
  url: Type.String(),
  eventTypes: Type.Array(PlatformEventTypeSchema),
  deviceTags: Type.Array(Type.String()),
  auth: WebhookAuthView,
  caPem: Nullable(Type.String()),
  status: Type.Union([Type.Literal('pending'), Type.Literal('active'), Type.Literal('disabled')]),
  statusReason: Nullable(Type.String()),
  verifiedAt: NullableEpochMs,
  previousSecretUntil: NullableEpochMs,
  lastError: Nullable(Type.String()),
  createdAt: EpochMs,
  updatedAt: EpochMs,
});
export const WebhookCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    url: Url,
    eventTypes: EventTypes,
    deviceTags: Type.Optional(Tags),
    auth: Type.Optional(WebhookAuthInput),
    caPem: Type.Optional(CaPem),
  },
  { additionalProperties: false },
);
export const WebhookUpdate = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    url: Type.Optional(Url),
    eventTypes: Type.Optional(EventTypes),
    deviceTags: Type.Optional(Tags),
    auth: Type.Optional(WebhookAuthInput),
    caPem: Type.Optional(Nullable(CaPem)),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const WebhookWithSecret = Answer({
  webhook: WebhookAnswer,
  secret: Type.String({ description: 'the signing secret (whsec_…), shown this once' }),
});
export const WebhookParams = Type.Object({ webhookId: IdParam });
export const DeliveryParams = Type.Object({ webhookId: IdParam, deliveryId: IdParam });
export const DeliveryStatusSchema = Type.Union([
  Type.Literal('pending'),
  Type.Literal('delivered'),
  Type.Literal('dead'),
]);
export const DeliveryAnswer = Answer({
  id: Type.String(),
  webhookId: Type.String(),
  eventId: Type.String(),
  eventType: PlatformEventTypeSchema,
  status: DeliveryStatusSchema,
  attempts: Type.Integer({ minimum: 0 }),
  nextAttemptAt: NullableEpochMs,
  createdAt: EpochMs,
  deliveredAt: NullableEpochMs,
  lastStatus: Nullable(Type.Integer()),
  lastError: Nullable(Type.String()),
});
export const DeliveryDetailAnswer = Type.Composite([
  DeliveryAnswer,
  Type.Object({
    event: Type.Record(Type.String(), Type.Unknown(), { description: 'the event as delivered' }),
    attemptLog: Type.Array(
      Type.Object({
        attempt: Type.Integer(),
        at: EpochMs,
        status: Nullable(Type.Integer()),
        latencyMs: Nullable(Type.Integer()),
        error: Nullable(Type.String()),
        responseExcerpt: Nullable(Type.String()),
      }),
    ),
  }),
]);
export const DeliveryListQuery = Type.Object(
  {
    status: Type.Optional(DeliveryStatusSchema),
    cursor: Type.Optional(Cursor),
    limit: Type.Optional(PageLimit),
  },
  { additionalProperties: false },
);
export const RotateSecretBody = Type.Object(
  { overlapSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 86_400 })) },
  { additionalProperties: false },
);
export const ReplayRangeBody = Type.Object(
  { from: EpochMs, to: EpochMs, status: Type.Optional(DeliveryStatusSchema) },
  { additionalProperties: false },
);

export const webhookOperations = {
  createWebhook: operation({
    method: 'POST',
    path: '/v1/webhooks',
    body: WebhookCreate,
    responses: { 201: WebhookWithSecret },
  }),
  listWebhooks: operation({
    method: 'GET',
    path: '/v1/webhooks',
    responses: { 200: ItemsOf(WebhookAnswer) },
  }),
  getWebhook: operation({
    method: 'GET',
    path: '/v1/webhooks/{webhookId}',
    params: WebhookParams,
    responses: { 200: WebhookAnswer },
  }),
  updateWebhook: operation({
    method: 'PATCH',
    path: '/v1/webhooks/{webhookId}',
    params: WebhookParams,
    body: WebhookUpdate,
    responses: { 200: WebhookAnswer },
  }),
  deleteWebhook: operation({
    method: 'DELETE',
    path: '/v1/webhooks/{webhookId}',
    params: WebhookParams,
    responses: { 204: NoContent },
  }),
  verifyWebhook: operation({
    method: 'POST',
    path: '/v1/webhooks/{webhookId}/verify',
    params: WebhookParams,
    responses: { 202: WebhookAnswer },
  }),
  rotateWebhookSecret: operation({
    method: 'POST',
    path: '/v1/webhooks/{webhookId}/rotate-secret',
    params: WebhookParams,
    body: RotateSecretBody,
    responses: { 200: WebhookWithSecret },
  }),
  listWebhookDeliveries: operation({
    method: 'GET',
    path: '/v1/webhooks/{webhookId}/deliveries',
    params: WebhookParams,
    query: DeliveryListQuery,
    responses: { 200: PageOf(DeliveryAnswer) },
  }),
  getWebhookDelivery: operation({
    method: 'GET',
    path: '/v1/webhooks/{webhookId}/deliveries/{deliveryId}',
    params: DeliveryParams,
    responses: { 200: DeliveryDetailAnswer },
  }),
  replayWebhookDelivery: operation({
    method: 'POST',
    path: '/v1/webhooks/{webhookId}/deliveries/{deliveryId}/replay',
    params: DeliveryParams,
    responses: { 202: DeliveryAnswer },
  }),
  replayWebhookDeliveries: operation({
    method: 'POST',
    path: '/v1/webhooks/{webhookId}/replay',
    params: WebhookParams,
    body: ReplayRangeBody,
    responses: { 200: Answer({ replayed: Type.Integer({ minimum: 0 }) }) },
  }),
};
