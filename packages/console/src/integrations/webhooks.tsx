/**
 * The webhooks of the Integrations screen: each endpoint with its events, device filter, status
 * (pending until it answers the challenge, active, disabled) and its last delivery; a form to add
 * one, whose signing secret is shown the one time the API answers it; enable, disable, the challenge
 * again, a new secret and delete, as `/v1/webhooks` offers them. The delivery log of the endpoint the
 * address names (`?webhook=whk_…`) is below the list.
 */
import { useState } from 'preact/hooks';
import { Confirm, OutcomeNotice, SecretOnce, useAction, type SessionOver } from '../shared/actions.js';
import { DeliveryBadge, DeliveryLog, deliveryText } from './deliveries.js';
import {
  AddForm,
  EventChoiceFields,
  NO_EVENTS,
  choiceBody,
  choiceError,
  integrationText,
} from './integration-parts.js';
import {
  integrationsApi as api,
  type Delivery,
  type Webhook,
  type WebhookWithSecret,
} from './integrations-api.js';
import { BASE, Link } from '../shared/nav.js';
import { useApiRead, usePoll } from '../shared/read.js';
import { Instant, Notice, PollStopped, TagList, TextAreaField, TextField } from '../shared/ui.js';

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
  sessionOver: SessionOver;
}) {
  const [webhooks, setWebhooks] = useState<Webhook[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const [secret, setSecret] = useState<{ what: string; secret: string } | undefined>(undefined);
  /** Reads of the delivery log shown: the chosen webhook's last delivery is read again with them. */
  const [logReads, setLogReads] = useState(0);
  // A new or re-enabled endpoint answers its challenge within seconds: read until it is active.
  const poll = usePoll(webhooks?.some((w) => w.status === 'pending') ?? false, webhooks, [props.generation]);
  const changed = () => {
    poll.restart();
    setTick((n) => n + 1);
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
      <PollStopped stopped={poll.stopped} />
      {secret && (
        <SecretOnce
          label={`Signing secret of ${secret.what}`}
          lead={<strong>The signing secret of {secret.what}:</strong>}
          secret={secret.secret}
          doneLabel="I have kept it"
          onDone={() => setSecret(undefined)}
        >
          <p class="warn-text">
            Keep it now, in the receiver's configuration: it is shown this once and is not shown again. The
            receiver checks every request's signature with it.
          </p>
        </SecretOnce>
      )}
      {webhooks && webhooks.length === 0 && <p class="empty">No webhook yet.</p>}
      {webhooks && webhooks.length > 0 && (
        <ul class="cards">
          {webhooks.map((w) => (
            <li key={w.id}>
              <WebhookCard
                webhook={w}
                chosen={w.id === props.chosen}
                // Its last delivery: read again after a change, and with the log when it is the one shown.
                generation={props.generation + tick + (w.id === props.chosen ? logReads : 0)}
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
          generation={props.generation}
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
  sessionOver: SessionOver;
  onChanged(): void;
  onSecret(r: WebhookWithSecret): void;
}) {
  const w = props.webhook;
  const [last, setLast] = useState<Delivery | null | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const action = useAction(props.sessionOver, integrationText);
  useApiRead(
    () => api.listDeliveries(w.id, { limit: 1 }),
    (page) => setLast(page.items[0] ?? null),
    [w.id, props.generation],
    { sessionOver: props.sessionOver, setError },
  );

  /** Makes a change; the list is read again after it. */
  const change = (run: () => Promise<unknown>) =>
    action.run(async () => {
      await run();
      props.onChanged();
      return undefined;
    });

  const now = Date.now();
  const status = STATUS[w.status];
  return (
    <article class="card-item" aria-label={`Webhook ${w.name}`}>
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
      <OutcomeNotice outcome={action.outcome} />
      <div class="actions">
        <Link href={webhookHref(w.id)} class="button-link" current={props.chosen}>
          Delivery log
        </Link>
        {w.status === 'disabled' ? (
          <button
            type="button"
            disabled={action.busy}
            onClick={() => void change(() => api.setWebhookEnabled(w.id, true))}
          >
            Enable
          </button>
        ) : (
          <Confirm
            label="Disable…"
            question={`Disable ${w.name}? Events that happen while it is disabled are not delivered to it, not even after it is enabled again.`}
            confirmLabel={`Disable ${w.name}`}
            busy={action.busy}
            danger
            onConfirm={() => change(() => api.setWebhookEnabled(w.id, false))}
          />
        )}
        {w.status === 'pending' && (
          <button
            type="button"
            disabled={action.busy}
            onClick={() => void change(() => api.verifyWebhook(w.id))}
          >
            Send the challenge again
          </button>
        )}
        <Confirm
          label="New secret…"
          question={`Give ${w.name} a new signing secret? For a day, requests are signed with the new and the old secret, then with the new one only.`}
          confirmLabel={`New secret for ${w.name}`}
          busy={action.busy}
          danger
          onConfirm={() =>
            action.run(async () => {
              props.onSecret(await api.rotateWebhookSecret(w.id, {}));
              return undefined;
            })
          }
        />
        <Confirm
          label="Delete…"
          question={`Delete ${w.name} and its delivery log? Nothing more is sent to it; this cannot be undone.`}
          confirmLabel={`Delete ${w.name}`}
          busy={action.busy}
          danger
          onConfirm={() => change(() => api.deleteWebhook(w.id))}
        />
      </div>
    </article>
  );
}

function LastDelivery(props: { delivery: Delivery; now: number }) {
  const d = props.delivery;
  return (
    <>
      <DeliveryBadge delivery={d} /> {deliveryText(d)} · {d.eventType} ·{' '}
      <Instant at={d.createdAt} now={props.now} />
    </>
  );
}

const NO_WEBHOOK = { name: '', url: '', ca: '' };

function AddWebhook(props: { sessionOver: SessionOver; onCreated(r: WebhookWithSecret): void }) {
  const [draft, setDraft] = useState(NO_WEBHOOK);
  const [events, setEvents] = useState(NO_EVENTS);
  const [eventsError, setEventsError] = useState<string | undefined>(undefined);
  const action = useAction(props.sessionOver, integrationText);
  const set = (key: keyof typeof NO_WEBHOOK) => (value: string) => setDraft((d) => ({ ...d, [key]: value }));

  function create(): Promise<boolean> {
    const problem = choiceError(events);
    setEventsError(problem);
    if (problem) {
      action.setOutcome(undefined);
      return Promise.resolve(false);
    }
    return action.run(async () => {
      const ca = draft.ca.trim();
      props.onCreated(
        await api.createWebhook({
          name: draft.name.trim(),
          url: draft.url.trim(),
          ...choiceBody(events),
          ...(ca ? { caPem: ca } : {}),
        }),
      );
      setDraft(NO_WEBHOOK);
      setEvents(NO_EVENTS);
      return undefined;
    });
  }

  return (
    <AddForm
      summary="Add a webhook"
      label="Add a webhook"
      submitLabel="Add the webhook"
      busy={action.busy}
      outcome={action.outcome}
      onSubmit={create}
    >
      <TextField
        label="Name"
        value={draft.name}
        onInput={set('name')}
        required
        maxLength={128}
        disabled={action.busy}
      />
      <TextField
        label="URL"
        hint="https:// only, outside the platform's own network; the certificate is always checked."
        value={draft.url}
        onInput={set('url')}
        required
        disabled={action.busy}
      />
      <EventChoiceFields value={events} onChange={setEvents} error={eventsError} disabled={action.busy} />
      <TextAreaField
        label="CA certificate (PEM, optional)"
        hint="The CA the endpoint's certificate chains to, when it is not a public one."
        value={draft.ca}
        onInput={set('ca')}
        rows={3}
        disabled={action.busy}
      />
    </AddForm>
  );
}
