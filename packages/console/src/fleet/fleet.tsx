/**
 * The Fleet screen: how the tenant's devices stand (how many, online and offline, below the minimum
 * firmware of their hardware class), the firmware versions per hardware class against the minimum of
 * each, and the device list with the API's filters, its pages, and a change to every device a filter
 * matches. Everything comes from the REST API as it is: `GET /v1/fleet/versions` (the distribution,
 * and the policy with the count below each minimum: the same entries as `GET /v1/fleet/policy`, from
 * the same read; the devices connected now and disabled), `GET /v1/devices`, and the devices' recent
 * failures and refusals (`problems.tsx`).
 */
import { useMemo, useState } from 'preact/hooks';
import type { SessionOver } from '../shared/actions.js';
import { api, type FleetVersions } from '../shared/api.js';
import { BulkPanel } from './bulk.js';
import { DeployLink } from './deploy-link.js';
import { DeviceList } from './devices.js';
import { RecentProblems } from './problems.js';
import { filterOfView, viewFromSearch, type ListView } from './filter.js';
import { plural } from '../shared/messages.js';
import { Link, fleetHref } from '../shared/nav.js';
import { useApiRead } from '../shared/read.js';
import { compareVersions } from './semver.js';
import { Notice, ScreenTitle } from '../shared/ui.js';

export function Fleet(props: { search: string; sessionOver: SessionOver }) {
  const { sessionOver } = props;
  const view = useMemo(() => viewFromSearch(props.search), [props.search]);
  /** Raised to read everything again: Refresh, and after a bulk change. */
  const [generation, setGeneration] = useState(0);
  const reload = () => setGeneration((g) => g + 1);
  // "Not seen for 24 hours" as an instant, fixed until the view changes or a refresh: the list, the
  // bulk change's count and the change itself read the same devices.
  const filter = useMemo(() => filterOfView(view, Date.now()), [view, generation]);

  return (
    <section class="fleet wide">
      <ScreenTitle onRefresh={reload}>Fleet</ScreenTitle>
      <Overview generation={generation} limit={view.limit} sessionOver={sessionOver} />
      <RecentProblems generation={generation} sessionOver={sessionOver} />
      <DeviceList view={view} filter={filter} generation={generation} sessionOver={sessionOver}>
        <BulkPanel filter={filter} sessionOver={sessionOver} onChanged={reload} />
        <DeployLink filter={filter} />
      </DeviceList>
    </section>
  );
}

function Overview(props: { generation: number; limit: number; sessionOver: SessionOver }) {
  const [versions, setVersions] = useState<FleetVersions | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useApiRead(api.getFleetVersions, setVersions, [props.generation], {
    sessionOver: props.sessionOver,
    setError,
  });

  const belowHref = fleetHref({ filter: { belowMinimum: true }, limit: props.limit });
  return (
    <>
      <section class="panel" aria-labelledby="fleet-counts" aria-busy={!versions && !error}>
        <h2 id="fleet-counts">All devices</h2>
        {error && <Notice kind="error">{error}</Notice>}
        {versions && (
          <dl class="counts">
            <div>
              <dt>Devices</dt>
              <dd>{versions.total}</dd>
            </div>
            <div>
              <dt>Online</dt>
              <dd>{versions.connected}</dd>
            </div>
            <div>
              <dt>Offline</dt>
              <dd>{versions.total - versions.connected}</dd>
            </div>
            <div>
              <dt>Below minimum</dt>
              <dd>
                {versions.belowMinimum > 0 ? (
                  <Link href={belowHref}>{versions.belowMinimum}</Link>
                ) : (
                  versions.belowMinimum
                )}
              </dd>
            </div>
            <div>
              <dt>Disabled</dt>
              <dd>{versions.disabled}</dd>
            </div>
            <div>
              <dt>No firmware reported</dt>
              <dd>{versions.neverReported}</dd>
            </div>
          </dl>
        )}
      </section>
      {versions && <Versions versions={versions} limit={props.limit} />}
    </>
  );
}

interface ClassVersions {
  hardwareClass: string;
  /** In SemVer order. */
  rows: { version: string; count: number }[];
  policy: FleetVersions['policy'][number] | undefined;
}

function byHardwareClass(v: FleetVersions): ClassVersions[] {
  const classes = new Map<string, ClassVersions>();
  const of = (hardwareClass: string) => {
    let c = classes.get(hardwareClass);
    if (!c) classes.set(hardwareClass, (c = { hardwareClass, rows: [], policy: undefined }));
    return c;
  };
  // The row with null version and class is the devices that never reported: counted above.
  for (const item of v.items)
    if (item.hardwareClass !== null && item.version !== null)
      of(item.hardwareClass).rows.push({ version: item.version, count: item.count });
  for (const p of v.policy) of(p.hardwareClass).policy = p;
  for (const c of classes.values()) c.rows.sort((a, b) => compareVersions(a.version, b.version));
  return [...classes.values()].sort((a, b) => (a.hardwareClass < b.hardwareClass ? -1 : 1));
}

/**
 * A table per hardware class: each version with its devices as a bar (to one scale for the whole
 * fleet), and the class's minimum as a line between the versions below it and the others.
 */
function Versions(props: { versions: FleetVersions; limit: number }) {
  const classes = byHardwareClass(props.versions);
  const most = Math.max(1, ...classes.flatMap((c) => c.rows.map((r) => r.count)));
  return (
    <section class="panel" aria-labelledby="fleet-versions">
      <h2 id="fleet-versions">Firmware versions</h2>
      {classes.length === 0 && <p class="empty">No device has reported its firmware yet.</p>}
      {classes.map((c) => (
        <ClassTable key={c.hardwareClass} versions={c} most={most} limit={props.limit} />
      ))}
    </section>
  );
}

function ClassTable(props: { versions: ClassVersions; most: number; limit: number }) {
  const c = props.versions;
  const href = (filter: ListView['filter']) => fleetHref({ filter, limit: props.limit });
  const min = c.policy?.minVersion;
  const firstAtMin = min === undefined ? -1 : c.rows.findIndex((r) => compareVersions(r.version, min) >= 0);
  const line = firstAtMin === -1 ? c.rows.length : firstAtMin;
  const minimum = c.policy && (
    <tr class="minimum" key="minimum">
      <td colSpan={3}>
        Minimum {c.policy.minVersion}:{' '}
        {c.policy.belowMinimum > 0 ? (
          <Link href={href({ hardwareClass: c.hardwareClass, belowMinimum: true })}>
            {plural(c.policy.belowMinimum, 'device')} below
          </Link>
        ) : (
          'no device below'
        )}
      </td>
    </tr>
  );
  return (
    <table class="versions">
      <caption>
        {c.hardwareClass}
        <span class="hint"> · {min === undefined ? 'no minimum version' : `minimum ${min}`}</span>
      </caption>
      <thead>
        <tr>
          <th scope="col">Version</th>
          <th scope="col" class="num">
            Devices
          </th>
          <th scope="col">
            <span class="visually-hidden">Share</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {c.rows.map((r, i) => {
          const below = min !== undefined && i < line;
          return [
            i === line ? minimum : null,
            <tr key={r.version} class={below ? 'below' : undefined}>
              <td>
                <Link href={href({ hardwareClass: c.hardwareClass, firmwareVersion: r.version })}>
                  {r.version}
                </Link>
                {below && (
                  <>
                    {' '}
                    <span class="badge warn">below minimum</span>
                  </>
                )}
              </td>
              <td class="num">{r.count}</td>
              <td class="bar-cell">
                <svg
                  class="bar"
                  viewBox="0 0 100 10"
                  preserveAspectRatio="none"
                  aria-hidden="true"
                  focusable="false"
                >
                  <rect width={(100 * r.count) / props.most} height="10" />
                </svg>
              </td>
            </tr>,
          ];
        })}
        {line === c.rows.length && minimum}
        {c.rows.length === 0 && (
          <tr>
            <td colSpan={3} class="empty">
              No device of this class has reported.
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}
