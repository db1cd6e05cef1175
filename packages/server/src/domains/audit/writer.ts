/**
 * The audit sink the services write events to. An event reported inside a transaction (an admin
 * request's, or a service's own) is appended in that transaction just before it commits, so the
 * change and its record are stored together or not at all; a rolled-back change leaves no record.
 * Events reported outside any transaction queue in order and are appended in one transaction per
 * turn of the event loop, so a factory batch of 10,000 units costs one commit, not 10,000. `flush`
 * waits for everything queued so far (shutdown, tests).
 */
import type { Logger } from '../../platform/observability.js';
import { enqueue, outsideTransaction, takeQueued, type CommitHook } from '../../store/ambient.js';
import type { AuditEntry, AuditEvent, AuditService, AuditSink } from './audit.js';

export interface AuditWriter {
  sink: AuditSink;
  /**
   * Removes and returns the events reported so far in the ambient transaction, for a caller that
   * appends them itself, with its own record, before that transaction commits.
   */
  takePending(): AuditEntry[];
  flush(): Promise<void>;
}

const asEntry = (event: AuditEvent): AuditEntry => ({ source: null, outcome: 'success', ...event });

export function createAuditWriter(audit: Pick<AuditService, 'recordMany'>, logger: Logger): AuditWriter {
  let queue: AuditEntry[] = [];
  let running: Promise<void> = Promise.resolve();
  let scheduled = false;
  const inTransaction: CommitHook<AuditEntry> = {
    beforeCommit: async (entries) => {
      await audit.recordMany(entries);
    },
  };

  function drain() {
    scheduled = false;
    const batch = queue;
    queue = [];
    running = running
      .then(() => audit.recordMany(batch))
      .then(
        () => undefined,
        (err: unknown) => logger.error({ err, records: batch.length }, 'audit records failed'),
      );
  }

  return {
    sink(event) {
      const entry = asEntry(event);
      if (enqueue(inTransaction, entry)) return;
      queue.push(entry);
      if (!scheduled) {
        scheduled = true;
        // Written in a transaction of its own, whatever context reported the event.
        outsideTransaction(() => setImmediate(drain));
      }
    },
    takePending: () => takeQueued(inTransaction),
    async flush() {
      if (queue.length > 0) outsideTransaction(drain);
      await running;
    },
  };
}
