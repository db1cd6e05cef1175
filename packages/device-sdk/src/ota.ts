/**
 * The device's OTA agent (docs/ota.md, "Device SDK agent"): takes the platform's offers and cancels,
 * checks the signed manifest, defers when the firmware says so, downloads the image resumably, checks
 * it, hands it to the firmware to install, and after the reboot confirms the update (or reports the
 * rollback). Every step is reported on the operation. The transport is injected: `MooringDevice`
 * wires MQTT and the HTTPS device API; tests pass functions.
 *
 * Offers and cancels arrive at least once (again on every reconnect while the operation is open):
 * they are deduplicated by operation and attempt, and a redelivered one whose answer the platform
 * missed gets its last report again. One update runs at a time.
 */
import { EventEmitter } from 'node:events';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { OTA_LIMITS, type OtaCancel, type OtaOffer, type OtaReport } from '@mooring/protocol';
import { Backoff, sleep, withTimeout } from './backoff.js';
import { download, partSize } from './ota-download.js';
import { OtaStateFile, type OtaPending, type OtaPersisted } from './ota-store.js';
import { settleInstalled } from './ota-reboot.js';
import { RANK, StepError, type Job, type Op } from './ota-job.js';
import type { OtaAgentOptions, OtaEvents } from './ota-types.js';
import {
  checkImage,
  checkManifest,
  currentKeys,
  parseOtaMessage,
  type OtaRefusal,
  type OtaUpdateKey,
} from './ota-verify.js';

export type * from './ota-types.js';
export type { OtaPending } from './ota-store.js';
export type { OtaUpdateKey } from './ota-verify.js';
export { fileDigest } from './ota-verify.js';
export type { OtaRangeFetch } from './ota-download.js';

export class OtaAgent extends EventEmitter<OtaEvents> {
  private readonly store: OtaStateFile;
  private state: OtaPersisted = { installedSequence: 0, finished: [] };
  private ready: Promise<void> | undefined;
  private inbox: Promise<void> = Promise.resolve();
  private outbox: Promise<void> = Promise.resolve();
  private readonly queue: Job[] = [];
  private readonly jobs = new Map<string, Job>();
  private current: Job | undefined;
  private stopped = false;

  constructor(private readonly o: OtaAgentOptions) {
    super();
    this.store = new OtaStateFile(o.dir);
  }

  /** The anti-rollback floor: the sequence of the image installed last. */
  get installedSequence(): number {
    return this.state.installedSequence;
  }

  /** Loads the persisted state and settles an update the device rebooted into. Idempotent. */
  start(): Promise<void> {
    this.ready ??= (async () => {
      this.state = await this.store.load(this.o.installedSequence ?? 0);
      await this.confirmPending();
    })();
    return this.ready;
  }

  /** Stops the running download (its part file stays, for the next start to resume). */
  async stop(): Promise<void> {
    this.stopped = true;
    const job = this.current;
    job?.abort.abort(new Error('stopped'));
    await job?.done;
    await this.outbox;
    await this.store.flush();
  }

  /** Takes a decoded message of `d/{id}/ota/{operationId}`; handled in arrival order. */
  handle(message: unknown): Promise<void> {
    const checked = parseOtaMessage(message);
    if (!checked.ok) {
      this.fail(new Error(`OTA message refused: ${checked.message} (${checked.path})`));
      return Promise.resolve();
    }
    const next = this.inbox.then(async () => {
      await this.start();
      if (this.stopped) return;
      if (checked.value.type === 'offer') this.onOffer(checked.value);
      else await this.onCancel(checked.value);
    });
    this.inbox = next.catch((e: unknown) => this.fail(e as Error));
    return this.inbox;
  }

  /**
   * Settles an update that was installed: reports `succeeded` when the device runs the target
   * version and `confirmHealth` agrees, else rolls back or reports what it runs. Run by `start`; call
   * it yourself after an update applied without a restart of the process.
   */
  async confirmPending(): Promise<void> {
    const p = this.state.pending;
    if (!p) return;
    const report = await settleInstalled(p, this.o.firmware().version, this.o, async () => {
      p.phase = 'rolling_back';
      await this.store.save(this.state);
    });
    if (report.state === 'succeeded')
      this.state.installedSequence = Math.max(this.state.installedSequence, p.sequence);
    await this.finish(p, report);
  }

  private onOffer(offer: OtaOffer): void {
    const { operationId, attempt } = offer;
    const pending = this.state.pending;
    if (pending?.operationId === operationId && pending.attempt === attempt) return;
    const finished = this.finishedRecord(offer);
    if (finished) {
      void this.send(offer, finished);
      return;
    }
    const known = this.jobs.get(operationId);
    if (known && known.offer.attempt > attempt) return;
    if (known && known.offer.attempt === attempt) {
      if (known.last) void this.send(offer, known.last);
      known.nudged = true;
      known.wake?.();
      return;
    }
    if (known) this.drop(known, 'superseded by the next attempt');
    const active = this.state.active;
    const reached =
      active?.operationId === operationId && active.attempt === attempt ? active.state : undefined;
    const job: Job = { offer, abort: new AbortController(), reached };
    this.jobs.set(operationId, job);
    this.queue.push(job);
    this.emit('offer', offer);
    this.pump();
  }

  private async onCancel(cancel: OtaCancel): Promise<void> {
    const { operationId, attempt } = cancel;
    if (this.state.pending?.operationId === operationId) return;
    const job = this.jobs.get(operationId);
    if (job?.installing) return;
    if (job && job.offer.attempt > attempt) return;
    if (job) {
      this.drop(job, 'cancelled');
      await job.done;
    }
    // The image begun, also one from before a restart (the agent knows it from the step it reached).
    const active = this.state.active;
    const artifactId =
      job?.offer.artifact.id ?? (active?.operationId === operationId ? active.artifactId : undefined);
    if (artifactId && this.current?.offer.artifact.id !== artifactId)
      await rm(this.partFile(artifactId), { force: true });
    await this.finish(cancel, { state: 'cancelled' });
    this.emit('cancelled', { operationId, attempt, reason: cancel.reason });
  }

  private drop(job: Job, why: string): void {
    job.abort.abort(new Error(why));
    job.wake?.();
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    if (this.jobs.get(job.offer.operationId) === job) this.jobs.delete(job.offer.operationId);
  }

  private pump(): void {
    if (this.current || this.stopped || this.state.pending) return;
    const job = this.queue.shift();
    if (!job) return;
    this.current = job;
    job.done = this.run(job)
      .catch((e: unknown) => this.fail(e as Error))
      .finally(() => {
        this.current = undefined;
        this.pump();
      });
  }

  /** The only place the part file's path is made: the id is checked by the schema (no path in it). */
  private partFile(artifactId: string): string {
    return join(this.o.dir, `${artifactId}.part`);
  }

  private async run(job: Job): Promise<void> {
    const { offer } = job;
    const signal = job.abort.signal;
    const file = this.partFile(offer.artifact.id);
    try {
      const keys = await this.updateKeys(offer.artifact.keyId, signal);
      const running = this.o.firmware();
      const refusal = checkManifest(offer.artifact, keys, running, this.state.installedSequence);
      const { sequence, version } = offer.artifact;
      // A retry of an update the device installed meanwhile (its reboot outlasted the platform's wait).
      if (
        sequence === this.state.installedSequence &&
        version === running.version &&
        refusal?.code === 'SEQUENCE_NOT_NEWER'
      )
        return await this.finish(offer, { state: 'succeeded', version });
      if (refusal) return await this.reject(job, refusal);
      await this.step(job, { state: 'accepted' });
      await this.deferral(job);
      let have = await partSize(file);
      let fresh = have === 0;
      for (;;) {
        await this.download(job, file, have);
        const bad = await checkImage(file, offer.artifact);
        if (!bad) break;
        await rm(file, { force: true });
        have = 0;
        // A part file from before a crash may hold bytes that never reached the disk: once more, whole.
        if (fresh) return await this.reject(job, bad);
        fresh = true;
      }
      await this.step(job, { state: 'downloaded' });
      signal.throwIfAborted();
      job.installing = true;
      await this.install(job, file);
    } catch (e) {
      if (signal.aborted) return;
      const error = e as Error;
      await this.finish(offer, {
        state: 'failed',
        code: error instanceof StepError ? error.code : 'AGENT_ERROR',
        reason: error.message,
      });
    }
  }

  private async install(job: Job, file: string): Promise<void> {
    const { offer } = job;
    const pending: OtaPending = {
      operationId: offer.operationId,
      deploymentId: offer.deploymentId,
      attempt: offer.attempt,
      artifactId: offer.artifact.id,
      version: offer.artifact.version,
      sequence: offer.artifact.sequence,
      fromVersion: this.o.firmware().version,
      phase: 'installing',
    };
    this.state.pending = pending;
    await this.store.save(this.state);
    await this.step(job, { state: 'installing' });
    try {
      await this.o.install(file, offer);
    } catch (e) {
      delete this.state.pending;
      await rm(file, { force: true });
      throw new StepError('INSTALL_FAILED', `install failed: ${(e as Error).message}`);
    }
    pending.phase = 'rebooting';
    await this.store.save(this.state);
    await this.step(job, { state: 'rebooting' });
    this.jobs.delete(offer.operationId);
    this.emit('installed', { offer, file });
    await rm(file, { force: true });
    await this.o.reboot?.(offer);
  }

  /** The update keys, from the cache while fresh and holding the signer; else fetched (and kept). */
  private async updateKeys(keyId: string, signal: AbortSignal): Promise<OtaUpdateKey[]> {
    try {
      const got = await currentKeys({
        cached: this.state.keys,
        maxAgeMs: this.o.keysMaxAgeMs ?? 600_000,
        keyId,
        fetch: (s) => this.o.transport.fetchUpdateKeys(s),
        retry: this.o.retry ?? {},
        signal,
      });
      if (got !== this.state.keys) {
        this.state.keys = got;
        await this.store.save(this.state);
      }
      return got.items;
    } catch (e) {
      signal.throwIfAborted();
      throw new StepError('UPDATE_KEYS_UNAVAILABLE', `update keys: ${(e as Error).message}`);
    }
  }

  private async deferral(job: Job): Promise<void> {
    const policy = this.o.defer;
    // Once downloading (before a restart, say), the update goes on: the platform takes no deferral then.
    if (!policy || (RANK[job.reached!] ?? 0) >= RANK.downloading!) return;
    const signal = job.abort.signal;
    const recheck = this.o.deferRecheckMs ?? 60_000;
    for (;;) {
      signal.throwIfAborted();
      job.nudged = false;
      const d = await policy(job.offer);
      signal.throwIfAborted();
      if (!d) return;
      const report: Omit<OtaReport, 'attempt'> = {
        state: 'deferred',
        reason: d.reason,
        ...(d.until !== undefined ? { until: Math.max(0, Math.floor(d.until)) } : {}),
      };
      const last = job.last;
      if (last?.state !== 'deferred' || last.reason !== report.reason || last.until !== report.until)
        await this.step(job, report);
      const waitMs = d.until !== undefined ? Math.min(recheck, d.until - Date.now()) : recheck;
      if (!job.nudged) {
        const wake = new AbortController();
        job.wake = () => wake.abort();
        await sleep(Math.max(Math.min(1_000, recheck), waitMs), AbortSignal.any([signal, wake.signal]));
        job.wake = undefined;
      }
    }
  }

  private async download(job: Job, file: string, have: number): Promise<void> {
    const { artifact, downloadPath } = job.offer;
    try {
      await download({
        file,
        have,
        size: artifact.size,
        path: downloadPath,
        fetchRange: this.o.transport.fetchRange,
        signal: job.abort.signal,
        backoff: new Backoff(this.o.retry),
        maxRetries: this.o.retry?.maxRetries ?? 10,
        progressStep: this.o.progressStep ?? 10,
        onProgress: (progress) => this.step(job, { state: 'downloading', progress }),
        onRetry: (e) => this.fail(new Error(`download of ${artifact.id} failed, retrying: ${e.message}`)),
      });
    } catch (e) {
      job.abort.signal.throwIfAborted();
      throw new StepError('DOWNLOAD_FAILED', `download failed: ${(e as Error).message}`);
    }
  }

  private async reject(job: Job, refusal: OtaRefusal): Promise<void> {
    await this.finish(job.offer, { state: 'rejected', code: refusal.code, reason: refusal.reason });
    this.emit('rejected', { offer: job.offer, ...refusal });
  }

  /** An intermediate report of a job. */
  private step(job: Job, report: Omit<OtaReport, 'attempt'>): Promise<void> {
    const full: OtaReport = { attempt: job.offer.attempt, ...report };
    const rank = RANK[report.state] ?? 0;
    if (rank < (RANK[job.reached!] ?? 0)) return Promise.resolve();
    if (job.reached !== report.state) {
      job.reached = report.state;
      this.state.active = {
        operationId: job.offer.operationId,
        attempt: job.offer.attempt,
        artifactId: job.offer.artifact.id,
        state: report.state,
      };
      void this.store.save(this.state).catch((e: unknown) => this.fail(e as Error));
    }
    job.last = full;
    return this.send(job.offer, full);
  }

  /** A final report: remembered (and persisted) so that a redelivered message gets it again. */
  private async finish(op: Op, report: Omit<OtaReport, 'attempt'>): Promise<void> {
    const full: OtaReport = { attempt: op.attempt, ...report };
    const job = this.jobs.get(op.operationId);
    if (job && job.offer.attempt === op.attempt) this.jobs.delete(op.operationId);
    if (this.state.pending?.operationId === op.operationId) delete this.state.pending;
    if (this.state.active?.operationId === op.operationId) delete this.state.active;
    this.state.finished = this.state.finished.filter(
      (f) => f.operationId !== op.operationId || f.attempt !== op.attempt,
    );
    this.state.finished.push({ operationId: op.operationId, attempt: op.attempt, report: full });
    await this.store.save(this.state);
    await this.send(op, full);
    this.pump();
  }

  private finishedRecord(op: Op): OtaReport | undefined {
    return this.state.finished.find((f) => f.operationId === op.operationId && f.attempt === op.attempt)
      ?.report;
  }

  /** Sends reports one after the other; a failed one is an `error` event, not the job's failure. */
  private send(op: Op, report: OtaReport): Promise<void> {
    const r: OtaReport = report.reason
      ? { ...report, reason: report.reason.slice(0, OTA_LIMITS.maxReasonLength) }
      : report;
    this.emit('progress', { operationId: op.operationId, report: r });
    const timeoutMs = this.o.reportTimeoutMs ?? 30_000;
    const next = this.outbox.then(() =>
      withTimeout(this.o.transport.report(op.operationId, r), timeoutMs, 'report').catch((e: unknown) =>
        this.fail(new Error(`report '${r.state}' on ${op.operationId}: ${(e as Error).message}`)),
      ),
    );
    this.outbox = next;
    return next;
  }

  private fail(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}
