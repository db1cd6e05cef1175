/**
 * A bulk job's progress (a revocation, a desired configuration for many devices): read again with the
 * shared polling until it is done or failed, then its result, the devices it skipped named with why.
 */
import { useState } from 'preact/hooks';
import { api, type BulkJob } from '../shared/api.js';
import { plural } from '../shared/messages.js';
import { useApiRead, usePoll } from '../shared/read.js';
import { Notice, PollStopped } from '../shared/ui.js';

const ACTION_WORDS: Record<BulkJob['action'], string> = {
  revoke: 'Revoking credentials',
  setDesiredConfig: 'Setting the desired configuration',
};

export function BulkJobProgress(props: {
  job: BulkJob;
  sessionOver(e: unknown): boolean;
  onFinished(): void;
}) {
  const [job, setJob] = useState<BulkJob>(props.job);
  const [error, setError] = useState<string | undefined>(undefined);
  const open = job.status === 'queued' || job.status === 'running';
  const poll = usePoll(open, job);
  useApiRead(
    () => api.getBulkJob(props.job.id),
    (next) => {
      setJob(next);
      if (next.status === 'done' || next.status === 'failed') props.onFinished();
    },
    [props.job.id, poll.tick],
    { sessionOver: props.sessionOver, setError },
  );
  const counts = `${job.processed} of ${plural(job.matched, 'device')} done: ${job.changed} changed${
    job.skipped > 0 ? `, ${job.skipped} skipped` : ''
  }.`;
  return (
    <section class="bulk-job" aria-live="polite" data-status={job.status}>
      {error && <Notice kind="error">{error}</Notice>}
      {open && (
        <Notice kind="info">
          {ACTION_WORDS[job.action]}: {job.status === 'queued' ? 'waiting to start. ' : ''}
          <progress max={Math.max(job.matched, 1)} value={job.processed} /> {counts}
        </Notice>
      )}
      {job.status === 'done' && <Notice kind="success">Done: {counts}</Notice>}
      {job.status === 'failed' && (
        <Notice kind="error">
          Stopped: {counts} {job.error}
        </Notice>
      )}
      {job.skippedDevices.length > 0 && (
        <details class="fold">
          <summary>Skipped devices{job.skipped > job.skippedDevices.length ? ' (the first 20)' : ''}</summary>
          <ul>
            {job.skippedDevices.map((s) => (
              <li key={s.deviceId}>
                <a href={`#/devices/${encodeURIComponent(s.deviceId)}`}>{s.deviceId}</a>: {s.message}
              </li>
            ))}
          </ul>
        </details>
      )}
      <PollStopped stopped={poll.stopped} />
    </section>
  );
}
