/**
 * The MQTT bridges of the Integrations screen (`/v1/bridges`): each bridge with its state (connected,
 * not connected, paused), its spool (rows, bytes, the oldest), what it forwarded and dropped, and its
 * last error; pause, resume and delete; a form to add one. A bridge's status moves on its own (the
 * forwarder connects, drains the spool), so the list is read again while it is shown: every 2 s for
 * the first minute after it is shown, changed or refreshed, then every 15 s, for 10 minutes (`usePoll`).
 */
import { useState } from 'preact/hooks';
import { Confirm, OutcomeNotice, useAction, type SessionOver } from '../shared/actions.js';
import {
  AddForm,
  EventChoiceFields,
  NO_EVENTS,
  choiceBody,
  choiceError,
  integrationText,
} from './integration-parts.js';
import { integrationsApi as api, type Bridge } from './integrations-api.js';
import { useApiRead, usePoll } from '../shared/read.js';
import {
  Instant,
  Notice,
  PollStopped,
  SelectField,
  TagList,
  TextAreaField,
  TextField,
} from '../shared/ui.js';

const DEFAULT_TOPIC = 'mooring/{tenantId}/{deviceId}/{type}';

/** 1536 → "1.5 KiB". */
export function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

function state(b: Bridge): { text: string; class: string } {
  if (!b.enabled) return { text: 'paused', class: 'off' };
  return b.status.connected ? { text: 'connected', class: 'ok' } : { text: 'not connected', class: 'warn' };
}

export function Bridges(props: { generation: number; sessionOver: SessionOver }) {
  const [bridges, setBridges] = useState<Bridge[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  // A bridge's status moves on its own (connecting, draining its spool): read again while there is one.
  const poll = usePoll((bridges?.length ?? 0) > 0, bridges, [props.generation]);
  const changed = () => {
    poll.restart();
    setTick((n) => n + 1);
  };

  useApiRead(
    () => api.listBridges(),
    (r) => setBridges(r.items),
    [props.generation, tick, poll.tick],
    { sessionOver: props.sessionOver, setError },
  );

  return (
    <section class="panel" aria-labelledby="bridges">
      <h2 id="bridges">MQTT bridges</h2>
      <p class="hint">
        Platform events published to your own MQTT broker, spooled in the platform while the broker is away.
      </p>
      {error && <Notice kind="error">{error}</Notice>}
      <PollStopped stopped={poll.stopped} />
      {bridges && bridges.length === 0 && <p class="empty">No bridge yet.</p>}
      {bridges && bridges.length > 0 && (
        <ul class="cards">
          {bridges.map((b) => (
            <li key={b.id}>
              <BridgeCard bridge={b} sessionOver={props.sessionOver} onChanged={changed} />
            </li>
          ))}
        </ul>
      )}
      <AddBridge sessionOver={props.sessionOver} onCreated={changed} />
    </section>
  );
}

function BridgeCard(props: { bridge: Bridge; sessionOver: SessionOver; onChanged(): void }) {
  const b = props.bridge;
  const s = b.status;
  const action = useAction(props.sessionOver, integrationText);
  /** Pauses or resumes it; the list is read again after it. */
  const enable = (enabled: boolean) =>
    action.run(async () => {
      await api.setBridgeEnabled(b.id, enabled);
      props.onChanged();
      return undefined;
    });

  const now = Date.now();
  const st = state(b);
  return (
    <article class="card-item" aria-label={`Bridge ${b.name}`}>
      <h3>
        {b.name} <span class={`badge ${st.class}`}>{st.text}</span>
      </h3>
      <dl>
        <dt>Broker</dt>
        <dd>
          <code>{b.url}</code>
          {b.url.startsWith('mqtt://') && <span class="hint"> (no TLS)</span>}
        </dd>
        <dt>Topic</dt>
        <dd>
          <code>{b.topicTemplate}</code> · QoS {b.qos}
        </dd>
        <dt>Events</dt>
        <dd>{b.eventTypes.join(', ')}</dd>
        <dt>Devices</dt>
        <dd>{b.deviceTags === null ? 'all devices' : <TagList tags={b.deviceTags} />}</dd>
        <dt>Spool</dt>
        <dd>
          <span class="spool">{s.spoolRows}</span> {s.spoolRows === 1 ? 'message' : 'messages'} waiting (
          {bytesText(s.spoolBytes)} of {bytesText(b.spoolMaxBytes)})
          {s.oldestSpooledAt !== null && (
            <>
              , the oldest <Instant at={s.oldestSpooledAt} now={now} />
            </>
          )}
        </dd>
        <dt>Forwarded</dt>
        <dd>{s.forwarded}</dd>
        <dt>Dropped</dt>
        <dd class={s.dropped > 0 ? 'warn-text' : undefined}>
          {s.dropped}
          {s.lastDroppedAt !== null && (
            <>
              , the last <Instant at={s.lastDroppedAt} now={now} /> (the spool's size or age cap)
            </>
          )}
        </dd>
        <dt>{s.connected ? 'Connected' : 'Last connected'}</dt>
        <dd>{s.lastConnectedAt !== null ? <Instant at={s.lastConnectedAt} now={now} /> : 'never'}</dd>
        {s.lastError !== null && (
          <>
            <dt>Last error</dt>
            <dd class="warn-text">
              {s.lastError}
              {s.lastErrorAt !== null && (
                <>
                  {' '}
                  (<Instant at={s.lastErrorAt} now={now} />)
                </>
              )}
            </dd>
          </>
        )}
      </dl>
      <OutcomeNotice outcome={action.outcome} />
      <div class="actions">
        {b.enabled ? (
          <Confirm
            label="Pause…"
            question={`Pause ${b.name}? It disconnects, and events that happen while it is paused are not spooled for it.`}
            confirmLabel={`Pause ${b.name}`}
            busy={action.busy}
            danger
            onConfirm={() => enable(false)}
          />
        ) : (
          <button type="button" disabled={action.busy} onClick={() => void enable(true)}>
            Resume
          </button>
        )}
        <Confirm
          label="Delete…"
          question={`Delete ${b.name}${s.spoolRows > 0 ? ` and the ${s.spoolRows} messages in its spool` : ''}? This cannot be undone.`}
          confirmLabel={`Delete ${b.name}`}
          busy={action.busy}
          danger
          onConfirm={() =>
            action.run(async () => {
              await api.deleteBridge(b.id);
              props.onChanged();
              return undefined;
            })
          }
        />
      </div>
    </article>
  );
}

const NO_BRIDGE = { name: '', url: '', topic: DEFAULT_TOPIC, username: '', password: '', ca: '' };

function AddBridge(props: { sessionOver: SessionOver; onCreated(): void }) {
  const [draft, setDraft] = useState(NO_BRIDGE);
  const [events, setEvents] = useState(NO_EVENTS);
  const [eventsError, setEventsError] = useState<string | undefined>(undefined);
  const [qos, setQos] = useState<'0' | '1'>('1');
  const action = useAction(props.sessionOver, integrationText);
  const set = (key: keyof typeof NO_BRIDGE) => (value: string) => setDraft((d) => ({ ...d, [key]: value }));

  function create(): Promise<boolean> {
    const problem = choiceError(events);
    setEventsError(problem);
    if (problem) {
      action.setOutcome(undefined);
      return Promise.resolve(false);
    }
    return action.run(async () => {
      const { username, password } = draft;
      const ca = draft.ca.trim();
      const b = await api.createBridge({
        name: draft.name.trim(),
        url: draft.url.trim(),
        topicTemplate: draft.topic.trim(),
        ...choiceBody(events),
        qos: qos === '0' ? 0 : 1,
        ...(username ? { username } : {}),
        ...(password ? { password } : {}),
        ...(ca ? { ca } : {}),
      });
      // The topic and the QoS stay for the next bridge, which likely shares them.
      setDraft((d) => ({ ...NO_BRIDGE, topic: d.topic }));
      setEvents(NO_EVENTS);
      props.onCreated();
      return `Added ${b.name}: it connects within a few seconds.`;
    });
  }

  return (
    <AddForm
      summary="Add a bridge"
      label="Add a bridge"
      submitLabel="Add the bridge"
      busy={action.busy}
      outcome={action.outcome}
      onSubmit={create}
    >
      <TextField
        label="Name"
        value={draft.name}
        onInput={set('name')}
        required
        maxLength={128}
        disabled={action.busy}
      />
      <TextField
        label="Broker URL"
        hint="mqtts://host[:port] (TLS, the certificate checked), or mqtt://host[:port] without TLS: then the password and every event cross the network in clear."
        value={draft.url}
        onInput={set('url')}
        required
        disabled={action.busy}
      />
      <TextField
        label="Topic template"
        hint="Placeholders {tenantId} {deviceId} {type} {eventId}; no + or #."
        value={draft.topic}
        onInput={set('topic')}
        required
        disabled={action.busy}
      />
      <EventChoiceFields value={events} onChange={setEvents} error={eventsError} disabled={action.busy} />
      <SelectField
        label="QoS"
        value={qos}
        options={[
          { value: '1', label: '1: the broker acknowledges every message' },
          { value: '0', label: '0: at most once' },
        ]}
        onChange={(v) => setQos(v)}
      />
      <TextField
        label="User name (optional)"
        value={draft.username}
        onInput={set('username')}
        disabled={action.busy}
      />
      <TextField
        label="Password (optional)"
        type="password"
        autocomplete="new-password"
        hint="Kept encrypted and never shown again."
        value={draft.password}
        onInput={set('password')}
        disabled={action.busy}
      />
      <TextAreaField
        label="CA certificate (PEM, optional)"
        hint="The CA the broker's certificate chains to, when it is not a public one."
        value={draft.ca}
        onInput={set('ca')}
        rows={3}
        disabled={action.busy}
      />
    </AddForm>
  );
}
