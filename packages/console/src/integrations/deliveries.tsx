/**
 * A webhook's delivery log (`GET /v1/webhooks/{id}/deliveries`, newest first): each delivery's event,
 * status, attempts, the last answer and error, by the API's status filter and cursor pages; its
 * attempts and the event as sent on demand; a replay of one delivery or of every delivery created in
 * a time range. While a shown delivery is still pending, or a replay waits for its outcome, the page
 * is read again (`usePoll`), so the outcome of a replay appears when it is known.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { json } from '../device/device-commands.js';
import { Instant } from '../fleet/devices.js';
import { refusal } from './integration-parts.js';
import {
  integrationsApi as api,
  type Delivery,
  type DeliveryDetail,
  type DeliveryPage,
  type DeliveryStatus,
  type Webhook,
} from './integrations-api.js';
import { plural, when } from '../shared/messages.js';
import { useApiRead, usePoll } from '../shared/read.js';
import { Notice, SelectField } from '../shared/ui.js';

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

/** A replay waiting for its outcome: the delivery, and the last attempt its log held before it. */
interface Watch {
  delivery: Delivery;
  after: number;
}

export function DeliveryLog(props: {
  webhook: Webhook;
  sessionOver(e: unknown): boolean;
  /** After each read of the log. */
  onRead(): void;
}) {
  const w = props.webhook;
  const [status, setStatus] = useState<'' | DeliveryStatus>('');
  /** The cursor of every page up to the one shown (undefined: the first). */
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState<DeliveryPage | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const [watch, setWatch] = useState<Watch | undefined>(undefined);
  const [outcome, setOutcome] = useState<{ kind: 'success' | 'error' | 'info'; text: string } | undefined>(
    undefined,
  );
  const [detail, setDetail] = useState<string | undefined>(undefined);
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => headingRef.current?.focus(), [w.id]);

  const cursor = cursors[cursors.length - 1];
  const pending = page?.items.some((d) => d.status === 'pending') ?? false;
  const poll = usePoll(pending || watch !== undefined, page);
  useApiRead(
    () =>
      api.listDeliveries(w.id, { limit: PAGE, ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) }),
    (p) => {
      setPage(p);
      props.onRead();
    },
    [w.id, status, cursor, tick, poll.tick],
    { sessionOver: props.sessionOver, setError },
  );

  // A replay's outcome: the first attempt after it in the delivery's attempt log. The log numbers
  // attempts over the delivery's whole life, whereas `attempts` starts again at a replay and a
  // delivery being sent looks like one that waits: the log is what tells.
  useEffect(() => {
    if (!watch) return;
    let current = true;
    api
      .getDelivery(w.id, watch.delivery.id)
      .then((d) => {
        const a = d.attemptLog.find((x) => x.attempt > watch.after);
        if (!current || !a) return;
        setWatch(undefined);
        const what = `Replayed the ${d.eventType} event`;
        setOutcome(
          a.status !== null && a.status >= 200 && a.status < 300
            ? { kind: 'success', text: `${what}: delivered, answered ${a.status}.` }
            : {
                kind: 'error',
                text: `${what}: the attempt failed (${a.status !== null ? `answered ${a.status}` : (a.error ?? 'no answer')}); the log shows when it is tried again.`,
              },
        );
      })
      .catch((e: unknown) => {
        if (!current) return;
        setWatch(undefined);
        const text = refusal(e, props.sessionOver);
        if (text) setOutcome({ kind: 'error', text });
      });
    return () => {
      current = false;
    };
  }, [watch, tick, poll.tick]);

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
      setTick((n) => n + 1);
    } catch (e) {
      const text = refusal(e, props.sessionOver);
      if (text) setOutcome({ kind: 'error', text });
    }
  }

  const filter = (value: '' | DeliveryStatus) => {
    setStatus(value);
    setCursors([undefined]);
  };
  const now = Date.now();
  const items = page?.items ?? [];
  return (
    <section class="deliveries" aria-labelledby="delivery-log">
      <h3 id="delivery-log" tabIndex={-1} ref={headingRef}>
        Delivery log of {w.name}
      </h3>
      {w.status !== 'active' && (
        <Notice kind="info">This webhook is {w.status}: deliveries wait until it is active.</Notice>
      )}
      <div class="log-controls">
        <SelectField label="Status" value={status} options={STATUSES} onChange={filter} />
      </div>
      {error && <Notice kind="error">{error}</Notice>}
      {outcome && (
        <Notice kind={outcome.kind} key={outcome.text}>
          {outcome.text}
        </Notice>
      )}
      {page && items.length === 0 && (
        <p class="empty">{cursors.length > 1 ? 'No more deliveries.' : 'No delivery yet.'}</p>
      )}
      {items.length > 0 && (
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
              {items.map((d) => [
                <tr key={d.id} aria-label={`Delivery ${d.eventId}`}>
                  <td>
                    <span class="nowrap">{d.eventType}</span>
                    <br />
                    <code class="hint">{d.eventId}</code>
                  </td>
                  <td>
                    <span
                      class={`badge ${d.status === 'delivered' ? 'ok' : d.status === 'dead' ? 'warn' : ''}`}
                    >
                      {d.status}
                    </span>
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
                    <Instant at={d.createdAt} now={now} />
                    {d.deliveredAt !== null && (
                      <span class="hint">
                        {' '}
                        · delivered <Instant at={d.deliveredAt} now={now} />
                      </span>
                    )}
                  </td>
                  <td class={d.lastError ? 'warn-text' : undefined}>{d.lastError ?? '—'}</td>
                  <td>
                    <div class="actions">
                      <button type="button" onClick={() => void replay(d)}>
                        Replay
                      </button>
                      <button
                        type="button"
                        aria-expanded={detail === d.id}
                        onClick={() => setDetail(detail === d.id ? undefined : d.id)}
                      >
                        Attempts
                      </button>
                    </div>
                  </td>
                </tr>,
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
      )}
      <nav class="actions pages" aria-label="Pages of the delivery log">
        <button
          type="button"
          disabled={cursors.length === 1}
          onClick={() => setCursors((c) => c.slice(0, -1))}
        >
          Newer
        </button>
        <button
          type="button"
          disabled={!page?.nextCursor}
          onClick={() => page?.nextCursor && setCursors((c) => [...c, page.nextCursor!])}
        >
          Older
        </button>
        <span class="hint" role="status">
          Page {cursors.length}: {plural(items.length, 'delivery', 'deliveries')}.
        </span>
      </nav>
      <ReplayRange
        webhookId={w.id}
        sessionOver={props.sessionOver}
        onReplayed={() => setTick((n) => n + 1)}
      />
    </section>
  );
}

/** A delivery's every attempt and the event as it was sent (`GET …/deliveries/{id}`). */
function Attempts(props: { webhookId: string; delivery: Delivery; sessionOver(e: unknown): boolean }) {
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
function ReplayRange(props: { webhookId: string; sessionOver(e: unknown): boolean; onReplayed(): void }) {
  const [from, setFrom] = useState(() => localInput(Date.now() - 3_600_000));
  const [to, setTo] = useState(() => localInput(Date.now() + 60_000));
  const [status, setStatus] = useState<'' | DeliveryStatus>('dead');
  const [notice, setNotice] = useState<{ kind: 'success' | 'error'; text: string } | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

  async function replay(event: Event) {
    event.preventDefault();
    const range = { from: new Date(from).getTime(), to: new Date(to).getTime() };
    if (!(range.to > range.from)) {
      setNotice({ kind: 'error', text: 'The end of the range must be after its start.' });
      return;
    }
    setBusy(true);
    try {
      const r = await api.replayDeliveries(props.webhookId, { ...range, ...(status ? { status } : {}) });
      setNotice({
        kind: 'success',
        text:
          r.replayed === 0
            ? 'No delivery was created in that range (with that status): nothing is sent again.'
            : `${plural(r.replayed, 'delivery', 'deliveries')} ${r.replayed === 1 ? 'is' : 'are'} sent again.`,
      });
      props.onReplayed();
    } catch (e) {
      const text = refusal(e, props.sessionOver);
      if (text) setNotice({ kind: 'error', text });
    } finally {
      setBusy(false);
    }
  }

  return (
    <details class="add">
      <summary>Replay a time range</summary>
      <form aria-label="Replay a time range" onSubmit={(e) => void replay(e)}>
        <p class="hint">
          Sends again every delivery created in the range ({zone} time), from the first minute up to, not
          including, the last. Receivers deduplicate by the event id.
        </p>
        <div class="filter-fields">
          <DateTimeField label="From" value={from} onInput={setFrom} />
          <DateTimeField label="Up to" value={to} onInput={setTo} />
          <SelectField label="Deliveries" value={status} options={STATUSES} onChange={(v) => setStatus(v)} />
        </div>
        {notice && <Notice kind={notice.kind}>{notice.text}</Notice>}
        <div class="actions">
          <button type="submit" disabled={busy}>
            Replay the range
          </button>
        </div>
      </form>
    </details>
  );
}

function DateTimeField(props: { label: string; value: string; onInput(v: string): void }) {
  const id = `replay-${props.label.toLowerCase().replace(/\W+/g, '-')}`;
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <input
        id={id}
        type="datetime-local"
        value={props.value}
        required
        onInput={(e) => props.onInput((e.currentTarget as HTMLInputElement).value)}
      />
    </div>
  );
}
