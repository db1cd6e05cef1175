/**
 * Signing in: user name and password, then the one-time code when the account has two-factor
 * authentication (the server answers TOTP_REQUIRED) or one of its recovery codes, and the new
 * password when the password was a one-time one (the bootstrap administrator's). From the same page,
 * an invitation is accepted and a reset code sets a password (`one-time-codes.tsx`). The session itself is the
 * cookie the server sets; the page keeps only the CSRF token. A user whose tenant requires two-factor
 * authentication and who has none gets a session that can only enrol it: the console then shows the
 * enrolment (`app.tsx`).
 */
import { useState } from 'preact/hooks';
import { ApiProblem, api, setCsrfToken } from '../shared/api.js';
import {
  AcceptInvitation,
  CardForm,
  NewPasswordFields,
  ResetPassword,
  takeInvitationFromAddress,
} from './one-time-codes.js';
import { noSession, useAction } from '../shared/actions.js';
import { Heading, Notice, TextField } from '../shared/ui.js';
import { passwordText, plural, signInText } from '../shared/messages.js';

/** What a successful sign-in leads to. */
export type SignedIn =
  { next: 'console' } | { next: 'change-password'; username: string; currentPassword: string };

export function SignIn(props: { notice?: string; onSignedIn(result: SignedIn): void }) {
  const [invitation] = useState(takeInvitationFromAddress);
  const [mode, setMode] = useState<'sign-in' | 'invitation' | 'password-reset'>(
    invitation === undefined ? 'sign-in' : 'invitation',
  );
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const back = (text?: string) => {
    setNotice(text);
    setMode('sign-in');
  };
  if (mode === 'invitation')
    return (
      <AcceptInvitation
        {...(invitation ? { token: invitation } : {})}
        onDone={back}
        onCancel={() => back()}
      />
    );
  if (mode === 'password-reset') return <ResetPassword onDone={back} onCancel={() => back()} />;
  const shown = notice ?? props.notice;
  return (
    <SignInForm
      {...(shown ? { notice: shown } : {})}
      onSignedIn={props.onSignedIn}
      onInvitation={() => setMode('invitation')}
      onPasswordReset={() => setMode('password-reset')}
    />
  );
}

function SignInForm(props: {
  notice?: string;
  onSignedIn(result: SignedIn): void;
  onInvitation(): void;
  onPasswordReset(): void;
}) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  /** The second factor, once the server asked for it. */
  const [totp, setTotp] = useState<string | undefined>(undefined);
  const [recovery, setRecovery] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const r = await api.login({
        username,
        password,
        ...(totp === undefined ? {} : recovery ? { recoveryCode: totp.trim() } : { totp: totp.trim() }),
        session: 'cookie',
      });
      setCsrfToken(r.csrfToken);
      props.onSignedIn(
        r.passwordChangeRequired
          ? { next: 'change-password', username, currentPassword: password }
          : { next: 'console' },
      );
    } catch (e) {
      if (!(e instanceof ApiProblem)) throw e;
      if (e.code === 'TOTP_REQUIRED') {
        setTotp('');
        setError(undefined);
      } else if (recovery && e.code === 'TOTP_INVALID') {
        const left = e.number('attemptsLeft');
        setError(
          `That recovery code was not accepted: it is wrong or was used already (TOTP_INVALID).${
            left !== undefined ? ` ${plural(left, 'attempt')} left before sign-ins are locked.` : ''
          }`,
        );
        setTotp('');
      } else {
        setError(signInText(e));
        // A locked name still lets its owner in with the password and a second factor: ask for it.
        if (totp !== undefined || e.code === 'ACCOUNT_LOCKED') setTotp('');
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="card" onSubmit={submit} aria-describedby={error ? 'sign-in-error' : undefined}>
      <Heading>Sign in</Heading>
      {props.notice && <Notice kind="info">{props.notice}</Notice>}
      <TextField
        label="User name"
        value={username}
        onInput={setUsername}
        autocomplete="username"
        autocapitalize="none"
        required
        disabled={totp !== undefined}
      />
      <TextField
        label="Password"
        type="password"
        value={password}
        onInput={setPassword}
        autocomplete="current-password"
        required
        disabled={totp !== undefined}
      />
      {totp !== undefined && !recovery && (
        <TextField
          label="One-time code"
          hint="Your account has two-factor authentication: enter the 6-digit code of your authenticator app."
          value={totp}
          onInput={setTotp}
          autocomplete="one-time-code"
          inputMode="numeric"
          required
          autoFocus
        />
      )}
      {totp !== undefined && recovery && (
        <TextField
          label="Recovery code"
          hint="One of the recovery codes you saved when you set up two-factor authentication. Each works once."
          value={totp}
          onInput={setTotp}
          autocomplete="off"
          required
          autoFocus
        />
      )}
      {error && (
        <Notice kind="error" id="sign-in-error">
          {error}
        </Notice>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {totp !== undefined && (
          <button
            type="button"
            onClick={() => {
              setRecovery(!recovery);
              setTotp('');
              setError(undefined);
            }}
          >
            {recovery ? 'Use a code from the app' : 'Use a recovery code'}
          </button>
        )}
        {totp !== undefined && (
          <button
            type="button"
            onClick={() => {
              setTotp(undefined);
              setRecovery(false);
              setError(undefined);
            }}
          >
            Start over
          </button>
        )}
      </div>
      {totp === undefined && (
        <div class="actions other-ways">
          <button type="button" class="link" onClick={props.onInvitation}>
            I have an invitation
          </button>
          <button type="button" class="link" onClick={props.onPasswordReset}>
            I have a password reset code
          </button>
        </div>
      )}
    </form>
  );
}

/**
 * The one-time password's session may only change it: choose the new one here. Changing it ends every
 * session of the user, so the console signs in again with the new password.
 */
export function ChangePassword(props: {
  username: string;
  currentPassword?: string;
  onChanged(): void;
  onCancel(): void;
}) {
  const [current, setCurrent] = useState(props.currentPassword ?? '');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const action = useAction(noSession, passwordText);

  function submit() {
    if (next !== again) return action.refuse('The two new passwords are not the same.');
    void action.run(async () => {
      await api.changePassword({ currentPassword: current, newPassword: next });
      setCsrfToken(undefined);
      const r = await api.login({ username: props.username, password: next, session: 'cookie' });
      setCsrfToken(r.csrfToken);
      props.onChanged();
      return undefined;
    });
  }

  return (
    <CardForm
      title="Choose your password"
      submitLabel={action.busy ? 'Saving…' : 'Save and continue'}
      cancelLabel="Sign out"
      busy={action.busy}
      outcome={action.outcome}
      onSubmit={submit}
      onCancel={props.onCancel}
    >
      <p>
        The password you signed in with works only once. Choose a new one for{' '}
        <strong>{props.username}</strong>: 12 to 256 characters, not containing the user name, and not a
        common password. A few words make a good one.
      </p>
      {props.currentPassword === undefined && (
        <TextField
          label="Current password"
          type="password"
          value={current}
          onInput={setCurrent}
          autocomplete="current-password"
          required
        />
      )}
      <NewPasswordFields
        label="New password"
        value={next}
        again={again}
        onInput={setNext}
        onAgain={setAgain}
      />
    </CardForm>
  );
}
