/**
 * The few building blocks every screen uses, accessible by construction: a field is always a label
 * tied to its input (with its hint and error read out with it), a screen's heading takes the focus
 * when the screen appears (so a screen reader announces it and the keyboard starts there), and a
 * notice is a live region. Text only: nothing here renders markup from a string.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useId, useRef } from 'preact/hooks';
import { ago, when } from './messages.js';

/** The screen's heading; focused when it appears. */
export function Heading(props: { children: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <h1 tabIndex={-1} ref={ref}>
      {props.children}
    </h1>
  );
}

/** A screen's heading, with the Refresh that reads again everything the screen shows. */
export function ScreenTitle(props: { children: ComponentChildren; onRefresh(): void; refreshing?: boolean }) {
  return (
    <div class="title-row">
      <Heading>{props.children}</Heading>
      <button type="button" onClick={props.onRefresh} disabled={props.refreshing ?? false}>
        {props.refreshing ? 'Refreshing…' : 'Refresh'}
      </button>
    </div>
  );
}

/**
 * A message: errors are announced at once (`alert`), the rest when the reader is idle (`status`).
 * `focus` moves the focus to it when it appears (after the thing the focus was on went away).
 */
export function Notice(props: {
  kind: 'error' | 'info' | 'success';
  id?: string;
  focus?: boolean;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLParagraphElement>(null);
  useEffect(() => {
    if (props.focus) ref.current?.focus();
  }, []);
  return (
    <p
      ref={ref}
      class={`notice ${props.kind}`}
      role={props.kind === 'error' ? 'alert' : 'status'}
      {...(props.id ? { id: props.id } : {})}
      {...(props.focus ? { tabIndex: -1 } : {})}
    >
      {props.children}
    </p>
  );
}

/** What a field's control carries: its id (for the label) and what is read out with it. */
interface ControlProps {
  id: string;
  'aria-describedby': string | undefined;
  'aria-invalid': true | undefined;
}

/**
 * The frame every field shares: the label tied to its control, the hint above it and the error below
 * it (both read out with it), and the control marked invalid while there is an error.
 */
function Field(props: {
  label: string;
  hint?: string | undefined;
  error?: string | undefined;
  control(attributes: ControlProps): ComponentChildren;
}) {
  const id = useId();
  const described = [props.hint ? `${id}-hint` : '', props.error ? `${id}-error` : '']
    .filter(Boolean)
    .join(' ');
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      {props.hint && (
        <span class="hint" id={`${id}-hint`}>
          {props.hint}
        </span>
      )}
      {props.control({
        id,
        'aria-describedby': described || undefined,
        'aria-invalid': props.error ? true : undefined,
      })}
      {props.error && (
        <span class="field-error" id={`${id}-error`}>
          {props.error}
        </span>
      )}
    </div>
  );
}

export interface TextFieldProps {
  label: string;
  value: string;
  onInput(value: string): void;
  hint?: string;
  error?: string | undefined;
  type?: 'text' | 'password' | 'datetime-local';
  autocomplete?: string;
  autocapitalize?: 'none' | 'characters';
  inputMode?: 'text' | 'numeric';
  required?: boolean;
  disabled?: boolean;
  autoFocus?: boolean;
  minLength?: number;
  maxLength?: number;
  inputRef?: { current: HTMLInputElement | null };
}

export function TextField(props: TextFieldProps) {
  const local = useRef<HTMLInputElement>(null);
  const ref = props.inputRef ?? local;
  useEffect(() => {
    if (props.autoFocus) ref.current?.focus();
  }, []);
  return (
    <Field
      label={props.label}
      hint={props.hint}
      error={props.error}
      control={(attributes) => (
        <input
          {...attributes}
          ref={ref}
          // Preact's types tie `role` to each input type; these inputs set none, so any type fits.
          type={(props.type ?? 'text') as 'text'}
          value={props.value}
          onInput={(e) => props.onInput((e.currentTarget as HTMLInputElement).value)}
          autocomplete={props.autocomplete ?? 'off'}
          autocapitalize={props.autocapitalize ?? 'none'}
          spellcheck={false}
          inputMode={props.inputMode ?? 'text'}
          required={props.required ?? false}
          disabled={props.disabled ?? false}
          {...(props.minLength !== undefined ? { minLength: props.minLength } : {})}
          {...(props.maxLength !== undefined ? { maxLength: props.maxLength } : {})}
        />
      )}
    />
  );
}

export interface SelectFieldProps<V extends string> {
  label: string;
  value: V;
  options: readonly { value: V; label: string }[];
  onChange(value: V): void;
  hint?: string;
  disabled?: boolean;
}

/** A choice among a few: a label tied to a native select (keyboard and screen readers know it). */
export function SelectField<V extends string>(props: SelectFieldProps<V>) {
  return (
    <Field
      label={props.label}
      hint={props.hint}
      control={(attributes) => (
        <select
          {...attributes}
          value={props.value}
          disabled={props.disabled ?? false}
          onChange={(e) => props.onChange((e.currentTarget as HTMLSelectElement).value as V)}
        >
          {props.options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    />
  );
}

export interface TextAreaFieldProps {
  label: string;
  value: string;
  onInput(value: string): void;
  hint?: string;
  error?: string | undefined;
  rows?: number;
  disabled?: boolean;
  inputRef?: { current: HTMLTextAreaElement | null };
}

/** Several lines of text (JSON, a certificate). */
export function TextAreaField(props: TextAreaFieldProps) {
  return (
    <Field
      label={props.label}
      hint={props.hint}
      error={props.error}
      control={(attributes) => (
        <textarea
          {...attributes}
          {...(props.inputRef ? { ref: props.inputRef } : {})}
          value={props.value}
          rows={props.rows ?? 4}
          onInput={(e) => props.onInput((e.currentTarget as HTMLTextAreaElement).value)}
          autocomplete="off"
          autocapitalize="none"
          spellcheck={false}
          disabled={props.disabled ?? false}
        />
      )}
    />
  );
}

/** An instant as "5 minutes ago", with the date and time as its title. */
export function Instant(props: { at: number; now: number }) {
  return (
    <time dateTime={new Date(props.at).toISOString()} title={when(props.at)}>
      {ago(props.at, props.now)}
    </time>
  );
}

/** Said where a part stopped reading by itself (`usePoll`, a deployment's page): Refresh goes on. */
export function PollStopped(props: { stopped: boolean }) {
  if (!props.stopped) return null;
  return <Notice kind="info">Live updates stopped after 10 minutes: Refresh to go on.</Notice>;
}

/** A device's tags as a list, or "none". */
export function TagList(props: { tags: readonly string[] }) {
  if (props.tags.length === 0) return <>none</>;
  return (
    <ul class="tags">
      {props.tags.map((tag) => (
        <li key={tag}>{tag}</li>
      ))}
    </ul>
  );
}
