/**
 * The tenant's OTA emergency stop (`/v1/deployments/emergency-stop`): whether it is engaged, since
 * when, by whom and why; engaging it and releasing it, each only after a confirmation that says what
 * it does (and, for engaging, how many deployments it stops, counted when the confirmation opens).
 * Engaging stops every active or paused deployment of the tenant at once (devices that have not
 * begun installing are told to cancel) and refuses new deployments and resumes until it is released;
 * releasing does not restart what it stopped.
 */
import { useState } from 'preact/hooks';
import { ConfirmPanel, OutcomeNotice, refusalText, useAction, type SessionOver } from '../shared/actions.js';
import { api, type EmergencyStop } from '../shared/api.js';
import { deploymentText } from './deployment-text.js';
import { plural, when } from '../shared/messages.js';
import { useApiRead } from '../shared/read.js';
import { Notice, TextField } from '../shared/ui.js';

/** Running deployments counted for the confirmation, at most. */
const COUNT_LIMIT = 100;

async function countRunning(): Promise<string> {
  const [active, paused] = await Promise.all([
    api.listDeployments({ status: 'active', limit: COUNT_LIMIT }),
    api.listDeployments({ status: 'paused', limit: COUNT_LIMIT }),
  ]);
  const more = active.nextCursor !== null || paused.nextCursor !== null;
  const n = active.items.length + paused.items.length;
  if (n === 0) return 'No deployment is running now.';
  return `${more ? 'More than ' : ''}${plural(n, 'deployment')} ${n === 1 && !more ? 'is' : 'are'} running now (${active.items.length} active, ${paused.items.length} paused).`;
}

export function EmergencyStopPanel(props: {
  generation: number;
  sessionOver: SessionOver;
  /** After it was engaged or released: what it changed is read again. */
  onChanged(): void;
}) {
  const [stop, setStop] = useState<EmergencyStop | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [asking, setAsking] = useState<'engage' | 'release' | undefined>(undefined);
  const [running, setRunning] = useState<string | undefined>(undefined);
  const [reason, setReason] = useState('');
  const [own, setOwn] = useState(0);
  const action = useAction(props.sessionOver, deploymentText);

  useApiRead(api.getEmergencyStop, setStop, [props.generation, own], {
    sessionOver: props.sessionOver,
    setError,
  });

  async function ask(what: 'engage' | 'release') {
    setAsking(what);
    action.setOutcome(undefined);
    setRunning(undefined);
    if (what !== 'engage') return;
    try {
      setRunning(await countRunning());
    } catch (e) {
      if (refusalText(e, props.sessionOver)) setRunning('The running deployments could not be counted.');
    }
  }

  async function confirm() {
    const done = await action.run(async () => {
      if (asking === 'engage') {
        const r = await api.setEmergencyStop(reason.trim() || undefined);
        return `Emergency stop engaged: ${plural(r.stoppedDeployments ?? 0, 'deployment')} stopped. New deployments and resumes are refused until it is released.`;
      }
      await api.liftEmergencyStop();
      return 'Emergency stop released: deployments can be created and resumed again.';
    });
    if (!done) return;
    setAsking(undefined);
    setReason('');
    setOwn((n) => n + 1);
    props.onChanged();
  }

  const engaged = stop?.active === true;
  return (
    <section
      class={`panel emergency${engaged ? ' engaged' : ''}`}
      aria-labelledby="emergency-stop"
      aria-busy={stop === undefined && error === undefined}
    >
      <h2 id="emergency-stop">Emergency stop</h2>
      {error && <Notice kind="error">{error}</Notice>}
      <OutcomeNotice outcome={action.outcome} focus />
      {stop && (
        <p class="stop-state" role="status">
          {engaged ? (
            <>
              <strong>Engaged</strong>
              {stop.since !== null && <> since {when(stop.since)}</>}
              {stop.by !== null && <> by {stop.by}</>}
              {stop.reason !== null && <>: {stop.reason}</>}. No deployment can be created or resumed.
            </>
          ) : (
            <>Not engaged: deployments run as set.</>
          )}
        </p>
      )}
      {stop && asking === undefined && (
        <div class="actions">
          {engaged ? (
            <button type="button" onClick={() => void ask('release')}>
              Release the emergency stop…
            </button>
          ) : (
            <button type="button" class="danger" onClick={() => void ask('engage')}>
              Engage the emergency stop…
            </button>
          )}
        </div>
      )}
      {asking === 'engage' && (
        <ConfirmPanel
          name="Confirm the emergency stop"
          question={`Engaging the emergency stop stops every active and paused deployment of this tenant at once: devices that have not begun installing are told to cancel, devices installing finish. Stopped deployments cannot be resumed, and no deployment can be created or resumed until the stop is released. ${running ?? 'Counting the running deployments…'}`}
          confirmLabel="Stop every deployment of this tenant"
          danger
          busy={action.busy}
          onConfirm={() => void confirm()}
          onCancel={() => setAsking(undefined)}
        >
          <TextField
            label="Reason (optional)"
            hint="Kept with the stop and told to the devices that cancel."
            value={reason}
            onInput={setReason}
            maxLength={256}
            disabled={action.busy}
          />
        </ConfirmPanel>
      )}
      {asking === 'release' && (
        <ConfirmPanel
          name="Confirm the release"
          question="Releasing the emergency stop lets deployments be created and paused ones resumed again. The deployments it stopped stay stopped: a new deployment is needed to go on."
          confirmLabel="Release the emergency stop"
          busy={action.busy}
          onConfirm={() => void confirm()}
          onCancel={() => setAsking(undefined)}
        />
      )}
    </section>
  );
}
