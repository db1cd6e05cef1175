/**
 * Your account (`/console/account`, reached from the user name in the top bar): the signed-in user's
 * live sessions (`GET /v1/auth/sessions`, this one marked) with a way to sign out any of them, a
 * password change (then every session ends, this one too, and the console goes back to the sign-in),
 * and two-factor authentication: set it up (then every session ends and the console signs in again),
 * or turn it off with the password and a code.
 */
import { useState } from 'preact/hooks';
import { accessApi, type MySession } from '../access/api-access.js';
import { OutcomeNotice, useAction, type SessionOver } from '../shared/actions.js';
import type { Me } from '../shared/api.js';
import { ago, when } from '../shared/messages.js';
import { useApiRead } from '../shared/read.js';
import { PasswordChange } from './password.js';
import { TotpDisable, TotpSetup } from './totp.js';
import { Heading, Notice } from '../shared/ui.js';

export function Account(props: {
  me: Me;
  sessionOver: SessionOver;
  /** Signs this session out (the top bar's Sign out). */
  onSignOut(): void;
  /** After enrolment: every session has ended, sign in again. */
  onEnrolled(): void;
  /** Reads the account again (after 2FA is turned off). */
  onChanged(): void;
  /** After a password change: every session has ended, sign in again. */
  onPasswordChanged(): void;
}) {
  const { user } = props.me;
  const { sessionOver } = props;
  return (
    <section class="account wide">
      <Heading>Your account</Heading>
      <dl>
        <dt>User name</dt>
        <dd>{user.username}</dd>
        <dt>Two-factor authentication</dt>
        <dd>{user.totpEnabled ? 'On' : 'Off'}</dd>
        <dt>Last sign-in</dt>
        <dd>{user.lastLoginAt === null ? 'never' : when(user.lastLoginAt)}</dd>
      </dl>
      <Sessions sessionOver={sessionOver} onSignOut={props.onSignOut} />
      <PasswordChange sessionOver={sessionOver} onChanged={props.onPasswordChanged} />
      <section class="panel" aria-labelledby="account-totp">
        <h2 id="account-totp">Two-factor authentication</h2>
        {user.totpEnabled ? (
          <>
            <p>Signing in asks for a code from your authenticator app, or one of your recovery codes.</p>
            <TotpDisable sessionOver={sessionOver} onDisabled={props.onChanged} />
          </>
        ) : (
          <>
            <p>Protect your account with a code from an authenticator app on your phone.</p>
            <TotpSetup sessionOver={sessionOver} onEnrolled={props.onEnrolled} />
          </>
        )}
      </section>
    </section>
  );
}

function Sessions(props: { sessionOver(e: unknown): boolean; onSignOut(): void }) {
  const [sessions, setSessions] = useState<MySession[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [generation, setGeneration] = useState(0);
  const action = useAction(props.sessionOver);
  useApiRead(
    accessApi.listMySessions,
    // This session first, then the most recently used.
    (r) =>
      setSessions(
        [...r.items].sort(
          (a, b) => Number(b.current) - Number(a.current) || (b.lastSeenAt ?? 0) - (a.lastSeenAt ?? 0),
        ),
      ),
    [generation],
    { sessionOver: props.sessionOver, setError },
  );
  const now = Date.now();

  return (
    <section class="panel" aria-labelledby="account-sessions">
      <div class="title-row">
        <h2 id="account-sessions">Sessions</h2>
        <button type="button" onClick={() => setGeneration((g) => g + 1)}>
          Refresh
        </button>
      </div>
      {error && <Notice kind="error">{error}</Notice>}
      <OutcomeNotice outcome={action.outcome} />
      {sessions && (
        <ul class="cards">
          {sessions.map((s) => (
            <li
              key={s.id}
              class="card-item"
              aria-label={s.current ? 'This session' : `Session from ${s.source ?? 'an unknown address'}`}
            >
              <h3>
                {s.source ?? 'Unknown address'} {s.current && <span class="badge ok">This session</span>}
                {s.restricted && <span class="badge warn">Restricted</span>}
              </h3>
              <dl>
                <dt>Browser or program</dt>
                <dd>{s.userAgent ?? 'not said'}</dd>
                <dt>Signed in</dt>
                <dd>{when(s.createdAt)}</dd>
                <dt>Last used</dt>
                <dd>{s.lastSeenAt === null ? 'not yet' : ago(s.lastSeenAt, now)}</dd>
                <dt>Ends</dt>
                <dd>{when(s.expiresAt)}</dd>
              </dl>
              {s.current ? (
                <button type="button" onClick={props.onSignOut}>
                  Sign out
                </button>
              ) : (
                <button
                  type="button"
                  disabled={action.busy}
                  onClick={() =>
                    void action.run(async () => {
                      await accessApi.endMySession(s.id);
                      setGeneration((g) => g + 1);
                      return `The session from ${s.source ?? 'an unknown address'} is signed out.`;
                    })
                  }
                >
                  Sign out this session
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
