/**
 * Provisioning operations from the device's side: starting one with a PT (checked, rate-limited,
 * superseding the unit's earlier pending one), polling it (long polls answered on a decision), and
 * their expiry; and the operator's listing.
 */
import { AppError, Errors } from '../../errors.js';
import { newId } from '../../ids.js';
import { clampLimit } from '../../platform/pagination.js';
import { limitDetails, type LimitDetails } from '../../platform/limits/refusal.js';
import type { ProvisioningContext } from './context.js';
import { codeHash, type operationApproval } from './approval.js';
import {
  BURST_WINDOW_MS,
  DEVICE_TOKEN_BURST,
  MAX_ATTRIBUTES_BYTES,
  SERIAL_PATTERN,
  VERIFICATION_CODE_PATTERN,
  type OperationStart,
  type OperationView,
  type ProvisioningService,
} from './provisioning.js';
import { toOperation, type OperationRow, type ProvisioningStore, type TokenRow } from './store.js';

const isString = (v: unknown): v is string => typeof v === 'string';
/** Suggested poll interval for devices; long polls return earlier on a decision. */
const POLL_AFTER_MS = 5_000;

/** The rules for what a device may send when it starts: the same for HTTPS and MQTT. */
function checkStart(input: OperationStart) {
  const refuse = (path: string, message: string) => {
    throw Errors.validation(`${path.slice(1)} ${message}`, [{ path, message }]);
  };
  if (typeof input.serial !== 'string' || !SERIAL_PATTERN.test(input.serial))
    refuse('/serial', 'must be 1–64 of A–Z a–z 0–9 _ . : -');
  if (input.verificationCode !== undefined && !VERIFICATION_CODE_PATTERN.test(input.verificationCode)) {
    refuse('/verificationCode', 'must be 4–12 of A–Z, 0–9');
  }
  if (
    input.attributes !== undefined &&
    Buffer.byteLength(JSON.stringify(input.attributes)) > MAX_ATTRIBUTES_BYTES
  ) {
    refuse('/attributes', `at most ${MAX_ATTRIBUTES_BYTES / 1024} KiB of JSON`);
  }
}

/**
 * Firmware restarts provisioning now and then; dozens of starts in minutes on one unit's token is a
 * bug or someone else holding the token. Returns why a start is refused, if it is, with the limit it
 * hit (named as in platform/limits/catalogue.ts).
 *
 * These two limits stay counted in the store, not in the limiter: they count the token's operation
 * rows, which every node sharing the database sees and which outlive a restart, and the pending limit
 * moves with the token's remaining uses. A node-local count would let a token start 5 operations per
 * node, and forget the burst when the server restarts.
 */
async function burstRefusal(
  s: ProvisioningStore,
  token: TokenRow,
  t: number,
): Promise<{ reason: string; details: LimitDetails } | undefined> {
  if (token.kind === 'device') {
    const recent = await s.countRecentOperations(token.id, t - BURST_WINDOW_MS);
    if (recent >= DEVICE_TOKEN_BURST)
      return {
        reason: `${recent + 1} operations within ${BURST_WINDOW_MS / 60_000} minutes`,
        details: limitDetails({
          limit: 'provisioning.operations_per_device_token',
          configured: DEVICE_TOKEN_BURST,
          observed: recent + 1,
          retryAfterMs: BURST_WINDOW_MS,
        }),
      };
    return undefined;
  }
  const pending = await s.countPending(token.id, t);
  const remaining = Math.max(0, token.max_uses - token.uses);
  if (pending >= remaining * 2 + 10)
    return {
      reason: `${pending + 1} pending operations for ${remaining} remaining uses`,
      details: limitDetails({
        limit: 'provisioning.pending_per_batch_token',
        configured: remaining * 2 + 10,
        observed: pending + 1,
        retryAfterMs: 60_000,
      }),
    };
  return undefined;
}

export function provisioningOperations(
  ctx: ProvisioningContext,
  parts: {
    liveToken(secret: string): Promise<TokenRow>;
    approval: ReturnType<typeof operationApproval>;
  },
) {
  const { store, now, audit } = ctx;
  const { bus, box } = ctx.deps;
  const { liveToken, approval } = parts;
  /** Long polls in progress: a shutdown answers them at once. */
  const waiters = new Set<() => void>();

  async function view(op: OperationRow): Promise<OperationView> {
    const v: OperationView = {
      operationId: op.id,
      status: op.status,
      expiresAt: op.expires_at,
      pollAfterMs: POLL_AFTER_MS,
    };
    if (op.reason) v.reason = op.reason;
    if (op.status === 'approved' && op.device_id) {
      v.deviceId = op.device_id;
      if (op.sealed_registration_token && op.pickup_until !== null && op.pickup_until > now()) {
        v.registrationToken = box.open(op.sealed_registration_token);
        v.registrationTokenExpiresAt = op.registration_token_expires_at!;
      }
      if (op.certificate_pem) {
        const issued = JSON.parse(op.certificate_pem) as { certificate: string; chain: string };
        v.certificate = issued.certificate;
        v.certificateChain = issued.chain;
      }
      // With its credential, the keys its firmware images are signed with: the device can check its
      // first offer. Polls after the pickup window carry no credential and read no keys.
      if ((v.registrationToken || v.certificate) && ctx.deps.updateKeys)
        v.updateKeys = await ctx.deps.updateKeys(op.tenant_id);
    }
    return v;
  }

  const service: Pick<
    ProvisioningService,
    'start' | 'poll' | 'listOperations' | 'getOperation' | 'expireDue' | 'endLongPolls'
  > = {
    async start(secret, input) {
      checkStart(input);
      const token = await liveToken(secret);
      if (token.kind === 'device' && token.serial !== input.serial) {
        throw new AppError('SERIAL_NOT_ALLOWED', 'this provisioning token is for another serial');
      }
      const t = now();
      // A bad CSR is refused now, not at approval: the device learns at once.
      if (input.csr) await ctx.deps.pki.checkCsr(input.csr);
      const existing = await ctx.deps.deviceRecords().bySerial(token.tenant_id, input.serial);
      if (!existing && token.uses >= token.max_uses) {
        throw new AppError(
          'PROVISIONING_TOKEN_EXHAUSTED',
          `the provisioning token has provisioned ${token.uses} of ${token.max_uses} devices`,
        );
      }
      const id = newId('pop', t);
      const op: OperationRow = {
        id,
        tenant_id: token.tenant_id,
        token_id: token.id,
        serial: input.serial,
        attributes: input.attributes ?? {},
        verification_code_hash: input.verificationCode ? codeHash(id, input.verificationCode) : null,
        csr_pem: input.csr ?? null,
        certificate_pem: null,
        wrong_code_attempts: 0,
        status: 'pending',
        reprovision: Boolean(existing),
        device_id: null,
        sealed_registration_token: null,
        registration_token_expires_at: null,
        pickup_until: null,
        reason: null,
        decided_by: null,
        created_at: t,
        expires_at: t + ctx.deps.operationTtlSeconds * 1000,
        decided_at: null,
      };
      // One transaction per token, serialised by a row lock: the burst check, the superseding of the
      // unit's pending operation and the insert cannot interleave with a parallel start.
      const outcome = await ctx.deps.transaction(async (s) => {
        await s.lockToken(token.id);
        const burst = await burstRefusal(s, token, t);
        if (burst) return { burst };
        const before = (
          await s.listOperations(token.tenant_id, { status: 'pending', serial: input.serial, limit: 100 })
        ).filter((o) => o.token_id === token.id);
        await s.supersedePending(token.id, input.serial, t);
        await s.insertOperation(op);
        return { superseded: before.map((o) => o.id) };
      });
      const started = {
        tenantId: token.tenant_id,
        actor: `provisioning-token:${token.id}`,
        action: 'provisioning.start',
        target: input.serial,
      };
      if ('burst' in outcome) {
        // Flagged outside the transaction: a refusal must leave its mark.
        await store.flagSuspicious(token.id, t, outcome.burst.reason);
        audit({
          ...started,
          outcome: 'failure',
          changes: { reason: outcome.burst.reason, flaggedSuspicious: true },
        });
        throw new AppError('TOO_MANY_OPERATIONS', undefined, { details: outcome.burst.details });
      }
      const superseded = outcome.superseded;
      audit({
        ...started,
        outcome: 'success',
        changes: {
          operationId: id,
          csr: Boolean(input.csr),
          verificationCode: Boolean(input.verificationCode),
          reprovision: op.reprovision,
          ...(superseded.length ? { superseded } : {}),
        },
      });
      for (const operationId of superseded) bus.publish('provisioning.decided', { operationId });
      if (token.approval === 'auto' && !op.reprovision) {
        await approval.approveLocked(op, token, 'policy:auto-approval');
        return await view((await store.operationForToken(token.id, id))!);
      }
      return await view(op);
    },

    async poll(secret, operationId, waitMs) {
      const token = await liveToken(secret);
      const read = async () => {
        const op = await store.operationForToken(token.id, operationId);
        if (!op) throw new AppError('OPERATION_NOT_FOUND', `operation ${operationId} not found`);
        return op;
      };
      let op = await read();
      if (op.status === 'pending' && waitMs > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.min(waitMs, Math.max(0, op.expires_at - now())));
          const unsubscribe = bus.subscribe('provisioning.decided', (e) => {
            if (e.operationId === operationId) done();
          });
          waiters.add(done);
          function done() {
            clearTimeout(timer);
            unsubscribe();
            waiters.delete(done);
            resolve();
          }
        });
        op = await read();
      }
      if (op.status === 'pending' && op.expires_at <= now())
        return { ...(await view(op)), status: 'expired' };
      return await view(op);
    },

    async listOperations(caller, q) {
      const limit = clampLimit(q.limit);
      const afterId = ctx.deps.cursors.decode(q.cursor, isString);
      const rows = await store.listOperations(caller.tenantId, {
        ...(q.status ? { status: q.status } : {}),
        ...(q.serial ? { serial: q.serial } : {}),
        ...(q.tag ? { tag: q.tag } : {}),
        ...(q.minAgeSeconds !== undefined ? { createdBefore: now() - q.minAgeSeconds * 1000 } : {}),
        ...(afterId ? { afterId } : {}),
        limit,
      });
      return ctx.deps.cursors.pageOf(rows, limit, toOperation, (r) => r.id);
    },

    async getOperation(caller, id) {
      return toOperation(await approval.requireOperation(caller, id));
    },

    endLongPolls() {
      for (const done of [...waiters]) done();
    },

    async expireDue() {
      const expired = await store.expireDue(now());
      for (const operationId of expired) bus.publish('provisioning.decided', { operationId });
      return expired.length;
    },
  };
  return service;
}
