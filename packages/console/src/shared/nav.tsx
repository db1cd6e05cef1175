/**
 * Where the console is: each screen has its own address under `/console/` (the server answers
 * `index.html` for every such page route), so that a reload, a bookmark or the browser's Back and
 * Forward keep the screen and, on the Fleet screen, its filters (in the query). Moving between screens
 * is a plain link: keyboard, middle-click and "open in a new tab" work as on any page; a plain click
 * is handled here without reloading the console.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { searchOfView, type ListView } from '../fleet/filter.js';

export const BASE = '/console';
export type ScreenName =
  | 'approvals'
  | 'fleet'
  | 'device'
  | 'deployments'
  | 'deployment'
  | 'integrations'
  | 'access'
  | 'audit'
  | 'account';
/** The screens of the navigation; a device's page is reached from the Fleet screen. */
export const SCREENS: readonly { name: ScreenName; path: string; title: string }[] = [
  { name: 'approvals', path: `${BASE}/approvals`, title: 'Approvals' },
  { name: 'fleet', path: `${BASE}/fleet`, title: 'Fleet' },
  { name: 'deployments', path: `${BASE}/deployments`, title: 'Deployments' },
  { name: 'integrations', path: `${BASE}/integrations`, title: 'Integrations' },
  { name: 'access', path: `${BASE}/access`, title: 'Access' },
  { name: 'audit', path: `${BASE}/audit`, title: 'Audit' },
];

/** The signed-in user's own account, reached from the user name in the top bar. */
export const ACCOUNT_PATH = `${BASE}/account`;

/** The Fleet screen's address with the device list's view. */
export const fleetHref = (view: ListView) => `${BASE}/fleet${searchOfView(view)}`;

/** A device's page. */
export const deviceHref = (deviceId: string) => `${BASE}/devices/${encodeURIComponent(deviceId)}`;
const DEVICE_PATH = new RegExp(`^${BASE}/devices/([^/]+)$`);

/** A deployment's page. */
export const deploymentHref = (deploymentId: string) =>
  `${BASE}/deployments/${encodeURIComponent(deploymentId)}`;
const DEPLOYMENT_PATH = new RegExp(`^${BASE}/deployments/([^/]+)$`);

export interface Place {
  /** undefined: an address that is no screen of the console. */
  screen: ScreenName | undefined;
  /** The query, `?…` or empty. */
  search: string;
  /** On a device's page: the device. */
  deviceId?: string;
  /** On a deployment's page: the deployment. */
  deploymentId?: string;
}

function placeOf(loc: Location): Place {
  const path = loc.pathname.replace(/\/+$/, '');
  const device = DEVICE_PATH.exec(path);
  if (device) return { screen: 'device', search: loc.search, deviceId: decodeURIComponent(device[1]!) };
  const deployment = DEPLOYMENT_PATH.exec(path);
  if (deployment)
    return { screen: 'deployment', search: loc.search, deploymentId: decodeURIComponent(deployment[1]!) };
  if (path === ACCOUNT_PATH) return { screen: 'account', search: loc.search };
  // The console's own address (and its file's) shows the first screen.
  const screen =
    path === BASE || path === `${BASE}/index.html` ? 'approvals' : SCREENS.find((s) => s.path === path)?.name;
  return { screen, search: loc.search };
}

const moved = new Set<() => void>();

/** Goes to an address of the console without reloading it; it becomes a step of the history. */
export function navigate(href: string): void {
  history.pushState(null, '', href);
  for (const listener of moved) listener();
}

/** The current place, following links, `navigate` and the browser's Back and Forward. */
export function usePlace(): Place {
  const [place, setPlace] = useState(() => placeOf(location));
  useEffect(() => {
    const update = () => setPlace(placeOf(location));
    moved.add(update);
    addEventListener('popstate', update);
    return () => {
      moved.delete(update);
      removeEventListener('popstate', update);
    };
  }, []);
  return place;
}

/** A link within the console. */
export function Link(props: {
  href: string;
  current?: boolean;
  class?: string;
  children: ComponentChildren;
}) {
  function follow(event: MouseEvent) {
    // A new tab or window, or a download, is the browser's to handle.
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(props.href);
  }
  return (
    <a
      href={props.href}
      onClick={follow}
      {...(props.class ? { class: props.class } : {})}
      {...(props.current ? { 'aria-current': 'page' as const } : {})}
    >
      {props.children}
    </a>
  );
}
