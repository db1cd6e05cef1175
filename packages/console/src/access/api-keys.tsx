/**
 * The tenant's API keys (`/v1/api-keys`): each with its grants, expiry and last use; a new key with
 * grants and an expiry, whose secret is shown once; rotation with an overlap for the previous secret
 * (the new one shown once); revocation after a confirmation. A key may hold only what its creator
 * holds: the API's refusal says what is missing.
 */
import { useState } from 'preact/hooks';
import { accessApi, type ApiKey, type ApiKeyWithSecret, type Role } from './api-access.js';
import {
  Confirm,
  ConfirmPanel,
  FormCard,
  OutcomeNotice,
  SecretOnce,
  useAction,
  type SessionOver,
} from '../shared/actions.js';
import { GrantList, GrantsEditor, VIEWER, grantsOf, type GrantDraft } from './grants.js';
import { ago, when } from '../shared/messages.js';
import { useApiRead } from '../shared/read.js';
import { Notice, SelectField, TextField } from '../shared/ui.js';

const DAY_MS = 86_400_000;
const EXPIRIES = [
  { value: '', label: 'Never' },
  { value: '7', label: 'In 7 days' },
  { value: '30', label: 'In 30 days' },
  { value: '90', label: 'In 90 days' },
  { value: '365', label: 'In a year' },
] as const;
const OVERLAPS = [
  { value: '0', label: 'Stops at once' },
  { value: '3600', label: 'Works 1 more hour' },
  { value: '86400', label: 'Works 1 more day' },
  { value: '604800', label: 'Works 7 more days' },
] as const;

export function ApiKeys(props: { roles: readonly Role[] | undefined; sessionOver: SessionOver }) {
  const [keys, setKeys] = useState<ApiKey[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [generation, setGeneration] = useState(0);
  const [secret, setSecret] = useState<ApiKeyWithSecret | undefined>(undefined);
  const reload = () => setGeneration((g) => g + 1);
  useApiRead(accessApi.listApiKeys, (r) => setKeys(r.items), [generation], {
    sessionOver: props.sessionOver,
    setError,
  });
  const shown = (s: ApiKeyWithSecret) => {
    setSecret(s);
    reload();
  };

  return (
    <section class="panel" aria-labelledby="access-keys">
      <h2 id="access-keys">API keys</h2>
      <p class="hint">Service accounts for programs: each key holds its own grants.</p>
      {error && <Notice kind="error">{error}</Notice>}
      {secret && (
        <SecretOnce
          label={`Secret of ${secret.apiKey.name}`}
          secret={secret.secret}
          onDone={() => setSecret(undefined)}
        >
          <p class="hint">
            Programs send it as <code>Authorization: Bearer</code> and the secret. The server keeps only its
            digest and its first characters.
          </p>
        </SecretOnce>
      )}
      <NewKey roles={props.roles} sessionOver={props.sessionOver} onCreated={shown} />
      {keys && keys.length === 0 && <p class="empty">The tenant has no API key.</p>}
      {keys && keys.length > 0 && (
        <ul class="cards">
          {keys.map((k) => (
            <KeyCard
              key={k.id}
              apiKey={k}
              sessionOver={props.sessionOver}
              onRotated={shown}
              onRevoked={reload}
            />
          ))}
        </ul>
      )}
    </section>
  );
}

function NewKey(props: {
  roles: readonly Role[] | undefined;
  sessionOver: SessionOver;
  onCreated(s: ApiKeyWithSecret): void;
}) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [grants, setGrants] = useState<GrantDraft[]>([VIEWER]);
  const [expiry, setExpiry] = useState<(typeof EXPIRIES)[number]['value']>('90');
  const action = useAction(props.sessionOver);

  const submit = () =>
    action.run(async () => {
      const created = await accessApi.createApiKey({
        name: name.trim(),
        grants: grantsOf(grants),
        ...(expiry ? { expiresAt: Date.now() + Number(expiry) * DAY_MS } : {}),
      });
      props.onCreated(created);
      setName('');
      setOpen(false);
      return undefined;
    });

  return (
    <FormCard
      label="New API key"
      openLabel="New API key…"
      submitLabel={action.busy ? 'Creating…' : 'Create the key'}
      open={open}
      onOpen={setOpen}
      busy={action.busy}
      outcome={action.outcome}
      onSubmit={() => void submit()}
    >
      <TextField
        label="Name"
        hint="What uses the key, e.g. billing-export."
        value={name}
        onInput={setName}
        required
        maxLength={128}
      />
      <GrantsEditor roles={props.roles} value={grants} onChange={setGrants} disabled={action.busy} />
      <SelectField label="Expires" value={expiry} options={EXPIRIES} onChange={(v) => setExpiry(v)} />
    </FormCard>
  );
}

function KeyCard(props: {
  apiKey: ApiKey;
  sessionOver: SessionOver;
  onRotated(s: ApiKeyWithSecret): void;
  onRevoked(): void;
}) {
  const k = props.apiKey;
  const now = Date.now();
  const action = useAction(props.sessionOver);
  const [rotating, setRotating] = useState(false);
  const [overlap, setOverlap] = useState<(typeof OVERLAPS)[number]['value']>('3600');
  const expired = k.expiresAt !== null && k.expiresAt <= now;
  const live = k.revokedAt === null && !expired;

  const rotate = () =>
    action.run(async () => {
      props.onRotated(await accessApi.rotateApiKey(k.id, { overlapSeconds: Number(overlap) }));
      setRotating(false);
      return `Rotated ${k.name}.`;
    });
  const revoke = () =>
    action.run(async () => {
      await accessApi.revokeApiKey(k.id);
      props.onRevoked();
      return `Revoked ${k.name}.`;
    });

  return (
    <li class="card-item" aria-label={k.name}>
      <h3>
        {k.name}{' '}
        <span class={`badge ${live ? 'ok' : 'off'}`}>
          {k.revokedAt !== null ? 'Revoked' : expired ? 'Expired' : 'Active'}
        </span>
      </h3>
      <dl>
        <dt>Secret starts</dt>
        <dd>
          <code>{k.prefix}…</code>
        </dd>
        <dt>Grants</dt>
        <dd>
          <GrantList grants={k.grants} />
        </dd>
        <dt>Expires</dt>
        <dd>{k.expiresAt === null ? 'never' : when(k.expiresAt)}</dd>
        <dt>Last used</dt>
        <dd>
          {k.lastUsedAt === null
            ? 'never'
            : `${ago(k.lastUsedAt, now)}${k.lastUsedAddress ? ` from ${k.lastUsedAddress}` : ''}`}
        </dd>
        {k.previousExpiresAt !== null && k.previousExpiresAt > now && (
          <>
            <dt>Previous secret</dt>
            <dd>works until {when(k.previousExpiresAt)}</dd>
          </>
        )}
        {k.revokedAt !== null && (
          <>
            <dt>Revoked on</dt>
            <dd>{when(k.revokedAt)}</dd>
          </>
        )}
      </dl>
      <OutcomeNotice outcome={action.outcome} />
      {live && !rotating && (
        <div class="actions">
          <button type="button" disabled={action.busy} onClick={() => setRotating(true)}>
            Rotate…
          </button>
          <Confirm
            label="Revoke…"
            confirmLabel={`Revoke ${k.name}`}
            question={`Revoke ${k.name}? Programs using it are refused from their next request.`}
            busy={action.busy}
            danger
            onConfirm={revoke}
          />
        </div>
      )}
      {live && rotating && (
        <ConfirmPanel
          name={`Rotate ${k.name}`}
          confirmLabel={`Rotate ${k.name}`}
          busy={action.busy}
          onConfirm={() => void rotate()}
          onCancel={() => setRotating(false)}
        >
          <SelectField
            label="The current secret"
            value={overlap}
            options={OVERLAPS}
            onChange={(v) => setOverlap(v)}
          />
        </ConfirmPanel>
      )}
    </li>
  );
}
