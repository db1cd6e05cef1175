/**
 * Deciding operations: approval (by an operator with the device's verification code, or by the
 * token's policy) creates or re-provisions the device and issues its credentials; rejection ends the
 * operation.
 */
import { AppError } from '../../errors.js';
import { constantTimeEqual, newId, sha256Hex } from '../../ids.js';
import { principalName, type TenantCaller } from '../../platform/caller.js';
import { newDeviceRecord } from '../devices/devices.js';
import type { ProvisioningContext } from './context.js';
import { MAX_WRONG_CODES, PICKUP_WINDOW_MS, type ProvisioningService } from './provisioning.js';
import { toOperation, type OperationRow, type TokenRow } from './store.js';

export function codeHash(operationId: string, code: string): string {
  return sha256Hex(`${operationId}:${code.toUpperCase()}`);
}

export function operationRules(ctx: ProvisioningContext) {
  const { store, now } = ctx;

  async function requireOperation(caller: TenantCaller, id: string): Promise<OperationRow> {
    const op = await store.getOperation(caller.tenantId, id);
    if (!op) throw new AppError('OPERATION_NOT_FOUND', `operation ${id} not found`);
    return op;
  }

  function requirePending(op: OperationRow) {
    if (op.status !== 'pending' || op.expires_at <= now()) {
      throw new AppError(
        'OPERATION_NOT_PENDING',
        `operation ${op.id} is ${op.status === 'pending' ? 'expired' : op.status}`,
        {
          details: { operationStatus: op.status === 'pending' ? 'expired' : op.status },
        },
      );
    }
  }

  return { requireOperation, requirePending };
}

export function operationApproval(ctx: ProvisioningContext) {
  const { store, now, audit } = ctx;
  const { bus, box, tokens, pki } = ctx.deps;
  const { requireOperation, requirePending } = operationRules(ctx);

  /**
   * Approves a pending operation inside a transaction: finds or creates the device by serial, counts
   * the token use, revokes earlier RTs of a re-provisioned device, and issues an RT kept sealed for
   * pickup. Returns the device id.
   */
  async function approveLocked(
    op: OperationRow,
    token: TokenRow,
    decidedBy: string,
  ): Promise<{ deviceId: string; reprovisioned: boolean }> {
    // The issuing CA must be trusted by the mTLS listeners before its first certificate leaves.
    if (op.csr_pem) await pki.prepareTenant(op.tenant_id);
    const t = now();
    const outcome = await ctx.deps.transaction(async (s, tx) => {
      const current = await s.lockOperationStatus(op.id);
      if (current !== 'pending') requirePending({ ...op, status: current ?? 'expired' });
      const devices = ctx.deps.deviceRecords(tx);
      const existing = await devices.bySerial(op.tenant_id, op.serial);
      let deviceId: string;
      if (existing) {
        deviceId = existing.id;
        // The unit proved itself anew: its earlier registration tokens and access keys stop working
        // (its earlier certificates are revoked after the commit, below).
        await devices.reprovisioned(op.tenant_id, deviceId, token.id, t);
        await devices.revokeAllAccessKeys(op.tenant_id, deviceId, t);
      } else {
        const fresh = await s.getToken(op.tenant_id, token.id, true);
        if (!fresh || fresh.uses >= fresh.max_uses) throw new AppError('PROVISIONING_TOKEN_EXHAUSTED');
        const device = newDeviceRecord({
          id: newId('dev', t),
          tenantId: op.tenant_id,
          serial: op.serial,
          name: op.serial,
          tags: token.device_tags,
          metadata: { provisionedWith: token.id, attributes: op.attributes },
          now: t,
        });
        await devices.insert(device, token.id);
        await s.countUse(token.id);
        deviceId = device.id;
      }
      const rt = await tokens.issue({ tenantId: op.tenant_id, deviceId });
      const issued = op.csr_pem ? await pki.issue(op.tenant_id, deviceId, op.csr_pem, tx) : undefined;
      await s.setOperation(op.id, {
        ...(issued
          ? { certificate_pem: JSON.stringify({ certificate: issued.certificate, chain: issued.chain }) }
          : {}),
        status: 'approved',
        device_id: deviceId,
        decided_at: t,
        decided_by: decidedBy,
        sealed_registration_token: box.seal(rt.token),
        registration_token_expires_at: rt.expiresAt,
        pickup_until: t + PICKUP_WINDOW_MS,
      });
      // One record per completed provisioning, written in this transaction: the registration token
      // (and certificate) it issued exist only with their record.
      audit({
        tenantId: op.tenant_id,
        actor: decidedBy,
        action: 'provisioning.complete',
        target: deviceId,
        changes: {
          operationId: op.id,
          serial: op.serial,
          provisioningTokenId: token.id,
          reprovisioned: Boolean(existing),
          registrationTokenExpiresAt: rt.expiresAt,
          ...(issued ? { certificateSerial: issued.serial } : {}),
        },
      });
      await ctx.deps.outbox?.add('provisioning.decided', {
        tenantId: op.tenant_id,
        deviceId,
        operationId: op.id,
        serial: op.serial,
        status: 'approved',
        decidedBy,
        reason: null,
        reprovisioned: Boolean(existing),
        certificateSerial: issued?.serial ?? null,
        at: t,
      });
      return {
        deviceId,
        reprovisioned: Boolean(existing),
        rtExpiresAt: rt.expiresAt,
        ...(issued ? { keepSerial: issued.serial } : {}),
      };
    });
    if (outcome.reprovisioned) {
      await pki.revokeAllForDevice(
        op.tenant_id,
        outcome.deviceId,
        'device provisioned again',
        outcome.keepSerial,
      );
      bus.publish('device.disconnect', { deviceId: outcome.deviceId, reason: 'reprovisioned' });
    }
    bus.publish('provisioning.decided', { operationId: op.id });
    return outcome;
  }

  /** The provisioning.decided fact of a refusal, in the caller's transaction. */
  async function decided(op: OperationRow, status: string, decidedBy: string, reason: string, at: number) {
    await ctx.deps.outbox?.add('provisioning.decided', {
      tenantId: op.tenant_id,
      deviceId: null,
      operationId: op.id,
      serial: op.serial,
      status,
      decidedBy,
      reason,
      reprovisioned: false,
      certificateSerial: null,
      at,
    });
  }

  const service: Pick<ProvisioningService, 'approve' | 'reject'> = {
    async approve(caller, id, input) {
      const op = await requireOperation(caller, id);
      requirePending(op);
      if (op.verification_code_hash !== null) {
        // Reserve an attempt before comparing, atomically: parallel guesses cannot check more than
        // MAX_WRONG_CODES codes between them.
        const attempts = await store.reserveCodeAttempt(op.id, MAX_WRONG_CODES);
        if (attempts === undefined) requirePending({ ...op, status: 'locked' });
        if (!constantTimeEqual(codeHash(op.id, input.verificationCode ?? ''), op.verification_code_hash)) {
          const locked = attempts! >= MAX_WRONG_CODES;
          if (locked) {
            const t = now();
            await store.setOperation(op.id, {
              status: 'locked',
              decided_at: t,
              reason: 'too many wrong verification codes',
            });
            await decided(
              op,
              'locked',
              principalName(caller.principal),
              'too many wrong verification codes',
              t,
            );
            bus.publish('provisioning.decided', { operationId: op.id });
          }
          throw new AppError(
            'VERIFICATION_CODE_WRONG',
            locked ? 'wrong code; the operation is now locked' : 'wrong code',
            {
              details: { attemptsLeft: Math.max(0, MAX_WRONG_CODES - attempts!) },
            },
          );
        }
        // The right code: the reserved attempt was not a wrong one.
        await store.releaseCodeAttempt(op.id);
      }
      const token = await store.getToken(caller.tenantId, op.token_id);
      if (!token || token.revoked_at !== null)
        throw new AppError('PROVISIONING_TOKEN_EXHAUSTED', 'the provisioning token was revoked');
      await approveLocked(op, token, principalName(caller.principal));
      return toOperation((await store.getOperation(caller.tenantId, id))!);
    },

    async reject(caller, id, reason) {
      const op = await requireOperation(caller, id);
      requirePending(op);
      const t = now();
      const why = reason ?? 'rejected by an operator';
      await ctx.deps.transaction(async (s) => {
        await s.setOperation(op.id, {
          status: 'rejected',
          decided_at: t,
          decided_by: principalName(caller.principal),
          reason: why,
        });
        await decided(op, 'rejected', principalName(caller.principal), why, t);
      });
      bus.publish('provisioning.decided', { operationId: op.id });
      return toOperation((await store.getOperation(caller.tenantId, id))!);
    },
  };
  return { approveLocked, requireOperation, requirePending, service };
}
