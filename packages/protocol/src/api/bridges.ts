/**
 * MQTT bridges over REST (docs/integrations.md#mqtt-bridge): per tenant, connections to the
 * customer's own broker that carry chosen platform events, each with a durable spool in the store.
 */
import { Type } from '@sinclair/typebox';
import { PLATFORM_EVENT_TYPES } from '../platform-events.js';
import {
  Answer,
  IdParam,
  ItemsOf,
  NoContent,
  Nullable,
  NullableEpochMs,
  EpochMs,
  Tag,
  operation,
} from './common.js';

/** Defaults and caps of a bridge's spool. */
export const BRIDGE_LIMITS = {
  defaultSpoolMaxBytes: 64 * 1024 * 1024,
  maxSpoolMaxBytes: 1024 * 1024 * 1024,
  minSpoolMaxBytes: 1024,
  defaultSpoolMaxAgeSeconds: 7 * 86_400,
  maxSpoolMaxAgeSeconds: 30 * 86_400,
  maxTopicTemplateLength: 256,
  maxPemLength: 32_768,
} as const;

export const BridgeParams = Type.Object({ bridgeId: IdParam });

const EventTypeField = Type.Union(PLATFORM_EVENT_TYPES.map((t) => Type.Literal(t)));
const Pem = (description: string) =>
  Type.String({ minLength: 1, maxLength: BRIDGE_LIMITS.maxPemLength, description });
const Name = Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f]+$' });

const settings = {
  name: Name,
  url: Type.String({
    minLength: 1,
    maxLength: 2048,
    description:
      'mqtts://host[:port] (TLS 1.2+, the server certificate checked) or mqtt://host[:port] (no TLS: the user name and password travel in clear)',
  }),
  username: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 256 }))),
  password: Type.Optional(
    Nullable(Type.String({ minLength: 1, maxLength: 1024, description: 'write only; kept encrypted' })),
  ),
  clientCert: Type.Optional(Nullable(Pem('PEM client certificate (chain) for mutual TLS'))),
  clientKey: Type.Optional(Nullable(Pem('PEM private key of clientCert; write only, kept encrypted'))),
  ca: Type.Optional(
    Nullable(Pem('PEM CA certificate(s) the broker certificate must chain to (default: public CAs)')),
  ),
  topicTemplate: Type.String({
    minLength: 1,
    maxLength: BRIDGE_LIMITS.maxTopicTemplateLength,
    description:
      'e.g. mooring/{tenantId}/{deviceId}/{type}; placeholders {tenantId} {deviceId} {type} {eventId}',
  }),
  eventTypes: Type.Array(EventTypeField, {
    minItems: 1,
    maxItems: PLATFORM_EVENT_TYPES.length,
    uniqueItems: true,
  }),
  deviceTags: Type.Optional(
    Nullable(
      Type.Array(Tag, {
        minItems: 1,
        maxItems: 32,
        uniqueItems: true,
        description: 'only events of devices carrying one of these tags (events about no device pass)',
      }),
    ),
  ),
  qos: Type.Optional(Type.Union([Type.Literal(0), Type.Literal(1)], { description: 'default 1' })),
  spoolMaxBytes: Type.Optional(
    Type.Integer({ minimum: BRIDGE_LIMITS.minSpoolMaxBytes, maximum: BRIDGE_LIMITS.maxSpoolMaxBytes }),
  ),
  spoolMaxAgeSeconds: Type.Optional(
    Type.Integer({ minimum: 60, maximum: BRIDGE_LIMITS.maxSpoolMaxAgeSeconds }),
  ),
  enabled: Type.Optional(Type.Boolean()),
};

export const BridgeCreate = Type.Object(settings, { additionalProperties: false });
export const BridgeUpdate = Type.Partial(Type.Object(settings), {
  additionalProperties: false,
  description: 'the members to change; null removes an optional one',
});

export const BridgeStatus = Answer({
  connected: Type.Boolean(),
  lastConnectedAt: NullableEpochMs,
  lastError: Nullable(Type.String()),
  lastErrorAt: NullableEpochMs,
  spoolRows: Type.Integer({ minimum: 0 }),
  spoolBytes: Type.Integer({ minimum: 0 }),
  oldestSpooledAt: NullableEpochMs,
  forwarded: Type.Integer({
    minimum: 0,
    description: 'messages the broker acknowledged (QoS 1) or took (QoS 0)',
  }),
  dropped: Type.Integer({
    minimum: 0,
    description: 'messages dropped from the spool by its byte or age cap',
  }),
  lastDroppedAt: NullableEpochMs,
});

export const BridgeAnswer = Answer({
  id: Type.String(),
  name: Type.String(),
  url: Type.String(),
  username: Nullable(Type.String()),
  hasPassword: Type.Boolean(),
  clientCert: Nullable(Type.String()),
  hasClientKey: Type.Boolean(),
  ca: Nullable(Type.String()),
  topicTemplate: Type.String(),
  eventTypes: Type.Array(EventTypeField),
  deviceTags: Nullable(Type.Array(Type.String())),
  qos: Type.Union([Type.Literal(0), Type.Literal(1)]),
  spoolMaxBytes: Type.Integer(),
  spoolMaxAgeSeconds: Type.Integer(),
  enabled: Type.Boolean(),
  createdAt: EpochMs,
  updatedAt: EpochMs,
  status: BridgeStatus,
});

export const bridgeOperations = {
  listBridges: operation({
    method: 'GET',
    path: '/v1/bridges',
    responses: { 200: ItemsOf(BridgeAnswer) },
  }),
  createBridge: operation({
    method: 'POST',
    path: '/v1/bridges',
    body: BridgeCreate,
    responses: { 201: BridgeAnswer },
  }),
  getBridge: operation({
    method: 'GET',
    path: '/v1/bridges/{bridgeId}',
    params: BridgeParams,
    responses: { 200: BridgeAnswer },
  }),
  updateBridge: operation({
    method: 'PATCH',
    path: '/v1/bridges/{bridgeId}',
    params: BridgeParams,
    body: BridgeUpdate,
    responses: { 200: BridgeAnswer },
  }),
  deleteBridge: operation({
    method: 'DELETE',
    path: '/v1/bridges/{bridgeId}',
    params: BridgeParams,
    responses: { 204: NoContent },
  }),
};
