/**
 * Provisioning: tokens and operations (technicians, factory tools), bulk batches, the device side
 * (start, poll, refresh) and the registration-token signing keys.
 */
import { DeviceUpdateKey } from './artifacts.js';
import { Type, type Static } from '@sinclair/typebox';
import { checkSchema, type SchemaCheck } from '../schema-check.js';
import {
  Answer,
  Cursor,
  EpochMs,
  IdParam,
  ItemsOf,
  MAX_DURATION_SECONDS,
  NoContent,
  Nullable,
  NullableEpochMs,
  OpenObject,
  PageLimit,
  PageOf,
  Tag,
  media,
  operation,
} from './common.js';
import { DeviceParams } from './devices.js';

export const SERIAL_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
export const VERIFICATION_CODE_PATTERN = /^[A-Z0-9]{4,12}$/;

const Serial = Type.String({ pattern: SERIAL_PATTERN.source, description: "the device's serial number" });
const Approval = Type.Union([Type.Literal('auto'), Type.Literal('manual')]);
export const OperationStatusSchema = Type.Union(
  (['pending', 'approved', 'rejected', 'expired', 'superseded', 'locked'] as const).map((s) =>
    Type.Literal(s),
  ),
);

export const ProvisioningTokenCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    kind: Type.Union([Type.Literal('device'), Type.Literal('batch')], {
      description: 'device: one serial; batch: up to maxUses devices',
    }),
    serial: Type.Optional(Serial),
    maxUses: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    approval: Type.Union([Type.Literal('auto'), Type.Literal('manual')], {
      description: 'auto: factory lines; manual: a technician approves',
    }),
    deviceTags: Type.Optional(Type.Array(Tag, { maxItems: 32 })),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: MAX_DURATION_SECONDS })),
  },
  { additionalProperties: false },
);
export const ProvisioningTokenParams = Type.Object({ tokenId: IdParam });
export const ProvisioningOperationParams = Type.Object({ operationId: IdParam });
export const ProvisioningOperationQuery = Type.Object(
  {
    status: Type.Optional(OperationStatusSchema),
    serial: Type.Optional(Serial),
    tag: Type.Optional(Tag),
    minAgeSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_DURATION_SECONDS })),
    cursor: Type.Optional(Cursor),
    limit: Type.Optional(PageLimit),
  },
  { additionalProperties: false },
);
export const ProvisioningApprove = Type.Object(
  { verificationCode: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })) },
  { additionalProperties: false },
);
export const ProvisioningReject = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 256 })) },
  { additionalProperties: false },
);
/** What a device sends to start provisioning, over HTTPS (the body) and MQTT (the start message). */
export const ProvisioningStartSchema = Type.Object(
  {
    serial: Serial,
    attributes: Type.Optional(
      Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), {
        description: 'what the device says about itself, at most 4 KiB',
      }),
    ),
    csr: Type.Optional(
      Type.String({ maxLength: 16384, description: 'PKCS#10 CSR (PEM) from a key the device generated' }),
    ),
    verificationCode: Type.Optional(
      Type.String({
        pattern: VERIFICATION_CODE_PATTERN.source,
        description: 'the code on the device display: 4–12 of A–Z, 0–9',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ProvisioningStart = Static<typeof ProvisioningStartSchema>;

/** Checks a start message (an MQTT provisioning request; HTTPS validates the same schema). */
export function parseProvisioningStart(body: unknown): SchemaCheck<ProvisioningStart> {
  return checkSchema(ProvisioningStartSchema, body, {
    '': 'the request must be a JSON object',
    serial: 'serial must be 1–64 of A–Z a–z 0–9 _ . : -',
    attributes: 'attributes must be an object whose member names have at most 64 characters',
    verificationCode: 'verificationCode must be 4–12 of A–Z, 0–9',
    csr: 'csr must be a PEM string of at most 16384 characters',
  });
}

export const ProvisioningPollQuery = Type.Object(
  {
    wait: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 60, description: 'seconds to wait for a decision' }),
    ),
  },
  { additionalProperties: false },
);
export const FactoryBatch = Type.Object(
  {
    batchId: Type.String({
      pattern: '^[A-Za-z0-9_.:-]{1,128}$',
      description: 'your id for this batch: a retry with the same id returns the same manifest',
    }),
    items: Type.Array(
      Type.Object(
        { serial: Serial, csr: Type.Optional(Type.String({ maxLength: 16384 })) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 10_000 },
    ),
    approval: Type.Optional(
      Type.Union([Type.Literal('auto'), Type.Literal('manual')], {
        description: 'for units without a CSR (default auto)',
      }),
    ),
    deviceTags: Type.Optional(Type.Array(Tag, { maxItems: 32 })),
  },
  { additionalProperties: false },
);
export const RegistrationTokenRefresh = Type.Object(
  { registrationToken: Type.String({ minLength: 1, maxLength: 4096 }) },
  { additionalProperties: false },
);

export const ProvisioningToken = Answer({
  id: Type.String(),
  name: Type.String(),
  kind: Type.Union([Type.Literal('device'), Type.Literal('batch')]),
  serial: Nullable(Type.String()),
  maxUses: Type.Integer({ minimum: 0 }),
  uses: Type.Integer({ minimum: 0 }),
  approval: Approval,
  deviceTags: Type.Array(Type.String()),
  expiresAt: NullableEpochMs,
  createdAt: EpochMs,
  revokedAt: NullableEpochMs,
  prefix: Type.String(),
  suspicious: Nullable(Answer({ at: EpochMs, reason: Type.String() })),
});
export const ProvisioningOperation = Answer({
  id: Type.String(),
  tokenId: Type.String(),
  serial: Type.String(),
  attributes: OpenObject('what the device said about itself'),
  status: OperationStatusSchema,
  reprovision: Type.Boolean({ description: 'the serial was provisioned before: a human approves' }),
  hasVerificationCode: Type.Boolean(),
  hasCsr: Type.Boolean(),
  wrongCodeAttempts: Type.Integer({ minimum: 0 }),
  deviceId: Nullable(Type.String()),
  reason: Nullable(Type.String()),
  decidedBy: Nullable(Type.String()),
  createdAt: EpochMs,
  expiresAt: EpochMs,
  decidedAt: NullableEpochMs,
});
/** The device's view of its operation while it polls. */
export const OperationView = Answer({
  operationId: Type.String(),
  status: OperationStatusSchema,
  expiresAt: EpochMs,
  pollAfterMs: Type.Integer({ minimum: 0, description: 'suggested wait before the next poll' }),
  deviceId: Type.Optional(Type.String()),
  registrationToken: Type.Optional(Type.String()),
  registrationTokenExpiresAt: Type.Optional(EpochMs),
  certificate: Type.Optional(Type.String({ description: 'PEM, when the device sent a CSR' })),
  certificateChain: Type.Optional(Type.String({ description: 'PEM to send after the certificate' })),
  updateKeys: Type.Optional(
    Type.Array(DeviceUpdateKey, {
      description: "the tenant's update public keys that firmware manifests are signed with",
    }),
  ),
  reason: Type.Optional(Type.String()),
});
export const ManifestEntry = Answer({
  serial: Type.String(),
  deviceId: Type.Optional(Type.String()),
  provisioningTokenId: Type.Optional(Type.String()),
  provisioningToken: Type.Optional(Type.String({ description: "the unit's provisioning token (no CSR)" })),
  certificateSerial: Type.Optional(Type.String()),
  certificate: Type.Optional(Type.String()),
  chain: Type.Optional(Type.String()),
  notAfter: Type.Optional(EpochMs),
});
export const Manifest = Answer({
  batchId: Type.String(),
  createdAt: EpochMs,
  devices: Type.Integer({ minimum: 0 }),
  items: Type.Array(ManifestEntry),
});
export const Jwks = Answer({
  keys: Type.Array(Type.Record(Type.String(), Type.Unknown(), { description: 'a public JWK (RFC 7517)' })),
});

export const provisioningOperations = {
  createProvisioningToken: operation({
    method: 'POST',
    path: '/v1/provisioning-tokens',
    body: ProvisioningTokenCreate,
    responses: {
      201: Answer({
        provisioningToken: ProvisioningToken,
        secret: Type.String({ description: 'mpt_…; shown once' }),
      }),
    },
  }),
  listProvisioningTokens: operation({
    method: 'GET',
    path: '/v1/provisioning-tokens',
    responses: { 200: ItemsOf(ProvisioningToken) },
  }),
  getProvisioningToken: operation({
    method: 'GET',
    path: '/v1/provisioning-tokens/{tokenId}',
    params: ProvisioningTokenParams,
    responses: { 200: ProvisioningToken },
  }),
  revokeProvisioningToken: operation({
    method: 'DELETE',
    path: '/v1/provisioning-tokens/{tokenId}',
    params: ProvisioningTokenParams,
    responses: { 204: NoContent },
  }),
  listOperations: operation({
    method: 'GET',
    path: '/v1/provisioning/operations',
    query: ProvisioningOperationQuery,
    responses: { 200: PageOf(ProvisioningOperation) },
  }),
  getOperation: operation({
    method: 'GET',
    path: '/v1/provisioning/operations/{operationId}',
    params: ProvisioningOperationParams,
    responses: { 200: ProvisioningOperation },
  }),
  approveOperation: operation({
    method: 'POST',
    path: '/v1/provisioning/operations/{operationId}/approve',
    params: ProvisioningOperationParams,
    body: ProvisioningApprove,
    responses: { 200: ProvisioningOperation },
  }),
  rejectOperation: operation({
    method: 'POST',
    path: '/v1/provisioning/operations/{operationId}/reject',
    params: ProvisioningOperationParams,
    body: ProvisioningReject,
    responses: { 200: ProvisioningOperation },
  }),
  revokeRegistrationTokens: operation({
    method: 'POST',
    path: '/v1/devices/{deviceId}/registration-tokens/revoke',
    params: DeviceParams,
    responses: { 204: NoContent },
  }),
  provisionBatch: operation({
    method: 'POST',
    path: '/v1/provisioning/batches',
    body: FactoryBatch,
    responses: {
      201: media('the manifest: JSON, or CSV with Accept: text/csv', {
        'application/json': Manifest,
        'text/csv': Type.String({ description: 'one row per unit, with a header row' }),
      }),
    },
  }),
  rotateSigningKey: operation({
    method: 'POST',
    path: '/v1/platform/signing-keys/rotate',
    responses: { 200: Answer({ kid: Type.String({ description: 'the new active key' }) }) },
  }),
  getJwks: operation({ method: 'GET', path: '/.well-known/jwks.json', responses: { 200: Jwks } }),
};

/** The device side, with the provisioning token as bearer. */
export const deviceProvisioningOperations = {
  startProvisioning: operation({
    method: 'POST',
    path: '/v1/device/provisioning/operations',
    body: ProvisioningStartSchema,
    responses: { 200: OperationView, 202: OperationView },
  }),
  pollProvisioning: operation({
    method: 'GET',
    path: '/v1/device/provisioning/operations/{operationId}',
    params: ProvisioningOperationParams,
    query: ProvisioningPollQuery,
    responses: { 200: OperationView },
  }),
  refreshRegistrationToken: operation({
    method: 'POST',
    path: '/v1/device/provisioning/refresh',
    body: RegistrationTokenRefresh,
    responses: {
      200: Answer({ registrationToken: Type.String(), expiresAt: EpochMs, deviceId: Type.String() }),
    },
  }),
};
