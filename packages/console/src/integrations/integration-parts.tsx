/**
 * What the parts of the Integrations screen share: the refusals of their operations in words (always
 * with the stable code), the form that adds one, and the choice of platform events and devices.
 */
import type { ComponentChildren } from 'preact';
import { useId, useState } from 'preact/hooks';
import { OutcomeNotice, type Outcome } from '../shared/actions.js';
import type { ApiProblem } from '../shared/api.js';
import type { EventType } from './integrations-api.js';
import { problemText, setOf } from '../shared/messages.js';
import { TextField } from '../shared/ui.js';

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

/**
 * A form that adds an endpoint, a bridge or a rule: folded away until opened, and again once added.
 * A refusal is said in the form; what was added is said above it, where it stays in view.
 */
export function AddForm(props: {
  /** The fold's summary, and the form's name. */
  summary: string;
  label: string;
  submitLabel: string;
  busy: boolean;
  outcome: Outcome | undefined;
  /** Resolves true once added. */
  onSubmit(): Promise<boolean>;
  children: ComponentChildren;
}) {
  const [open, setOpen] = useState(false);
  const { outcome } = props;
  async function submit(event: Event) {
    event.preventDefault();
    if (await props.onSubmit()) setOpen(false);
  }
  return (
    <>
      {outcome?.kind === 'success' && <OutcomeNotice outcome={outcome} />}
      <details
        class="fold"
        open={open}
        onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}
      >
        <summary>{props.summary}</summary>
        <form aria-label={props.label} onSubmit={(e) => void submit(e)}>
          {props.children}
          {outcome?.kind === 'error' && <OutcomeNotice outcome={outcome} />}
          <div class="actions">
            <button type="submit" class="primary" disabled={props.busy}>
              {props.busy ? 'Adding…' : props.submitLabel}
            </button>
          </div>
        </form>
      </details>
    </>
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
const EVENT_TYPES = Object.keys(EVENT_HINTS) as EventType[];

/** The platform events to carry: a checkbox each, with what it is. */
function EventTypesField(props: {
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

/** What a webhook or a bridge carries: the events chosen, from the devices with one of the tags. */
export interface EventChoice {
  types: EventType[];
  tags: string;
}
export const NO_EVENTS: EventChoice = { types: [], tags: '' };

/** Why the choice cannot be sent, if it cannot. */
export const choiceError = (c: EventChoice) =>
  c.types.length === 0 ? 'Choose at least one event.' : undefined;

/** The choice as the API takes it (no device tags: every device). */
export function choiceBody(c: EventChoice): { eventTypes: EventType[]; deviceTags?: string[] } {
  const deviceTags = setOf(c.tags);
  return { eventTypes: c.types, ...(deviceTags.length > 0 ? { deviceTags } : {}) };
}

/** The events to carry and the devices they come from. */
export function EventChoiceFields(props: {
  value: EventChoice;
  onChange(value: EventChoice): void;
  error: string | undefined;
  disabled: boolean;
}) {
  const v = props.value;
  return (
    <>
      <EventTypesField
        value={v.types}
        onChange={(types) => props.onChange({ ...v, types })}
        error={props.error}
      />
      <TextField
        label="Device tags (optional)"
        hint="Only events of devices with one of these tags, separated by spaces. Empty: every device."
        value={v.tags}
        onInput={(tags) => props.onChange({ ...v, tags })}
        disabled={props.disabled}
      />
    </>
  );
}
