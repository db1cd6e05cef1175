/**
 * Every periodic job of a node, in one list: cluster jobs run on one node per period (a lease in the
 * store), node jobs on every node.
 */
import { expireIdempotencyKeys } from '../adapters/http/idempotency.js';
import type { Db } from '../store/db.js';
import type { Outbox } from '../platform/outbox.js';
import { housekeepingJobs } from './housekeeping.js';
import { checkpointJob, trustRefreshJob } from './node-jobs.js';
import { outboxJobs } from './outbox.js';
import type { Job } from './runner.js';

/** Moves every active deployment on (docs/ota.md): every second, and when a change nudges it. */
export const OTA_ORCHESTRATOR_JOB = 'ota-orchestrator';

/** Takes, renews and gives back bridge leases, starting and stopping this node's forwarders. */
export const BRIDGE_FORWARDERS_JOB = 'bridge-forwarders';
/** Judges every enabled alert rule (docs/alerts.md). */
export const ALERT_EVALUATOR_JOB = 'alert-evaluator';
/** Works bulk jobs through in chunks (docs/api.md#bulk-operations): every second, and when nudged. */
export const DEVICE_BULK_JOB = 'device-bulk-jobs';
/** Sends due webhook deliveries and verification challenges: every second, and when nudged. */
export const WEBHOOK_DELIVERY_JOB = 'webhook-delivery';
/** Turns buffered telemetry into telemetry.batch events, one per device and second. */
export const TELEMETRY_FORWARD_JOB = 'telemetry-forward';
const ALERT_EVALUATION_EVERY_MS = 5_000;

/** An upload whose last chunk is this old is abandoned: uploads write a chunk every few seconds. */
export const ABANDONED_UPLOAD_MS = 3600_000;

export interface PlatformJobDeps {
  db: Db;
  outbox: Outbox;
  commands: { expireDue(): Promise<unknown> };
  provisioning: { expireDue(): Promise<unknown> };
  audit: { applyRetention(): Promise<unknown> };
  pki: { refreshTrust(): Promise<void> };
  artifactStorage: { removeAbandoned(olderThanMs: number): Promise<number> };
  orchestrator: { tick(): Promise<unknown> };
  bridges: { expireSpools(): Promise<unknown> };
  bridgeForwarders: { tick(): Promise<void> };
  alertEvaluator: { tick(): Promise<unknown> };
  webhookDelivery: { run(): Promise<unknown>; purgeLog(): Promise<unknown> };
  telemetryForwarder: { run(): Promise<unknown> };
  deviceBulk: { work(): Promise<boolean> };
  refusalLog: { purge(): Promise<unknown> };
  limitEventLog: { purge(): Promise<unknown> };
  /** After each PGlite checkpoint: the files it wrote are made owner-only. */
  afterCheckpoint(): void;
}

export function platformJobs(deps: PlatformJobDeps): Job[] {
  const { db } = deps;
  return [
    ...housekeepingJobs({
      expireCommands: () => deps.commands.expireDue(),
      expireIdempotencyKeys: () => expireIdempotencyKeys(db),
      expireProvisioning: () => deps.provisioning.expireDue(),
      applyAuditRetention: () => deps.audit.applyRetention(),
      removeAbandonedUploads: () => deps.artifactStorage.removeAbandoned(ABANDONED_UPLOAD_MS),
      purgeWebhookLog: () => deps.webhookDelivery.purgeLog(),
      purgeRefusals: () => deps.refusalLog.purge(),
      purgeLimitEvents: () => deps.limitEventLog.purge(),
    }),
    ...outboxJobs(deps.outbox),
    {
      name: OTA_ORCHESTRATOR_JOB,
      everyMs: 1_000,
      scope: 'cluster',
      run: async () => {
        await deps.orchestrator.tick();
      },
    },
    {
      name: WEBHOOK_DELIVERY_JOB,
      everyMs: 1_000,
      scope: 'cluster',
      run: async () => {
        await deps.webhookDelivery.run();
      },
    },
    {
      name: TELEMETRY_FORWARD_JOB,
      everyMs: 1_000,
      scope: 'cluster',
      run: async () => {
        await deps.telemetryForwarder.run();
      },
    },
    {
      name: DEVICE_BULK_JOB,
      everyMs: 1_000,
      scope: 'cluster',
      run: async () => {
        await deps.deviceBulk.work();
      },
    },
    {
      name: ALERT_EVALUATOR_JOB,
      everyMs: ALERT_EVALUATION_EVERY_MS,
      scope: 'cluster',
      run: async () => {
        await deps.alertEvaluator.tick();
      },
    },
    // Each bridge is forwarded by the node holding its lease: every node looks for free ones.
    { name: BRIDGE_FORWARDERS_JOB, everyMs: 2_000, scope: 'node', run: () => deps.bridgeForwarders.tick() },
    {
      name: 'bridge-spool-expiry',
      everyMs: 60_000,
      scope: 'cluster',
      run: async () => {
        await deps.bridges.expireSpools();
      },
    },
    trustRefreshJob(() => deps.pki.refreshTrust()),
    // PGlite never checkpoints on its own: without this its write-ahead log grows until a restart.
    ...(db.kind === 'pglite'
      ? [checkpointJob({ checkpoint: () => db.exec('CHECKPOINT'), afterCheckpoint: deps.afterCheckpoint })]
      : []),
  ];
}
