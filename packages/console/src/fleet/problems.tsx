/**
 * Recent failures and refusals (`GET /v1/fleet/problems`, docs/api.md): on the Fleet screen, how many
 * of each kind in the last 24 hours (`…/problems/counts`) and the newest 20, each device linked to its
 * page; on a device's page, the device's own over 7 days, page by page. A refusal kept once for many like it
 * says how many it stands for.
 */
import { useState } from 'preact/hooks';
import type { SessionOver } from '../shared/actions.js';
import { api, type FleetProblem, type FleetProblemCounts, type FleetProblemKind } from '../shared/api.js';
import { problemText } from '../shared/messages.js';
import { Link, deviceHref } from '../shared/nav.js';
import { PagedList, usePagedRead } from '../shared/pages.js';
import { useApiRead } from '../shared/read.js';
import { Instant, Notice } from '../shared/ui.js';

export const KIND_TEXT: Record<FleetProblemKind, string> = {
  publish_refused: 'Publish refused',
  connect_refused: 'Connect refused',
  ota_failed: 'Update failed',
  device_error: 'Error event',
  abnormal_disconnect: 'Connection lost',
  provisioning_rejected: 'Provisioning rejected',
  limit_exceeded: 'Limit exceeded',
};
const NEWEST = 20;
const WEEK = 7 * 86_400_000;

/** The Fleet screen's panel: counts per kind over 24 hours, and the newest problems. */
export function RecentProblems(props: { generation: number; sessionOver: SessionOver }) {
  const [counts, setCounts] = useState<FleetProblemCounts | undefined>(undefined);
  const [items, setItems] = useState<FleetProblem[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useApiRead(
    () => Promise.all([api.countFleetProblems({}), api.listFleetProblems({ limit: NEWEST })]),
    ([c, page]) => {
      setCounts(c);
      setItems(page.items);
    },
    [props.generation],
    { sessionOver: props.sessionOver, setError },
  );
  return (
    <section class="panel" aria-labelledby="fleet-problems" aria-busy={!counts && !error}>
      <h2 id="fleet-problems">Recent failures and refusals</h2>
      {error && <Notice kind="error">{error}</Notice>}
      {counts && (
        <dl class="counts" aria-label="In the last 24 hours">
          {counts.items.map((c) => (
            <div key={c.kind}>
              <dt>{KIND_TEXT[c.kind]}</dt>
              <dd>{c.count}</dd>
            </div>
          ))}
        </dl>
      )}
      {counts && <p class="hint">In the last 24 hours{counts.total > 0 ? '; the newest:' : '.'}</p>}
      {items && items.length === 0 && <p class="empty">No failure or refusal in the last 24 hours.</p>}
      {items && items.length > 0 && <ProblemList items={items} showDevice />}
    </section>
  );
}

/** A device's own over the last 7 days, on its page. */
export function DeviceProblems(props: { deviceId: string; generation: number; sessionOver: SessionOver }) {
  const pages = usePagedRead(
    (cursor) =>
      api.listFleetProblems({
        deviceId: props.deviceId,
        from: String(Date.now() - WEEK),
        limit: NEWEST,
        ...(cursor ? { cursor } : {}),
      }),
    props.deviceId,
    [props.generation],
    props.sessionOver,
  );
  return (
    <>
      {pages.error && <Notice kind="error">{problemText(pages.error)}</Notice>}
      <PagedList
        pages={pages}
        noun={['failure or refusal', 'failures and refusals']}
        empty="No failure or refusal in the last 7 days."
        label="Pages of failures and refusals"
      >
        {pages.page && <ProblemList items={pages.page.items} showDevice={false} />}
      </PagedList>
    </>
  );
}

function ProblemList(props: { items: readonly FleetProblem[]; showDevice: boolean }) {
  const now = Date.now();
  return (
    <ol class="problems" aria-label="Failures and refusals, newest first">
      {props.items.map((p) => (
        <li key={`${p.kind}/${p.id}`}>
          <span class="badge warn">{KIND_TEXT[p.kind]}</span> <Instant at={p.at} now={now} />
          {props.showDevice && (
            <>
              {' · '}
              {p.deviceId !== null ? (
                <Link href={deviceHref(p.deviceId)}>{p.deviceName ?? p.deviceId}</Link>
              ) : (
                `serial ${p.serial ?? 'unknown'}`
              )}
            </>
          )}
          {p.code !== null && (
            <>
              {' · '}
              <code>{p.code}</code>
            </>
          )}
          {p.count > 1 && <> · {p.count} times</>}
          {p.message !== null && <div class="hint">{p.message}</div>}
          {p.topic !== null && (
            <div class="hint">
              on <code class="wrap">{p.topic}</code>
            </div>
          )}
        </li>
      ))}
    </ol>
  );
}
