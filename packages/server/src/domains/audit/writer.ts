/**
 * The audit sink the services write events to: entries queue in order and are appended in one
 * transaction per turn of the event loop, so a factory batch of 10,000 units costs one commit, not
 * 10,000. `flush` waits for everything queued so far (shutdown, tests).
 */
import type { Logger } from '../../platform/observability.js';
import type { AuditEntry, AuditService, AuditSink } from './audit.js';

export interface AuditWriter {
  sink: AuditSink;
  flush(): Promise<void>;
}

export function createAuditWriter(audit: Pick<AuditService, 'recordMany'>, logger: Logger): AuditWriter {
  let queue: AuditEntry[] = [];
  let running: Promise<void> = Promise.resolve();
  let scheduled = false;

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
      queue.push({ source: null, outcome: 'success', ...event });
      if (!scheduled) {
        scheduled = true;
        setImmediate(drain);
      }
    },
    async flush() {
      if (queue.length > 0) drain();
      await running;
    },
  };
}
