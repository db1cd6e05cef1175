import { whenCommitted } from '../../store/ambient.js';
import { AppError, Errors } from '../../errors.js';
import { newId, newSecret, sha256Hex } from '../../ids.js';
import { principalName, type Principal } from '../../platform/caller.js';
import type { Grant, RoleService } from '../access/access.js';
import { checkDelegation, checkHolds } from '../access/delegation.js';
import { resolveGrants } from '../access/policy.js';
import {
  API_KEY_PREFIX,
  MAX_ROTATION_OVERLAP_SECONDS,
  type ApiKey,
  type ApiKeyCreate,
  type ApiKeyService,
} from './api-keys.js';
import type { ApiKeyStore } from './store.js';

export interface ApiKeyDeps {
  store: ApiKeyStore;
  roles: Pick<RoleService, 'customPermissions'>;
  requireTenant(tenantId: string): Promise<unknown>;
  /** Told when a key is used for the first time or from a new address (an audit record). */
  onNewAddress?(key: ApiKey, address: string | null): void;
  now?: () => number;
}

/** The use of a key is written at most this often from one address, to keep writes off the hot path. */
const USE_WRITE_INTERVAL_MS = 60_000;
/**
 * How long a node keeps a key it looked up. Revocation, rotation and deletion on this node drop the
 * entry at once; expiry and the rotation overlap are checked on every use. Bounded in size.
 */
const CACHE_MS = 5_000;
const CACHE_MAX = 10_000;

function grantsOf(input: Pick<ApiKeyCreate, 'role' | 'permissions' | 'grants'>): Grant[] | undefined {
  const given = [
    input.role !== undefined,
    input.permissions !== undefined,
    input.grants !== undefined,
  ].filter(Boolean).length;
  if (given > 1) throw Errors.validation('give one of role, permissions, grants');
  if (input.role !== undefined) return [{ role: input.role }];
  if (input.permissions !== undefined) return [{ permissions: input.permissions }];
  return input.grants;
}

export function createApiKeyService(deps: ApiKeyDeps): ApiKeyService {
  const { store, roles } = deps;
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { at: number; key: ApiKey; previous: boolean }>();
  const forget = (keyId: string) => {
    for (const [digest, entry] of cache) if (entry.key.id === keyId) cache.delete(digest);
  };

  /** The live key a secret's digest names, through the cache. */
  async function lookup(digest: string, t: number): Promise<ApiKey | undefined> {
    let entry = cache.get(digest);
    if (!entry || t - entry.at > CACHE_MS) {
      const key = await store.findLive(digest, t);
      if (!key) {
        cache.delete(digest);
        return undefined;
      }
      entry = {
        at: t,
        key,
        previous: key.previousExpiresAt !== null && (await store.isPrevious(key.id, digest)),
      };
      if (cache.size >= CACHE_MAX) cache.clear();
      cache.set(digest, entry);
    }
    const k = entry.key;
    if (k.revokedAt !== null || (k.expiresAt !== null && k.expiresAt <= t)) return undefined;
    if (entry.previous && (k.previousExpiresAt === null || k.previousExpiresAt <= t)) return undefined;
    return k;
  }

  async function require(tenantId: string, keyId: string) {
    const key = await store.get(tenantId, keyId);
    if (!key) throw Errors.apiKeyNotFound(keyId);
    return key;
  }

  return {
    async create(caller, input) {
      await deps.requireTenant(caller.tenantId);
      const t = now();
      const grants =
        grantsOf(input) ?? (caller.principal.kind === 'platform-admin' ? [{ role: 'owner' }] : undefined);
      if (!grants || grants.length === 0)
        throw Errors.validation(
          'an API key needs a role, permissions or grants: nothing is granted by default',
          [{ path: '/role', message: 'required (or permissions, or grants)' }],
        );
      await checkDelegation(roles, caller, grants);
      if (input.expiresAt !== undefined && input.expiresAt <= t)
        throw Errors.validation('expiresAt must be in the future', [
          { path: '/expiresAt', message: 'in the past' },
        ]);
      const secret = newSecret(API_KEY_PREFIX);
      const apiKey: ApiKey = {
        id: newId('key'),
        tenantId: caller.tenantId,
        name: input.name,
        prefix: secret.slice(0, 10),
        grants,
        createdAt: t,
        createdBy: principalName(caller.principal),
        expiresAt: input.expiresAt ?? null,
        lastUsedAt: null,
        lastUsedAddress: null,
        revokedAt: null,
        rotatedAt: null,
        previousExpiresAt: null,
      };
      await store.insert(apiKey, sha256Hex(secret));
      return { apiKey, secret };
    },

    list: (caller) => store.list(caller.tenantId),
    get: (caller, keyId) => require(caller.tenantId, keyId),

    async rotate(caller, keyId, overlapSeconds) {
      if (
        !Number.isInteger(overlapSeconds) ||
        overlapSeconds < 0 ||
        overlapSeconds > MAX_ROTATION_OVERLAP_SECONDS
      )
        throw Errors.validation(`overlapSeconds must be 0 to ${MAX_ROTATION_OVERLAP_SECONDS}`);
      const key = await require(caller.tenantId, keyId);
      // Rotating hands out a new secret with the key's grants: only for who could have made the key.
      await checkHolds(roles, caller, key.grants, `rotate API key ${keyId}`);
      if (key.revokedAt !== null) throw new AppError('API_KEY_REVOKED', `API key ${keyId} is revoked`);
      const secret = newSecret(API_KEY_PREFIX);
      const t = now();
      forget(keyId);
      whenCommitted(() => forget(keyId));
      const rotated = await store.rotate(
        caller.tenantId,
        keyId,
        sha256Hex(secret),
        secret.slice(0, 10),
        t,
        t + overlapSeconds * 1000,
      );
      if (!rotated) throw Errors.apiKeyNotFound(keyId);
      return { apiKey: rotated, secret };
    },

    async revoke(caller, keyId) {
      // Revoking a key is a lever over its holder: only for who holds everything the key holds.
      await checkHolds(
        roles,
        caller,
        (await require(caller.tenantId, keyId)).grants,
        `revoke API key ${keyId}`,
      );
      const revoked = await store.revoke(caller.tenantId, keyId, now());
      forget(keyId);
      whenCommitted(() => forget(keyId));
      if (!revoked) throw Errors.apiKeyNotFound(keyId);
    },

    async authenticate(secret, source): Promise<Principal> {
      const t = now();
      const key = secret.startsWith(`${API_KEY_PREFIX}_`) ? await lookup(sha256Hex(secret), t) : undefined;
      if (!key) throw new AppError('INVALID_CREDENTIALS', 'the API key is unknown, expired or revoked');
      const newAddress = key.lastUsedAddress !== source || key.lastUsedAt === null;
      if (newAddress || t - (key.lastUsedAt ?? 0) > USE_WRITE_INTERVAL_MS) {
        await store.recordUse(key.id, t, source);
        if (newAddress) deps.onNewAddress?.({ ...key }, source);
        key.lastUsedAt = t;
        key.lastUsedAddress = source;
      }
      const customs = await roles.customPermissions(key.tenantId);
      return {
        kind: 'api-key',
        keyId: key.id,
        tenantId: key.tenantId,
        grants: resolveGrants(key.grants, customs),
      };
    },
  };
}
