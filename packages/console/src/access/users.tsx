/**
 * The tenant's users (`GET /v1/users`) with their grants and second factor, and what an administrator
 * does to one of them: change the grants, disable or enable, remove the second factor (a lost
 * phone), lift a login lockout, issue a one-time password-reset code, end every session. Each is the
 * API's to allow: changing someone needs to hold everything they hold, and handing on a grant needs
 * to hold it; the refusal says what is missing. One's own account is changed on the account page.
 */
import { useState } from 'preact/hooks';
import { accessApi, type Role, type User } from './api-access.js';
import { Confirm, OutcomeNotice, SecretOnce, useAction, type SessionOver } from '../shared/actions.js';
import { GrantList, GrantsEditor, VIEWER, draftOf, grantsOf, type GrantDraft } from './grants.js';
import { ago, plural, when } from '../shared/messages.js';
import { ACCOUNT_PATH, Link } from '../shared/nav.js';
import { useApiRead } from '../shared/read.js';
import { Notice } from '../shared/ui.js';

export function Users(props: {
  roles: readonly Role[] | undefined;
  meId: string;
  generation: number;
  sessionOver: SessionOver;
}) {
  const [users, setUsers] = useState<User[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [own, setOwn] = useState(0);
  useApiRead(
    accessApi.listUsers,
    (r) => setUsers([...r.items].sort((a, b) => (a.username < b.username ? -1 : 1))),
    [props.generation, own],
    { sessionOver: props.sessionOver, setError },
  );
  return (
    <section class="panel" aria-labelledby="access-users">
      <h2 id="access-users">Users</h2>
      {error && <Notice kind="error">{error}</Notice>}
      {users && (
        <ul class="cards">
          {users.map((u) => (
            <UserCard
              key={u.id}
              user={u}
              self={u.id === props.meId}
              roles={props.roles}
              sessionOver={props.sessionOver}
              onChanged={() => setOwn((n) => n + 1)}
            />
          ))}
        </ul>
      )}
    </section>
  );
}

function UserCard(props: {
  user: User;
  self: boolean;
  roles: readonly Role[] | undefined;
  sessionOver: SessionOver;
  onChanged(): void;
}) {
  const u = props.user;
  const action = useAction(props.sessionOver);
  const [editing, setEditing] = useState<GrantDraft[] | undefined>(undefined);
  const [resetCode, setResetCode] = useState<{ token: string; expiresAt: number } | undefined>(undefined);
  const changed = (text: string) => {
    props.onChanged();
    return text;
  };

  async function saveGrants(event: Event) {
    event.preventDefault();
    if (!editing) return;
    const ok = await action.run(async () => {
      await accessApi.updateUser(u.id, { grants: grantsOf(editing) });
      return changed(`The grants of ${u.username} are changed.`);
    });
    if (ok) setEditing(undefined);
  }

  return (
    <li class="card-item" aria-label={u.username}>
      <h3>
        {u.username}
        {props.self && <span class="hint"> (you)</span>}{' '}
        {u.disabled && <span class="badge off">Disabled</span>}{' '}
        <span class={`badge ${u.totpEnabled ? 'ok' : 'off'}`}>
          {u.totpEnabled ? 'Two-factor on' : 'No second factor'}
        </span>
      </h3>
      <dl>
        <dt>Grants</dt>
        <dd>
          <GrantList grants={u.grants} />
        </dd>
        <dt>Last sign-in</dt>
        <dd>{u.lastLoginAt === null ? 'never' : ago(u.lastLoginAt, Date.now())}</dd>
        <dt>Created</dt>
        <dd>{when(u.createdAt)}</dd>
      </dl>
      <OutcomeNotice outcome={action.outcome} />
      {resetCode && (
        <SecretOnce
          label={`Password reset code for ${u.username}`}
          secret={resetCode.token}
          onDone={() => setResetCode(undefined)}
        >
          <p class="hint">
            Hand it to {u.username} out of band: they choose “I have a password reset code” on the sign-in
            page. It works once, until {when(resetCode.expiresAt)}.
          </p>
        </SecretOnce>
      )}
      {props.self ? (
        <p class="hint">
          Your own account is changed on <Link href={ACCOUNT_PATH}>your account page</Link>.
        </p>
      ) : editing ? (
        <form onSubmit={saveGrants} aria-label={`Grants of ${u.username}`}>
          <GrantsEditor roles={props.roles} value={editing} onChange={setEditing} disabled={action.busy} />
          <div class="actions">
            <button type="submit" class="primary" disabled={action.busy}>
              Save the grants
            </button>
            <button type="button" onClick={() => setEditing(undefined)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <div class="actions">
          <button
            type="button"
            disabled={action.busy}
            onClick={() => setEditing(u.grants.length > 0 ? u.grants.map(draftOf) : [VIEWER])}
          >
            Change grants…
          </button>
          {u.disabled ? (
            <button
              type="button"
              disabled={action.busy}
              onClick={() =>
                void action.run(async () => {
                  await accessApi.updateUser(u.id, { disabled: false });
                  return changed(`${u.username} is enabled.`);
                })
              }
            >
              Enable
            </button>
          ) : (
            <Confirm
              label="Disable…"
              confirmLabel={`Disable ${u.username}`}
              question={`Disable ${u.username}? Their sessions end and they cannot sign in until enabled.`}
              busy={action.busy}
              danger
              onConfirm={() =>
                action.run(async () => {
                  await accessApi.updateUser(u.id, { disabled: true });
                  return changed(`${u.username} is disabled.`);
                })
              }
            />
          )}
          {u.totpEnabled && (
            <Confirm
              label="Remove second factor…"
              confirmLabel={`Remove the second factor of ${u.username}`}
              question={`Remove the second factor of ${u.username} (a lost phone)? Their sessions end; they enrol again.`}
              busy={action.busy}
              danger
              onConfirm={() =>
                action.run(async () => {
                  await accessApi.resetUserTotp(u.id);
                  return changed(`The second factor of ${u.username} is removed.`);
                })
              }
            />
          )}
          <button
            type="button"
            disabled={action.busy}
            onClick={() =>
              void action.run(async () => {
                await accessApi.unlockUser(u.id);
                return `Sign-ins for ${u.username} are not locked (any lockout is lifted).`;
              })
            }
          >
            Lift lockout
          </button>
          <button
            type="button"
            disabled={action.busy}
            onClick={() =>
              void action.run(async () => {
                setResetCode(await accessApi.issuePasswordReset(u.id));
                return undefined;
              })
            }
          >
            Password reset code
          </button>
          <Confirm
            label="End sessions…"
            confirmLabel={`End every session of ${u.username}`}
            question={`End every session of ${u.username}? They sign in again.`}
            busy={action.busy}
            onConfirm={() =>
              action.run(async () => {
                const r = await accessApi.endUserSessions(u.id);
                return `${plural(r.ended, 'session')} of ${u.username} ended.`;
              })
            }
          />
        </div>
      )}
    </li>
  );
}
