/**
 * A deployment's devices (`GET /v1/deployments/{id}/devices`, in rollout order, one state at a time
 * if chosen, paged by the API's cursor): each device's state, phase, attempt, progress, how long it
 * has been in its state, and the code and reason of a failure. Failed devices are marked, and so are
 * stuck ones: with the device, and silent for more than half the time their state allows before the
 * platform times them out. A device that has not begun installing can be cancelled
 * (`POST …/devices/{deviceId}/cancel`); one installing runs to its end, so it has no Cancel.
 */
import { useState } from 'preact/hooks';
import { OutcomeNotice, useAction, type SessionOver } from '../shared/actions.js';
import { api, type Deployment, type DeploymentDevice } from '../shared/api.js';
import {
  CANCELLABLE_STATES,
  FAILED_STATES,
  OPEN_STATES,
  OTA_STATES,
  STATE_TEXT,
  deploymentText,
  type OtaState,
} from './deployment-text.js';
import { problemText, when } from '../shared/messages.js';
import { Link, deviceHref } from '../shared/nav.js';
import { PagedList, usePagedRead } from '../shared/pages.js';
import { Instant, Notice, SelectField } from '../shared/ui.js';

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
  sessionOver: SessionOver;
  onChanged(): void;
}) {
  const d = props.deployment;
  const [state, setState] = useState<'' | OtaState>('');
  const pages = usePagedRead(
    (cursor) =>
      api.listDeploymentDevices(d.id, {
        limit: PAGE,
        ...(state ? { state } : {}),
        ...(cursor ? { cursor } : {}),
      }),
    `${d.id} ${state}`,
    [props.generation, props.polls],
    props.sessionOver,
  );
  const action = useAction(props.sessionOver, deploymentText);

  const cancel = (deviceId: string) =>
    action.run(async () => {
      const op = await api.cancelDeploymentDevice(d.id, deviceId);
      pages.update((p) => ({ ...p, items: p.items.map((o) => (o.deviceId === deviceId ? op : o)) }));
      props.onChanged();
      return `Cancelled the update of ${deviceId}.`;
    });

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
      {pages.error && <Notice kind="error">{problemText(pages.error)}</Notice>}
      <OutcomeNotice outcome={action.outcome} />
      <PagedList
        pages={pages}
        noun={['device', 'devices']}
        empty="No device is in this state."
        label="Pages of devices"
      >
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
              {pages.page?.items.map((o) => (
                <DeviceRow
                  key={o.deviceId}
                  operation={o}
                  now={now}
                  busy={action.busy}
                  onCancel={() => void cancel(o.deviceId)}
                />
              ))}
            </tbody>
          </table>
        </div>
      </PagedList>
    </section>
  );
}

function DeviceRow(props: { operation: DeploymentDevice; now: number; busy: boolean; onCancel(): void }) {
  const o = props.operation;
  const failed = FAILED_STATES.has(o.state);
  const stuck = isStuck(o, props.now);
  return (
    <tr class={failed ? 'failed' : stuck ? 'stuck' : undefined}>
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
        {o.stateSince !== null && <Instant at={o.stateSince} now={props.now} />}
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
          <button type="button" class="danger small" disabled={props.busy} onClick={props.onCancel}>
            Cancel<span class="visually-hidden"> the update of {o.deviceId}</span>
          </button>
        )}
      </td>
    </tr>
  );
}
