/**
 * The Deployments screen: the tenant's firmware deployments newest first (`GET /v1/deployments`,
 * filtered by status, paged by the API's cursor), each with its status, the version it rolls out,
 * its target and how far it got (the API's counts per device state); the tenant's emergency stop;
 * and a new deployment (`deployment-new.tsx`). Each deployment links to its page.
 */
import { useState } from 'preact/hooks';
import type { SessionOver } from '../shared/actions.js';
import { api, type Deployment } from '../shared/api.js';
import { NewDeployment } from './deployment-new.js';
import {
  FAILED_STATES,
  OPEN_STATES,
  STATUS_BADGE,
  STATUS_TEXT,
  targetText,
  type DeploymentStatus,
} from './deployment-text.js';
import { EmergencyStopPanel } from './emergency-stop.js';
import { ago, plural, problemText, when } from '../shared/messages.js';
import { Link, deploymentHref } from '../shared/nav.js';
import { PagedList, usePagedRead } from '../shared/pages.js';
import { Notice, ScreenTitle, SelectField } from '../shared/ui.js';

const PAGE = 20;

type StatusFilter = '' | DeploymentStatus;
const STATUS_OPTIONS: readonly { value: StatusFilter; label: string }[] = [
  { value: '', label: 'Any' },
  ...(Object.keys(STATUS_TEXT) as DeploymentStatus[]).map((s) => ({ value: s, label: STATUS_TEXT[s] })),
];

/** Devices of a deployment by how they stand: done, failed, with the device now, waiting. */
export function tally(d: Deployment) {
  let failed = 0;
  let open = 0;
  for (const [state, n] of Object.entries(d.counts)) {
    if (FAILED_STATES.has(state as never)) failed += n;
    else if (OPEN_STATES.has(state as never)) open += n;
  }
  const succeeded = d.counts.succeeded ?? 0;
  return { succeeded, failed, open, queued: d.counts.queued ?? 0, cancelled: d.counts.cancelled ?? 0 };
}

/** Succeeded, failed and in progress as one bar, to the deployment's total. */
export function ProgressBar(props: { deployment: Deployment }) {
  const d = props.deployment;
  const t = tally(d);
  const total = Math.max(1, d.total);
  const parts = [
    { n: t.succeeded, cls: 'done' },
    { n: t.failed, cls: 'failed' },
    { n: t.open, cls: 'open' },
  ];
  let x = 0;
  return (
    <svg
      class="progress"
      viewBox="0 0 100 10"
      preserveAspectRatio="none"
      aria-hidden="true"
      focusable="false"
    >
      <rect class="rest" width="100" height="10" />
      {parts.map((p) => {
        const w = (100 * p.n) / total;
        const r = <rect key={p.cls} class={p.cls} x={x} width={w} height="10" />;
        x += w;
        return r;
      })}
    </svg>
  );
}

export function Deployments(props: { sessionOver: SessionOver }) {
  const { sessionOver } = props;
  const [status, setStatus] = useState<StatusFilter>('');
  const [generation, setGeneration] = useState(0);
  const reload = () => setGeneration((g) => g + 1);
  const pages = usePagedRead(
    (cursor) =>
      api.listDeployments({ limit: PAGE, ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) }),
    status,
    [generation],
    sessionOver,
  );

  const now = Date.now();
  return (
    <section class="deployments wide">
      <ScreenTitle onRefresh={reload}>Deployments</ScreenTitle>
      <EmergencyStopPanel generation={generation} sessionOver={sessionOver} onChanged={reload} />
      <NewDeployment sessionOver={sessionOver} />
      <section class="panel" aria-labelledby="deployment-list">
        <h2 id="deployment-list">All deployments</h2>
        <div class="list-filter">
          <SelectField
            label="Status"
            value={status}
            options={STATUS_OPTIONS}
            onChange={(v) => setStatus(v)}
          />
        </div>
        {pages.error && <Notice kind="error">{problemText(pages.error)}</Notice>}
        <PagedList
          pages={pages}
          noun={['deployment', 'deployments']}
          empty={status ? `No deployment is ${status}.` : 'No deployment yet.'}
          label="Pages of deployments"
        >
          <ul class="cards">
            {pages.page?.items.map((d) => (
              <DeploymentCard key={d.id} deployment={d} now={now} />
            ))}
          </ul>
        </PagedList>
      </section>
    </section>
  );
}

function DeploymentCard(props: { deployment: Deployment; now: number }) {
  const d = props.deployment;
  const t = tally(d);
  const title = d.name ?? d.id;
  const headingId = `dep-${d.id}`;
  return (
    <li>
      <article class="card-item" aria-labelledby={headingId}>
        <h3 id={headingId}>
          <Link href={deploymentHref(d.id)}>{title}</Link>
        </h3>
        <div class="badges">
          <span class={`badge ${STATUS_BADGE[d.status]}`}>{STATUS_TEXT[d.status]}</span>
          {d.status === 'paused' && d.statusCode === 'health_gate' && (
            <span class="badge bad">Health gate failed</span>
          )}
        </div>
        <dl>
          <dt>Firmware</dt>
          <dd>
            {d.version} ({d.hardwareClass})
          </dd>
          <dt>Target</dt>
          <dd>{targetText(d.target)}</dd>
          <dt>Progress</dt>
          <dd>
            {t.succeeded} of {plural(d.total, 'device')} updated
            {t.failed > 0 && <span class="warn-text">, {t.failed} failed</span>}
            {t.open > 0 && `, ${t.open} in progress`}
            <ProgressBar deployment={d} />
          </dd>
          <dt>Phase</dt>
          <dd>
            {d.currentPhase + 1} of {d.phases.length}
          </dd>
          <dt>Created</dt>
          <dd>
            <time dateTime={new Date(d.createdAt).toISOString()} title={when(d.createdAt)}>
              {ago(d.createdAt, props.now)}
            </time>
          </dd>
        </dl>
      </article>
    </li>
  );
}
