/**
 * Handing outbox facts on (see `platform/outbox.ts`): a cluster job that runs every second, nudged on
 * the node that wrote a fact as soon as its transaction commits (nudges within 20 ms make one run, so
 * that facts written by many commits share a batch), so a fact usually reaches its handler within
 * tens of milliseconds, and at the latest on the next period after a crash or a failure's backoff. Done facts are
 * kept for a week (to see what happened), then deleted by a second, hourly job.
 */
import type { Outbox } from '../platform/outbox.js';
import type { Job } from './runner.js';

export const OUTBOX_DELIVERY_JOB = 'outbox-delivery';
const DONE_KEPT_MS = 7 * 24 * 3600_000;

export function outboxJobs(outbox: Outbox): Job[] {
  return [
    {
      name: OUTBOX_DELIVERY_JOB,
      everyMs: 1_000,
      scope: 'cluster',
      // A fact waits at most this long for others to share its batch (under load, one per commit).
      gatherNudgesMs: 20,
      run: async () => {
        await outbox.deliver();
      },
    },
    {
      name: 'outbox-purge',
      everyMs: 3600_000,
      scope: 'cluster',
      run: async () => {
        await outbox.purgeDone(DONE_KEPT_MS);
      },
    },
  ];
}
