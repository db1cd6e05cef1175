import { hash, verify } from '@node-rs/argon2';
import { randomBytes } from 'node:crypto';
import { AppError, Errors } from '../../errors.js';
import { newId, newSecret, sha256Hex } from '../../ids.js';
import type { Principal } from '../../platform/caller.js';
import type { TenancyStore } from './store.js';
import {
  API_KEY_PREFIX,
  BOOTSTRAP_ADMIN_USERNAME,
  SESSION_TOKEN_PREFIX,
  type ApiKey,
  type TenancyService,
  type User,
} from './tenancy.js';

/** OWASP's Argon2id minimum: 19 MiB memory, 2 iterations, 1 lane. */
const ARGON2_OPTIONS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
const MIN_PASSWORD_LENGTH = 12;
const MAX_PASSWORD_LENGTH = 256;

export interface TenancyDeps {
  store: TenancyStore;
  sessionTtlMs: number;
  now?: () => number;
}

export function createTenancyService(deps: TenancyDeps): TenancyService {
  const { store } = deps;
  const now = deps.now ?? Date.now;
  // Verified against when the user does not exist, so a login takes the same time either way.
  const dummyHash = hash(randomBytes(16).toString('hex'), ARGON2_OPTIONS);

  async function requireTenant(id: string) {
    const t = await store.getTenant(id);
    if (!t) throw Errors.tenantNotFound(id);
    return t;
  }

  function checkPassword(password: string, field = '/password') {
    if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
      throw Errors.validation(
        `password must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`,
        [
          {
            path: field,
            message: `must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`,
          },
        ],
      );
    }
  }

  const service: TenancyService = {
    async createTenant(name) {
      return store.insertTenant({ id: newId('ten'), name, createdAt: now() });
    },
    listTenants: () => store.listTenants(),
    getTenant: requireTenant,

    async createUser({ tenantId, username, password, platformAdmin = false }) {
      if (tenantId !== null) await requireTenant(tenantId);
      checkPassword(password);
      const user: User = { id: newId('usr'), tenantId, username, platformAdmin, createdAt: now() };
      return store.insertUser(user, await hash(password, ARGON2_OPTIONS));
    },

    async login(username, password) {
      const found = await store.findUserByUsername(username);
      const ok = await verify(found?.passwordHash ?? (await dummyHash), password).catch(() => false);
      if (!found || !ok) throw Errors.invalidCredentials();
      const token = newSecret(SESSION_TOKEN_PREFIX);
      const t = now();
      const expiresAt = t + deps.sessionTtlMs;
      await store.insertSession({
        id: newId('ses'),
        userId: found.user.id,
        tokenHash: sha256Hex(token),
        createdAt: t,
        expiresAt,
      });
      return { token, expiresAt, user: found.user };
    },

    async logout(token) {
      await store.revokeSession(sha256Hex(token), now());
    },

    async changePassword(userId, currentPassword, newPassword) {
      const found = await store.findUserById(userId);
      const ok = found ? await verify(found.passwordHash, currentPassword).catch(() => false) : false;
      if (!found || !ok) throw Errors.invalidCredentials();
      checkPassword(newPassword, '/newPassword');
      await store.setPassword(userId, await hash(newPassword, ARGON2_OPTIONS), now());
    },

    async createApiKey(tenantId, name) {
      await requireTenant(tenantId);
      const secret = newSecret(API_KEY_PREFIX);
      const apiKey: ApiKey = {
        id: newId('key'),
        tenantId,
        name,
        prefix: secret.slice(0, 10),
        createdAt: now(),
        lastUsedAt: null,
        revokedAt: null,
      };
      await store.insertApiKey(apiKey, sha256Hex(secret));
      return { apiKey, secret };
    },
    listApiKeys: (tenantId) => store.listApiKeys(tenantId),
    async revokeApiKey(tenantId, keyId) {
      if (!(await store.revokeApiKey(tenantId, keyId, now()))) throw Errors.apiKeyNotFound(keyId);
    },

    async authenticateBearer(token): Promise<Principal> {
      if (token.startsWith(`${API_KEY_PREFIX}_`)) {
        const key = await store.useApiKey(sha256Hex(token), now());
        if (key) return { kind: 'api-key', keyId: key.id, tenantId: key.tenantId };
      } else if (token.startsWith(`${SESSION_TOKEN_PREFIX}_`)) {
        const user = await store.findSession(sha256Hex(token), now());
        if (user?.platformAdmin) return { kind: 'platform-admin', userId: user.id };
        if (user?.tenantId) return { kind: 'user', userId: user.id, tenantId: user.tenantId };
      }
      throw new AppError('INVALID_CREDENTIALS', 'the bearer credential is unknown, expired or revoked');
    },

    async ensureBootstrapAdmin() {
      if ((await store.countPlatformAdmins()) > 0) return null;
      const password = randomBytes(24).toString('base64url');
      await service.createUser({
        tenantId: null,
        username: BOOTSTRAP_ADMIN_USERNAME,
        password,
        platformAdmin: true,
      });
      return { username: BOOTSTRAP_ADMIN_USERNAME, password };
    },
  };
  return service;
}
