/**
 * The device list of the Fleet screen: the filters and orders the API takes (`GET /v1/devices`),
 * applied by the server and kept in the page's address; its pages by the API's cursor (the cursors of the pages
 * before are kept, so Previous goes back to them); each device with its status, presence,
 * firmware and tags. A refused filter is said with the server's words, and on its field.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { SessionOver } from '../shared/actions.js';
import { api, type ApiProblem, type Device, type DeviceFilter, type DeviceSort } from '../shared/api.js';
import {
  CERTIFICATE_CHOICES,
  LAST_SEEN_CHOICES,
  PAGE_SIZES,
  SORT_CHOICES,
  viewFromSearch,
  type CertificateChoice,
  type LastSeenChoice,
  type ListView,
} from './filter.js';
import { problemText } from '../shared/messages.js';
import { Link, deviceHref, fleetHref, navigate } from '../shared/nav.js';
import { PagedList, usePagedRead } from '../shared/pages.js';
import { Instant, Notice, SelectField, TagList, TextField } from '../shared/ui.js';

/** The filter form's fields as typed, empty for "any". */
interface Draft {
  status: '' | 'enabled' | 'disabled';
  connected: '' | 'true' | 'false';
  tag: string;
  hardwareClass: string;
  firmwareVersion: string;
  belowVersion: string;
  belowMinimum: '' | 'true' | 'false';
  lastSeen: '' | LastSeenChoice;
  certificateExpires: '' | CertificateChoice;
  sort: '' | DeviceSort;
  limit: string;
}

function draftOf(view: ListView): Draft {
  const f = view.filter;
  const flag = (v: boolean | undefined) => (v === undefined ? '' : v ? 'true' : 'false');
  return {
    status: f.status ?? '',
    connected: flag(f.connected),
    tag: f.tag ?? '',
    hardwareClass: f.hardwareClass ?? '',
    firmwareVersion: f.firmwareVersion ?? '',
    belowVersion: f.belowVersion ?? '',
    belowMinimum: flag(f.belowMinimum),
    lastSeen: view.lastSeen ?? '',
    certificateExpires: view.certificateExpires ?? '',
    sort: view.sort ?? '',
    limit: String(view.limit),
  };
}

/** What each text filter looks like, said on its field when the server refuses the value. */
const FORMATS: Record<string, string> = {
  tag: 'A tag is 1 to 64 of the letters, digits and _ . : = -',
  hardwareClass: 'A hardware class is 1 to 64 of the letters, digits and _ . : -',
  firmwareVersion: 'Not a version: write it like 1.4.0 or 2.0.0-rc.1',
  belowVersion: 'Not a version: write it like 1.4.0 or 2.0.0-rc.1',
};

/** The filter fields a refusal names (its `errors`, `querystring:/firmwareVersion`). */
function refusedFields(p: ApiProblem | undefined): Set<string> {
  const errors = p?.members.errors;
  if (!Array.isArray(errors)) return new Set();
  return new Set(
    errors.flatMap((e: unknown) => {
      const path = (e as { path?: unknown } | null)?.path;
      return typeof path === 'string' ? [path.slice(path.lastIndexOf('/') + 1)] : [];
    }),
  );
}

export function DeviceList(props: {
  view: ListView;
  /** The view's filter as the API takes it (`filterOfView`): read with, and what a bulk change acts on. */
  filter: DeviceFilter;
  generation: number;
  sessionOver: SessionOver;
  /** Shown between the filters and the list (the bulk change on the filter). */
  children?: ComponentChildren;
}) {
  const { view } = props;
  // Another filter or order starts at its first page (a cursor pages on only in the order it came
  // from); a refresh reads the page shown again.
  const pages = usePagedRead(
    (cursor) =>
      api.listDevices({
        ...props.filter,
        ...(view.sort ? { sort: view.sort } : {}),
        limit: view.limit,
        ...(cursor ? { cursor } : {}),
      }),
    JSON.stringify(view),
    [props.generation],
    props.sessionOver,
  );
  const now = Date.now();
  return (
    <section class="panel" aria-labelledby="fleet-devices" aria-busy={pages.loading}>
      <h2 id="fleet-devices">Devices</h2>
      <Filters view={view} refused={refusedFields(pages.error)} />
      {props.children}
      {pages.error && <Notice kind="error">{problemText(pages.error)}</Notice>}
      <PagedList
        pages={pages}
        noun={['device', 'devices']}
        empty="No device matches these filters."
        label="Pages of devices"
      >
        <ul class="cards devices">
          {pages.page?.items.map((d) => (
            <li key={d.id}>
              <DeviceCard device={d} now={now} />
            </li>
          ))}
        </ul>
      </PagedList>
    </section>
  );
}

const STATUS_OPTIONS = [
  { value: '', label: 'Any' },
  { value: 'enabled', label: 'Enabled' },
  { value: 'disabled', label: 'Disabled' },
] as const;
const CONNECTED_OPTIONS = [
  { value: '', label: 'Any' },
  { value: 'true', label: 'Online' },
  { value: 'false', label: 'Offline' },
] as const;
const BELOW_MINIMUM_OPTIONS = [
  { value: '', label: 'Any' },
  { value: 'true', label: 'Below the minimum' },
  { value: 'false', label: 'Not below the minimum' },
] as const;
const LAST_SEEN_OPTIONS = [
  { value: '' as const, label: 'Any' },
  ...Object.entries(LAST_SEEN_CHOICES).map(([value, c]) => ({
    value: value as LastSeenChoice,
    label: c.label,
  })),
];
const CERTIFICATE_OPTIONS = [
  { value: '' as const, label: 'Any' },
  ...Object.entries(CERTIFICATE_CHOICES).map(([value, c]) => ({
    value: value as CertificateChoice,
    label: c.label,
  })),
];
// Creation order is the default: '' in the form, no `sort` in the address.
const SORT_OPTIONS = Object.entries(SORT_CHOICES).map(([value, label]) => ({
  value: value === 'id' ? ('' as const) : (value as DeviceSort),
  label,
}));
const LIMIT_OPTIONS = PAGE_SIZES.map((n) => ({ value: String(n), label: String(n) }));

/** The filters as a form: applying it is a new address, so Back returns to the filters before. */
function Filters(props: { view: ListView; refused: Set<string> }) {
  const [draft, setDraft] = useState(() => draftOf(props.view));
  // Back, Forward or a link changed the filters: the form shows them.
  useEffect(() => setDraft(draftOf(props.view)), [props.view]);
  const set = (patch: Partial<Draft>) => setDraft((d) => ({ ...d, ...patch }));
  const text = (name: 'tag' | 'hardwareClass' | 'firmwareVersion' | 'belowVersion', label: string) => (
    <TextField
      label={label}
      value={draft[name]}
      onInput={(value) => set({ [name]: value })}
      error={props.refused.has(name) ? FORMATS[name] : undefined}
    />
  );

  function apply(event: Event) {
    event.preventDefault();
    // Through the address's own reading, so the form and a typed-in address mean the same.
    navigate(fleetHref(viewFromSearch(new URLSearchParams(Object.entries(draft)).toString())));
  }

  return (
    <form class="filters" role="search" aria-label="Filter the devices" onSubmit={apply}>
      <div class="filter-fields">
        <SelectField
          label="Status"
          value={draft.status}
          options={STATUS_OPTIONS}
          onChange={(v) => set({ status: v })}
        />
        <SelectField
          label="Connection"
          value={draft.connected}
          options={CONNECTED_OPTIONS}
          onChange={(v) => set({ connected: v })}
        />
        {text('tag', 'Tag')}
        {text('hardwareClass', 'Hardware class')}
        {text('firmwareVersion', 'Firmware version')}
        {text('belowVersion', 'Below version')}
        <SelectField
          label="Minimum version"
          value={draft.belowMinimum}
          options={BELOW_MINIMUM_OPTIONS}
          onChange={(v) => set({ belowMinimum: v })}
        />
        <SelectField
          label="Last seen"
          hint="By its last connection or message; never seen counts as not seen for any time"
          value={draft.lastSeen}
          options={LAST_SEEN_OPTIONS}
          onChange={(v) => set({ lastSeen: v })}
        />
        <SelectField
          label="Certificate expires"
          hint="Its current certificate; expired ones included"
          value={draft.certificateExpires}
          options={CERTIFICATE_OPTIONS}
          onChange={(v) => set({ certificateExpires: v })}
        />
        <SelectField
          label="Sort by"
          hint="Ties by creation. Never seen devices: last when newest first, first when oldest first; never reported ones last"
          value={draft.sort}
          options={SORT_OPTIONS}
          onChange={(v) => set({ sort: v })}
        />
        <SelectField
          label="Per page"
          value={draft.limit}
          options={LIMIT_OPTIONS}
          onChange={(v) => set({ limit: v })}
        />
      </div>
      <div class="actions">
        <button type="submit" class="primary">
          Apply filters
        </button>
        <button
          type="button"
          onClick={() =>
            navigate(
              fleetHref({
                filter: {},
                ...(props.view.sort ? { sort: props.view.sort } : {}),
                limit: props.view.limit,
              }),
            )
          }
        >
          Clear filters
        </button>
      </div>
    </form>
  );
}

/** When a device connected (while it is connected), or when it was last seen. */
export function PresenceFacts(props: { presence: Device['presence']; now: number }) {
  const p = props.presence;
  const at = p.connected && p.lastConnectedAt !== null ? p.lastConnectedAt : p.lastSeenAt;
  return (
    <>
      <dt>{p.connected ? 'Connected' : 'Last seen'}</dt>
      <dd>{at !== null ? <Instant at={at} now={props.now} /> : 'never'}</dd>
    </>
  );
}

/** The firmware a device last reported, as one line. */
export const firmwareText = (firmware: Device['firmware']) =>
  firmware ? `${firmware.version} (${firmware.hardwareClass})` : 'never reported';

const STATUS_TEXT: Record<Device['status'], string> = {
  enabled: 'Enabled',
  disabled: 'Disabled',
  released: 'Released',
};

/** A device's status and whether it is connected, as badges. */
export function DeviceBadges(props: { status: Device['status']; presence: Device['presence'] }) {
  return (
    <div class="badges">
      <span class={`badge ${props.status === 'enabled' ? '' : 'warn'}`}>{STATUS_TEXT[props.status]}</span>
      <span class={`badge ${props.presence.connected ? 'ok' : 'off'}`}>
        {props.presence.connected ? 'Online' : 'Offline'}
      </span>
    </div>
  );
}

function DeviceCard(props: { device: Device; now: number }) {
  const d = props.device;
  const { presence, firmware } = d;
  const headingId = `device-${d.id}`;
  return (
    <article class="card-item" aria-labelledby={headingId}>
      <h3 id={headingId}>
        <Link href={deviceHref(d.id)}>{d.name}</Link>
      </h3>
      <DeviceBadges status={d.status} presence={presence} />
      <dl>
        <dt>Id</dt>
        <dd>
          <code>{d.id}</code>
        </dd>
        {d.serial !== null && (
          <>
            <dt>Serial</dt>
            <dd>{d.serial}</dd>
          </>
        )}
        <PresenceFacts presence={presence} now={props.now} />
        <dt>Firmware</dt>
        <dd>{firmwareText(firmware)}</dd>
        <dt>Tags</dt>
        <dd>
          <TagList tags={d.tags} />
        </dd>
      </dl>
    </article>
  );
}
