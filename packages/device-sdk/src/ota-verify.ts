/**
 * The OTA agent's checks (docs/ota.md): the manifest before anything is downloaded (update key,
 * Ed25519 signature over `artifactSignedText`, hardware class, minimum version, anti-rollback
 * sequence), and the image after (size, SHA-256). Each refusal names its `OTA_REJECT_CODES` code.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Backoff, sleep, type BackoffOptions } from './backoff.js';
import {
  artifactSignedText,
  checkSchema,
  OtaCancelSchema,
  OtaMessageSchema,
  OtaOfferSchema,
  type SchemaCheck,
  type OtaMessage,
  compareVersionKeys,
  parseSemver,
  type FirmwareReport,
  type OtaArtifact,
  type OtaRejectCode,
} from '@mooring/protocol';

/** An update key as `GET /v1/device/update-keys` lists it. */
export interface OtaUpdateKey {
  id: string;
  kind: 'server' | 'offline';
  status: 'active' | 'retired';
  /** base64url of the raw 32-byte Ed25519 public key. */
  publicKey: string;
}

export interface OtaRefusal {
  code: OtaRejectCode;
  reason: string;
}

const keyObjects = new Map<string, KeyObject>();

function keyObject(publicKey: string): KeyObject | undefined {
  let k = keyObjects.get(publicKey);
  if (k) return k;
  if (Buffer.from(publicKey, 'base64url').length !== 32) return undefined;
  try {
    k = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey }, format: 'jwk' });
  } catch {
    return undefined;
  }
  keyObjects.set(publicKey, k);
  return k;
}

/** The update key the manifest names, when it is one of `keys`. */
export function findKey(keys: readonly OtaUpdateKey[], keyId: string): OtaUpdateKey | undefined {
  return keys.find((k) => k.id === keyId);
}

/**
 * Checks a manifest against the device: undefined when it may be downloaded, else the refusal.
 * `installedSequence` is the anti-rollback floor (the last sequence installed).
 */
export function checkManifest(
  artifact: OtaArtifact,
  keys: readonly OtaUpdateKey[],
  running: FirmwareReport,
  installedSequence: number,
): OtaRefusal | undefined {
  const key = findKey(keys, artifact.keyId);
  if (!key)
    return { code: 'UNKNOWN_UPDATE_KEY', reason: `update key ${artifact.keyId} is not one of this device's` };
  const publicKey = keyObject(key.publicKey);
  if (!publicKey) return { code: 'UNKNOWN_UPDATE_KEY', reason: `update key ${key.id} is not an Ed25519 key` };
  const signature = Buffer.from(artifact.signature, 'base64');
  const text = Buffer.from(artifactSignedText(artifact), 'utf8');
  let valid = false;
  try {
    valid = signature.length === 64 && verify(null, text, publicKey, signature);
  } catch {
    valid = false;
  }
  if (!valid)
    return {
      code: 'SIGNATURE_INVALID',
      reason: `the manifest's signature does not verify with key ${key.id}`,
    };
  if (artifact.hardwareClass !== running.hardwareClass)
    return {
      code: 'HARDWARE_CLASS_MISMATCH',
      reason: `the image is for ${artifact.hardwareClass}, this device is ${running.hardwareClass}`,
    };
  if (artifact.minVersion !== null) {
    const min = parseSemver(artifact.minVersion);
    const now = parseSemver(running.version);
    if (!min.ok || !now.ok || compareVersionKeys(now.key, min.key) < 0)
      return {
        code: 'BELOW_MIN_VERSION',
        reason: `the image needs ${artifact.minVersion} or later, this device runs ${running.version}`,
      };
  }
  if (!(artifact.sequence > installedSequence))
    return {
      code: 'SEQUENCE_NOT_NEWER',
      reason: `sequence ${artifact.sequence} is not newer than the installed ${installedSequence}`,
    };
  return undefined;
}

/** Size and hex SHA-256 of a file, streamed. */
export async function fileDigest(path: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest('hex') };
}

/** Checks a downloaded image against its manifest: undefined when it is the signed one. */
export async function checkImage(path: string, artifact: OtaArtifact): Promise<OtaRefusal | undefined> {
  const got = await fileDigest(path);
  if (got.size !== artifact.size)
    return {
      code: 'SIZE_MISMATCH',
      reason: `the image has ${got.size} bytes, the manifest says ${artifact.size}`,
    };
  if (got.sha256 !== artifact.sha256.toLowerCase())
    return {
      code: 'DIGEST_MISMATCH',
      reason: `the image's SHA-256 is ${got.sha256}, the manifest says ${artifact.sha256}`,
    };
  return undefined;
}

export interface KeyCache {
  fetchedAt: number;
  items: OtaUpdateKey[];
}

/**
 * The update keys to check `keyId` with: the cached ones while younger than `maxAgeMs` and holding
 * the signer, else fetched anew (retried with backoff). Offline, cached keys holding the signer still
 * serve: a revocation reaches the device when it can ask. Answers the cache itself when it served.
 */
export async function currentKeys(o: {
  cached: KeyCache | undefined;
  maxAgeMs: number;
  keyId: string;
  fetch: (signal: AbortSignal) => Promise<OtaUpdateKey[]>;
  retry: BackoffOptions & { maxRetries?: number };
  signal: AbortSignal;
}): Promise<KeyCache> {
  const { cached, signal } = o;
  const holds = cached !== undefined && findKey(cached.items, o.keyId) !== undefined;
  if (holds && Date.now() - cached.fetchedAt < o.maxAgeMs) return cached;
  const backoff = new Backoff(o.retry);
  for (let tries = 0; ; tries++) {
    try {
      return { fetchedAt: Date.now(), items: await o.fetch(signal) };
    } catch (e) {
      signal.throwIfAborted();
      if (holds) return cached;
      if (tries >= (o.retry.maxRetries ?? 10)) throw e;
      await sleep(backoff.next(), signal);
      signal.throwIfAborted();
    }
  }
}

const FIELDS: Record<string, readonly string[]> = {
  offer: Object.keys(OtaOfferSchema.properties),
  cancel: Object.keys(OtaCancelSchema.properties),
};
const ARTIFACT_FIELDS = Object.keys(OtaOfferSchema.properties.artifact.properties);

/** The message without members this agent does not know (a newer platform may add some). */
function known(message: unknown): unknown {
  const pick = (o: unknown, keys: readonly string[] | undefined) =>
    typeof o === 'object' && o !== null && !Array.isArray(o) && keys
      ? Object.fromEntries(Object.entries(o).filter(([k]) => keys.includes(k)))
      : o;
  const type = (message as { type?: unknown } | null)?.type;
  const m = pick(message, typeof type === 'string' && Object.hasOwn(FIELDS, type) ? FIELDS[type] : undefined);
  if (typeof m === 'object' && m !== null && 'artifact' in m)
    return { ...m, artifact: pick(m.artifact, ARTIFACT_FIELDS) };
  return m;
}

/** Checks a decoded message of `d/{id}/ota/{operationId}` against the contract. */
export function parseOtaMessage(message: unknown): SchemaCheck<OtaMessage> {
  return checkSchema(OtaMessageSchema, known(message));
}
