/**
 * A deployment's page (`/console/deployments/<id>`): what it rolls out to whom, its status and why it
 * last changed, its phases, its devices per state, the health gate's last comparison of the updated
 * devices with the control cohort (`deployment-health.tsx`), its devices with a Cancel for each
 * (`deployment-devices.tsx`), the actions its status allows (Pause when active, Resume when paused,
 * Abort while either) and the tenant's emergency stop. While the deployment is active or paused the
 * page reads it again every POLL_MS, at most POLL_MAX times (then Refresh goes on), so that a page
 * left open does not poll for ever.
 */
import { useEffect, useState } from 'preact/hooks';
import { ConfirmPanel, OutcomeNotice, useAction, type SessionOver } from '../shared/actions.js';
import { api, type Deployment } from '../shared/api.js';
import { DeploymentDevices } from './deployment-devices.js';
import { HealthPanel } from './deployment-health.js';
import {
  OTA_STATES,
  STATE_TEXT,
  STATUS_BADGE,
  STATUS_TEXT,
  deploymentText,
  excludedText,
  statusCodeText,
  targetText,
} from './deployment-text.js';
import { ProgressBar } from './deployments.js';
import { EmergencyStopPanel } from './emergency-stop.js';
import { plural, when } from '../shared/messages.js';
import { BASE, Link } from '../shared/nav.js';
import { useApiRead } from '../shared/read.js';
import { Notice, PollStopped, ScreenTitle } from '../shared/ui.js';

const POLL_MS = 2_000;
/** Reads while the page is open (10 minutes at POLL_MS), then it waits for Refresh. */
const POLL_MAX = 300;

const live = (d: Deployment | undefined) => d?.status === 'active' || d?.status === 'paused';

type Action = 'pause' | 'resume' | 'abort';
const DONE_TEXT: Record<Action, string> = {
  pause: 'Paused: no new offers leave; devices already offered go on.',
  resume: 'Resumed: offers go on.',
  abort: 'Aborted: queued devices are cancelled and devices not yet installing are told to cancel.',
};

function duration(seconds: number): string {
  if (seconds === 0) return 'none';
  if (seconds % 86_400 === 0) return plural(seconds / 86_400, 'day');
  if (seconds % 3600 === 0) return plural(seconds / 3600, 'hour');
  if (seconds % 60 === 0) return plural(seconds / 60, 'minute');
  return plural(seconds, 'second');
}

export function DeploymentPage(props: { deploymentId: string; sessionOver: SessionOver }) {
  const { deploymentId, sessionOver } = props;
  const [deployment, setDeployment] = useState<Deployment | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  /** Raised by Refresh and after an action: everything is read again, and polling starts over. */
  const [generation, setGeneration] = useState(0);
  /** Reads by the poll since the last Refresh. */
  const [polls, setPolls] = useState(0);
  const [asking, setAsking] = useState(false);
  const action = useAction(sessionOver, deploymentText);

  const refresh = () => {
    setPolls(0);
    setGeneration((g) => g + 1);
  };

  useApiRead(() => api.getDeployment(deploymentId), setDeployment, [deploymentId, generation, polls], {
    sessionOver,
    setError,
  });
  useEffect(() => {
    if (!live(deployment) || polls >= POLL_MAX) return;
    const timer = setTimeout(() => setPolls((n) => n + 1), POLL_MS);
    return () => clearTimeout(timer);
  }, [deployment, polls]);

  async function act(what: Action) {
    const done = await action.run(async () => {
      setDeployment(await api.deploymentAction(deploymentId, what));
      return DONE_TEXT[what];
    });
    if (done) setAsking(false);
    refresh();
  }

  const d = deployment;
  return (
    <section class="deployment-page wide">
      <p class="back">
        <Link href={`${BASE}/deployments`}>← Deployments</Link>
      </p>
      <ScreenTitle onRefresh={refresh}>{d ? (d.name ?? d.id) : 'Deployment'}</ScreenTitle>
      {error && <Notice kind="error">{error}</Notice>}
      {d && (
        <>
          <section class="panel" aria-labelledby="deployment-about">
            <h2 id="deployment-about">Deployment</h2>
            <div class="badges">
              <span class={`badge ${STATUS_BADGE[d.status]}`}>{STATUS_TEXT[d.status]}</span>
            </div>
            {d.statusCode !== null && d.status !== 'active' && (
              <p class="status-why">
                {STATUS_TEXT[d.status]} {statusCodeText(d.statusCode)}
                {d.statusReason !== null && `: ${d.statusReason}`}
              </p>
            )}
            <dl class="device-facts">
              <dt>Id</dt>
              <dd>
                <code>{d.id}</code>
              </dd>
              <dt>Firmware</dt>
              <dd>
                {d.version} ({d.hardwareClass}), artifact <code>{d.artifactId}</code>
              </dd>
              <dt>Target</dt>
              <dd>{targetText(d.target)}</dd>
              {excludedText(d.excluded).length > 0 && (
                <>
                  <dt>Left out</dt>
                  <dd>{excludedText(d.excluded).join('; ')}</dd>
                </>
              )}
              <dt>Created</dt>
              <dd>
                {when(d.createdAt)}
                {d.createdBy !== null && ` by ${d.createdBy}`}
              </dd>
              {d.finishedAt !== null && (
                <>
                  <dt>Finished</dt>
                  <dd>{when(d.finishedAt)}</dd>
                </>
              )}
              <dt>Rules</dt>
              <dd>
                Abort when more than {d.statusRule.failurePercent} % of at least{' '}
                {plural(d.statusRule.minExecutions, 'update')} failed;{' '}
                {plural(d.retries.max, 'retry', 'retries')}
                {d.maxInFlight !== null && `; at most ${d.maxInFlight} devices at once`}
              </dd>
            </dl>
            {live(d) && (
              <div class="actions" role="group" aria-label="Deployment actions">
                {d.status === 'active' && (
                  <button type="button" disabled={action.busy} onClick={() => void act('pause')}>
                    Pause
                  </button>
                )}
                {d.status === 'paused' && (
                  <button
                    type="button"
                    class="primary"
                    disabled={action.busy}
                    onClick={() => void act('resume')}
                  >
                    Resume
                  </button>
                )}
                {!asking && (
                  <button type="button" class="danger" disabled={action.busy} onClick={() => setAsking(true)}>
                    Abort…
                  </button>
                )}
              </div>
            )}
            {live(d) && asking && (
              <ConfirmPanel
                name="Confirm the abort"
                question={`Aborting is final: no new offers leave, the ${d.counts.queued ?? 0} queued devices are cancelled, devices that have not begun installing are told to cancel, and devices installing finish. The deployment cannot be resumed.`}
                confirmLabel="Abort the deployment"
                cancelLabel="Keep it"
                danger
                busy={action.busy}
                onConfirm={() => void act('abort')}
                onCancel={() => setAsking(false)}
              />
            )}
            <OutcomeNotice outcome={action.outcome} focus />
            <PollStopped stopped={live(d) && polls >= POLL_MAX} />
          </section>
          <Counts deployment={d} />
          <Phases deployment={d} />
          <HealthPanel deployment={d} />
          <DeploymentDevices
            deployment={d}
            generation={generation}
            polls={polls}
            sessionOver={sessionOver}
            onChanged={refresh}
          />
        </>
      )}
      <EmergencyStopPanel generation={generation} sessionOver={sessionOver} onChanged={refresh} />
    </section>
  );
}

/** The devices per state, in the order an update walks them, with the total. */
function Counts(props: { deployment: Deployment }) {
  const d = props.deployment;
  const states = OTA_STATES.filter((s) => (d.counts[s] ?? 0) > 0);
  return (
    <section class="panel" aria-labelledby="deployment-counts">
      <h2 id="deployment-counts">Devices by state</h2>
      <ProgressBar deployment={d} />
      <dl class="counts">
        <div>
          <dt>Devices</dt>
          <dd>{d.total}</dd>
        </div>
        {states.map((s) => (
          <div key={s}>
            <dt>{STATE_TEXT[s]}</dt>
            <dd>{d.counts[s]}</dd>
          </div>
        ))}
      </dl>
      <p class="hint">
        {plural(d.executions, 'update')} ended, {d.failures} of them failed.
      </p>
    </section>
  );
}

function Phases(props: { deployment: Deployment }) {
  const d = props.deployment;
  return (
    <section class="panel" aria-labelledby="deployment-phases">
      <h2 id="deployment-phases">Phases</h2>
      <ol class="phases">
        {d.phases.map((p, i) => {
          const now = i === d.currentPhase && d.status !== 'completed';
          const past = i < d.currentPhase || d.status === 'completed';
          return (
            <li
              key={i}
              class={now ? 'current' : past ? 'past' : undefined}
              aria-current={now ? 'step' : undefined}
            >
              <strong>
                {p.percent} % · {plural(p.devices, 'device')} by its end
              </strong>{' '}
              <span class="hint">soak {duration(p.soakSeconds)}</span>{' '}
              {now && d.soakUntil !== null && <span class="badge">soaking until {when(d.soakUntil)}</span>}
              {now && d.soakUntil === null && d.status === 'active' && (
                <span class="badge ok">in progress</span>
              )}
              {past && <span class="badge off">done</span>}
            </li>
          );
        })}
      </ol>
    </section>
  );
}
