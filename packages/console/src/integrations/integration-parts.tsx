/**
 * What the parts of the Integrations screen share: the refusals of their operations in words (always
 * with the stable code), a confirmation before anything that cannot be undone, a secret shown the one
 * time the API answers it, and the choice of platform events.
 */
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { ApiProblem } from '../shared/api.js';
import type { EventType } from './integrations-api.js';
import { problemText } from '../shared/messages.js';
import { Notice } from '../shared/ui.js';

/** A refusal of a webhook, bridge or alert operation, in words, with its code. */
export function integrationText(p: ApiProblem): string {
  switch (p.code) {
    case 'WEBHOOK_URL_REFUSED':
      return `That address is refused: Mooring calls only https:// addresses outside its own network (no loopback, private or link-local address, no localhost). ${p.message} (${p.code})`;
    case 'WEBHOOK_DISABLED':
      return `The webhook is disabled: enable it first, and it answers the challenge again. (${p.code})`;
    case 'ALERT_STATE_CONFLICT': {
      const state = p.members.state;
      return `The alert is ${typeof state === 'string' ? state : 'in another state'} already: someone or its rule changed it meanwhile. (${p.code})`;
    }
    default:
      return problemText(p);
  }
}

/** Turns a refusal into the text to show, unless it ended the session (which the screen handles). */
export function refusal(e: unknown, sessionOver: (e: unknown) => boolean): string | undefined {
  if (!(e instanceof ApiProblem)) throw e;
  return sessionOver(e) ? undefined : integrationText(e);
}

/**
 * A button that asks first: the question and the button that does it take its place, and the focus
 * moves to the question. `run` resolves when done; a refusal is shown beside the question.
 */
export function Confirm(props: {
  /** The first button's text (ends with …). */
  label: string;
  question: string;
  /** The confirming button's text: says exactly what happens. */
  confirm: string;
  run(): Promise<string | undefined>;
}) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const questionRef = useRef<HTMLParagraphElement>(null);
  const openRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) questionRef.current?.focus();
  }, [asking]);

  async function go() {
    setBusy(true);
    setError(undefined);
    const failed = await props.run();
    setBusy(false);
    if (failed) setError(failed);
    else setAsking(false);
  }

  if (!asking)
    return (
      <button type="button" class="danger" ref={openRef} onClick={() => setAsking(true)}>
        {props.label}
      </button>
    );
  return (
    <div class="confirm" role="group" aria-label={props.confirm}>
      <p tabIndex={-1} ref={questionRef}>
        {props.question}
      </p>
      {error && <Notice kind="error">{error}</Notice>}
      <div class="actions">
        <button type="button" class="danger" disabled={busy} onClick={() => void go()}>
          {props.confirm}
        </button>
        <button
          type="button"
          disabled={busy}
          onClick={() => {
            setAsking(false);
            setError(undefined);
          }}
        >
          Cancel
        </button>
      </div>
    </div>
  );
}

/** A secret the API answers once (a webhook's signing secret): shown until it is put away. */
export function SecretOnce(props: { what: string; secret: string; onDone(): void }) {
  const [copied, setCopied] = useState<string | undefined>(undefined);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => ref.current?.focus(), [props.secret]);
  async function copy() {
    try {
      await navigator.clipboard.writeText(props.secret);
      setCopied('Copied to the clipboard.');
    } catch {
      setCopied('The browser did not allow copying: select the secret and copy it.');
    }
  }
  return (
    <div
      class="secret-once"
      role="region"
      aria-label={`Signing secret of ${props.what}`}
      tabIndex={-1}
      ref={ref}
    >
      <p>
        <strong>The signing secret of {props.what}:</strong>
      </p>
      <p>
        <code class="secret">{props.secret}</code>
      </p>
      <p class="warn-text">
        Keep it now, in the receiver's configuration: it is shown this once and is not shown again. The
        receiver checks every request's signature with it.
      </p>
      {copied && <Notice kind="info">{copied}</Notice>}
      <div class="actions">
        <button type="button" onClick={() => void copy()}>
          Copy
        </button>
        <button type="button" class="primary" onClick={props.onDone}>
          I have kept it
        </button>
      </div>
    </div>
  );
}

/** What each platform event is, beside its type (docs/integrations.md). */
const EVENT_HINTS: Record<EventType, string> = {
  'device.connected': 'a device session started',
  'device.disconnected': 'a device session ended',
  'device.deleted': 'a device was deleted',
  'provisioning.decided': 'a provisioning operation was approved, rejected or locked',
  'telemetry.batch': 'readings, about one event a second',
  'device.event': 'an event a device sent',
  'command.result': 'a device answered a command',
  'config.desired.changed': 'the desired configuration changed',
  'config.reported.changed': 'a device reported its configuration',
  'certificate.issued': 'a device certificate was issued',
  'certificate.revoked': 'a device certificate was revoked',
  'credential.revoked': 'an access key or registration tokens were revoked',
  'ota.operation.changed': "a device's update changed state",
  'deployment.status.changed': 'a deployment was paused, resumed, completed or stopped',
  'alert.fired': 'an alert fired',
  'alert.acknowledged': 'an alert was acknowledged',
  'alert.resolved': 'an alert was resolved',
};
/** Every type the API knows, in its order: a type added to the API without a hint does not compile. */
export const EVENT_TYPES = Object.keys(EVENT_HINTS) as EventType[];

/** The platform events to carry: a checkbox each, with what it is. */
export function EventTypesField(props: {
  value: readonly EventType[];
  onChange(value: EventType[]): void;
  error?: string | undefined;
}) {
  const id = useId();
  const toggle = (type: EventType, on: boolean) =>
    props.onChange(EVENT_TYPES.filter((t) => (t === type ? on : props.value.includes(t))));
  return (
    <fieldset class="event-types" aria-describedby={props.error ? `${id}-error` : undefined}>
      <legend>Events</legend>
      {props.error && (
        <span class="field-error" id={`${id}-error`}>
          {props.error}
        </span>
      )}
      <ul>
        {EVENT_TYPES.map((type) => (
          <li key={type}>
            <input
              type="checkbox"
              id={`${id}-${type}`}
              checked={props.value.includes(type)}
              aria-describedby={`${id}-${type}-hint`}
              onChange={(e) => toggle(type, (e.currentTarget as HTMLInputElement).checked)}
            />
            <label for={`${id}-${type}`}>{type}</label>
            <span class="hint" id={`${id}-${type}-hint`}>
              {EVENT_HINTS[type]}
            </span>
          </li>
        ))}
      </ul>
    </fieldset>
  );
}

/** Tags as typed: separated by spaces or commas. */
export const tagsOf = (text: string) => text.split(/[\s,]+/).filter(Boolean);
