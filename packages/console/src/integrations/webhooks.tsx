/**
 * The webhooks of the Integrations screen: each endpoint with its events, device filter, status
 * (pending until it answers the challenge, active, disabled) and its last delivery; a form to add
 * one, whose signing secret is shown the one time the API answers it; enable, disable, the challenge
 * again, a new secret and delete, as `/v1/webhooks` offers them. The delivery log of the endpoint the
 * address names (`?webhook=whk_…`) is below the list.
 */
import { useState } from 'preact/hooks';
import { DeliveryLog, deliveryText } from './deliveries.js';
import { Instant } from '../fleet/devices.js';
import { Confirm, EventTypesField, SecretOnce, refusal, tagsOf } from './integration-parts.js';
import {
  integrationsApi as api,
  type Delivery,
  type EventType,
  type Webhook,
  type WebhookWithSecret,
} from './integrations-api.js';
import { BASE, Link } from '../shared/nav.js';
import { useApiRead, usePoll } from '../shared/read.js';
import { Notice, TagList, TextAreaField, TextField } from '../shared/ui.js';

export const webhookHref = (webhookId: string) =>
  `${BASE}/integrations?webhook=${encodeURIComponent(webhookId)}`;

const STATUS: Record<Webhook['status'], { text: string; class: string }> = {
  pending: { text: 'waiting for verification', class: 'warn' },
  active: { text: 'active', class: 'ok' },
  disabled: { text: 'disabled', class: 'off' },
};

export function Webhooks(props: {
  generation: number;
  /** The webhook whose delivery log is shown. */
  chosen: string | undefined;
  sessionOver(e: unknown): boolean;
}) {
  const [webhooks, setWebhooks] = useState<Webhook[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const [secret, setSecret] = useState<{ what: string; secret: string } | undefined>(undefined);
  /** Reads of the delivery log shown: the chosen webhook's last delivery is read again with them. */
  const [logReads, setLogReads] = useState(0);
  const reload = () => setTick((n) => n + 1);
  // A new or re-enabled endpoint answers its challenge within seconds: read until it is active.
  const poll = usePoll(webhooks?.some((w) => w.status === 'pending') ?? false, webhooks);
  const changed = () => {
    poll.restart();
    reload();
  };

  useApiRead(
    () => api.listWebhooks(),
    (r) => setWebhooks(r.items),
    [props.generation, tick, poll.tick],
    { sessionOver: props.sessionOver, setError },
  );

  const shown = (r: WebhookWithSecret) => {
    setSecret({ what: r.webhook.name, secret: r.secret });
    changed();
  };
  const chosen = webhooks?.find((w) => w.id === props.chosen);
  return (
    <section class="panel" aria-labelledby="webhooks">
      <h2 id="webhooks">Webhooks</h2>
      <p class="hint">
        Signed HTTPS requests to your own systems for the platform events you choose. A new endpoint answers a
        challenge before any event is sent to it.
      </p>
      {error && <Notice kind="error">{error}</Notice>}
      {secret && <SecretOnce what={secret.what} secret={secret.secret} onDone={() => setSecret(undefined)} />}
      {webhooks && webhooks.length === 0 && <p class="empty">No webhook yet.</p>}
      {webhooks && webhooks.length > 0 && (
        <ul class="integrations">
          {webhooks.map((w) => (
            <li key={w.id}>
              <WebhookCard
                webhook={w}
                chosen={w.id === props.chosen}
                generation={props.generation + tick + poll.tick + (w.id === props.chosen ? logReads : 0)}
                sessionOver={props.sessionOver}
                onChanged={changed}
                onSecret={shown}
              />
            </li>
          ))}
        </ul>
      )}
      <AddWebhook sessionOver={props.sessionOver} onCreated={shown} />
      {props.chosen && webhooks && !chosen && (
        <Notice kind="error">
          The tenant has no webhook {props.chosen}: it was deleted, or the address is wrong.
        </Notice>
      )}
      {chosen && (
        <DeliveryLog
          key={chosen.id}
          webhook={chosen}
          sessionOver={props.sessionOver}
          onRead={() => setLogReads((n) => n + 1)}
        />
      )}
    </section>
  );
}

function WebhookCard(props: {
  webhook: Webhook;
  chosen: boolean;
  generation: number;
  sessionOver(e: unknown): boolean;
  onChanged(): void;
  onSecret(r: WebhookWithSecret): void;
}) {
  const w = props.webhook;
  const [last, setLast] = useState<Delivery | null | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  useApiRead(
    () => api.listDeliveries(w.id, { limit: 1 }),
    (page) => setLast(page.items[0] ?? null),
    [w.id, props.generation],
    { sessionOver: props.sessionOver, setError },
  );

  /** Runs a change; its refusal in words, or undefined when done. */
  async function change(run: () => Promise<unknown>): Promise<string | undefined> {
    try {
      await run();
      props.onChanged();
      return undefined;
    } catch (e) {
      return refusal(e, props.sessionOver);
    }
  }
  async function act(run: () => Promise<unknown>) {
    setBusy(true);
    setError(await change(run));
    setBusy(false);
  }

  const now = Date.now();
  const status = STATUS[w.status];
  return (
    <article class="integration" aria-label={`Webhook ${w.name}`}>
      <h3>
        {w.name} <span class={`badge ${status.class}`}>{status.text}</span>
      </h3>
      <dl>
        <dt>URL</dt>
        <dd>
          <code>{w.url}</code>
        </dd>
        <dt>Events</dt>
        <dd>{w.eventTypes.join(', ')}</dd>
        <dt>Devices</dt>
        <dd>{w.deviceTags.length === 0 ? 'all devices' : <TagList tags={w.deviceTags} />}</dd>
        {w.auth.type !== 'none' && (
          <>
            <dt>Authentication</dt>
            <dd>
              {w.auth.type === 'basic'
                ? `HTTP Basic as ${w.auth.username}`
                : `OAuth 2.0 as ${w.auth.clientId}`}
            </dd>
          </>
        )}
        <dt>Verified</dt>
        <dd>{w.verifiedAt !== null ? <Instant at={w.verifiedAt} now={now} /> : 'not yet'}</dd>
        {w.statusReason && (
          <>
            <dt>Why {w.status}</dt>
            <dd>{w.statusReason}</dd>
          </>
        )}
        {w.lastError && (
          <>
            <dt>Last error</dt>
            <dd class="warn-text">{w.lastError}</dd>
          </>
        )}
        <dt>Last delivery</dt>
        <dd>
          {last === undefined ? '…' : last === null ? 'none yet' : <LastDelivery delivery={last} now={now} />}
        </dd>
      </dl>
      {error && <Notice kind="error">{error}</Notice>}
      <div class="actions">
        <Link href={webhookHref(w.id)} class="button-link" current={props.chosen}>
          Delivery log
        </Link>
        {w.status === 'disabled' ? (
          <button
            type="button"
            disabled={busy}
            onClick={() => void act(() => api.setWebhookEnabled(w.id, true))}
          >
            Enable
          </button>
        ) : (
          <Confirm
            label="Disable…"
            question={`Disable ${w.name}? Events that happen while it is disabled are not delivered to it, not even after it is enabled again.`}
            confirm={`Disable ${w.name}`}
            run={() => change(() => api.setWebhookEnabled(w.id, false))}
          />
        )}
        {w.status === 'pending' && (
          <button type="button" disabled={busy} onClick={() => void act(() => api.verifyWebhook(w.id))}>
            Send the challenge again
          </button>
        )}
        <Confirm
          label="New secret…"
          question={`Give ${w.name} a new signing secret? For a day, requests are signed with the new and the old secret, then with the new one only.`}
          confirm={`New secret for ${w.name}`}
          run={() => change(async () => props.onSecret(await api.rotateWebhookSecret(w.id, {})))}
        />
        <Confirm
          label="Delete…"
          question={`Delete ${w.name} and its delivery log? Nothing more is sent to it; this cannot be undone.`}
          confirm={`Delete ${w.name}`}
          run={() => change(() => api.deleteWebhook(w.id))}
        />
      </div>
    </article>
  );
}

function LastDelivery(props: { delivery: Delivery; now: number }) {
  const d = props.delivery;
  return (
    <>
      <span class={`badge ${d.status === 'delivered' ? 'ok' : d.status === 'dead' ? 'warn' : ''}`}>
        {d.status}
      </span>{' '}
      {deliveryText(d)} · {d.eventType} · <Instant at={d.createdAt} now={props.now} />
    </>
  );
}

function AddWebhook(props: { sessionOver(e: unknown): boolean; onCreated(r: WebhookWithSecret): void }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [types, setTypes] = useState<EventType[]>([]);
  const [tags, setTags] = useState('');
  const [ca, setCa] = useState('');
  const [typesError, setTypesError] = useState<string | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  async function create(event: Event) {
    event.preventDefault();
    setError(undefined);
    if (types.length === 0) {
      setTypesError('Choose at least one event.');
      return;
    }
    setTypesError(undefined);
    setBusy(true);
    try {
      const deviceTags = tagsOf(tags);
      const created = await api.createWebhook({
        name: name.trim(),
        url: url.trim(),
        eventTypes: types,
        ...(deviceTags.length > 0 ? { deviceTags } : {}),
        ...(ca.trim() ? { caPem: ca.trim() } : {}),
      });
      setName('');
      setUrl('');
      setTypes([]);
      setTags('');
      setCa('');
      setOpen(false);
      props.onCreated(created);
    } catch (e) {
      setError(refusal(e, props.sessionOver));
    } finally {
      setBusy(false);
    }
  }

  return (
    <details class="add" open={open} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary>Add a webhook</summary>
      <form aria-label="Add a webhook" onSubmit={(e) => void create(e)}>
        <TextField label="Name" value={name} onInput={setName} required maxLength={128} disabled={busy} />
        <TextField
          label="URL"
          hint="https:// only, outside the platform's own network; the certificate is always checked."
          value={url}
          onInput={setUrl}
          required
          disabled={busy}
        />
        <EventTypesField value={types} onChange={setTypes} error={typesError} />
        <TextField
          label="Device tags (optional)"
          hint="Only events of devices with one of these tags, separated by spaces. Empty: every device."
          value={tags}
          onInput={setTags}
          disabled={busy}
        />
        <TextAreaField
          label="CA certificate (PEM, optional)"
          hint="The CA the endpoint's certificate chains to, when it is not a public one."
          value={ca}
          onInput={setCa}
          rows={3}
          disabled={busy}
        />
        {error && <Notice kind="error">{error}</Notice>}
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Adding…' : 'Add the webhook'}
          </button>
        </div>
      </form>
    </details>
  );
}
