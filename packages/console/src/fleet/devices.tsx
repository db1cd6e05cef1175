/**
 * The device list of the Fleet screen: the filters the API takes (`GET /v1/devices`), applied by the
 * server and kept in the page's address; its pages by the API's cursor (the cursors of the pages
 * before are kept, so Previous goes back to them); each device with its status, presence,
 * firmware and tags. A refused filter is said with the server's words, and on its field.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiProblem, api, type Device, type DevicePage } from '../shared/api.js';
import { PAGE_SIZES, viewFromSearch, type ListView } from './filter.js';
import { ago, plural, problemText, when } from '../shared/messages.js';
import { Link, deviceHref, fleetHref, navigate } from '../shared/nav.js';
import { Notice, SelectField, TagList, TextField } from '../shared/ui.js';

/** The filter form's fields as typed, empty for "any". */
interface Draft {
  status: '' | 'enabled' | 'disabled';
  connected: '' | 'true' | 'false';
  tag: string;
  hardwareClass: string;
  firmwareVersion: string;
  belowVersion: string;
  belowMinimum: '' | 'true' | 'false';
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
  generation: number;
  sessionOver(e: unknown): boolean;
  /** Shown between the filters and the list (the bulk change on the filter). */
  children?: ComponentChildren;
}) {
  const { view } = props;
  /** The cursor of every page up to the one shown (undefined: the first). */
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState<DevicePage | undefined>(undefined);
  const [error, setError] = useState<ApiProblem | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const latest = useRef(0);
  const statusRef = useRef<HTMLParagraphElement>(null);

  /** Shows the page at the end of `stack`; a newer request wins over an older one still on its way. */
  async function load(stack: (string | undefined)[], focusAfter = false) {
    const request = ++latest.current;
    setLoading(true);
    setError(undefined);
    try {
      const cursor = stack[stack.length - 1];
      const next = await api.listDevices({
        ...view.filter,
        limit: view.limit,
        ...(cursor ? { cursor } : {}),
      });
      if (request !== latest.current) return;
      setPage(next);
      setCursors(stack);
      // The button pressed may be gone (the last page has no Next): the reader goes on from the count.
      if (focusAfter) statusRef.current?.focus();
    } catch (e) {
      if (!(e instanceof ApiProblem)) throw e;
      if (request !== latest.current || props.sessionOver(e)) return;
      setError(e);
      setPage(undefined);
    } finally {
      if (request === latest.current) setLoading(false);
    }
  }

  // Another filter starts at its first page; a refresh reads the page shown again.
  useEffect(() => void load([undefined]), [view]);
  useEffect(() => {
    if (props.generation > 0) void load(cursors);
  }, [props.generation]);

  const pageNumber = cursors.length;
  const now = Date.now();
  return (
    <section class="panel" aria-labelledby="fleet-devices" aria-busy={loading}>
      <h2 id="fleet-devices">Devices</h2>
      <Filters view={view} refused={refusedFields(error)} />
      {props.children}
      {error && <Notice kind="error">{problemText(error)}</Notice>}
      {page && (
        <p class="page-status" role="status" tabIndex={-1} ref={statusRef}>
          {page.items.length === 0
            ? pageNumber === 1
              ? 'No device matches these filters.'
              : `Page ${pageNumber} is empty.`
            : `Page ${pageNumber}: ${plural(page.items.length, 'device')}${page.nextCursor ? ', more on the next page' : ''}.`}
        </p>
      )}
      {page && page.items.length > 0 && (
        <ul class="devices">
          {page.items.map((d) => (
            <li key={d.id}>
              <DeviceCard device={d} now={now} />
            </li>
          ))}
        </ul>
      )}
      {page && (pageNumber > 1 || page.nextCursor) && (
        <nav class="pager actions" aria-label="Pages of devices">
          <button
            type="button"
            disabled={loading || pageNumber === 1}
            onClick={() => void load(cursors.slice(0, -1), true)}
          >
            Previous page
          </button>
          <button
            type="button"
            disabled={loading || !page.nextCursor}
            onClick={() => page.nextCursor && void load([...cursors, page.nextCursor], true)}
          >
            Next page
          </button>
        </nav>
      )}
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
        <button type="button" onClick={() => navigate(fleetHref({ filter: {}, limit: props.view.limit }))}>
          Clear filters
        </button>
      </div>
    </form>
  );
}

/** An instant as "5 minutes ago", with the date and time as its title. */
export function Instant(props: { at: number; now: number }) {
  return (
    <time dateTime={new Date(props.at).toISOString()} title={when(props.at)}>
      {ago(props.at, props.now)}
    </time>
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

function DeviceCard(props: { device: Device; now: number }) {
  const d = props.device;
  const { presence, firmware } = d;
  const headingId = `device-${d.id}`;
  return (
    <article class="device" aria-labelledby={headingId}>
      <h3 id={headingId}>
        <Link href={deviceHref(d.id)}>{d.name}</Link>
      </h3>
      <div class="badges">
        <span class={`badge ${d.status === 'enabled' ? '' : 'warn'}`}>
          {d.status === 'enabled' ? 'Enabled' : d.status === 'disabled' ? 'Disabled' : 'Released'}
        </span>
        <span class={`badge ${presence.connected ? 'ok' : 'off'}`}>
          {presence.connected ? 'Online' : 'Offline'}
        </span>
      </div>
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
