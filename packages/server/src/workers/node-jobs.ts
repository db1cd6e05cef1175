/**
 * Per-node work: about this process rather than the shared data, so every node runs it, without a
 * lease.
 */
import type { Job } from './runner.js';

/**
 * PGlite never checkpoints on its own: without this its write-ahead log grows until a restart.
 * `afterCheckpoint` runs once it succeeded (the data directory's modes are made owner-only again).
 */
export function checkpointJob(deps: { checkpoint(): Promise<void>; afterCheckpoint(): void }): Job {
  return {
    name: 'pglite-checkpoint',
    everyMs: 5 * 60_000,
    scope: 'node',
    run: async () => {
      await deps.checkpoint();
      deps.afterCheckpoint();
    },
  };
}

/**
 * CRLs are valid for a week and re-signed when a day old; reloading this node's mTLS listeners from
 * the store hourly keeps their copies fresh even when nothing is revoked (and catches a change made
 * on another node whose notice this node missed).
 */
export function trustRefreshJob(refreshTrust: () => Promise<void>): Job {
  return { name: 'mtls-trust-refresh', everyMs: 3600_000, scope: 'node', run: refreshTrust };
}
