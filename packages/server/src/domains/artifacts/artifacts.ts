/**
 * Firmware artifacts: images uploaded as a stream (size capped, SHA-256 computed by the server while
 * it reads), kept behind `ArtifactStorage`, each with a manifest signed with Ed25519 by the tenant's
 * server-held update key or, when the upload carries a detached signature, verified against an
 * offline key the tenant registered. Devices of the artifact's tenant download it with `Range`.
 * The contract; `service.ts` implements it over `store.ts` and `chunk-storage.ts`.
 */
import type { AuthenticatedDevice } from '../devices/devices.js';
import type { DeviceIdentity, TenantCaller } from '../../platform/caller.js';
import type { Page } from '../../platform/pagination.js';

export interface ArtifactManifest {
  artifactId: string;
  tenantId: string;
  version: string;
  hardwareClass: string;
  minVersion: string | null;
  sequence: number;
  size: number;
  sha256: string;
  createdAt: number;
}

export type UpdateKeyKind = 'server' | 'offline';

export interface Artifact {
  id: string;
  manifest: ArtifactManifest;
  /** Base64 Ed25519 signature over `signedBytes`. */
  signature: string;
  /** The exact text signed: `artifactSignedText` of `@mooring/protocol`. */
  signedBytes: string;
  keyId: string;
  keyKind: UpdateKeyKind;
  createdBy: string | null;
}

export interface UpdateKey {
  id: string;
  tenantId: string;
  kind: UpdateKeyKind;
  status: 'active' | 'retired' | 'revoked';
  name: string | null;
  /** Base64url of the raw 32-byte public key. */
  publicKey: string;
  createdAt: number;
  retiredAt: number | null;
  revokedAt: number | null;
}

/** An update key as a device sees it (the device API, the provisioning answer). */
export interface DeviceUpdateKey {
  id: string;
  kind: UpdateKeyKind;
  status: 'active' | 'retired';
  publicKey: string;
}

export interface ArtifactUpload {
  version: string;
  hardwareClass: string;
  minVersion?: string;
  sequence: number;
  /** A detached signature by an offline key (base64 or base64url). */
  signature?: string;
  /** The digest the uploader expects; the upload is refused unless the server's equals it. */
  sha256?: string;
  /** The body's declared length (Content-Length), refused at once when past the cap. */
  declaredSize?: number;
}

/** Where images are kept; the default keeps chunks in the store. */
export interface ArtifactStorage {
  /**
   * Stores the body under `id`, refusing it with PAYLOAD_TOO_LARGE past `maxBytes`; on any failure
   * nothing is left behind. Returns its size and hex SHA-256.
   */
  write(id: string, body: AsyncIterable<Buffer>, maxBytes: number): Promise<{ size: number; sha256: string }>;
  /** Bytes `start` to `end` inclusive, in order. */
  read(id: string, start: number, end: number): AsyncIterable<Buffer>;
  remove(id: string): Promise<void>;
  /**
   * Removes what uploads left behind when their server stopped or died mid-upload: images with no
   * artifact whose last write is older than `olderThanMs`. Returns how many images it removed.
   */
  removeAbandoned(olderThanMs: number): Promise<number>;
}

/** An artifact a device may download, and its bytes. */
export interface DeviceDownload {
  artifact: Artifact;
  read(start: number, end: number): AsyncIterable<Buffer>;
}

export interface ArtifactService {
  upload(caller: TenantCaller, input: ArtifactUpload, body: AsyncIterable<Buffer>): Promise<Artifact>;
  list(
    caller: TenantCaller,
    query: { hardwareClass?: string; limit?: number; cursor?: string },
  ): Promise<Page<Artifact>>;
  get(caller: TenantCaller, artifactId: string): Promise<Artifact>;
  /** Deletes the image; the row stays (its sequence still counts) but is visible nowhere. */
  delete(caller: TenantCaller, artifactId: string): Promise<void>;
  listKeys(caller: TenantCaller): Promise<UpdateKey[]>;
  addKey(caller: TenantCaller, input: { publicKey: string; name?: string }): Promise<UpdateKey>;
  /** Retires the active server key (kept for verification) and makes a new one. */
  rotateKey(caller: TenantCaller): Promise<UpdateKey>;
  revokeKey(caller: TenantCaller, keyId: string): Promise<void>;
  /** The tenant's active and retired update public keys, as its devices see them. */
  keysForDevice(device: Pick<DeviceIdentity, 'tenantId'>): Promise<DeviceUpdateKey[]>;
  /**
   * ARTIFACT_NOT_FOUND unless the artifact is the device's tenant's, not deleted, and offered to the
   * device by a deployment it is in (an operation between offered and rebooting).
   */
  openForDevice(device: AuthenticatedDevice, artifactId: string): Promise<DeviceDownload>;
}
