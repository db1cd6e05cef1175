/**
 * The MQTT bridges of the Integrations screen (`/v1/bridges`): each bridge with its state (connected,
 * not connected, paused), its spool (rows, bytes, the oldest), what it forwarded and dropped, and its
 * last error; pause, resume and delete; a form to add one. A bridge's status moves on its own (the
 * forwarder connects, drains the spool), so the list is read again while it is shown: every 2 s for
 * the first minute after it is shown or changed, then every 15 s (`usePoll`).
 */
import { useState } from 'preact/hooks';
import { Instant } from '../fleet/devices.js';
import { Confirm, EventTypesField, refusal, tagsOf } from './integration-parts.js';
import { integrationsApi as api, type Bridge, type EventType } from './integrations-api.js';
import { useApiRead, usePoll } from '../shared/read.js';
import { Notice, SelectField, TagList, TextAreaField, TextField } from '../shared/ui.js';

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

export function Bridges(props: { generation: number; sessionOver(e: unknown): boolean }) {
  const [bridges, setBridges] = useState<Bridge[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  // A bridge's status moves on its own (connecting, draining its spool): read again while there is one.
  const poll = usePoll((bridges?.length ?? 0) > 0, bridges);
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
      {bridges && bridges.length === 0 && <p class="empty">No bridge yet.</p>}
      {bridges && bridges.length > 0 && (
        <ul class="integrations">
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

function BridgeCard(props: { bridge: Bridge; sessionOver(e: unknown): boolean; onChanged(): void }) {
  const b = props.bridge;
  const s = b.status;
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  async function change(run: () => Promise<unknown>): Promise<string | undefined> {
    try {
      await run();
      props.onChanged();
      return undefined;
    } catch (e) {
      return refusal(e, props.sessionOver);
    }
  }
  async function resume() {
    setBusy(true);
    setError(await change(() => api.setBridgeEnabled(b.id, true)));
    setBusy(false);
  }

  const now = Date.now();
  const st = state(b);
  return (
    <article class="integration" aria-label={`Bridge ${b.name}`}>
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
      {error && <Notice kind="error">{error}</Notice>}
      <div class="actions">
        {b.enabled ? (
          <Confirm
            label="Pause…"
            question={`Pause ${b.name}? It disconnects, and events that happen while it is paused are not spooled for it.`}
            confirm={`Pause ${b.name}`}
            run={() => change(() => api.setBridgeEnabled(b.id, false))}
          />
        ) : (
          <button type="button" disabled={busy} onClick={() => void resume()}>
            Resume
          </button>
        )}
        <Confirm
          label="Delete…"
          question={`Delete ${b.name}${s.spoolRows > 0 ? ` and the ${s.spoolRows} messages in its spool` : ''}? This cannot be undone.`}
          confirm={`Delete ${b.name}`}
          run={() => change(() => api.deleteBridge(b.id))}
        />
      </div>
    </article>
  );
}

function AddBridge(props: { sessionOver(e: unknown): boolean; onCreated(): void }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [topic, setTopic] = useState(DEFAULT_TOPIC);
  const [types, setTypes] = useState<EventType[]>([]);
  const [tags, setTags] = useState('');
  const [qos, setQos] = useState<'0' | '1'>('1');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [ca, setCa] = useState('');
  const [typesError, setTypesError] = useState<string | undefined>(undefined);
  const [notice, setNotice] = useState<{ kind: 'error' | 'success'; text: string } | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  async function create(event: Event) {
    event.preventDefault();
    setNotice(undefined);
    if (types.length === 0) {
      setTypesError('Choose at least one event.');
      return;
    }
    setTypesError(undefined);
    setBusy(true);
    try {
      const deviceTags = tagsOf(tags);
      const b = await api.createBridge({
        name: name.trim(),
        url: url.trim(),
        topicTemplate: topic.trim(),
        eventTypes: types,
        qos: qos === '0' ? 0 : 1,
        ...(deviceTags.length > 0 ? { deviceTags } : {}),
        ...(username ? { username } : {}),
        ...(password ? { password } : {}),
        ...(ca.trim() ? { ca: ca.trim() } : {}),
      });
      setName('');
      setUrl('');
      setTypes([]);
      setTags('');
      setUsername('');
      setPassword('');
      setCa('');
      setOpen(false);
      setNotice({ kind: 'success', text: `Added ${b.name}: it connects within a few seconds.` });
      props.onCreated();
    } catch (e) {
      const text = refusal(e, props.sessionOver);
      if (text) setNotice({ kind: 'error', text });
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      {notice?.kind === 'success' && <Notice kind="success">{notice.text}</Notice>}
      <details
        class="add"
        open={open}
        onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}
      >
        <summary>Add a bridge</summary>
        <form aria-label="Add a bridge" onSubmit={(e) => void create(e)}>
          <TextField label="Name" value={name} onInput={setName} required maxLength={128} disabled={busy} />
          <TextField
            label="Broker URL"
            hint="mqtts://host[:port] (TLS, the certificate checked), or mqtt://host[:port] without TLS: then the password and every event cross the network in clear."
            value={url}
            onInput={setUrl}
            required
            disabled={busy}
          />
          <TextField
            label="Topic template"
            hint="Placeholders {tenantId} {deviceId} {type} {eventId}; no + or #."
            value={topic}
            onInput={setTopic}
            required
            disabled={busy}
          />
          <EventTypesField value={types} onChange={setTypes} error={typesError} />
          <TextField
            label="Device tags (optional)"
            hint="Only events of devices with one of these tags, separated by spaces. Empty: every device."
            value={tags}
            onInput={setTags}
            disabled={busy}
          />
          <SelectField
            label="QoS"
            value={qos}
            options={[
              { value: '1', label: '1: the broker acknowledges every message' },
              { value: '0', label: '0: at most once' },
            ]}
            onChange={(v) => setQos(v)}
          />
          <TextField label="User name (optional)" value={username} onInput={setUsername} disabled={busy} />
          <TextField
            label="Password (optional)"
            type="password"
            autocomplete="new-password"
            hint="Kept encrypted and never shown again."
            value={password}
            onInput={setPassword}
            disabled={busy}
          />
          <TextAreaField
            label="CA certificate (PEM, optional)"
            hint="The CA the broker's certificate chains to, when it is not a public one."
            value={ca}
            onInput={setCa}
            rows={3}
            disabled={busy}
          />
          {notice?.kind === 'error' && <Notice kind="error">{notice.text}</Notice>}
          <div class="actions">
            <button type="submit" class="primary" disabled={busy}>
              {busy ? 'Adding…' : 'Add the bridge'}
            </button>
          </div>
        </form>
      </details>
    </>
  );
}
