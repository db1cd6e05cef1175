/**
 * The one-time codes an administrator hands out, used from the sign-in page without a session: an
 * invitation (`POST /v1/auth/invitations/accept`: choose a user name and password, the account gets
 * the invitation's grants) and a password reset (`POST /v1/auth/password-reset`). An invitation link
 * carries its code in the address's fragment (`/console/#invitation=…`), which no server sees; the
 * page takes it out of the address at once.
 */
import { useState } from 'preact/hooks';
import { ApiProblem } from '../shared/api.js';
import { accessApi } from '../access/api-access.js';
import { linkText } from '../shared/messages.js';
import { Heading, Notice, TextField } from '../shared/ui.js';

/** The code an invitation link carried, removed from the address. */
export function takeInvitationFromAddress(): string | undefined {
  const m = /^#invitation=([^&]+)$/.exec(location.hash);
  if (!m) return undefined;
  history.replaceState(null, '', location.pathname + location.search);
  return decodeURIComponent(m[1]!);
}

/** A form's submission: `act` answers why it did not send (said as it is), or sends. */
function useSubmit(act: () => Promise<string | undefined>) {
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      setError(await act());
    } catch (e) {
      if (!(e instanceof ApiProblem)) throw e;
      setError(linkText(e));
    } finally {
      setBusy(false);
    }
  }
  return { error, busy, submit };
}

const PASSWORD_HINT =
  '12 to 256 characters, not containing the user name, and not a common password. A few words make a good one.';

export function AcceptInvitation(props: { token?: string; onDone(notice: string): void; onCancel(): void }) {
  const [token, setToken] = useState(props.token ?? '');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const { error, busy, submit } = useSubmit(async () => {
    if (password !== again) return 'The two passwords are not the same.';
    const user = await accessApi.acceptInvitation({
      token: token.trim(),
      username: username.trim(),
      password,
    });
    props.onDone(`Your account ${user.username} is ready: sign in.`);
    return undefined;
  });
  return (
    <form class="card" onSubmit={submit}>
      <Heading>Accept an invitation</Heading>
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
      <TextField
        label="Password"
        hint={PASSWORD_HINT}
        type="password"
        value={password}
        onInput={setPassword}
        autocomplete="new-password"
        required
      />
      <TextField
        label="Password again"
        type="password"
        value={again}
        onInput={setAgain}
        autocomplete="new-password"
        required
      />
      {error && <Notice kind="error">{error}</Notice>}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Create my account
        </button>
        <button type="button" onClick={props.onCancel}>
          Back to sign-in
        </button>
      </div>
    </form>
  );
}

export function ResetPassword(props: { onDone(notice: string): void; onCancel(): void }) {
  const [token, setToken] = useState('');
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const { error, busy, submit } = useSubmit(async () => {
    if (password !== again) return 'The two passwords are not the same.';
    await accessApi.resetPassword({ token: token.trim(), newPassword: password });
    props.onDone('Your password is changed: sign in with it.');
    return undefined;
  });
  return (
    <form class="card" onSubmit={submit}>
      <Heading>Reset your password</Heading>
      <TextField
        label="Reset code"
        hint="The code an administrator gave you."
        value={token}
        onInput={setToken}
        required
      />
      <TextField
        label="New password"
        hint={PASSWORD_HINT}
        type="password"
        value={password}
        onInput={setPassword}
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
          Set the password
        </button>
        <button type="button" onClick={props.onCancel}>
          Back to sign-in
        </button>
      </div>
    </form>
  );
}
