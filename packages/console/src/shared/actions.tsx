/**
 * What every screen does around a change: tell whether a refusal ended the session (the console then
 * goes back to the sign-in), say a refusal in words (by its code), run an action that says how it went,
 * show a secret the API answers once, and ask before a change that cannot be undone.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiProblem } from './api.js';
import { problemText } from './messages.js';
import { Notice } from './ui.js';

export interface Outcome {
  kind: 'success' | 'error' | 'info';
  text: string;
  /** A refusal's stable code, for what the screen offers next. */
  code?: ApiProblem['code'];
}

/** Reads whether a refusal ended the session (the screen then goes back to the sign-in). */
export type SessionOver = (e: unknown) => boolean;

/** The one rule for every screen: a 401 ends the session, except a wrong one-time code. */
export function sessionOverFor(onSessionEnded: () => void): SessionOver {
  return (e) => {
    // A wrong one-time code is a 401 too, and leaves the session as it was.
    if (e instanceof ApiProblem && e.status === 401 && e.code !== 'TOTP_INVALID') {
      onSessionEnded();
      return true;
    }
    return false;
  };
}

/** The sign-in page's forms: there is no session to end. */
export const noSession: SessionOver = () => false;

/**
 * A refusal in words (`describe` may say a code more particularly than `problemText`), or undefined
 * when it ended the session; anything that is not a refusal is thrown on.
 */
export function refusalText(
  e: unknown,
  sessionOver: SessionOver,
  describe: (p: ApiProblem) => string = problemText,
): string | undefined {
  if (!(e instanceof ApiProblem)) throw e;
  return sessionOver(e) ? undefined : describe(e);
}

/**
 * Runs one change at a time: busy while it runs, then its outcome (the text `fn` returns, or the
 * refusal in words). `run` resolves true when the change was made.
 */
export function useAction(sessionOver: SessionOver, describe: (p: ApiProblem) => string = problemText) {
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | undefined>(undefined);
  async function run(fn: () => Promise<string | undefined>): Promise<boolean> {
    setBusy(true);
    setOutcome(undefined);
    try {
      const text = await fn();
      if (text) setOutcome({ kind: 'success', text });
      return true;
    } catch (e) {
      const text = refusalText(e, sessionOver, describe);
      if (text) setOutcome({ kind: 'error', text, code: (e as ApiProblem).code });
      return false;
    } finally {
      setBusy(false);
    }
  }
  /** Says why a change is not even sent (a check made before asking the API). */
  const refuse = (text: string) => setOutcome({ kind: 'error', text });
  return { busy, outcome, setOutcome, run, refuse };
}

/** How the last change went; `focus`: a success takes the focus (the button pressed is gone). */
export function OutcomeNotice(props: { outcome: Outcome | undefined; focus?: boolean }) {
  if (!props.outcome) return null;
  return (
    <Notice
      kind={props.outcome.kind}
      key={props.outcome.text}
      focus={props.focus === true && props.outcome.kind === 'success'}
    >
      {props.outcome.text}
    </Notice>
  );
}

/**
 * A secret the API answers once (an API key's, a webhook's signing secret, an invitation or reset
 * code): it takes the focus when it appears, and is gone from the page once put away.
 */
export function SecretOnce(props: {
  /** The region's name, e.g. "Secret of billing-export". */
  label: string;
  secret: string;
  /** What is said before it; by default that it is shown once. */
  lead?: ComponentChildren;
  /** The button that puts it away. */
  doneLabel?: string;
  /** What is said after it: where it goes, how it is used. */
  children?: ComponentChildren;
  onDone(): void;
}) {
  const [copied, setCopied] = useState<string | undefined>(undefined);
  const ref = useRef<HTMLElement>(null);
  useEffect(() => ref.current?.focus(), [props.secret]);
  async function copy() {
    try {
      await navigator.clipboard.writeText(props.secret);
      setCopied('Copied to the clipboard.');
    } catch {
      setCopied('The browser did not allow copying: select the text and copy it.');
    }
  }
  return (
    <section class="secret" aria-label={props.label} tabIndex={-1} ref={ref}>
      <p>
        {props.lead ?? (
          <>
            <strong>{props.label}</strong>: shown once. Copy it now; it is not shown again.
          </>
        )}
      </p>
      <code class="secret-value">{props.secret}</code>
      {props.children}
      {copied && <Notice kind="info">{copied}</Notice>}
      <div class="actions">
        <button type="button" onClick={() => void copy()}>
          Copy
        </button>
        <button type="button" class="primary" onClick={props.onDone}>
          {props.doneLabel ?? 'Done'}
        </button>
      </div>
    </section>
  );
}

/**
 * The question before a change: a group named for what it does, the question (focused when it
 * appears, since the button that opened it is gone; without one, the first field), what the change takes (a reason, an overlap, a
 * refusal to show), and the button that does it beside the one that does not.
 */
export function ConfirmPanel(props: {
  /** The group's name: what confirming does, e.g. "Confirm the release". */
  name: string;
  question?: ComponentChildren;
  /** The confirming button's text: says exactly what happens. */
  confirmLabel: string;
  cancelLabel?: string;
  danger?: boolean;
  busy: boolean;
  onConfirm(): void;
  onCancel(): void;
  children?: ComponentChildren;
}) {
  const ref = useRef<HTMLDivElement>(null);
  // The question, or without one the first thing the change takes.
  useEffect(() => ref.current?.querySelector<HTMLElement>('p[tabindex], select, input')?.focus(), []);
  return (
    <div class="confirm" role="group" aria-label={props.name} ref={ref}>
      {props.question !== undefined && <p tabIndex={-1}>{props.question}</p>}
      {props.children}
      <div class="actions">
        <button
          type="button"
          class={props.danger ? 'danger' : 'primary'}
          disabled={props.busy}
          onClick={props.onConfirm}
        >
          {props.confirmLabel}
        </button>
        <button type="button" disabled={props.busy} onClick={props.onCancel}>
          {props.cancelLabel ?? 'Cancel'}
        </button>
      </div>
    </div>
  );
}

/**
 * A button that asks once more before it acts: "Revoke…", then the question with "Revoke <name>" and
 * "Cancel". The question closes once the change is made; after a refusal it stays, to try again.
 */
export function Confirm(props: {
  /** The first button's text (ends with …). */
  label: string;
  question: string;
  /** The confirming button's text, and the question's name. */
  confirmLabel: string;
  busy: boolean;
  danger?: boolean;
  /** Resolves true when the change was made. */
  onConfirm(): Promise<boolean>;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button
        type="button"
        class={props.danger ? 'danger' : undefined}
        disabled={props.busy}
        onClick={() => setAsking(true)}
      >
        {props.label}
      </button>
    );
  return (
    <ConfirmPanel
      name={props.confirmLabel}
      question={props.question}
      confirmLabel={props.confirmLabel}
      danger={props.danger ?? false}
      busy={props.busy}
      onConfirm={() => void props.onConfirm().then((made) => made && setAsking(false))}
      onCancel={() => setAsking(false)}
    />
  );
}

/**
 * A form that a button opens ("New API key…"): its fields, how its last submission went, and the
 * button that sends it beside Cancel, which folds it away again.
 */
export function FormCard(props: {
  /** The form's name. */
  label: string;
  /** The text of the button that opens it (ends with …). */
  openLabel: string;
  submitLabel: string;
  danger?: boolean;
  open: boolean;
  onOpen(open: boolean): void;
  busy: boolean;
  outcome: Outcome | undefined;
  onSubmit(): void;
  children: ComponentChildren;
}) {
  const look = props.danger ? 'danger' : 'primary';
  if (!props.open)
    return (
      <p>
        <button type="button" class={look} onClick={() => props.onOpen(true)}>
          {props.openLabel}
        </button>
      </p>
    );
  return (
    <form
      class="form-card"
      aria-label={props.label}
      onSubmit={(e) => {
        e.preventDefault();
        props.onSubmit();
      }}
    >
      {props.children}
      <OutcomeNotice outcome={props.outcome} />
      <div class="actions">
        <button type="submit" class={look} disabled={props.busy}>
          {props.submitLabel}
        </button>
        <button type="button" onClick={() => props.onOpen(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}
