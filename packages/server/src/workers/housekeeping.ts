/**
 * Cluster-wide housekeeping: work on the shared data that one node does for all, once per period.
 */
import type { Job } from './runner.js';

export interface HousekeepingDeps {
  /** Marks commands past their time to live as expired. */
  expireCommands(): Promise<unknown>;
  /** Forgets idempotency records older than their window. */
  expireIdempotencyKeys(): Promise<unknown>;
  /** Expires provisioning operations left pending too long. */
  expireProvisioning(): Promise<unknown>;
  /** Deletes audit records past the retention period. */
  applyAuditRetention(): Promise<unknown>;
  /** Deletes what artifact uploads left behind when their server stopped or died mid-upload. */
  removeAbandonedUploads(): Promise<unknown>;
  /** Deletes webhook deliveries past their keeping (a week delivered, a month dead). */
  purgeWebhookLog(): Promise<unknown>;
  /** Deletes stored device refusals past their keeping (30 days). */
  purgeRefusals(): Promise<unknown>;
  purgeLimitEvents(): Promise<unknown>;
}

const EXPIRY_EVERY_MS = 5_000;
const RETENTION_EVERY_MS = 3600_000;

export function housekeepingJobs(deps: HousekeepingDeps): Job[] {
  const job = (name: string, everyMs: number, run: () => Promise<unknown>): Job => ({
    name,
    everyMs,
    scope: 'cluster',
    run: async () => {
      await run();
    },
  });
  return [
    job('command-expiry', EXPIRY_EVERY_MS, deps.expireCommands),
    job('idempotency-expiry', EXPIRY_EVERY_MS, deps.expireIdempotencyKeys),
    job('provisioning-expiry', EXPIRY_EVERY_MS, deps.expireProvisioning),
    job('audit-retention', RETENTION_EVERY_MS, deps.applyAuditRetention),
    job('artifact-upload-cleanup', RETENTION_EVERY_MS, deps.removeAbandonedUploads),
    job('webhook-log-retention', RETENTION_EVERY_MS, deps.purgeWebhookLog),
    job('refusal-retention', RETENTION_EVERY_MS, deps.purgeRefusals),
    job('limit-event-retention', RETENTION_EVERY_MS, deps.purgeLimitEvents),
  ];
}
