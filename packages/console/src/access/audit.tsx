/**
 * The Audit screen (`/console/audit`): the tenant's tamper-evident trail. The chain's verification
 * (`GET /v1/audit/verify`) said plainly (intact from record N to record M, or broken at record N and
 * why), and the records (`GET /v1/audit`) newest first by default, with the API's filters (action,
 * actor, target: exact; a period) and its cursor pages. Actors are named when the tenant's users and
 * keys can be read; every record shows what the API holds of it, as text.
 */
import { useEffect, useState } from 'preact/hooks';
import { accessApi, type AuditQuery, type AuditRecord, type AuditVerification } from './api-access.js';
import type { SessionOver } from '../shared/actions.js';
import { query } from '../shared/api.js';
import { plural, problemText, when } from '../shared/messages.js';
import { PagedList, usePagedRead } from '../shared/pages.js';
import { useApiRead } from '../shared/read.js';
import { Notice, ScreenTitle, SelectField, TextField } from '../shared/ui.js';

const PERIODS = [
  { value: '3600000', label: 'The last hour' },
  { value: '86400000', label: 'The last 24 hours' },
  { value: '604800000', label: 'The last 7 days' },
  { value: '2592000000', label: 'The last 30 days' },
  { value: '', label: 'All' },
] as const;
const ORDERS = [
  { value: 'newest', label: 'Newest first' },
  { value: 'oldest', label: 'Oldest first' },
] as const;
const PAGE = 50;

interface Filter {
  action: string;
  actor: string;
  target: string;
  period: (typeof PERIODS)[number]['value'];
  order: 'newest' | 'oldest';
}

function queryOf(f: Filter, now: number): AuditQuery {
  return {
    ...(f.action.trim() ? { action: f.action.trim() } : {}),
    ...(f.actor.trim() ? { actor: f.actor.trim() } : {}),
    ...(f.target.trim() ? { target: f.target.trim() } : {}),
    ...(f.period ? { from: String(now - Number(f.period)) } : {}),
    order: f.order,
  };
}

export function Audit(props: { sessionOver: SessionOver }) {
  const { sessionOver } = props;
  const [draft, setDraft] = useState<Filter>({
    action: '',
    actor: '',
    target: '',
    period: '',
    order: 'newest',
  });
  /** The query applied, with the instant its period counts from. */
  const [applied, setApplied] = useState<AuditQuery>(() => queryOf(draft, Date.now()));
  const [generation, setGeneration] = useState(0);
  const [names, setNames] = useState<ReadonlyMap<string, string>>(new Map());

  // Names for the actors, where the caller may read users and keys (a refusal only leaves ids).
  useEffect(() => {
    void (async () => {
      const map = new Map<string, string>();
      const [users, keys] = await Promise.allSettled([accessApi.listUsers(), accessApi.listApiKeys()]);
      if (users.status === 'fulfilled')
        for (const u of users.value.items) map.set(`user:${u.id}`, u.username);
      if (keys.status === 'fulfilled')
        for (const k of keys.value.items) map.set(`api-key:${k.id}`, `key ${k.name}`);
      setNames(map);
    })();
  }, []);

  function apply(event: Event) {
    event.preventDefault();
    setApplied(queryOf(draft, Date.now()));
  }
  const set = (patch: Partial<Filter>) => setDraft((d) => ({ ...d, ...patch }));

  return (
    <section class="audit wide">
      <ScreenTitle
        onRefresh={() => {
          setApplied(queryOf(draft, Date.now()));
          setGeneration((g) => g + 1);
        }}
      >
        Audit
      </ScreenTitle>
      <Verification generation={generation} sessionOver={sessionOver} />
      <form class="filters" onSubmit={apply} aria-label="Filter the records">
        <div class="filter-fields">
          <TextField
            label="Action"
            hint="e.g. POST /v1/api-keys, auth.login"
            value={draft.action}
            onInput={(action) => set({ action })}
          />
          <TextField
            label="Actor"
            hint="e.g. user:usr_…, api-key:key_…"
            value={draft.actor}
            onInput={(actor) => set({ actor })}
          />
          <TextField
            label="Target"
            hint="an id or a user name"
            value={draft.target}
            onInput={(target) => set({ target })}
          />
          <SelectField
            label="Period"
            value={draft.period}
            options={PERIODS}
            onChange={(period) => set({ period })}
          />
          <SelectField
            label="Order"
            value={draft.order}
            options={ORDERS}
            onChange={(order) => set({ order })}
          />
        </div>
        <div class="actions">
          <button type="submit" class="primary">
            Show records
          </button>
          <a class="button-link" href={`/v1/audit/export${query({ ...applied })}`} download="audit.jsonl">
            Export as JSON lines
          </a>
        </div>
      </form>
      <Records
        key={`${JSON.stringify(applied)}-${generation}`}
        q={applied}
        names={names}
        sessionOver={sessionOver}
      />
    </section>
  );
}

function Verification(props: { generation: number; sessionOver: SessionOver }) {
  const [v, setV] = useState<AuditVerification | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [again, setAgain] = useState(0);
  useApiRead(accessApi.verifyAudit, setV, [props.generation, again], {
    sessionOver: props.sessionOver,
    setError,
  });
  const from = v?.retainedFrom ?? 1;
  const to = v ? from + v.records - 1 : 0;
  return (
    <section class="panel" aria-labelledby="audit-chain">
      <div class="title-row">
        <h2 id="audit-chain">The chain</h2>
        <button type="button" onClick={() => setAgain((n) => n + 1)}>
          Verify again
        </button>
      </div>
      {error && <Notice kind="error">{error}</Notice>}
      {v && v.intact && (
        <Notice kind="success">
          {v.records === 0
            ? 'Verified: the chain holds no record yet.'
            : `Verified: the chain is intact from record ${from} to record ${to} (${plural(v.records, 'record')}).`}
        </Notice>
      )}
      {v && !v.intact && (
        <div class="notice error" role="alert">
          <p>
            <strong>The chain is broken at record {v.breaks[0]?.seq}:</strong> {v.breaks[0]?.reason}.
          </p>
          {v.breaks.length > 1 && (
            <ul>
              {v.breaks.slice(1).map((b, i) => (
                <li key={i}>
                  Record {b.seq}: {b.reason}.
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      {v?.retainedFrom !== undefined && (
        <p class="hint">
          Older records were removed by the tenant’s retention: the chain is checked from record{' '}
          {v.retainedFrom}.
        </p>
      )}
    </section>
  );
}

function Records(props: { q: AuditQuery; names: ReadonlyMap<string, string>; sessionOver: SessionOver }) {
  const pages = usePagedRead(
    (cursor) => accessApi.listAudit({ ...props.q, limit: PAGE, ...(cursor ? { cursor } : {}) }),
    JSON.stringify(props.q),
    [],
    props.sessionOver,
  );
  const name = (actor: string) => props.names.get(actor);
  return (
    <section class="panel" aria-labelledby="audit-records" aria-busy={pages.loading}>
      <h2 id="audit-records">Records</h2>
      {pages.error && <Notice kind="error">{problemText(pages.error)}</Notice>}
      <PagedList
        pages={pages}
        noun={['record', 'records']}
        empty="No record matches."
        label="Pages of records"
      >
        <ol class="cards records">
          {pages.page?.items.map((r) => (
            <AuditRecordCard key={r.seq} record={r} name={name(r.actor)} />
          ))}
        </ol>
      </PagedList>
    </section>
  );
}

/** One audit record as a card: what was done, by whom, on what, from where, and its details. */
export function AuditRecordCard(props: { record: AuditRecord; name?: string | undefined }) {
  const r = props.record;
  return (
    <li class="card-item" aria-label={`Record ${r.seq}`}>
      <h3>
        <span class="hint">#{r.seq}</span> <code>{r.action}</code>{' '}
        <span class={`badge ${r.outcome === 'success' ? 'ok' : 'warn'}`}>
          {r.outcome === 'success' ? 'Success' : 'Failure'}
        </span>
      </h3>
      <dl>
        <dt>When</dt>
        <dd>{when(r.at)}</dd>
        <dt>Actor</dt>
        <dd>{props.name ? `${props.name} (${r.actor})` : r.actor}</dd>
        {r.target !== null && (
          <>
            <dt>Target</dt>
            <dd>{r.target}</dd>
          </>
        )}
        {r.source !== null && (
          <>
            <dt>From</dt>
            <dd>{r.source}</dd>
          </>
        )}
      </dl>
      {r.changes !== null && (
        <details>
          <summary>Details</summary>
          <pre>{JSON.stringify(r.changes, null, 2)}</pre>
        </details>
      )}
    </li>
  );
}
