/**
 * The device list's view (its filter, order and page size) as the query of the page's address, so
 * that a reload, a bookmark or a link keeps it:
 * `/console/fleet?status=enabled&connected=false&sort=name&limit=20`.
 * The members have the API's names and forms (`connected=true`), and are sent as they are: the server
 * validates them, and the console shows its refusal. A member the console does not know, or a value
 * no filter takes (`status=maybe`), is left out rather than guessed at.
 *
 * "Last seen" and "certificate expires within" are relative to now: the address keeps the choice
 * (`lastSeen=over-24h`, `certificateExpires=30d`), never a timestamp that moves on, and
 * `filterOfView` turns it into the API's instants when the list is read.
 */
import type { DeviceFilter, DeviceSort } from '../shared/api.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Last seen: not seen for more than a span (never seen included), seen within one, or never seen. */
export const LAST_SEEN_CHOICES = {
  'over-1h': { label: 'Not seen for over 1 hour', before: HOUR },
  'over-24h': { label: 'Not seen for over 24 hours', before: DAY },
  'over-7d': { label: 'Not seen for over 7 days', before: 7 * DAY },
  'within-1h': { label: 'Seen within 1 hour', after: HOUR },
  'within-24h': { label: 'Seen within 24 hours', after: DAY },
  'within-7d': { label: 'Seen within 7 days', after: 7 * DAY },
  never: { label: 'Never seen' },
} as const satisfies Record<string, LastSeenSpan>;
interface LastSeenSpan {
  label: string;
  /** Not seen for more than this (ms). */
  before?: number;
  /** Seen within this (ms). */
  after?: number;
}
export type LastSeenChoice = keyof typeof LAST_SEEN_CHOICES;

/** Certificate expires within a span: the current certificate expires before now + span (expired included). */
export const CERTIFICATE_CHOICES = {
  '7d': { label: 'Within 7 days', within: 7 * DAY },
  '30d': { label: 'Within 30 days', within: 30 * DAY },
  '90d': { label: 'Within 90 days', within: 90 * DAY },
} as const;
export type CertificateChoice = keyof typeof CERTIFICATE_CHOICES;

/**
 * The list's orders, as the API names them. Creation order is the API's default, and is left out of
 * the address (`?sort=id` reads as no sort), so that one view has one address.
 */
export const SORT_CHOICES = {
  id: 'Creation (oldest first)',
  name: 'Name',
  '-lastSeen': 'Last seen, newest first',
  lastSeen: 'Last seen, oldest first',
  firmwareVersion: 'Firmware version',
} as const satisfies Record<DeviceSort, string>;

export const PAGE_SIZES = [20, 50, 100] as const;
/** The API's own default page size. */
export const DEFAULT_PAGE_SIZE = 50;

export interface ListView {
  /** The API's filter members that are not relative to now. */
  filter: DeviceFilter;
  lastSeen?: LastSeenChoice;
  certificateExpires?: CertificateChoice;
  /** The order; absent: creation order (the API's default). */
  sort?: Exclude<DeviceSort, 'id'>;
  limit: number;
}

const isKey = <T extends object>(choices: T, value: string | null): value is Extract<keyof T, string> =>
  value !== null && Object.prototype.hasOwnProperty.call(choices, value);

const TEXT_MEMBERS = ['tag', 'hardwareClass', 'firmwareVersion', 'belowVersion'] as const;

const flag = (value: string | null): boolean | undefined =>
  value === 'true' ? true : value === 'false' ? false : undefined;

export function viewFromSearch(search: string): ListView {
  const params = new URLSearchParams(search);
  const filter: DeviceFilter = {};
  const status = params.get('status');
  if (status === 'enabled' || status === 'disabled') filter.status = status;
  const connected = flag(params.get('connected'));
  if (connected !== undefined) filter.connected = connected;
  for (const name of TEXT_MEMBERS) {
    const value = params.get(name)?.trim();
    if (value) filter[name] = value;
  }
  const belowMinimum = flag(params.get('belowMinimum'));
  if (belowMinimum !== undefined) filter.belowMinimum = belowMinimum;
  const lastSeen = params.get('lastSeen');
  const certificateExpires = params.get('certificateExpires');
  const sort = params.get('sort');
  const limit = Number(params.get('limit'));
  return {
    filter,
    ...(isKey(LAST_SEEN_CHOICES, lastSeen) ? { lastSeen } : {}),
    ...(isKey(CERTIFICATE_CHOICES, certificateExpires) ? { certificateExpires } : {}),
    ...(isKey(SORT_CHOICES, sort) && sort !== 'id' ? { sort } : {}),
    limit: (PAGE_SIZES as readonly number[]).includes(limit) ? limit : DEFAULT_PAGE_SIZE,
  };
}

/**
 * The filter the API takes for a view at `now`: the relative choices as instants. Computed once per
 * reading, so that a bulk change's count and the change itself name the same instants.
 */
export function filterOfView(view: ListView, now: number): DeviceFilter {
  const filter: DeviceFilter = { ...view.filter };
  if (view.lastSeen) {
    const choice: LastSeenSpan = LAST_SEEN_CHOICES[view.lastSeen];
    if (choice.before !== undefined) filter.lastSeenBefore = String(now - choice.before);
    else if (choice.after !== undefined) filter.lastSeenAfter = String(now - choice.after);
    else filter.neverSeen = true;
  }
  if (view.certificateExpires)
    filter.certificateExpiresBefore = String(now + CERTIFICATE_CHOICES[view.certificateExpires].within);
  return filter;
}

/** The query for a view, `?…` or empty; members in a fixed order, the default page size left out. */
export function searchOfView(view: ListView): string {
  const params = new URLSearchParams();
  const f = view.filter;
  if (f.status) params.set('status', f.status);
  if (f.connected !== undefined) params.set('connected', String(f.connected));
  for (const name of TEXT_MEMBERS) {
    const value = f[name];
    if (value) params.set(name, value);
  }
  if (f.belowMinimum !== undefined) params.set('belowMinimum', String(f.belowMinimum));
  if (view.lastSeen) params.set('lastSeen', view.lastSeen);
  if (view.certificateExpires) params.set('certificateExpires', view.certificateExpires);
  if (view.sort) params.set('sort', view.sort);
  if (view.limit !== DEFAULT_PAGE_SIZE) params.set('limit', String(view.limit));
  const text = params.toString();
  return text ? `?${text}` : '';
}

const when = (ms: string) => new Date(Number(ms)).toLocaleString();

/** The filter in words, one phrase per member: what a bulk change is about to apply to. */
export function describeFilter(f: DeviceFilter): string[] {
  const words: string[] = [];
  if (f.status) words.push(f.status);
  if (f.connected !== undefined) words.push(f.connected ? 'online' : 'offline');
  if (f.tag) words.push(`tagged ${f.tag}`);
  if (f.hardwareClass) words.push(`hardware class ${f.hardwareClass}`);
  if (f.firmwareVersion) words.push(`running ${f.firmwareVersion}`);
  if (f.belowVersion) words.push(`running a version below ${f.belowVersion}`);
  if (f.belowMinimum !== undefined)
    words.push(f.belowMinimum ? 'below the minimum version' : 'not below the minimum version');
  if (f.lastSeenBefore) words.push(`not seen since ${when(f.lastSeenBefore)} (or never)`);
  if (f.lastSeenAfter) words.push(`seen since ${when(f.lastSeenAfter)}`);
  if (f.neverSeen !== undefined) words.push(f.neverSeen ? 'never seen' : 'seen at least once');
  if (f.certificateExpiresBefore)
    words.push(`with a certificate expiring before ${when(f.certificateExpiresBefore)}`);
  return words;
}
