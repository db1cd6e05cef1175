/**
 * Changing one's password on the account page (`POST /v1/auth/password`): the current one, the new one
 * twice. The server's policy (12 to 256 characters, not the user name, not a common password, not the
 * current one) is said on the field it refuses; a wrong current password on that field. A change ends
 * every session of the user, this one included, so the console then goes back to the sign-in.
 */
import { useState } from 'preact/hooks';
import { FormCard, useAction, type SessionOver } from '../shared/actions.js';
import { api, ApiProblem } from '../shared/api.js';
import { passwordText } from '../shared/messages.js';
import { TextField } from '../shared/ui.js';
import { NewPasswordFields } from './one-time-codes.js';

/** Where a refusal belongs: the current password's field, the new one's, or neither. */
function fieldOf(p: ApiProblem): 'current' | 'next' | undefined {
  if (p.code === 'INVALID_CREDENTIALS') return 'current';
  const errors = p.members.errors;
  const paths = Array.isArray(errors) ? errors.map((e) => (e as { path?: unknown } | null)?.path) : [];
  if (p.code === 'PASSWORD_TOO_WEAK' || paths.includes('/newPassword')) return 'next';
  if (paths.includes('/currentPassword')) return 'current';
  return undefined;
}

export function PasswordChange(props: {
  sessionOver: SessionOver;
  /** The change ended every session: sign in again. */
  onChanged(): void;
}) {
  const [open, setOpen] = useState(false);
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [refused, setRefused] = useState<{ field: 'current' | 'next' | 'again'; text: string }>();
  // A wrong current password is a 401 too, and leaves the session as it was.
  const sessionOver: SessionOver = (e) =>
    !(e instanceof ApiProblem && e.code === 'INVALID_CREDENTIALS') && props.sessionOver(e);
  const action = useAction(sessionOver, passwordText);

  function submit() {
    setRefused(undefined);
    if (next !== again) {
      const text = 'The two new passwords are not the same.';
      setRefused({ field: 'again', text });
      return action.refuse(text);
    }
    void action.run(async () => {
      try {
        await api.changePassword({ currentPassword: current, newPassword: next });
      } catch (e) {
        const field = e instanceof ApiProblem ? fieldOf(e) : undefined;
        if (field) setRefused({ field, text: passwordText(e as ApiProblem) });
        throw e;
      }
      props.onChanged();
      return undefined;
    });
  }
  const on = (field: 'current' | 'next' | 'again') => (refused?.field === field ? refused.text : undefined);

  return (
    <section class="panel" aria-labelledby="account-password">
      <h2 id="account-password">Password</h2>
      <p>
        Changing your password signs out every session of yours: this one, and those in other browsers and
        programs. You then sign in again with the new password. API keys are not affected.
      </p>
      <FormCard
        label="Change your password"
        openLabel="Change your password…"
        submitLabel={action.busy ? 'Changing…' : 'Change the password'}
        open={open}
        onOpen={(o) => {
          setOpen(o);
          if (!o) {
            setCurrent('');
            setNext('');
            setAgain('');
            setRefused(undefined);
            action.setOutcome(undefined);
          }
        }}
        busy={action.busy}
        outcome={action.outcome}
        onSubmit={submit}
      >
        <TextField
          label="Current password"
          type="password"
          value={current}
          onInput={setCurrent}
          autocomplete="current-password"
          error={on('current')}
          required
        />
        <NewPasswordFields
          label="New password"
          hint="12 to 256 characters, not containing your user name, and not a common password. A few words make a good one."
          value={next}
          again={again}
          onInput={setNext}
          onAgain={setAgain}
          error={on('next')}
          againError={on('again')}
        />
      </FormCard>
    </section>
  );
}
