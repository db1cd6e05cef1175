/**
 * The audit sink the services write events to: entries queue in order and are appended in slices of
 * at most `AUDIT_SLICE` records, one transaction each, with a turn of the event loop between slices. A
 * factory batch of 10,000 units thus costs 500 short commits, not 10,000, and never one transaction
 * that hashes and writes 10,000 records while every other request waits (the embedded store runs on
 * the event loop). `flush` waits for everything queued so far (shutdown, tests).
 */
import type { Logger } from '../../platform/observability.js';
import type { AuditEntry, AuditService, AuditSink } from './audit.js';

export interface AuditWriter {
  sink: AuditSink;
  flush(): Promise<void>;
}

/** Records per transaction: a few milliseconds of hashing and inserts each. */
export const AUDIT_SLICE = 20;

export function createAuditWriter(audit: Pick<AuditService, 'recordMany'>, logger: Logger): AuditWriter {
  const queue: AuditEntry[] = [];
  let running: Promise<void> | undefined;

  async function drain() {
    while (queue.length > 0) {
      // Gives the event loop a turn first: the services' events of this turn join the same slice.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const slice = queue.splice(0, AUDIT_SLICE);
      try {
        await audit.recordMany(slice);
      } catch (err) {
        logger.error({ err, records: slice.length }, 'audit records failed');
      }
    }
    running = undefined;
  }

  return {
    sink(event) {
      queue.push({ source: null, outcome: 'success', ...event });
      running ??= drain();
    },
    async flush() {
      while (running) await running;
    },
  };
}
