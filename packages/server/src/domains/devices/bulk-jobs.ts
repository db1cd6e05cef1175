/**
 * Bulk operations that run as jobs (docs/api.md#bulk-operations): revoking every credential of the
 * matched devices, and merging one patch into their desired configuration. At fleet size either is too
 * much for one transaction (the embedded store runs on the event loop), so the request only counts and
 * records: the job and a snapshot of the ids its filter matches, in one transaction, so that the job
 * acts on exactly the devices the confirmation counted. A worker under a lease (`work`, run by the job
 * runner) then takes the snapshot in chunks ordered by id: each chunk is one transaction that changes
 * its devices, writes their facts, and moves the job's cursor on, so a job resumes after a restart
 * where its last committed chunk ended and no device is changed twice. Its end is audited by the
 * system actor with its counts.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { AppError } from '../../errors.js';
import { newId } from '../../ids.js';
import { principalName, type TenantCaller } from '../../platform/caller.js';
import type { Notifier } from '../../platform/notifier.js';
import type { FactWriter } from '../../platform/outbox.js';
import { whenCommitted } from '../../store/ambient.js';
import type { Transaction } from '../../store/db.js';
import type { AuditSink } from '../audit/audit.js';
import type { BulkJobRow, BulkJobStore } from './bulk-jobs-store.js';
import type { DeviceBulkInput, DeviceBulkJobAction, DeviceBulkJobService, SkippedDevice } from './devices.js';
import { filterQuery } from './service.js';

/** Devices per chunk: one transaction each. */
export const BULK_CHUNK_SIZE = 500;
/** How long one run of the worker goes on before it gives the runner back its turn (ms). */
const DEFAULT_BUDGET_MS = 5_000;

export interface DeviceBulkJobDeps {
  store: BulkJobStore;
  transaction: Transaction<BulkJobStore>;
  bus: Notifier;
  outbox: FactWriter;
  /** Revokes the devices' certificates in the ambient transaction (`PkiService.revokeAllForDevices`). */
  revokeCertificates(
    tenantId: string,
    deviceIds: readonly string[],
    reason: string,
  ): Promise<{ deviceId: string; serial: string }[]>;
  /** Checks a merge patch as the single-device path does (`at`: where in the request), or throws a 4xx. */
  parsePatch(patch: unknown, at: string): Record<string, unknown>;
  /** Merges a patch into the devices' desired configuration (`ConfigService.setDesiredMany`). */
  setDesiredMany(
    tenantId: string,
    deviceIds: readonly string[],
    patch: Record<string, unknown>,
    actor: string,
    at: number,
  ): Promise<{ changed: string[]; skipped: SkippedDevice[] }>;
  /** The worker should run soon: a job was queued. */
  nudge(): void;
  audit?: AuditSink;
  chunkSize?: number;
  now?: () => number;
}

export function createDeviceBulkJobService(deps: DeviceBulkJobDeps): DeviceBulkJobService {
  const { store, transaction } = deps;
  const now = deps.now ?? Date.now;
  const chunkSize = deps.chunkSize ?? BULK_CHUNK_SIZE;

  async function start(
    caller: TenantCaller,
    input: DeviceBulkInput,
    action: DeviceBulkJobAction,
    params: Record<string, unknown>,
  ) {
    const filter = filterQuery(input.filter, '/filter/belowVersion');
    const at = now();
    const result = await transaction(async (tx) => {
      const counted = await tx.count(caller.tenantId, filter, action, at, caller.visible);
      if (input.expectMatched !== undefined && counted.matched !== input.expectMatched)
        throw new AppError(
          'BULK_MATCH_CHANGED',
          `the filter matches ${counted.matched} devices now, not ${input.expectMatched}: nothing was done`,
          { details: { matched: counted.matched, expectMatched: input.expectMatched } },
        );
      if (input.dryRun === true) return { dryRun: true, ...counted, changed: 0 };
      const job = await tx.create(
        { id: newId('blk', at), tenantId: caller.tenantId, action, params },
        input.filter,
        principalName(caller.principal),
        counted.matched,
        filter,
        at,
        caller.visible,
      );
      return { dryRun: false as const, ...counted, changed: 0, job };
    });
    // Once the job is committed (the request's transaction, when there is one): a worker nudged
    // before would read from another connection, find no job and leave it to the next period.
    if (!result.dryRun) whenCommitted(deps.nudge);
    return result;
  }

  /** One chunk of a revocation: certificates, access keys, registration tokens; sessions dropped. */
  async function revokeChunk(job: BulkJobRow, ids: readonly string[], at: number) {
    const certs = await deps.revokeCertificates(job.tenant_id, ids, 'revoked in bulk by an operator');
    const { keys, tokenDevices } = await store.revokeDeviceCredentials(job.tenant_id, ids, at);
    await deps.outbox.addMany('credential.revoked', [
      ...keys.map((k) => ({
        tenantId: job.tenant_id,
        deviceId: k.device_id,
        kind: 'access-key' as const,
        credentialId: k.id,
        at,
      })),
      ...tokenDevices.map((deviceId) => ({
        tenantId: job.tenant_id,
        deviceId,
        kind: 'registration-tokens' as const,
        credentialId: null,
        at,
      })),
    ]);
    const changed = new Set([
      ...certs.map((c) => c.deviceId),
      ...keys.map((k) => k.device_id),
      ...tokenDevices,
    ]);
    // Every device of the chunk: a session that authenticated before the revocation goes either way.
    // After the commit: dropped earlier, a device could reconnect with a credential not yet revoked.
    whenCommitted(() => {
      for (const deviceId of ids)
        deps.bus.publish('device.disconnect', { deviceId, reason: 'credentials_revoked' });
    });
    return { changed: changed.size, skipped: [] };
  }

  /**
   * The job's end in the audit trail, reported inside the transaction that ends it: the audit writer
   * appends it to that transaction, so the end and its record are stored together.
   */
  function auditEnd(ended: BulkJobRow) {
    deps.audit?.({
      tenantId: ended.tenant_id,
      actor: 'system',
      action: 'device.bulk.finished',
      target: ended.id,
      outcome: ended.status === 'done' ? 'success' : 'failure',
      changes: {
        action: ended.action,
        filter: ended.filter,
        requestedBy: ended.created_by,
        matched: ended.matched,
        processed: ended.processed,
        changed: ended.changed,
        skipped: ended.skipped,
        ...(ended.error ? { error: ended.error } : {}),
      },
    });
  }

  /** Works one chunk of the oldest open job, or ends it; false when no job is open. */
  async function step(): Promise<boolean> {
    let failed: { job: BulkJobRow; error: unknown } | undefined;
    const worked = await transaction(async (tx) => {
      const job = await tx.nextOpen();
      if (!job) return false;
      const ids = await tx.chunk(job.id, job.cursor, chunkSize);
      const at = now();
      if (ids.length === 0) {
        auditEnd(await tx.finish(job.id, 'done', at, null));
        return true;
      }
      try {
        // A savepoint: a chunk that fails is undone alone, and the job is marked failed.
        const outcome = await transaction(async () =>
          job.action === 'revoke'
            ? revokeChunk(job, ids, at)
            : deps
                .setDesiredMany(
                  job.tenant_id,
                  ids,
                  job.params.patch as Record<string, unknown>,
                  job.created_by,
                  at,
                )
                .then((r) => ({ changed: r.changed.length, skipped: r.skipped })),
        );
        await tx.advance(job, ids, outcome, at);
      } catch (error) {
        failed = { job, error };
      }
      return true;
    });
    if (failed) {
      const { job, error } = failed;
      const message = error instanceof Error ? error.message : String(error);
      // In a transaction of its own: the one the chunk failed in may be broken.
      await transaction(async (tx) =>
        auditEnd(await tx.finish(job.id, 'failed', now(), message.slice(0, 500))),
      );
    }
    return worked;
  }

  return {
    revoke: (caller, input) => start(caller, input, 'revoke', {}),

    async setDesiredConfig(caller, input) {
      if (input.action.type !== 'setDesiredConfig') throw new Error('not a setDesiredConfig action');
      const patch = deps.parsePatch(input.action.patch, '/action/patch');
      return start(caller, input, 'setDesiredConfig', { patch });
    },

    async get(caller, jobId) {
      const job = await store.get(caller.tenantId, jobId);
      if (!job) throw new AppError('BULK_JOB_NOT_FOUND', `bulk job ${jobId} not found`);
      return job;
    },

    async work(options = {}) {
      const deadline = now() + (options.budgetMs ?? DEFAULT_BUDGET_MS);
      let chunks = 0;
      for (;;) {
        if (options.maxChunks !== undefined && chunks >= options.maxChunks) return true;
        if (now() >= deadline) return true;
        if (!(await step())) return false;
        chunks++;
        // Requests waiting on the store and the event loop go first between chunks.
        await yieldToLoop();
      }
    },
  };
}
