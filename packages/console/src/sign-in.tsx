/**
 * Signing in: user name and password, then the one-time code when the account has two-factor
 * authentication (the server answers TOTP_REQUIRED), and the new password when the password was a
 * one-time one (the bootstrap administrator's). The session itself is the cookie the server sets;
 * the page keeps only the CSRF token.
 */
import { useState } from 'preact/hooks';
import { ApiProblem, api, setCsrfToken } from './api.js';
import { Heading, Notice, TextField } from './ui.js';
import { passwordText, signInText } from './messages.js';

/** What a successful sign-in leads to. */
export type SignedIn =
  { next: 'console' } | { next: 'change-password'; username: string; currentPassword: string };

export function SignIn(props: { notice?: string; onSignedIn(result: SignedIn): void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [totp, setTotp] = useState<string | undefined>(undefined);
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
        ...(totp !== undefined ? { totp: totp.trim() } : {}),
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
      } else {
        setError(signInText(e));
        if (totp !== undefined) setTotp('');
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
      {totp !== undefined && (
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
              setTotp(undefined);
              setError(undefined);
            }}
          >
            Start over
          </button>
        )}
      </div>
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
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setError(undefined);
    if (next !== again) {
      setError('The two new passwords are not the same.');
      return;
    }
    setBusy(true);
    try {
      await api.changePassword({ currentPassword: current, newPassword: next });
      setCsrfToken(undefined);
      const r = await api.login({ username: props.username, password: next, session: 'cookie' });
      setCsrfToken(r.csrfToken);
      props.onChanged();
    } catch (e) {
      if (!(e instanceof ApiProblem)) throw e;
      setError(passwordText(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="card" onSubmit={submit}>
      <Heading>Choose your password</Heading>
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
      <TextField
        label="New password"
        type="password"
        value={next}
        onInput={setNext}
        autocomplete="new-password"
        required
      />
      <TextField
        label="New password again"
        type="password"
        value={again}
        onInput={setAgain}
        autocomplete="new-password"
        required
      />
      {error && <Notice kind="error">{error}</Notice>}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Saving…' : 'Save and continue'}
        </button>
        <button type="button" onClick={props.onCancel}>
          Sign out
        </button>
      </div>
    </form>
  );
}
