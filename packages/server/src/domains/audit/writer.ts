/**
 * The audit sink the services write events to. An event reported inside a transaction (an admin
 * request's, or a service's own) is appended in that transaction just before it commits, so the
 * change and its record are stored together or not at all; a rolled-back change leaves no record.
 *
 * Events reported outside any transaction queue in order and are appended in slices of at most
 * `AUDIT_SLICE` records, one transaction each, with a turn of the event loop between slices. A factory
 * batch of 10,000 units thus costs 500 short commits, not 10,000, and never one transaction that
 * hashes and writes 10,000 records while every other request waits (the embedded store runs on the
 * event loop). `flush` waits for everything queued so far (shutdown, tests).
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

/** Records per transaction: a few milliseconds of hashing and inserts each. */
export const AUDIT_SLICE = 20;

export function createAuditWriter(audit: Pick<AuditService, 'recordMany'>, logger: Logger): AuditWriter {
  const queue: AuditEntry[] = [];
  let running: Promise<void> | undefined;
  const inTransaction: CommitHook<AuditEntry> = {
    beforeCommit: async (entries) => {
      await audit.recordMany(entries);
    },
  };

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
      const entry = asEntry(event);
      if (enqueue(inTransaction, entry)) return;
      queue.push(entry);
      // Written in transactions of their own, whatever context reported the event.
      running ??= outsideTransaction(drain);
    },
    takePending: () => takeQueued(inTransaction),
    async flush() {
      while (running) await running;
    },
  };
}
