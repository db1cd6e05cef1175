/**
 * A webhook's delivery log (`GET /v1/webhooks/{id}/deliveries`, newest first): each delivery's event,
 * status, attempts, the last answer and error, by the API's status filter and cursor pages; its
 * attempts and the event as sent on demand; a replay of one delivery or of every delivery created in
 * a time range. While a shown delivery is still pending, or a replay waits for its outcome, the page
 * is read again (`usePoll`), so the outcome of a replay appears when it is known.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { OutcomeNotice, refusalText, useAction, type Outcome, type SessionOver } from '../shared/actions.js';
import { integrationText } from './integration-parts.js';
import {
  integrationsApi as api,
  type Delivery,
  type DeliveryDetail,
  type DeliveryStatus,
  type Webhook,
} from './integrations-api.js';
import { json, plural, when } from '../shared/messages.js';
import { PagedList, usePagedRead } from '../shared/pages.js';
import { useApiRead, usePoll } from '../shared/read.js';
import { Instant, Notice, PollStopped, SelectField, TextField } from '../shared/ui.js';

const PAGE = 20;
const STATUSES: readonly { value: '' | DeliveryStatus; label: string }[] = [
  { value: '', label: 'Any status' },
  { value: 'pending', label: 'Pending' },
  { value: 'delivered', label: 'Delivered' },
  { value: 'dead', label: 'Dead (attempts ran out)' },
];

/** The last answer of a delivery in words: "answered 200", "no answer: …", "not tried yet". */
export function deliveryText(d: Delivery): string {
  if (d.lastStatus !== null) return `answered ${d.lastStatus}`;
  if (d.lastError !== null) return 'no answer';
  return 'not tried yet';
}

/** A delivery's status as a badge: delivered, dead (its attempts ran out) or pending. */
export function DeliveryBadge(props: { delivery: Delivery }) {
  const { status } = props.delivery;
  return (
    <span class={`badge ${status === 'delivered' ? 'ok' : status === 'dead' ? 'warn' : ''}`}>{status}</span>
  );
}

/** A replay waiting for its outcome: the delivery, and the last attempt its log held before it. */
interface Watch {
  delivery: Delivery;
  after: number;
}

/** A replay's outcome in words, from the first attempt after it (undefined: not made yet). */
function replayOutcome(d: DeliveryDetail, after: number): Outcome | undefined {
  const a = d.attemptLog.find((x) => x.attempt > after);
  if (!a) return undefined;
  const what = `Replayed the ${d.eventType} event`;
  return a.status !== null && a.status >= 200 && a.status < 300
    ? { kind: 'success', text: `${what}: delivered, answered ${a.status}.` }
    : {
        kind: 'error',
        text: `${what}: the attempt failed (${a.status !== null ? `answered ${a.status}` : (a.error ?? 'no answer')}); the log shows when it is tried again.`,
      };
}

export function DeliveryLog(props: {
  webhook: Webhook;
  /** Raised by the screen's Refresh. */
  generation: number;
  sessionOver: SessionOver;
  /** After each read of the log. */
  onRead(): void;
}) {
  const w = props.webhook;
  const [status, setStatus] = useState<'' | DeliveryStatus>('');
  const [watch, setWatch] = useState<Watch | undefined>(undefined);
  const [outcome, setOutcome] = useState<Outcome | undefined>(undefined);
  const [detail, setDetail] = useState<string | undefined>(undefined);
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => headingRef.current?.focus(), [w.id]);

  const pages = usePagedRead(
    (cursor) =>
      api.listDeliveries(w.id, { limit: PAGE, ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) }),
    status,
    [props.generation],
    props.sessionOver,
  );
  const page = pages.page;
  // While a delivery shown is pending, or a replay waits for its outcome, the page is read again.
  const pending = page?.items.some((d) => d.status === 'pending') ?? false;
  const poll = usePoll(pending || watch !== undefined, page, [props.generation]);
  useEffect(() => {
    if (poll.tick > 0) pages.reload();
  }, [poll.tick]);
  useEffect(() => {
    if (page) props.onRead();
  }, [page]);

  // A replay's outcome: the first attempt after it in the delivery's attempt log. The log numbers
  // attempts over the delivery's whole life, whereas `attempts` starts again at a replay and a
  // delivery being sent looks like one that waits: the log is what tells.
  useEffect(() => {
    if (!watch) return;
    let current = true;
    api
      .getDelivery(w.id, watch.delivery.id)
      .then((d) => {
        const known = replayOutcome(d, watch.after);
        if (!current || !known) return;
        setWatch(undefined);
        setOutcome(known);
      })
      .catch((e: unknown) => {
        if (!current) return;
        setWatch(undefined);
        const text = refusalText(e, props.sessionOver, integrationText);
        if (text) setOutcome({ kind: 'error', text });
      });
    return () => {
      current = false;
    };
  }, [watch, poll.tick]);

  async function replay(d: Delivery) {
    setOutcome(undefined);
    try {
      const before = await api.getDelivery(w.id, d.id);
      const after = Math.max(0, ...before.attemptLog.map((a) => a.attempt));
      const r = await api.replayDelivery(w.id, d.id);
      poll.restart();
      setWatch({ delivery: r, after });
      setOutcome({
        kind: 'info',
        text: `Replaying the ${r.eventType} event ${r.eventId}: it is sent again now…`,
      });
      pages.reload();
    } catch (e) {
      const text = refusalText(e, props.sessionOver, integrationText);
      if (text) setOutcome({ kind: 'error', text });
    }
  }

  const now = Date.now();
  return (
    <section class="deliveries" aria-labelledby="delivery-log">
      <h3 id="delivery-log" tabIndex={-1} ref={headingRef}>
        Delivery log of {w.name}
      </h3>
      {w.status !== 'active' && (
        <Notice kind="info">This webhook is {w.status}: deliveries wait until it is active.</Notice>
      )}
      <div class="list-filter">
        <SelectField label="Status" value={status} options={STATUSES} onChange={(v) => setStatus(v)} />
      </div>
      {pages.error && <Notice kind="error">{integrationText(pages.error)}</Notice>}
      <PollStopped stopped={poll.stopped} />
      <OutcomeNotice outcome={outcome} />
      <PagedList
        pages={pages}
        noun={['delivery', 'deliveries']}
        empty="No delivery yet."
        label="Pages of the delivery log"
        previousLabel="Newer"
        nextLabel="Older"
      >
        <div class="table-scroll">
          <table class="log">
            <caption class="visually-hidden">Deliveries, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Attempts
                </th>
                <th scope="col">Answer</th>
                <th scope="col">Created</th>
                <th scope="col">Error</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {page?.items.map((d) => [
                <DeliveryRow
                  key={d.id}
                  delivery={d}
                  now={now}
                  open={detail === d.id}
                  onReplay={() => void replay(d)}
                  onOpen={() => setDetail(detail === d.id ? undefined : d.id)}
                />,
                detail === d.id && (
                  <tr key={`${d.id}-detail`}>
                    <td colSpan={7}>
                      <Attempts webhookId={w.id} delivery={d} sessionOver={props.sessionOver} />
                    </td>
                  </tr>
                ),
              ])}
            </tbody>
          </table>
        </div>
      </PagedList>
      <ReplayRange webhookId={w.id} sessionOver={props.sessionOver} onReplayed={pages.reload} />
    </section>
  );
}

function DeliveryRow(props: {
  delivery: Delivery;
  now: number;
  /** Its attempts are shown. */
  open: boolean;
  onReplay(): void;
  onOpen(): void;
}) {
  const d = props.delivery;
  return (
    <tr aria-label={`Delivery ${d.eventId}`}>
      <td>
        <span class="nowrap">{d.eventType}</span>
        <br />
        <code class="hint">{d.eventId}</code>
      </td>
      <td>
        <DeliveryBadge delivery={d} />
        {d.status === 'pending' && d.nextAttemptAt !== null && (
          <span class="hint">
            <br />
            due {when(d.nextAttemptAt)}
          </span>
        )}
      </td>
      <td class="num">{d.attempts}</td>
      <td>{d.lastStatus ?? '—'}</td>
      <td>
        <Instant at={d.createdAt} now={props.now} />
        {d.deliveredAt !== null && (
          <span class="hint">
            {' '}
            · delivered <Instant at={d.deliveredAt} now={props.now} />
          </span>
        )}
      </td>
      <td class={d.lastError ? 'warn-text' : undefined}>{d.lastError ?? '—'}</td>
      <td>
        <div class="actions">
          <button type="button" onClick={props.onReplay}>
            Replay
          </button>
          <button type="button" aria-expanded={props.open} onClick={props.onOpen}>
            Attempts
          </button>
        </div>
      </td>
    </tr>
  );
}

/** A delivery's every attempt and the event as it was sent (`GET …/deliveries/{id}`). */
function Attempts(props: { webhookId: string; delivery: Delivery; sessionOver: SessionOver }) {
  const [detail, setDetail] = useState<DeliveryDetail | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useApiRead(
    () => api.getDelivery(props.webhookId, props.delivery.id),
    setDetail,
    [props.delivery.id, props.delivery.attempts, props.delivery.status],
    { sessionOver: props.sessionOver, setError },
  );
  if (error) return <Notice kind="error">{error}</Notice>;
  if (!detail) return <p class="hint">Loading…</p>;
  return (
    <div class="attempts">
      {detail.attemptLog.length === 0 ? (
        <p class="empty">Not tried yet.</p>
      ) : (
        <ol aria-label={`Attempts of ${detail.eventId}`}>
          {detail.attemptLog.map((a) => (
            <li key={a.attempt}>
              Attempt {a.attempt}, {when(a.at)}: {a.status !== null ? `answered ${a.status}` : 'no answer'}
              {a.latencyMs !== null && ` in ${a.latencyMs} ms`}
              {a.error && <span class="warn-text"> · {a.error}</span>}
              {a.responseExcerpt && (
                <>
                  {' '}
                  · <code>{a.responseExcerpt}</code>
                </>
              )}
            </li>
          ))}
        </ol>
      )}
      <details>
        <summary>The event as sent</summary>
        <pre>{json(detail.event)}</pre>
      </details>
    </div>
  );
}

/** `YYYY-MM-DDTHH:MM` of an instant in the browser's time zone: the value of a datetime-local input. */
function localInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/** Every delivery created in `[from, to)`, of one status or any, sent again (`POST …/replay`). */
function ReplayRange(props: { webhookId: string; sessionOver: SessionOver; onReplayed(): void }) {
  const [from, setFrom] = useState(() => localInput(Date.now() - 3_600_000));
  const [to, setTo] = useState(() => localInput(Date.now() + 60_000));
  const [status, setStatus] = useState<'' | DeliveryStatus>('dead');
  const action = useAction(props.sessionOver, integrationText);
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

  function replay(event: Event) {
    event.preventDefault();
    const range = { from: new Date(from).getTime(), to: new Date(to).getTime() };
    if (!(range.to > range.from)) return action.refuse('The end of the range must be after its start.');
    void action.run(async () => {
      const r = await api.replayDeliveries(props.webhookId, { ...range, ...(status ? { status } : {}) });
      props.onReplayed();
      return r.replayed === 0
        ? 'No delivery was created in that range (with that status): nothing is sent again.'
        : `${plural(r.replayed, 'delivery', 'deliveries')} ${r.replayed === 1 ? 'is' : 'are'} sent again.`;
    });
  }

  return (
    <details class="fold">
      <summary>Replay a time range</summary>
      <form aria-label="Replay a time range" onSubmit={replay}>
        <p class="hint">
          Sends again every delivery created in the range ({zone} time), from the first minute up to, not
          including, the last. Receivers deduplicate by the event id.
        </p>
        <div class="filter-fields">
          <TextField label="From" type="datetime-local" value={from} onInput={setFrom} required />
          <TextField label="Up to" type="datetime-local" value={to} onInput={setTo} required />
          <SelectField label="Deliveries" value={status} options={STATUSES} onChange={(v) => setStatus(v)} />
        </div>
        <OutcomeNotice outcome={action.outcome} />
        <div class="actions">
          <button type="submit" disabled={action.busy}>
            Replay the range
          </button>
        </div>
      </form>
    </details>
  );
}
