/**
 * The device list's view (its filter and page size) as the query of the page's address, so that a
 * reload, a bookmark or a link keeps it: `/console/fleet?status=enabled&connected=false&limit=20`.
 * The members have the API's names and forms (`connected=true`), and are sent as they are: the server
 * validates them, and the console shows its refusal. A member the console does not know, or a value
 * no filter takes (`status=maybe`), is left out rather than guessed at.
 */
import type { DeviceFilter } from '../shared/api.js';

export const PAGE_SIZES = [20, 50, 100] as const;
/** The API's own default page size. */
export const DEFAULT_PAGE_SIZE = 50;

export interface ListView {
  filter: DeviceFilter;
  limit: number;
}

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
  const limit = Number(params.get('limit'));
  return { filter, limit: (PAGE_SIZES as readonly number[]).includes(limit) ? limit : DEFAULT_PAGE_SIZE };
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
  if (view.limit !== DEFAULT_PAGE_SIZE) params.set('limit', String(view.limit));
  const text = params.toString();
  return text ? `?${text}` : '';
}

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
  return words;
}
