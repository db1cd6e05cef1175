import { AppError, Errors } from '../../errors.js';
import { constantTimeEqual, newId, newSecret, sha256Hex } from '../../ids.js';
import type { Bus } from '../../platform/bus.js';
import { deviceCaller, principalName, type TenantCaller } from '../../platform/caller.js';
import { clampLimit, type Cursors } from '../../platform/pagination.js';
import type { SecretBox } from '../../platform/secret-box.js';
import type { Db } from '../../store/db.js';
import { deviceStore } from '../devices/store.js';
import { newDeviceRecord } from '../devices/devices.js';
import {
  BURST_WINDOW_MS,
  DEVICE_TOKEN_BURST,
  MAX_WRONG_CODES,
  PICKUP_WINDOW_MS,
  PROVISIONING_TOKEN_PREFIX,
  MAX_ATTRIBUTES_BYTES,
  SERIAL_PATTERN,
  VERIFICATION_CODE_PATTERN,
  type OperationStart,
  type OperationView,
  type ProvisioningService,
  type ProvisioningToken,
} from './provisioning.js';
import type { RegistrationTokens } from './registration-tokens.js';
import type { AuditSink } from '../audit/audit.js';
import type { PkiService } from '../pki/pki.js';
import {
  provisioningStore,
  toOperation,
  toToken,
  type OperationRow,
  type ProvisioningStore,
  type TokenRow,
} from './store.js';

export interface ProvisioningDeps {
  db: Db;
  bus: Bus;
  /** Signs and checks pagination cursors. */
  cursors: Cursors;
  box: SecretBox;
  tokens: RegistrationTokens;
  /** Checks CSRs when operations start and issues certificates on approval. */
  pki: PkiService;
  operationTtlSeconds: number;
  /** How long after expiry an RT may still be exchanged for a new one, in ms. */
  refreshGraceMs: number;
  /** Device-side credential events (starts, completions, refreshes) for the audit trail. */
  audit?: AuditSink;
  now?: () => number;
}

const isString = (v: unknown): v is string => typeof v === 'string';
/** Suggested poll interval for devices; long polls return earlier on a decision. */
const POLL_AFTER_MS = 5_000;

function codeHash(operationId: string, code: string): string {
  return sha256Hex(`${operationId}:${code.toUpperCase()}`);
}

export function createProvisioningService(deps: ProvisioningDeps): ProvisioningService {
  const { db, bus, box, tokens } = deps;
  const now = deps.now ?? Date.now;
  const store = provisioningStore(db);
  const audit: AuditSink = deps.audit ?? (() => undefined);
  /** Long polls in progress: a shutdown answers them at once. */
  const waiters = new Set<() => void>();

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
   * bug or someone else holding the token. Returns why a start is refused, if it is.
   */
  async function burstRefusal(
    s: ProvisioningStore,
    token: TokenRow,
    t: number,
  ): Promise<{ reason: string; retryAfterMs: number } | undefined> {
    if (token.kind === 'device') {
      const recent = await s.countRecentOperations(token.id, t - BURST_WINDOW_MS);
      if (recent >= DEVICE_TOKEN_BURST)
        return {
          reason: `${recent + 1} operations within ${BURST_WINDOW_MS / 60_000} minutes`,
          retryAfterMs: BURST_WINDOW_MS,
        };
      return undefined;
    }
    const pending = await s.countPending(token.id, t);
    const remaining = Math.max(0, token.max_uses - token.uses);
    if (pending >= remaining * 2 + 10)
      return {
        reason: `${pending + 1} pending operations for ${remaining} remaining uses`,
        retryAfterMs: 60_000,
      };
    return undefined;
  }

  function view(op: OperationRow): OperationView {
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
    }
    return v;
  }

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
    if (op.csr_pem) await deps.pki.prepareTenant(op.tenant_id);
    const t = now();
    const outcome = await db.transaction(async (tx) => {
      const s = provisioningStore(tx);
      const [current] = await tx.query<{ status: string }>(
        'SELECT status FROM provisioning_operations WHERE id = $1 FOR UPDATE',
        [op.id],
      );
      if (current?.status !== 'pending')
        requirePending({ ...op, status: (current?.status ?? 'expired') as OperationRow['status'] });
      const existing = await s.deviceBySerial(op.tenant_id, op.serial);
      let deviceId: string;
      if (existing) {
        deviceId = existing.id;
        // The unit proved itself anew: its earlier registration tokens and access keys stop working
        // (its earlier certificates are revoked after the commit, below).
        await tx.query(
          'UPDATE devices SET tokens_valid_after = $3, provisioning_token_id = $4, updated_at = $3 WHERE tenant_id = $1 AND id = $2',
          [op.tenant_id, deviceId, t, token.id],
        );
        await tx.query(
          'UPDATE device_access_keys SET revoked_at = coalesce(revoked_at, $3) WHERE tenant_id = $1 AND device_id = $2',
          [op.tenant_id, deviceId, t],
        );
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
        await deviceStore(tx).insert(device, token.id);
        await tx.query('UPDATE provisioning_tokens SET uses = uses + 1 WHERE id = $1', [token.id]);
        deviceId = device.id;
      }
      const rt = await tokens.issue({ tenantId: op.tenant_id, deviceId });
      const issued = op.csr_pem ? await deps.pki.issue(op.tenant_id, deviceId, op.csr_pem, tx) : undefined;
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
      return {
        deviceId,
        reprovisioned: Boolean(existing),
        rtExpiresAt: rt.expiresAt,
        ...(issued ? { keepSerial: issued.serial } : {}),
      };
    });
    if (outcome.reprovisioned) {
      await deps.pki.revokeAllForDevice(
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
          details: { status: op.status === 'pending' ? 'expired' : op.status },
        },
      );
    }
  }

  return {
    async createToken(caller, input) {
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

    async start(secret, input) {
      checkStart(input);
      const token = await liveToken(secret);
      if (token.kind === 'device' && token.serial !== input.serial) {
        throw new AppError('SERIAL_NOT_ALLOWED', 'this provisioning token is for another serial');
      }
      const t = now();
      // A bad CSR is refused now, not at approval: the device learns at once.
      if (input.csr) await deps.pki.checkCsr(input.csr);
      const existing = await store.deviceBySerial(token.tenant_id, input.serial);
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
        expires_at: t + deps.operationTtlSeconds * 1000,
        decided_at: null,
      };
      // One transaction per token, serialised by a row lock: the burst check, the superseding of the
      // unit's pending operation and the insert cannot interleave with a parallel start.
      const outcome = await db.transaction(async (tx) => {
        const s = provisioningStore(tx);
        await tx.query('SELECT id FROM provisioning_tokens WHERE id = $1 FOR UPDATE', [token.id]);
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
        throw new AppError('TOO_MANY_OPERATIONS', undefined, {
          details: { retryAfterMs: outcome.burst.retryAfterMs },
        });
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
        await approveLocked(op, token, 'policy:auto-approval');
        return view((await store.operationForToken(token.id, id))!);
      }
      return view(op);
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
      if (op.status === 'pending' && op.expires_at <= now()) return { ...view(op), status: 'expired' };
      return view(op);
    },

    async refresh(secret, registrationToken) {
      const token = await liveToken(secret, { allowExpired: true });
      const claims = await tokens.verify(registrationToken, { allowExpiredForMs: deps.refreshGraceMs });
      const state = await store.deviceAuthState(claims.deviceId);
      if (!state || state.tenant_id !== claims.tenantId || state.tenant_id !== token.tenant_id)
        throw Errors.invalidCredentials();
      // The PT must be the one the device was provisioned with (a batch token cannot mint tokens for
      // other units), and the RT must not have been revoked.
      if (state.provisioning_token_id !== token.id)
        throw new AppError('INVALID_CREDENTIALS', 'the device was not provisioned with this token');
      if (claims.issuedAt < state.tokens_valid_after)
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

    async listOperations(caller, q) {
      const limit = clampLimit(q.limit);
      const afterId = deps.cursors.decode(q.cursor, isString);
      const rows = await store.listOperations(caller.tenantId, {
        ...(q.status ? { status: q.status } : {}),
        ...(q.serial ? { serial: q.serial } : {}),
        ...(q.tag ? { tag: q.tag } : {}),
        ...(q.minAgeSeconds !== undefined ? { createdBefore: now() - q.minAgeSeconds * 1000 } : {}),
        ...(afterId ? { afterId } : {}),
        limit,
      });
      return deps.cursors.pageOf(rows, limit, toOperation, (r) => r.id);
    },

    async getOperation(caller, id) {
      return toOperation(await requireOperation(caller, id));
    },

    async approve(caller, id, input) {
      const op = await requireOperation(caller, id);
      requirePending(op);
      if (op.verification_code_hash !== null) {
        // Reserve an attempt before comparing, atomically: parallel guesses cannot check more than
        // MAX_WRONG_CODES codes between them.
        const [slot] = await db.query<{ wrong_code_attempts: number }>(
          `UPDATE provisioning_operations SET wrong_code_attempts = wrong_code_attempts + 1
            WHERE id = $1 AND status = 'pending' AND wrong_code_attempts < $2 RETURNING wrong_code_attempts`,
          [op.id, MAX_WRONG_CODES],
        );
        if (!slot) requirePending({ ...op, status: 'locked' });
        const attempts = slot!.wrong_code_attempts;
        if (!constantTimeEqual(codeHash(op.id, input.verificationCode ?? ''), op.verification_code_hash)) {
          const locked = attempts >= MAX_WRONG_CODES;
          if (locked) {
            await store.setOperation(op.id, {
              status: 'locked',
              decided_at: now(),
              reason: 'too many wrong verification codes',
            });
            bus.publish('provisioning.decided', { operationId: op.id });
          }
          throw new AppError(
            'VERIFICATION_CODE_WRONG',
            locked ? 'wrong code; the operation is now locked' : 'wrong code',
            {
              details: { attemptsLeft: Math.max(0, MAX_WRONG_CODES - attempts) },
            },
          );
        }
        // The right code: the reserved attempt was not a wrong one.
        await db.query(
          'UPDATE provisioning_operations SET wrong_code_attempts = wrong_code_attempts - 1 WHERE id = $1',
          [op.id],
        );
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
      await store.setOperation(op.id, {
        status: 'rejected',
        decided_at: now(),
        decided_by: principalName(caller.principal),
        reason: reason ?? 'rejected by an operator',
      });
      bus.publish('provisioning.decided', { operationId: op.id });
      return toOperation((await store.getOperation(caller.tenantId, id))!);
    },

    async revokeRegistrationTokens(caller, deviceId) {
      const rows = await db.query(
        'UPDATE devices SET tokens_valid_after = $3 WHERE tenant_id = $1 AND id = $2 RETURNING id',
        [caller.tenantId, deviceId, now()],
      );
      if (rows.length === 0) throw Errors.deviceNotFound(deviceId);
      bus.publish('device.disconnect', { deviceId, reason: 'registration_tokens_revoked' });
    },

    async authenticate(registrationToken, claimedDeviceId) {
      const claims = await tokens.verify(registrationToken);
      if (claimedDeviceId !== undefined && !constantTimeEqual(claims.deviceId, claimedDeviceId))
        throw Errors.invalidCredentials();
      const state = await store.deviceAuthState(claims.deviceId);
      if (!state || state.tenant_id !== claims.tenantId) throw Errors.invalidCredentials();
      if (claims.issuedAt < state.tokens_valid_after)
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

    endLongPolls() {
      for (const done of [...waiters]) done();
    },

    async expireDue() {
      const expired = await store.expireDue(now());
      for (const operationId of expired) bus.publish('provisioning.decided', { operationId });
      return expired.length;
    },
  };
}
