/**
 * A device's connections over the last 24 hours or 7 days as one bar: online periods filled, offline
 * ones empty, a time nobody knows (before the oldest event read) hatched. Drawn from its presence
 * history (`GET …/presence`, the newest 500 events), as SVG; the same periods are listed as text
 * (the bar is hidden from screen readers), with each disconnect's reason.
 */
import { useState } from 'preact/hooks';
import type { SessionOver } from '../shared/actions.js';
import { api, type PresenceEvent } from '../shared/api.js';
import { plural, when } from '../shared/messages.js';
import { useApiRead } from '../shared/read.js';
import { Notice } from '../shared/ui.js';

/** As many events as the API gives in one read. */
const EVENTS = 500;
const RANGES = [
  { name: '24h', label: '24 h', ms: 86_400_000 },
  { name: '7d', label: '7 days', ms: 7 * 86_400_000 },
] as const;
type Range = (typeof RANGES)[number];

type State = 'online' | 'offline' | 'unknown';
export interface Period {
  state: State;
  from: number;
  to: number;
  /** Why it went offline (the disconnect that started an offline period). */
  reason: string | null;
}

/**
 * The periods between `from` and `to`, oldest first, from events newest first (as the API answers).
 * Before the oldest event read the state is unknown, unless that event says what it was before: a
 * connect follows an offline time, a disconnect an online one.
 */
export function periodsOf(
  events: readonly PresenceEvent[],
  from: number,
  to: number,
  complete: boolean,
): Period[] {
  const ordered = [...events].filter((e) => e.at <= to).reverse();
  const periods: Period[] = [];
  const first = ordered[0];
  // What the device was before the first event of the range.
  const before = ordered.filter((e) => e.at <= from).at(-1);
  let state: State;
  let reason: string | null = null;
  if (before) {
    state = before.event === 'connected' ? 'online' : 'offline';
    reason = before.event === 'disconnected' ? before.reason : null;
  } else if (first && !complete) state = 'unknown';
  else state = first ? (first.event === 'connected' ? 'offline' : 'online') : 'offline';
  let start = from;
  for (const e of ordered) {
    if (e.at <= from) continue;
    const next: State = e.event === 'connected' ? 'online' : 'offline';
    if (next === state && e.event === 'connected') continue;
    if (e.at > start) periods.push({ state, from: start, to: e.at, reason });
    state = next;
    reason = e.event === 'disconnected' ? e.reason : null;
    start = e.at;
  }
  if (to > start) periods.push({ state, from: start, to, reason });
  return periods;
}

function span(ms: number): string {
  const m = Math.round(ms / 60_000);
  if (m < 1) return 'under a minute';
  if (m < 120) return plural(m, 'minute');
  const h = Math.round(m / 60);
  return h < 48 ? plural(h, 'hour') : plural(Math.round(h / 24), 'day');
}

const LABEL: Record<State, string> = { online: 'Online', offline: 'Offline', unknown: 'Not known' };

export function PresenceTimeline(props: { deviceId: string; generation: number; sessionOver: SessionOver }) {
  const [range, setRange] = useState<Range>(RANGES[0]);
  const [events, setEvents] = useState<PresenceEvent[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useApiRead(
    () => api.getPresence(props.deviceId, EVENTS),
    (page) => setEvents(page.items),
    [props.deviceId, props.generation],
    { sessionOver: props.sessionOver, setError },
  );

  const to = Date.now();
  const from = to - range.ms;
  // Fewer events than asked for: the history is all there (the device never connected before them).
  const periods = events ? periodsOf(events, from, to, events.length < EVENTS) : [];
  const online = periods.filter((p) => p.state === 'online').reduce((n, p) => n + p.to - p.from, 0);
  const disconnects = periods.filter((p) => p.state === 'offline' && p.reason !== null && p.from > from);
  return (
    <div class="timeline">
      <div class="ranges" role="group" aria-label="Timeline range">
        {RANGES.map((r) => (
          <button type="button" key={r.name} aria-pressed={r.name === range.name} onClick={() => setRange(r)}>
            {r.label}
          </button>
        ))}
      </div>
      {error && <Notice kind="error">{error}</Notice>}
      {events && (
        <>
          <p class="timeline-summary">
            Online {span(online)} of the last {range.label} ({Math.round((100 * online) / range.ms)}%),{' '}
            {plural(disconnects.length, 'disconnect')}.
          </p>
          <svg
            class="timeline-bar"
            viewBox="0 0 1000 24"
            preserveAspectRatio="none"
            aria-hidden="true"
            focusable="false"
          >
            {periods.map((p) => (
              <rect
                key={p.from}
                class={p.state}
                x={(1000 * (p.from - from)) / range.ms}
                width={Math.max(1, (1000 * (p.to - p.from)) / range.ms)}
                y="0"
                height="24"
              />
            ))}
          </svg>
          <div class="timeline-scale" aria-hidden="true">
            <span>{range.name === '24h' ? '24 h ago' : '7 days ago'}</span>
            <span>now</span>
          </div>
          <ol class="periods" aria-label={`Connections over the last ${range.label}`}>
            {[...periods].reverse().map((p) => (
              <li key={p.from}>
                <span class={`badge ${p.state === 'online' ? 'ok' : 'off'}`}>{LABEL[p.state]}</span>{' '}
                {span(p.to - p.from)}, from {when(p.from)}
                {p.state === 'offline' && p.reason !== null && p.from > from && <> · {p.reason}</>}
              </li>
            ))}
          </ol>
        </>
      )}
    </div>
  );
}
