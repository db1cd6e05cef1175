/**
 * Invitations (`/v1/invitations`): the way a tenant's users are added. An invitation carries grants
 * (only what its author holds), an expiry and a note; its one-time code is shown once, with a link
 * to the console's sign-in page that opens the form where the invitee chooses a user name and
 * password. The code travels in the link's fragment, which the browser never sends to a server.
 */
import { useState } from 'preact/hooks';
import { accessApi, type Invitation, type Role } from './api-access.js';
import {
  Confirm,
  FormCard,
  OutcomeNotice,
  SecretOnce,
  useAction,
  type SessionOver,
} from '../shared/actions.js';
import { GrantList, GrantsEditor, VIEWER, grantsOf, type GrantDraft } from './grants.js';
import { when } from '../shared/messages.js';
import { BASE } from '../shared/nav.js';
import { useApiRead } from '../shared/read.js';
import { Notice, SelectField, TextField } from '../shared/ui.js';

const EXPIRIES = [
  { value: '24', label: 'In a day' },
  { value: '72', label: 'In 3 days' },
  { value: '168', label: 'In a week' },
  { value: '720', label: 'In 30 days' },
] as const;

/** The sign-in page's address that opens the invitation form with this code. */
export const invitationLink = (token: string) =>
  `${location.origin}${BASE}/#invitation=${encodeURIComponent(token)}`;

export function Invitations(props: { roles: readonly Role[] | undefined; sessionOver: SessionOver }) {
  const [items, setItems] = useState<Invitation[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [generation, setGeneration] = useState(0);
  const [created, setCreated] = useState<string | undefined>(undefined);
  const [open, setOpen] = useState(false);
  const [grants, setGrants] = useState<GrantDraft[]>([VIEWER]);
  const [note, setNote] = useState('');
  const [expiry, setExpiry] = useState<(typeof EXPIRIES)[number]['value']>('72');
  const action = useAction(props.sessionOver);
  const reload = () => setGeneration((g) => g + 1);
  useApiRead(accessApi.listInvitations, (r) => setItems(r.items), [generation], {
    sessionOver: props.sessionOver,
    setError,
  });
  const now = Date.now();
  const pending = (items ?? []).filter(
    (i) => i.acceptedAt === null && i.revokedAt === null && i.expiresAt > now,
  );

  async function submit() {
    const ok = await action.run(async () => {
      const r = await accessApi.createInvitation({
        grants: grantsOf(grants),
        expiresInHours: Number(expiry),
        ...(note.trim() ? { note: note.trim() } : {}),
      });
      setCreated(r.token);
      reload();
      return undefined;
    });
    if (ok) {
      setOpen(false);
      setNote('');
    }
  }

  return (
    <section class="panel" aria-labelledby="access-invitations">
      <h2 id="access-invitations">Invitations</h2>
      {error && <Notice kind="error">{error}</Notice>}
      {created && (
        <SecretOnce label="Invitation code" secret={created} onDone={() => setCreated(undefined)}>
          <p class="hint">
            Send the invitee this link (or the code, which they paste on the sign-in page under “I have an
            invitation”): <code class="secret-value">{invitationLink(created)}</code>
          </p>
        </SecretOnce>
      )}
      <FormCard
        label="Invite a user"
        openLabel="Invite a user…"
        submitLabel="Create the invitation"
        open={open}
        onOpen={setOpen}
        busy={action.busy}
        outcome={action.outcome}
        onSubmit={() => void submit()}
      >
        <GrantsEditor roles={props.roles} value={grants} onChange={setGrants} disabled={action.busy} />
        <TextField
          label="Note"
          hint="Who it is for (optional)."
          value={note}
          onInput={setNote}
          maxLength={256}
        />
        <SelectField
          label="The invitation expires"
          value={expiry}
          options={EXPIRIES}
          onChange={(v) => setExpiry(v)}
        />
      </FormCard>
      {!open && <OutcomeNotice outcome={action.outcome} />}
      {items && pending.length === 0 && <p class="empty">No invitation is waiting to be accepted.</p>}
      {pending.length > 0 && (
        <ul class="cards">
          {pending.map((i) => (
            <li key={i.id} class="card-item" aria-label={`Invitation ${i.note ?? i.id}`}>
              <h3>{i.note ?? 'Invitation'}</h3>
              <dl>
                <dt>Grants</dt>
                <dd>
                  <GrantList grants={i.grants} />
                </dd>
                <dt>Expires</dt>
                <dd>{when(i.expiresAt)}</dd>
              </dl>
              <Confirm
                label="Revoke…"
                confirmLabel="Revoke the invitation"
                question="Revoke this invitation? Its code stops working."
                busy={action.busy}
                danger
                onConfirm={() =>
                  action.run(async () => {
                    await accessApi.revokeInvitation(i.id);
                    reload();
                    return 'The invitation is revoked.';
                  })
                }
              />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
