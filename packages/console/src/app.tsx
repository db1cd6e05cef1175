/**
 * The console's screens and the moves between them. On load it asks the API who is signed in
 * (`GET /v1/auth/me`, which answers the session's CSRF token when the cookie named it); without a
 * session it shows the sign-in, and after it the screen the address names (`/console/fleet?…`).
 * The REST API is the only back end.
 */
import { useEffect, useState } from 'preact/hooks';
import { Access } from './access/access.js';
import { Account } from './account/account.js';
import { sessionOverFor } from './shared/actions.js';
import { ApiProblem, api, setCsrfToken, type Me } from './shared/api.js';
import { Approvals } from './approvals/approvals.js';
import { DeploymentPage } from './deployments/deployment.js';
import { Deployments } from './deployments/deployments.js';
import { Audit } from './access/audit.js';
import { DevicePage } from './device/device.js';
import { Fleet } from './fleet/fleet.js';
import { Integrations } from './integrations/integrations.js';
import { problemText } from './shared/messages.js';
import { ACCOUNT_PATH, BASE, Link, SCREENS, usePlace, type Place } from './shared/nav.js';
import { ChangePassword, SignIn, type SignedIn } from './account/sign-in.js';
import { TotpSetup } from './account/totp.js';
import { Heading, Notice } from './shared/ui.js';

type Screen =
  | { name: 'loading' }
  | { name: 'sign-in'; notice?: string }
  | { name: 'change-password'; username: string; currentPassword?: string }
  | { name: 'console'; me: Me };

const TITLES: Record<Exclude<Screen['name'], 'console'>, string> = {
  loading: 'Mooring console',
  'sign-in': 'Sign in · Mooring console',
  'change-password': 'Choose your password · Mooring console',
};

/** A session that acts inside a tenant: it has the tenant's screens. */
const inTenant = (me: Me) => !me.user.platformAdmin && !me.restricted;

export function App() {
  const [screen, setScreen] = useState<Screen>({ name: 'loading' });
  const place = usePlace();

  useEffect(() => {
    const shown =
      place.screen === 'device'
        ? 'Device'
        : place.screen === 'deployment'
          ? 'Deployment'
          : place.screen === 'account'
            ? 'Your account'
            : SCREENS.find((s) => s.name === place.screen)?.title;
    document.title =
      screen.name === 'console' ? `${shown ?? 'Page not found'} · Mooring console` : TITLES[screen.name];
  }, [screen.name, place.screen]);

  /** Reads who is signed in and shows what that session may see. */
  async function enter(notice?: string) {
    try {
      const me = await api.me();
      setCsrfToken(me.csrfToken);
      setScreen(
        me.user.passwordChangeRequired
          ? { name: 'change-password', username: me.user.username }
          : { name: 'console', me },
      );
    } catch (e) {
      if (!(e instanceof ApiProblem)) throw e;
      setCsrfToken(undefined);
      const why = notice ?? (e.status === 401 ? undefined : problemText(e));
      setScreen({ name: 'sign-in', ...(why ? { notice: why } : {}) });
    }
  }

  useEffect(() => {
    void enter();
  }, []);

  function signedIn(result: SignedIn) {
    if (result.next === 'change-password')
      setScreen({
        name: 'change-password',
        username: result.username,
        currentPassword: result.currentPassword,
      });
    else void enter();
  }

  async function signOut() {
    try {
      await api.logout();
    } catch (e) {
      // A session that is over already is signed out; anything else is worth saying.
      if (!(e instanceof ApiProblem)) throw e;
      if (e.status !== 401) {
        setScreen({ name: 'sign-in', notice: `Signing out failed: ${problemText(e)}` });
        return;
      }
    }
    toSignIn('You are signed out.');
  }

  /** Back to the sign-in, saying why; the session's CSRF token goes with it. */
  function toSignIn(notice: string) {
    setCsrfToken(undefined);
    setScreen({ name: 'sign-in', notice });
  }
  const sessionEnded = () => toSignIn('Your session has ended. Sign in again.');
  // Confirming two-factor authentication ends every session of the user, this one too.
  const enrolled = () =>
    toSignIn('Two-factor authentication is on. Sign in with your password and a code from your app.');
  // So does changing the password.
  const passwordChanged = () =>
    toSignIn(
      'Your password is changed. Every session of yours has been signed out, this one and those in other browsers and programs: sign in with the new password.',
    );

  return (
    <>
      <header class="top">
        <span class="brand">Mooring</span>
        {screen.name === 'console' && (
          <>
            {inTenant(screen.me) && (
              <nav class="screens" aria-label="Screens">
                {SCREENS.map((s) => (
                  <Link key={s.name} href={s.path} current={s.name === place.screen}>
                    {s.title}
                  </Link>
                ))}
              </nav>
            )}
            <Link href={ACCOUNT_PATH} class="who" current={place.screen === 'account'}>
              {screen.me.user.username}
            </Link>
            <button type="button" onClick={() => void signOut()}>
              Sign out
            </button>
          </>
        )}
      </header>
      <main>
        {screen.name === 'loading' && <p class="loading">Loading…</p>}
        {screen.name === 'sign-in' && (
          <SignIn {...(screen.notice ? { notice: screen.notice } : {})} onSignedIn={signedIn} />
        )}
        {screen.name === 'change-password' && (
          <ChangePassword
            username={screen.username}
            {...(screen.currentPassword !== undefined ? { currentPassword: screen.currentPassword } : {})}
            onChanged={() => void enter()}
            onCancel={() => void signOut()}
          />
        )}
        {screen.name === 'console' && (
          <Home
            me={screen.me}
            place={place}
            onSessionEnded={sessionEnded}
            onSignOut={() => void signOut()}
            onEnrolled={enrolled}
            onPasswordChanged={passwordChanged}
            onChanged={() => void enter()}
          />
        )}
      </main>
    </>
  );
}

/** What a signed-in session sees: the screen its address names, or why it cannot. */
function Home(props: {
  me: Me;
  place: Place;
  onSessionEnded(): void;
  onSignOut(): void;
  onEnrolled(): void;
  onPasswordChanged(): void;
  onChanged(): void;
}) {
  const { me } = props;
  // One rule for every screen: a refusal that ended the session leads back to the sign-in.
  const sessionOver = sessionOverFor(props.onSessionEnded);
  if (props.place.screen === 'account' && !me.restricted)
    return (
      <Account
        me={me}
        sessionOver={sessionOver}
        onSignOut={props.onSignOut}
        onEnrolled={props.onEnrolled}
        onPasswordChanged={props.onPasswordChanged}
        onChanged={props.onChanged}
      />
    );
  if (me.user.platformAdmin)
    return (
      <section class="card">
        <Heading>Signed in as a platform administrator</Heading>
        <Notice kind="info">
          Platform administrators manage tenants but do not act inside one, so there are no devices to approve
          here. Sign in as a user of a tenant to approve its devices.
        </Notice>
      </section>
    );
  if (me.restricted)
    return (
      <section class="card">
        <Heading>Set up two-factor authentication</Heading>
        <Notice kind="info">
          Your tenant requires two-factor authentication and your account has none yet: set it up to go on.
          Until then this session can do nothing else.
        </Notice>
        <TotpSetup sessionOver={sessionOver} onEnrolled={props.onEnrolled} />
      </section>
    );
  switch (props.place.screen) {
    case 'approvals':
      return <Approvals sessionOver={sessionOver} />;
    case 'fleet':
      return <Fleet search={props.place.search} sessionOver={sessionOver} />;
    case 'integrations':
      return <Integrations search={props.place.search} sessionOver={sessionOver} />;
    case 'access':
      return <Access me={me} sessionOver={sessionOver} />;
    case 'audit':
      return <Audit sessionOver={sessionOver} />;
    case 'account':
      return null; // shown above
    case 'device':
      return (
        <DevicePage key={props.place.deviceId} deviceId={props.place.deviceId!} sessionOver={sessionOver} />
      );
    case 'deployments':
      return <Deployments sessionOver={sessionOver} />;
    case 'deployment':
      return (
        <DeploymentPage
          key={props.place.deploymentId}
          deploymentId={props.place.deploymentId!}
          sessionOver={sessionOver}
        />
      );
    case undefined:
      return (
        <section class="card">
          <Heading>Page not found</Heading>
          <p>
            The console has no page at this address. Go to <Link href={`${BASE}/approvals`}>Approvals</Link>{' '}
            or <Link href={`${BASE}/fleet`}>Fleet</Link>.
          </p>
        </section>
      );
  }
}
