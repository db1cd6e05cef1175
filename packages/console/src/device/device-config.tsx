/**
 * A device's configuration twin on its page (`GET …/config`): the desired document and the reported
 * one with their versions, the delta (the desired members whose value the reported document does not
 * hold), an editor for a JSON merge patch of the desired document (`PATCH …/config/desired`, with
 * `If-Match` of the version shown, so that a change made in between is refused with
 * CONFIG_VERSION_CONFLICT rather than overwritten), and the history of both sides
 * (`GET …/config/history`).
 */
import { useRef, useState } from 'preact/hooks';
import { OutcomeNotice, useAction, type SessionOver } from '../shared/actions.js';
import { api, type ApiProblem, type ConfigHistoryEntry, type DeviceConfig } from '../shared/api.js';
import { delta } from './config-delta.js';
import { json, problemText } from '../shared/messages.js';
import { useApiRead, usePoll } from '../shared/read.js';
import { Instant, Notice, PollStopped, TextAreaField } from '../shared/ui.js';

const HISTORY = 10;

function conflictText(p: ApiProblem, based: number): string {
  const now = p.number('currentVersion');
  return `The desired configuration changed after version ${based} was shown${
    now !== undefined ? `: it is at version ${now} now` : ''
  }, so nothing was changed (${p.code}). Load the current version, check it, and save your change again.`;
}

export function DeviceConfigPanel(props: {
  deviceId: string;
  generation: number;
  sessionOver(e: unknown): boolean;
}) {
  const [config, setConfig] = useState<DeviceConfig | undefined>(undefined);
  const [history, setHistory] = useState<ConfigHistoryEntry[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [reads, setReads] = useState(0);
  // A desired version the device has not applied yet: read again a little later, until it reports.
  const poll = usePoll(config !== undefined && config.acknowledgedVersion < config.desired.version, config, [
    props.deviceId,
    props.generation,
  ]);

  useApiRead(
    () =>
      Promise.all([
        api.getDeviceConfig(props.deviceId),
        api.listConfigHistory(props.deviceId, { limit: HISTORY }),
      ]),
    ([c, h]) => {
      setConfig(c);
      setHistory(h.items);
    },
    [props.deviceId, props.generation, reads, poll.tick],
    { sessionOver: props.sessionOver, setError },
  );

  const now = Date.now();
  const differs = config ? delta(config.desired.document, config.reported.document) : [];
  return (
    <>
      {error && <Notice kind="error">{error}</Notice>}
      <PollStopped stopped={poll.stopped} />
      {config && (
        <>
          <dl class="counts">
            <div>
              <dt>Desired version</dt>
              <dd>{config.desired.version}</dd>
            </div>
            <div>
              <dt>Reported version</dt>
              <dd>{config.reported.version}</dd>
            </div>
            <div>
              <dt>Applied by the device</dt>
              <dd>{config.acknowledgedVersion}</dd>
            </div>
          </dl>
          <div class="config-docs">
            <div>
              <h3>Desired</h3>
              <pre aria-label="Desired document">{json(config.desired.document)}</pre>
            </div>
            <div>
              <h3>Reported</h3>
              <pre aria-label="Reported document">{json(config.reported.document)}</pre>
            </div>
          </div>
          <h3>Not yet reported</h3>
          {differs.length === 0 ? (
            <p class="empty">The device reports every desired value.</p>
          ) : (
            <table class="delta">
              <caption class="visually-hidden">Desired values the device does not report</caption>
              <thead>
                <tr>
                  <th scope="col">Key</th>
                  <th scope="col">Desired</th>
                  <th scope="col">Reported</th>
                </tr>
              </thead>
              <tbody>
                {differs.map((k) => (
                  <tr key={k}>
                    <th scope="row">{k}</th>
                    <td>
                      <code>{JSON.stringify(config.desired.document[k])}</code>
                    </td>
                    <td>
                      {Object.hasOwn(config.reported.document, k) ? (
                        <code>{JSON.stringify(config.reported.document[k])}</code>
                      ) : (
                        'not reported'
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <PatchDesired
            deviceId={props.deviceId}
            version={config.desired.version}
            sessionOver={props.sessionOver}
            onSaved={(c) => {
              setConfig(c);
              poll.restart();
              setReads((n) => n + 1);
            }}
            onReload={() => setReads((n) => n + 1)}
          />
        </>
      )}
      {history && (
        <>
          <h3>History</h3>
          {history.length === 0 ? (
            <p class="empty">The configuration has never changed.</p>
          ) : (
            <ol class="config-history" aria-label="Configuration history">
              {history.map((h) => (
                <li key={`${h.side}-${h.version}`}>
                  <div>
                    <strong>
                      {h.side === 'desired' ? 'Desired' : 'Reported'} version {h.version}
                    </strong>{' '}
                    <span class="hint">
                      <Instant at={h.at} now={now} /> by {h.actor}
                    </span>
                  </div>
                  <pre>{json(h.patch)}</pre>
                </li>
              ))}
            </ol>
          )}
        </>
      )}
    </>
  );
}

function PatchDesired(props: {
  deviceId: string;
  version: number;
  sessionOver: SessionOver;
  onSaved(c: DeviceConfig): void;
  onReload(): void;
}) {
  const [text, setText] = useState('');
  const [fieldError, setFieldError] = useState<string | undefined>(undefined);
  const based = props.version;
  const action = useAction(props.sessionOver, (p) =>
    p.code === 'CONFIG_VERSION_CONFLICT' ? conflictText(p, based) : problemText(p),
  );
  /** The last save was refused because the version shown is not the current one. */
  const conflict = action.outcome?.code === 'CONFIG_VERSION_CONFLICT';
  const fieldRef = useRef<HTMLTextAreaElement>(null);

  function save(event: Event) {
    event.preventDefault();
    let patch: unknown;
    try {
      patch = JSON.parse(text);
    } catch {
      patch = undefined;
    }
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
      action.setOutcome(undefined);
      setFieldError('A merge patch is a JSON object, like {"interval": 30}; null removes a member.');
      fieldRef.current?.focus();
      return;
    }
    setFieldError(undefined);
    void action.run(async () => {
      const saved = await api.patchDesiredConfig(props.deviceId, patch as Record<string, unknown>, based);
      setText('');
      props.onSaved(saved);
      return saved.desired.version === based
        ? `Nothing changed: the desired configuration already holds this (version ${based}).`
        : `Saved: the desired configuration is at version ${saved.desired.version}.`;
    });
  }

  return (
    <form class="patch-desired" aria-label="Change the desired configuration" onSubmit={save}>
      <h3>Change the desired configuration</h3>
      <TextAreaField
        label="Merge patch (JSON)"
        hint={`Members to set, null to remove one. Sent as a change of version ${props.version}.`}
        value={text}
        onInput={setText}
        error={fieldError}
        rows={4}
        inputRef={fieldRef}
      />
      <div class="actions">
        <button type="submit" class="primary" disabled={action.busy}>
          Save desired configuration
        </button>
        {conflict && (
          <button
            type="button"
            onClick={() => {
              action.setOutcome(undefined);
              props.onReload();
            }}
          >
            Load the current version
          </button>
        )}
      </div>
      <OutcomeNotice outcome={action.outcome} />
    </form>
  );
}
