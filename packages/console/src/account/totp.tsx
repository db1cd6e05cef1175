/**
 * Two-factor authentication for the signed-in user: enrolment (`POST /v1/auth/totp` gives a secret
 * and its otpauth:// URI, shown as text and as a QR code drawn here; a first code confirms it and the
 * API answers ten recovery codes, shown once) and removal (password and a current code). Confirming
 * ends every session of the user, this one included: the page then leads back to the sign-in. The
 * same enrolment is what a user sees after signing in when the tenant requires two-factor
 * authentication and the account has none (a session that can do nothing else).
 */
import { useState } from 'preact/hooks';
import { ApiProblem } from '../shared/api.js';
import { accessApi, type TotpEnrolment } from '../access/api-access.js';
import { FormCard, OutcomeNotice, useAction, type SessionOver } from '../shared/actions.js';
import { totpText } from '../shared/messages.js';
import { QrCode } from './qr-code.js';
import { TextField } from '../shared/ui.js';

/** The secret in groups of four, as authenticator apps show it. */
const grouped = (secret: string) => secret.replace(/(.{4})(?=.)/g, '$1 ');

export function TotpSetup(props: { sessionOver: SessionOver; onEnrolled(): void }) {
  const [enrolment, setEnrolment] = useState<TotpEnrolment | undefined>(undefined);
  const [code, setCode] = useState('');
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | undefined>(undefined);
  const action = useAction(props.sessionOver, totpText);

  const begin = () =>
    action.run(async () => {
      setEnrolment(await accessApi.beginTotp());
      setCode('');
      return undefined;
    });

  async function confirm(event: Event) {
    event.preventDefault();
    await action.run(async () => {
      const r = await accessApi.confirmTotp({ code: code.trim() });
      setRecoveryCodes(r.recoveryCodes);
      return undefined;
    });
  }

  if (recoveryCodes)
    return (
      <section class="secret" aria-label="Recovery codes">
        <p>
          <strong>Two-factor authentication is on.</strong> These recovery codes are shown once: keep them
          somewhere safe. Each one signs you in once in place of a code, if you lose your phone.
        </p>
        <ol class="recovery-codes">
          {recoveryCodes.map((c) => (
            <li key={c}>
              <code>{c}</code>
            </li>
          ))}
        </ol>
        <p class="hint">Every session of your account has ended: sign in again with a code.</p>
        <div class="actions">
          <button type="button" class="primary" onClick={props.onEnrolled}>
            I have saved them: sign in again
          </button>
        </div>
      </section>
    );

  if (!enrolment)
    return (
      <>
        <OutcomeNotice outcome={action.outcome} />
        <button type="button" class="primary" disabled={action.busy} onClick={() => void begin()}>
          Set up two-factor authentication
        </button>
      </>
    );

  return (
    <form class="form-card" onSubmit={confirm} aria-label="Set up two-factor authentication">
      <ol class="steps">
        <li>
          <p>Scan this code with an authenticator app, or type the key into it.</p>
          <QrCode text={enrolment.uri} label="QR code of the authenticator key" />
          <dl>
            <dt>Key</dt>
            <dd>
              <code class="secret-value">{grouped(enrolment.secret)}</code>
            </dd>
            <dt>As a link</dt>
            <dd>
              <code class="secret-value">{enrolment.uri}</code>
            </dd>
          </dl>
        </li>
        <li>
          <TextField
            label="Code from the app"
            hint="The 6 digits the app shows now."
            value={code}
            onInput={setCode}
            autocomplete="one-time-code"
            inputMode="numeric"
            required
          />
        </li>
      </ol>
      <OutcomeNotice outcome={action.outcome} />
      <div class="actions">
        <button type="submit" class="primary" disabled={action.busy}>
          Turn on two-factor authentication
        </button>
        <button type="button" disabled={action.busy} onClick={() => void begin()}>
          New key
        </button>
      </div>
    </form>
  );
}

/** Turning the second factor off: the password and a current code (refused when the tenant requires it). */
export function TotpDisable(props: { sessionOver: SessionOver; onDisabled(): void }) {
  const [open, setOpen] = useState(false);
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  // Here INVALID_CREDENTIALS is the password typed, not the session (which the next read would find over).
  const action = useAction(
    (e) => !(e instanceof ApiProblem && e.code === 'INVALID_CREDENTIALS') && props.sessionOver(e),
    totpText,
  );

  async function submit() {
    const ok = await action.run(async () => {
      await accessApi.disableTotp({ password, code: code.trim() });
      return undefined;
    });
    if (ok) props.onDisabled();
  }

  return (
    <FormCard
      label="Turn off two-factor authentication"
      openLabel="Turn off two-factor authentication…"
      submitLabel="Turn it off"
      danger
      open={open}
      onOpen={setOpen}
      busy={action.busy}
      outcome={action.outcome}
      onSubmit={() => void submit()}
    >
      <TextField
        label="Password"
        type="password"
        value={password}
        onInput={setPassword}
        autocomplete="current-password"
        required
      />
      <TextField
        label="Code from the app"
        value={code}
        onInput={setCode}
        autocomplete="one-time-code"
        inputMode="numeric"
        required
      />
    </FormCard>
  );
}
