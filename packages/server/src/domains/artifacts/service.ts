/** The artifact rules over the store, the image storage and the tenant's update keys. */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { artifactSignedText } from '@mooring/protocol';
import { AppError } from '../../errors.js';
import { newId } from '../../ids.js';
import { principalName } from '../../platform/caller.js';
import { clampLimit, type Cursors } from '../../platform/pagination.js';
import type { SecretBox } from '../../platform/secret-box.js';
import type { Transaction } from '../../store/db.js';
import type { Artifact, ArtifactService, ArtifactStorage, UpdateKey } from './artifacts.js';
import { toArtifact, type ArtifactStore } from './store.js';

export interface ArtifactServiceDeps {
  store: ArtifactStore;
  transaction: Transaction<ArtifactStore>;
  storage: ArtifactStorage;
  box: SecretBox;
  cursors: Cursors;
  maxBytes: number;
  /** Whether a device may download an artifact: an open deployment offers it to the device. */
  mayDownload(device: { tenantId: string; deviceId: string }, artifactId: string): Promise<boolean>;
  /** The running (active or paused) deployments of an artifact: it may not be deleted under them. */
  deployedIn(tenantId: string, artifactId: string): Promise<string[]>;
  now?: () => number;
}

const notFound = () => new AppError('ARTIFACT_NOT_FOUND');
const keyNotFound = () => new AppError('UPDATE_KEY_NOT_FOUND');
const isCursor = (v: unknown): v is { id: string } =>
  typeof v === 'object' && v !== null && typeof (v as { id?: unknown }).id === 'string';

function publicKeyOf(raw: string) {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw }, format: 'jwk' });
}

/** A detached signature in base64 or base64url: 64 bytes, or undefined. */
function signatureBytes(text: string): Buffer | undefined {
  const bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return bytes.length === 64 ? bytes : undefined;
}

function tooOld(latest: number, sequence: number): AppError {
  return new AppError(
    'ARTIFACT_SEQUENCE_NOT_NEWER',
    `sequence ${sequence} is not greater than ${latest}, the latest of this hardware class`,
    { details: { latestSequence: latest } },
  );
}

export function createArtifactService(deps: ArtifactServiceDeps): ArtifactService {
  const { store, transaction, storage, box, cursors } = deps;
  const now = deps.now ?? Date.now;
  const publicOnly = ({ privateKeySealed: _sealed, ...key }: UpdateKey & { privateKeySealed: unknown }) =>
    key;

  /** The tenant's active server key, made on first use (a concurrent first use keeps one). */
  async function serverKey(tenantId: string) {
    const existing = await store.activeServerKey(tenantId);
    if (existing) return existing;
    await newServerKey(tenantId, store);
    const made = await store.activeServerKey(tenantId);
    if (!made) throw new AppError('INTERNAL', 'no update key could be made');
    return made;
  }

  async function newServerKey(tenantId: string, on: ArtifactStore): Promise<UpdateKey> {
    const pair = generateKeyPairSync('ed25519');
    const key: UpdateKey = {
      id: newId('uky'),
      tenantId,
      kind: 'server',
      status: 'active',
      name: null,
      publicKey: pair.publicKey.export({ format: 'jwk' }).x as string,
      createdAt: now(),
      retiredAt: null,
      revokedAt: null,
    };
    const sealed = box.seal(pair.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    await on.insertKey(key, sealed);
    return key;
  }

  return {
    async upload(caller, input, body) {
      const tenantId = caller.tenantId;
      const claimed = input.signature === undefined ? undefined : signatureBytes(input.signature);
      if (input.signature !== undefined && !claimed)
        throw new AppError('ARTIFACT_SIGNATURE_INVALID', 'the signature is not 64 bytes of base64');
      if (input.declaredSize !== undefined && input.declaredSize > deps.maxBytes)
        throw new AppError('PAYLOAD_TOO_LARGE', `an artifact is at most ${deps.maxBytes} bytes`, {
          details: { limit: deps.maxBytes },
        });
      const latest = await store.latestSequence(tenantId, input.hardwareClass);
      if (latest !== null && input.sequence <= latest) throw tooOld(latest, input.sequence);

      const id = newId('art');
      const { size, sha256 } = await storage.write(id, body, deps.maxBytes);
      try {
        if (size === 0)
          throw new AppError(
            'VALIDATION_FAILED',
            'the image is empty: send it as the body, Content-Type: application/octet-stream',
          );
        if (input.sha256 !== undefined && input.sha256 !== sha256)
          throw new AppError('ARTIFACT_DIGEST_MISMATCH', `the server computed sha256 ${sha256}`, {
            details: { sha256 },
          });
        const manifest = {
          artifactId: id,
          tenantId,
          version: input.version,
          hardwareClass: input.hardwareClass,
          minVersion: input.minVersion ?? null,
          sequence: input.sequence,
          size,
          sha256,
          createdAt: now(),
        };
        const text = Buffer.from(artifactSignedText(manifest), 'utf8');
        let keyId: string;
        let signature: string;
        let keyKind: Artifact['keyKind'];
        if (claimed) {
          const offline = (await store.keys(tenantId)).filter(
            (k) => k.kind === 'offline' && k.status === 'active',
          );
          const match = offline.find((k) => verify(null, text, publicKeyOf(k.publicKey), claimed));
          if (!match)
            throw new AppError(
              'ARTIFACT_SIGNATURE_INVALID',
              offline.length === 0
                ? 'the tenant has no active offline update key'
                : 'the signature does not verify with any active offline update key of the tenant',
            );
          keyId = match.id;
          keyKind = 'offline';
          signature = claimed.toString('base64');
        } else {
          const key = await serverKey(tenantId);
          const privateKey = createPrivateKey(box.open(key.privateKeySealed ?? ''));
          keyId = key.id;
          keyKind = 'server';
          signature = sign(null, text, privateKey).toString('base64');
        }
        const artifact: Artifact = {
          id,
          manifest,
          signature,
          signedBytes: text.toString('utf8'),
          keyId,
          keyKind,
          createdBy: principalName(caller.principal),
        };
        await transaction(async (s) => {
          await s.lockTenant(tenantId);
          const newest = await s.latestSequence(tenantId, input.hardwareClass);
          if (newest !== null && input.sequence <= newest) throw tooOld(newest, input.sequence);
          await s.insert(artifact);
        });
        return artifact;
      } catch (e) {
        await storage.remove(id);
        throw e;
      }
    },

    async list(caller, query) {
      const limit = clampLimit(query.limit);
      const after = cursors.decode(query.cursor, isCursor);
      const rows = await store.list(caller.tenantId, query.hardwareClass, after?.id, limit + 1);
      return cursors.pageOf(rows, limit, toArtifact, (r) => ({ id: r.id }));
    },

    async get(caller, artifactId) {
      const a = await store.get(caller.tenantId, artifactId);
      if (!a) throw notFound();
      return a;
    },

    async delete(caller, artifactId) {
      // Under the tenant's lock, as a deployment is created: none can start on the image meanwhile.
      await transaction(async (s) => {
        await s.lockTenant(caller.tenantId);
        const running = await deps.deployedIn(caller.tenantId, artifactId);
        if (running.length > 0)
          throw new AppError('ARTIFACT_IN_USE', `deployments ${running.join(', ')} roll this artifact out`, {
            details: { deployments: running },
          });
        if (!(await s.markDeleted(caller.tenantId, artifactId, now()))) throw notFound();
      });
      await storage.remove(artifactId);
    },

    async listKeys(caller) {
      return (await store.keys(caller.tenantId)).map(publicOnly);
    },

    async addKey(caller, input) {
      try {
        publicKeyOf(input.publicKey.replace(/=$/, ''));
      } catch {
        throw new AppError('VALIDATION_FAILED', 'publicKey is not an Ed25519 public key', {
          errors: [{ path: '/publicKey', message: 'not a raw 32-byte Ed25519 public key' }],
        });
      }
      const key: UpdateKey = {
        id: newId('uky'),
        tenantId: caller.tenantId,
        kind: 'offline',
        status: 'active',
        name: input.name ?? null,
        publicKey: input.publicKey.replace(/=$/, ''),
        createdAt: now(),
        retiredAt: null,
        revokedAt: null,
      };
      await store.insertKey(key, null);
      return key;
    },

    async rotateKey(caller) {
      return transaction(async (s) => {
        await s.lockTenant(caller.tenantId);
        await s.retireServerKey(caller.tenantId, now());
        return newServerKey(caller.tenantId, s);
      });
    },

    async revokeKey(caller, keyId) {
      if (!(await store.revokeKey(caller.tenantId, keyId, now()))) throw keyNotFound();
    },

    async keysForDevice(device) {
      return (await store.keys(device.tenantId)).flatMap((k) =>
        k.status === 'revoked' ? [] : [{ id: k.id, kind: k.kind, status: k.status, publicKey: k.publicKey }],
      );
    },

    async openForDevice(device, artifactId) {
      const artifact = await store.get(device.tenantId, artifactId);
      // A device that no deployment offers the image learns nothing about it, not even that it exists.
      if (!artifact || !(await deps.mayDownload(device, artifactId))) throw notFound();
      return { artifact, read: (start, end) => storage.read(artifactId, start, end) };
    },
  };
}
