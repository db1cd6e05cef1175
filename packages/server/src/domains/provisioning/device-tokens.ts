/**
 * Registration tokens (RTs) in use: a device's identity on MQTT and HTTPS, refreshed with its PT,
 * revoked by the tenant, and the signing keys behind them (`registration-tokens.ts` signs and checks).
 */
import { AppError, Errors } from '../../errors.js';
import { constantTimeEqual } from '../../ids.js';
import { deviceCaller, principalName } from '../../platform/caller.js';
import type { ProvisioningContext } from './context.js';
import type { ProvisioningService } from './provisioning.js';
import type { TokenRow } from './store.js';

export function registrationTokenUse(
  ctx: ProvisioningContext,
  liveToken: (secret: string, opts?: { allowExpired?: boolean }) => Promise<TokenRow>,
) {
  const { now, audit } = ctx;
  const devices = ctx.deps.deviceRecords();
  const { bus, tokens } = ctx.deps;
  const service: Pick<
    ProvisioningService,
    'refresh' | 'revokeRegistrationTokens' | 'authenticate' | 'jwks' | 'rotateSigningKey'
  > = {
    async refresh(secret, registrationToken) {
      const token = await liveToken(secret, { allowExpired: true });
      const claims = await tokens.verify(registrationToken, { allowExpiredForMs: ctx.deps.refreshGraceMs });
      const state = await devices.credentialState(claims.deviceId);
      if (!state || state.tenantId !== claims.tenantId || state.tenantId !== token.tenant_id)
        throw Errors.invalidCredentials();
      // The PT must be the one the device was provisioned with (a batch token cannot mint tokens for
      // other units), and the RT must not have been revoked.
      if (state.provisioningTokenId !== token.id)
        throw new AppError('INVALID_CREDENTIALS', 'the device was not provisioned with this token');
      if (claims.issuedAt < state.tokensValidAfter)
        throw new AppError('INVALID_CREDENTIALS', 'the registration token was revoked');
      if (state.status !== 'enabled') throw Errors.deviceDisabled(claims.deviceId);
      const rt = await tokens.issue({ tenantId: claims.tenantId, deviceId: claims.deviceId });
      audit({
        tenantId: claims.tenantId,
        actor: principalName(deviceCaller(claims).principal),
        action: 'registration-token.refresh',
        target: claims.deviceId,
        changes: { provisioningTokenId: token.id, expiresAt: rt.expiresAt },
      });
      return { registrationToken: rt.token, expiresAt: rt.expiresAt, deviceId: claims.deviceId };
    },

    async revokeRegistrationTokens(caller, deviceId) {
      const t = now();
      await ctx.deps.transaction(async (_s, tx) => {
        if (!(await ctx.deps.deviceRecords(tx).revokeRegistrationTokens(caller.tenantId, deviceId, t)))
          throw Errors.deviceNotFound(deviceId);
        await ctx.deps.outbox?.add('credential.revoked', {
          tenantId: caller.tenantId,
          deviceId,
          kind: 'registration-tokens',
          credentialId: null,
          at: t,
        });
      });
      bus.publish('device.disconnect', { deviceId, reason: 'registration_tokens_revoked' });
    },

    async authenticate(registrationToken, claimedDeviceId) {
      const claims = await tokens.verify(registrationToken);
      if (claimedDeviceId !== undefined && !constantTimeEqual(claims.deviceId, claimedDeviceId))
        throw Errors.invalidCredentials();
      const state = await devices.credentialState(claims.deviceId);
      if (!state || state.tenantId !== claims.tenantId) throw Errors.invalidCredentials();
      if (claims.issuedAt < state.tokensValidAfter)
        throw new AppError('INVALID_CREDENTIALS', 'the registration token was revoked');
      if (state.status !== 'enabled') throw Errors.deviceDisabled(claims.deviceId);
      return {
        tenantId: claims.tenantId,
        deviceId: claims.deviceId,
        credential: 'registration-token',
        credentialId: claims.jti,
      };
    },

    jwks: () => tokens.jwks(),

    rotateSigningKey: async () => ({ kid: await tokens.rotate() }),
  };
  return service;
}
