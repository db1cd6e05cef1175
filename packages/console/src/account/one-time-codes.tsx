/**
 * The one-time codes an administrator hands out, used from the sign-in page without a session: an
 * invitation (`POST /v1/auth/invitations/accept`: choose a user name and password, the account gets
 * the invitation's grants) and a password reset (`POST /v1/auth/password-reset`). An invitation link
 * carries its code in the address's fragment (`/console/#invitation=…`), which no server sees; the
 * page takes it out of the address at once.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { accessApi } from '../access/api-access.js';
import { OutcomeNotice, noSession, useAction, type Outcome } from '../shared/actions.js';
import { linkText } from '../shared/messages.js';
import { Heading, TextField } from '../shared/ui.js';

/** The code an invitation link carried, removed from the address. */
export function takeInvitationFromAddress(): string | undefined {
  const m = /^#invitation=([^&]+)$/.exec(location.hash);
  if (!m) return undefined;
  history.replaceState(null, '', location.pathname + location.search);
  return decodeURIComponent(m[1]!);
}

const PASSWORD_HINT =
  '12 to 256 characters, not containing the user name, and not a common password. A few words make a good one.';

/** A new password, typed twice: `label` names the first field, the second is the same "again". */
export function NewPasswordFields(props: {
  label: string;
  hint?: string;
  value: string;
  again: string;
  onInput(value: string): void;
  onAgain(value: string): void;
  /** Said on the field: why the server refused the new password. */
  error?: string | undefined;
  /** Said on the second field: the two differ. */
  againError?: string | undefined;
}) {
  return (
    <>
      <TextField
        label={props.label}
        {...(props.hint ? { hint: props.hint } : {})}
        type="password"
        value={props.value}
        onInput={props.onInput}
        autocomplete="new-password"
        error={props.error}
        required
      />
      <TextField
        label={`${props.label} again`}
        type="password"
        value={props.again}
        onInput={props.onAgain}
        error={props.againError}
        autocomplete="new-password"
        required
      />
    </>
  );
}

/**
 * A form of the signed-out pages (and of the one-time password's session): a heading, its fields,
 * what went wrong, and the button that sends it beside the one that goes back.
 */
export function CardForm(props: {
  title: string;
  submitLabel: string;
  cancelLabel: string;
  busy: boolean;
  outcome: Outcome | undefined;
  onSubmit(): void;
  onCancel(): void;
  children: ComponentChildren;
}) {
  return (
    <form
      class="card"
      onSubmit={(e) => {
        e.preventDefault();
        props.onSubmit();
      }}
    >
      <Heading>{props.title}</Heading>
      {props.children}
      <OutcomeNotice outcome={props.outcome} />
      <div class="actions">
        <button type="submit" class="primary" disabled={props.busy}>
          {props.submitLabel}
        </button>
        <button type="button" onClick={props.onCancel}>
          {props.cancelLabel}
        </button>
      </div>
    </form>
  );
}

export function AcceptInvitation(props: { token?: string; onDone(notice: string): void; onCancel(): void }) {
  const [token, setToken] = useState(props.token ?? '');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const action = useAction(noSession, linkText);
  function submit() {
    if (password !== again) return action.refuse('The two passwords are not the same.');
    void action.run(async () => {
      const user = await accessApi.acceptInvitation({
        token: token.trim(),
        username: username.trim(),
        password,
      });
      props.onDone(`Your account ${user.username} is ready: sign in.`);
      return undefined;
    });
  }
  return (
    <CardForm
      title="Accept an invitation"
      submitLabel="Create my account"
      cancelLabel="Back to sign-in"
      busy={action.busy}
      outcome={action.outcome}
      onSubmit={submit}
      onCancel={props.onCancel}
    >
      {props.token === undefined && (
        <TextField label="Invitation code" value={token} onInput={setToken} autocomplete="off" required />
      )}
      <TextField
        label="User name"
        hint="Letters, digits and _ . @ + -"
        value={username}
        onInput={setUsername}
        autocomplete="username"
        required
        maxLength={128}
      />
      <NewPasswordFields
        label="Password"
        hint={PASSWORD_HINT}
        value={password}
        again={again}
        onInput={setPassword}
        onAgain={setAgain}
      />
    </CardForm>
  );
}

export function ResetPassword(props: { onDone(notice: string): void; onCancel(): void }) {
  const [token, setToken] = useState('');
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const action = useAction(noSession, linkText);
  function submit() {
    if (password !== again) return action.refuse('The two passwords are not the same.');
    void action.run(async () => {
      await accessApi.resetPassword({ token: token.trim(), newPassword: password });
      props.onDone('Your password is changed: sign in with it.');
      return undefined;
    });
  }
  return (
    <CardForm
      title="Reset your password"
      submitLabel="Set the password"
      cancelLabel="Back to sign-in"
      busy={action.busy}
      outcome={action.outcome}
      onSubmit={submit}
      onCancel={props.onCancel}
    >
      <TextField
        label="Reset code"
        hint="The code an administrator gave you."
        value={token}
        onInput={setToken}
        required
      />
      <NewPasswordFields
        label="New password"
        hint={PASSWORD_HINT}
        value={password}
        again={again}
        onInput={setPassword}
        onAgain={setAgain}
      />
    </CardForm>
  );
}
