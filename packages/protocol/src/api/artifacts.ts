/**
 * Firmware artifacts and the tenant's update-signing keys (`docs/ota.md`): a streamed upload whose
 * manifest is signed with Ed25519, lists, and the device's ranged download.
 */
import { Type } from '@sinclair/typebox';
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
  media,
  operation,
} from './common.js';

/** Semantic Versioning 2.0.0 (https://semver.org), at most 64 characters. */
export const SEMVER_PATTERN =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
export const Semver = Type.String({ maxLength: 64, pattern: SEMVER_PATTERN.source, description: 'semver' });
export const HardwareClass = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9_.:-]+$',
  description: 'the hardware class an image is built for',
});
/** Largest anti-rollback sequence: what a JSON number and a bigint column both hold exactly. */
export const MAX_ARTIFACT_SEQUENCE = Number.MAX_SAFE_INTEGER;

export const ArtifactUploadQuery = Type.Object(
  {
    version: Semver,
    hardwareClass: HardwareClass,
    minVersion: Type.Optional(Semver),
    sequence: Type.Integer({ minimum: 1, maximum: MAX_ARTIFACT_SEQUENCE, description: 'anti-rollback' }),
    signature: Type.Optional(
      Type.String({
        maxLength: 128,
        pattern: '^[A-Za-z0-9+/_-]{86}(==)?$',
        description: 'detached Ed25519 signature (base64 or base64url) by an offline update key',
      }),
    ),
    sha256: Type.Optional(
      Type.String({ pattern: '^[0-9a-f]{64}$', description: 'must equal the digest the server computes' }),
    ),
  },
  { additionalProperties: false },
);

export const ArtifactManifest = Answer({
  artifactId: Type.String(),
  tenantId: Type.String(),
  version: Type.String(),
  hardwareClass: Type.String(),
  minVersion: Nullable(Type.String()),
  sequence: Type.Integer({ minimum: 1 }),
  size: Type.Integer({ minimum: 0 }),
  sha256: Type.String({ description: 'hex SHA-256 of the image, computed by the server' }),
  createdAt: EpochMs,
});

export const Artifact = Answer({
  id: Type.String(),
  manifest: ArtifactManifest,
  signature: Type.String({ description: 'base64 Ed25519 signature over the signed manifest bytes' }),
  signedBytes: Type.String({ description: 'the exact UTF-8 text the signature covers' }),
  keyId: Type.String({ description: 'the update key that signed (or verified) it' }),
  keyKind: Type.Union([Type.Literal('server'), Type.Literal('offline')]),
  createdBy: Nullable(Type.String()),
});

export const ArtifactParams = Type.Object({ artifactId: IdParam });
export const ArtifactListQuery = Type.Object(
  {
    hardwareClass: Type.Optional(HardwareClass),
    limit: Type.Optional(PageLimit),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);

export const UpdateKeyKind = Type.Union([Type.Literal('server'), Type.Literal('offline')]);
export const UpdateKey = Answer({
  id: Type.String(),
  tenantId: Type.String(),
  kind: UpdateKeyKind,
  status: Type.Union([Type.Literal('active'), Type.Literal('retired'), Type.Literal('revoked')]),
  name: Nullable(Type.String()),
  publicKey: Type.String({ description: 'base64url of the raw 32-byte Ed25519 public key' }),
  createdAt: EpochMs,
  retiredAt: NullableEpochMs,
  revokedAt: NullableEpochMs,
});
export const UpdateKeyParams = Type.Object({ updateKeyId: IdParam });
export const UpdateKeyAdd = Type.Object(
  {
    publicKey: Type.String({
      pattern: '^[A-Za-z0-9_-]{43}=?$',
      description: 'base64url of the raw 32-byte Ed25519 public key',
    }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);
export const DeviceUpdateKey = Answer({
  id: Type.String(),
  kind: UpdateKeyKind,
  status: Type.Union([Type.Literal('active'), Type.Literal('retired')]),
  publicKey: Type.String({ description: 'base64url of the raw 32-byte Ed25519 public key' }),
});

const binary = Type.String({ format: 'binary' });

export const artifactOperations = {
  uploadArtifact: operation({
    method: 'POST',
    path: '/v1/artifacts',
    query: ArtifactUploadQuery,
    responses: { 201: Artifact },
  }),
  listArtifacts: operation({
    method: 'GET',
    path: '/v1/artifacts',
    query: ArtifactListQuery,
    responses: { 200: PageOf(Artifact) },
  }),
  getArtifact: operation({
    method: 'GET',
    path: '/v1/artifacts/{artifactId}',
    params: ArtifactParams,
    responses: { 200: Artifact },
  }),
  deleteArtifact: operation({
    method: 'DELETE',
    path: '/v1/artifacts/{artifactId}',
    params: ArtifactParams,
    responses: { 204: NoContent },
  }),
  listUpdateKeys: operation({
    method: 'GET',
    path: '/v1/update-keys',
    responses: { 200: ItemsOf(UpdateKey) },
  }),
  addUpdateKey: operation({
    method: 'POST',
    path: '/v1/update-keys',
    body: UpdateKeyAdd,
    responses: { 201: UpdateKey },
  }),
  rotateUpdateKey: operation({
    method: 'POST',
    path: '/v1/update-keys/rotate',
    responses: { 201: UpdateKey },
  }),
  revokeUpdateKey: operation({
    method: 'DELETE',
    path: '/v1/update-keys/{updateKeyId}',
    params: UpdateKeyParams,
    responses: { 204: NoContent },
  }),
};

export const deviceArtifactOperations = {
  fetchUpdateKeys: operation({
    method: 'GET',
    path: '/v1/device/update-keys',
    responses: { 200: ItemsOf(DeviceUpdateKey) },
  }),
  downloadArtifact: operation({
    method: 'GET',
    path: '/v1/device/artifacts/{artifactId}',
    params: ArtifactParams,
    responses: {
      200: media('the whole image', { 'application/octet-stream': binary }),
      206: media('the requested byte range (Content-Range)', { 'application/octet-stream': binary }),
    },
  }),
};

/** The manifest fields a signature covers: all that a device checks before installing. */
export interface SignedManifestFields {
  tenantId: string;
  version: string;
  hardwareClass: string;
  minVersion: string | null;
  sequence: number;
  size: number;
  sha256: string;
}

/**
 * The exact text an update key signs (Ed25519 over its UTF-8 bytes): the line
 * `mooring-artifact-manifest-v1`, a newline, then the JSON of the fields in this order, no spaces.
 * The artifact id and upload time are not covered, so that an offline signer can sign before the
 * upload; everything a device checks is.
 */
export function artifactSignedText(m: SignedManifestFields): string {
  return `mooring-artifact-manifest-v1\n${JSON.stringify({
    tenantId: m.tenantId,
    version: m.version,
    hardwareClass: m.hardwareClass,
    minVersion: m.minVersion,
    sequence: m.sequence,
    size: m.size,
    sha256: m.sha256,
  })}`;
}
