/**
 * A deployment's devices (`GET /v1/deployments/{id}/devices`, in rollout order, one state at a time
 * if chosen, paged by the API's cursor): each device's state, phase, attempt, progress, how long it
 * has been in its state, and the code and reason of a failure. Failed devices are marked, and so are
 * stuck ones: with the device, and silent for more than half the time their state allows before the
 * platform times them out. A device that has not begun installing can be cancelled
 * (`POST …/devices/{deviceId}/cancel`); one installing runs to its end, so it has no Cancel.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiProblem, api, type Deployment, type DeploymentDevice } from '../shared/api.js';
import {
  CANCELLABLE_STATES,
  FAILED_STATES,
  OPEN_STATES,
  OTA_STATES,
  STATE_TEXT,
  deploymentText,
  type OtaState,
} from './deployment-text.js';
import { ago, when } from '../shared/messages.js';
import { Link, deviceHref } from '../shared/nav.js';
import { useApiRead } from '../shared/read.js';
import { Notice, SelectField } from '../shared/ui.js';

const PAGE = 50;

/** With the device, and silent for more than half the time its state allows. */
export function isStuck(o: DeploymentDevice, now: number): boolean {
  if (!OPEN_STATES.has(o.state) || o.stateSince === null || o.deadlineAt === null) return false;
  return now - o.stateSince > (o.deadlineAt - o.stateSince) / 2;
}

export function DeploymentDevices(props: {
  deployment: Deployment;
  generation: number;
  polls: number;
  sessionOver(e: unknown): boolean;
  onChanged(): void;
}) {
  const d = props.deployment;
  const [state, setState] = useState<'' | OtaState>('');
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState<{ items: DeploymentDevice[]; nextCursor: string | null } | undefined>();
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<{ kind: 'error' | 'success'; text: string } | undefined>();

  const cursor = cursors[cursors.length - 1];
  useApiRead(
    () =>
      api.listDeploymentDevices(d.id, {
        limit: PAGE,
        ...(state ? { state } : {}),
        ...(cursor ? { cursor } : {}),
      }),
    setPage,
    [d.id, state, cursor, props.generation, props.polls],
    { sessionOver: props.sessionOver, setError },
  );
  useEffect(() => setCursors([undefined]), [state]);

  async function cancel(deviceId: string) {
    setBusy(deviceId);
    setNotice(undefined);
    try {
      const op = await api.cancelDeploymentDevice(d.id, deviceId);
      setPage((p) => p && { ...p, items: p.items.map((o) => (o.deviceId === deviceId ? op : o)) });
      setNotice({ kind: 'success', text: `Cancelled the update of ${deviceId}.` });
      props.onChanged();
    } catch (e) {
      if (!(e instanceof ApiProblem)) throw e;
      if (!props.sessionOver(e)) setNotice({ kind: 'error', text: deploymentText(e) });
    } finally {
      setBusy(undefined);
    }
  }

  const options: { value: '' | OtaState; label: string }[] = [
    { value: '', label: `Any (${d.total})` },
    ...OTA_STATES.map((s) => ({ value: s, label: `${STATE_TEXT[s]} (${d.counts[s] ?? 0})` })),
  ];
  const now = Date.now();
  return (
    <section class="panel" aria-labelledby="deployment-devices">
      <h2 id="deployment-devices">Devices</h2>
      <div class="list-filter">
        <SelectField label="State" value={state} options={options} onChange={(v) => setState(v)} />
      </div>
      {error && <Notice kind="error">{error}</Notice>}
      {notice && (
        <Notice kind={notice.kind} key={notice.text}>
          {notice.text}
        </Notice>
      )}
      {page && page.items.length === 0 && <p class="empty">No device is in this state.</p>}
      {page && page.items.length > 0 && (
        <div class="table-scroll">
          <table class="ota-devices">
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">State</th>
                <th scope="col" class="num">
                  Phase
                </th>
                <th scope="col" class="num">
                  Attempt
                </th>
                <th scope="col">Since</th>
                <th scope="col">Why</th>
                <th scope="col">
                  <span class="visually-hidden">Action</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((o) => {
                const failed = FAILED_STATES.has(o.state);
                const stuck = isStuck(o, now);
                return (
                  <tr key={o.deviceId} class={failed ? 'failed' : stuck ? 'stuck' : undefined}>
                    <th scope="row">
                      <Link href={deviceHref(o.deviceId)}>{o.deviceId}</Link>
                    </th>
                    <td>
                      <span class={`badge ${failed ? 'bad' : o.state === 'succeeded' ? 'ok' : ''}`}>
                        {STATE_TEXT[o.state]}
                      </span>
                      {o.state === 'downloading' && o.progress !== null && ` ${o.progress} %`}
                      {stuck && (
                        <>
                          {' '}
                          <span class="badge warn">stuck</span>
                        </>
                      )}
                    </td>
                    <td class="num">{o.phase + 1}</td>
                    <td class="num">{o.attempt}</td>
                    <td>
                      {o.stateSince !== null && (
                        <time dateTime={new Date(o.stateSince).toISOString()} title={when(o.stateSince)}>
                          {ago(o.stateSince, now)}
                        </time>
                      )}
                      {o.nextAttemptAt !== null && <span class="hint"> · retry {when(o.nextAttemptAt)}</span>}
                    </td>
                    <td>
                      {o.code !== null && <code>{o.code}</code>}
                      {o.code !== null && o.reason !== null && ' '}
                      {o.reason}
                      {o.fromVersion !== null && <span class="hint"> (from {o.fromVersion})</span>}
                    </td>
                    <td>
                      {CANCELLABLE_STATES.has(o.state) && (
                        <button
                          type="button"
                          class="danger small"
                          disabled={busy !== undefined}
                          onClick={() => void cancel(o.deviceId)}
                        >
                          Cancel<span class="visually-hidden"> the update of {o.deviceId}</span>
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {page && (cursors.length > 1 || page.nextCursor) && (
        <nav class="pager actions" aria-label="Pages of devices">
          <button
            type="button"
            disabled={cursors.length === 1}
            onClick={() => setCursors((c) => c.slice(0, -1))}
          >
            Previous page
          </button>
          <button
            type="button"
            disabled={!page.nextCursor}
            onClick={() => page.nextCursor && setCursors((c) => [...c, page.nextCursor!])}
          >
            Next page
          </button>
        </nav>
      )}
    </section>
  );
}
