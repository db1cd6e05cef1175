/**
 * API keys and service accounts: a named tenant credential for programs, holding grants (a role or a
 * list of permissions, over the tenant, a tag or a device), with an optional expiry, its last use
 * (time and source address), rotation with an overlap during which the old secret still works, and
 * revocation that takes effect at the next request. Only the SHA-256 digest of a secret is stored; a
 * request's key is found by an index lookup on that digest, never by a slow hash. The contract;
 * `service.ts` implements it over `store.ts`.
 */
import type { Grant } from '../access/access.js';
import type { Principal, TenantCaller } from '../../platform/caller.js';

export interface ApiKey {
  id: string;
  tenantId: string;
  name: string;
  /** The first characters of the secret, to recognise it in lists. */
  prefix: string;
  grants: Grant[];
  createdAt: number;
  createdBy: string | null;
  expiresAt: number | null;
  lastUsedAt: number | null;
  lastUsedAddress: string | null;
  revokedAt: number | null;
  rotatedAt: number | null;
  /** While set and in the future, the secret before the last rotation still works. */
  previousExpiresAt: number | null;
}

export interface ApiKeyCreate {
  name: string;
  /** Shorthand for `grants: [{ role }]`. */
  role?: string;
  /** Shorthand for `grants: [{ permissions }]`. */
  permissions?: Grant['permissions'];
  grants?: Grant[];
  /** Epoch milliseconds; the key stops working then. */
  expiresAt?: number;
}

export interface ApiKeyService {
  /**
   * Creates a key; the secret is returned once. A tenant caller can hand on only what it holds
   * itself; a platform administrator (bootstrapping a tenant) creates an owner key by default.
   */
  create(caller: TenantCaller, input: ApiKeyCreate): Promise<{ apiKey: ApiKey; secret: string }>;
  list(caller: TenantCaller): Promise<ApiKey[]>;
  get(caller: TenantCaller, keyId: string): Promise<ApiKey>;
  /** A new secret for the same key; the old one keeps working for `overlapSeconds` (0: not at all). */
  rotate(
    caller: TenantCaller,
    keyId: string,
    overlapSeconds: number,
  ): Promise<{ apiKey: ApiKey; secret: string }>;
  /** Revokes at once; API_KEY_NOT_FOUND when it is not the tenant's. */
  revoke(caller: TenantCaller, keyId: string): Promise<void>;
  /** Resolves a key secret to its principal, recording the use; INVALID_CREDENTIALS otherwise. */
  authenticate(secret: string, source: string | null): Promise<Principal>;
}

export const API_KEY_PREFIX = 'mk';
/** Longest rotation overlap: one week. */
export { MAX_ROTATION_OVERLAP_SECONDS } from '@mooring/protocol';
