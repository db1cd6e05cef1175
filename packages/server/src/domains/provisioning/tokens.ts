/** Provisioning tokens (PTs): created, listed and revoked by the tenant; presented by devices. */
import { AppError, Errors } from '../../errors.js';
import { newId, newSecret, sha256Hex } from '../../ids.js';
import type { TenantCaller } from '../../platform/caller.js';
import type { ProvisioningContext } from './context.js';
import {
  PROVISIONING_TOKEN_PREFIX,
  type ProvisioningService,
  type ProvisioningToken,
  type TokenCreate,
} from './provisioning.js';
import { toToken, type TokenRow } from './store.js';

export function provisioningTokens(ctx: ProvisioningContext) {
  const { store, now } = ctx;
  const { bus } = ctx.deps;

  /** Resolves a PT secret to a live token; INVALID_CREDENTIALS when unknown, revoked or expired. */
  async function liveToken(secret: string, opts: { allowExpired?: boolean } = {}): Promise<TokenRow> {
    if (!secret.startsWith(`${PROVISIONING_TOKEN_PREFIX}_`)) throw Errors.invalidCredentials();
    const token = await store.tokenByHash(sha256Hex(secret));
    if (!token) throw Errors.invalidCredentials();
    if (token.revoked_at !== null)
      throw new AppError('INVALID_CREDENTIALS', 'the provisioning token was revoked');
    // Expiry ends onboarding with the token; devices it provisioned keep refreshing with it.
    if (!opts.allowExpired && token.expires_at !== null && token.expires_at <= now())
      throw new AppError('PROVISIONING_TOKEN_EXHAUSTED', 'the provisioning token has expired');
    return token;
  }

  const service: Pick<
    ProvisioningService,
    'createToken' | 'listTokens' | 'getToken' | 'revokeToken' | 'authenticateToken'
  > = {
    async createToken(caller: TenantCaller, input: TokenCreate) {
      if (input.kind === 'device' && !input.serial)
        throw Errors.validation('a device token names its serial', [
          { path: '/serial', message: 'required for kind device' },
        ]);
      if (input.kind === 'batch' && input.serial)
        throw Errors.validation('a batch token names no serial', [
          { path: '/serial', message: 'only for kind device' },
        ]);
      const secret = newSecret(PROVISIONING_TOKEN_PREFIX);
      const t = now();
      const token: ProvisioningToken = {
        id: newId('ptk', t),
        name: input.name,
        kind: input.kind,
        serial: input.serial ?? null,
        maxUses: input.kind === 'device' ? 1 : (input.maxUses ?? 1),
        uses: 0,
        approval: input.approval,
        deviceTags: [...new Set(input.deviceTags ?? [])],
        expiresAt: input.ttlSeconds ? t + input.ttlSeconds * 1000 : null,
        createdAt: t,
        revokedAt: null,
        prefix: secret.slice(0, 10),
        suspicious: null,
      };
      await store.insertToken(caller.tenantId, token, sha256Hex(secret));
      return { provisioningToken: token, secret };
    },

    async listTokens(caller) {
      return (await store.listTokens(caller.tenantId)).map(toToken);
    },

    async getToken(caller, id) {
      const r = await store.getToken(caller.tenantId, id);
      if (!r) throw new AppError('PROVISIONING_TOKEN_NOT_FOUND', `provisioning token ${id} not found`);
      return toToken(r);
    },

    async revokeToken(caller, id) {
      const t = now();
      if (!(await store.revokeToken(caller.tenantId, id, t)))
        throw new AppError('PROVISIONING_TOKEN_NOT_FOUND', `provisioning token ${id} not found`);
      for (const operationId of await store.rejectPendingOfToken(
        id,
        t,
        'the provisioning token was revoked',
      )) {
        bus.publish('provisioning.decided', { operationId });
      }
      bus.publish('provisioning.token-revoked', { tokenId: id });
    },

    async authenticateToken(secret) {
      const token = await liveToken(secret);
      return { tokenId: token.id, tenantId: token.tenant_id };
    },
  };
  return { liveToken, service };
}
