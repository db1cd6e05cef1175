/** A tenant's API keys: scoped grants, expiry, rotation with overlap, revocation. */
import { Type } from '@sinclair/typebox';
import {
  Answer,
  EpochMs,
  IdParam,
  ItemsOf,
  NoContent,
  Nullable,
  NullableEpochMs,
  operation,
} from './common.js';
import { ApiKeyCreate, GrantSchema } from './access.js';

/** Longest rotation overlap: one week. */
export const MAX_ROTATION_OVERLAP_SECONDS = 7 * 24 * 3600;

export const ApiKey = Answer({
  id: Type.String(),
  tenantId: Type.String(),
  name: Type.String(),
  prefix: Type.String({ description: 'the first characters of the secret' }),
  grants: Type.Array(GrantSchema),
  createdAt: EpochMs,
  createdBy: Nullable(Type.String()),
  expiresAt: NullableEpochMs,
  lastUsedAt: NullableEpochMs,
  lastUsedAddress: Nullable(Type.String()),
  revokedAt: NullableEpochMs,
  rotatedAt: NullableEpochMs,
  previousExpiresAt: Nullable(
    Type.Integer({ minimum: 0, description: 'while in the future, the previous secret still works' }),
  ),
});
export const ApiKeyWithSecret = Answer({
  apiKey: ApiKey,
  secret: Type.String({ description: 'mk_…; shown once' }),
});

export const ApiKeyParams = Type.Object({ keyId: IdParam });
export const ApiKeyRotate = Type.Object(
  {
    overlapSeconds: Type.Integer({
      minimum: 0,
      maximum: MAX_ROTATION_OVERLAP_SECONDS,
      description: 'how long the previous secret keeps working',
    }),
  },
  { additionalProperties: false },
);

export const apiKeyOperations = {
  listApiKeys: operation({ method: 'GET', path: '/v1/api-keys', responses: { 200: ItemsOf(ApiKey) } }),
  createApiKey: operation({
    method: 'POST',
    path: '/v1/api-keys',
    body: ApiKeyCreate,
    responses: { 201: ApiKeyWithSecret },
  }),
  getApiKey: operation({
    method: 'GET',
    path: '/v1/api-keys/{keyId}',
    params: ApiKeyParams,
    responses: { 200: ApiKey },
  }),
  revokeApiKey: operation({
    method: 'DELETE',
    path: '/v1/api-keys/{keyId}',
    params: ApiKeyParams,
    responses: { 204: NoContent },
  }),
  rotateApiKey: operation({
    method: 'POST',
    path: '/v1/api-keys/{keyId}/rotate',
    params: ApiKeyParams,
    body: ApiKeyRotate,
    responses: { 200: ApiKeyWithSecret },
  }),
};
