/**
 * What the Access, Audit and account screens share: an action that says how it went (the API's
 * refusal by its code, or a session that ended), a secret shown once, and a change that asks to be
 * confirmed first.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { ApiProblem } from './api.js';
import { problemText } from './messages.js';
import { Notice } from './ui.js';

export interface Outcome {
  kind: 'success' | 'error';
  text: string;
}

/** Reads whether a refusal ended the session (the screen then goes back to the sign-in). */
export type SessionOver = (e: unknown) => boolean;

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

/**
 * Runs one change at a time: busy while it runs, then its outcome (the text `fn` returns, or the
 * refusal in words; `describe` may say a code more particularly than `problemText`).
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
      if (!(e instanceof ApiProblem)) throw e;
      if (!sessionOver(e)) setOutcome({ kind: 'error', text: describe(e) });
      return false;
    } finally {
      setBusy(false);
    }
  }
  return { busy, outcome, setOutcome, run };
}

export function OutcomeNotice(props: { outcome: Outcome | undefined }) {
  if (!props.outcome) return null;
  return <Notice kind={props.outcome.kind}>{props.outcome.text}</Notice>;
}

/** A secret the API shows once (an API key, an invitation or reset token, recovery codes). */
export function SecretOnce(props: {
  label: string;
  secret: string;
  children?: ComponentChildren;
  onDone(): void;
}) {
  const [copied, setCopied] = useState<string | undefined>(undefined);
  async function copy() {
    try {
      await navigator.clipboard.writeText(props.secret);
      setCopied('Copied.');
    } catch {
      setCopied('The browser did not allow copying: select the text and copy it.');
    }
  }
  return (
    <section class="secret" aria-label={props.label}>
      <p>
        <strong>{props.label}</strong>: shown once. Copy it now; it is not shown again.
      </p>
      <code class="secret-value">{props.secret}</code>
      {props.children}
      <div class="actions">
        <button type="button" onClick={() => void copy()}>
          Copy
        </button>
        <button type="button" class="primary" onClick={props.onDone}>
          Done
        </button>
      </div>
      {copied && <p role="status">{copied}</p>}
    </section>
  );
}

/** A button that asks once more before it acts: "Revoke…", then "Revoke <name>" and "Cancel". */
export function Confirm(props: {
  label: string;
  confirmLabel: string;
  question: string;
  busy: boolean;
  danger?: boolean;
  onConfirm(): void;
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
    <div class="confirm" role="group" aria-label={props.question}>
      <p>{props.question}</p>
      <div class="actions">
        <button
          type="button"
          class={props.danger ? 'danger' : 'primary'}
          disabled={props.busy}
          onClick={() => {
            setAsking(false);
            props.onConfirm();
          }}
        >
          {props.confirmLabel}
        </button>
        <button type="button" onClick={() => setAsking(false)}>
          Cancel
        </button>
      </div>
    </div>
  );
}
