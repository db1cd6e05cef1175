/**
 * Tenancy: tenants, users and their login sessions, tenant API keys. The contract the rest of the
 * platform depends on; `service.ts` implements it over `store.ts`.
 */
import type { Principal } from '../../platform/caller.js';

export interface Tenant {
  id: string;
  name: string;
  createdAt: number;
}

export interface User {
  id: string;
  tenantId: string | null;
  username: string;
  platformAdmin: boolean;
  createdAt: number;
}

export interface ApiKey {
  id: string;
  tenantId: string;
  name: string;
  /** The first characters of the secret, to recognise it in lists. */
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface LoginResult {
  token: string;
  expiresAt: number;
  user: User;
}

export interface TenancyService {
  /** Creates a tenant; names are unique. Platform administrators only (checked by the caller's adapter). */
  createTenant(name: string): Promise<Tenant>;
  /** Lists every tenant. */
  listTenants(): Promise<Tenant[]>;
  /** Returns a tenant or TENANT_NOT_FOUND. */
  getTenant(id: string): Promise<Tenant>;
  /** Creates a user in a tenant (or a platform administrator when `tenantId` is null). */
  createUser(input: {
    tenantId: string | null;
    username: string;
    password: string;
    platformAdmin?: boolean;
  }): Promise<User>;
  /** Checks a password and opens a session; INVALID_CREDENTIALS otherwise, in the same time either way. */
  login(username: string, password: string): Promise<LoginResult>;
  /** Ends the session the token belongs to. */
  logout(token: string): Promise<void>;
  /**
   * Changes a user's password after checking the current one (INVALID_CREDENTIALS otherwise) and ends
   * all of the user's sessions: the next request needs a new login.
   */
  changePassword(userId: string, currentPassword: string, newPassword: string): Promise<void>;
  /** Creates a tenant API key; the secret is returned once and only its digest is kept. */
  createApiKey(tenantId: string, name: string): Promise<{ apiKey: ApiKey; secret: string }>;
  listApiKeys(tenantId: string): Promise<ApiKey[]>;
  /** Revokes a key at once; API_KEY_NOT_FOUND when it is not the tenant's. */
  revokeApiKey(tenantId: string, keyId: string): Promise<void>;
  /** Resolves a bearer credential (API key or session token) to a principal, or UNAUTHENTICATED. */
  authenticateBearer(token: string): Promise<Principal>;
  /** On an empty store, creates the platform administrator and returns its one-time password. */
  ensureBootstrapAdmin(): Promise<{ username: string; password: string } | null>;
}

export const API_KEY_PREFIX = 'mk';
export const SESSION_TOKEN_PREFIX = 'mst';
export const BOOTSTRAP_ADMIN_USERNAME = 'admin';
