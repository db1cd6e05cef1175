/**
 * "Deploy to these devices": the Fleet screen's filter as a new deployment's target, as far as a
 * deployment's target (tags, running versions, below a version, device ids) can say it. What it cannot
 * take is named, never silently dropped: status, connection, last seen, certificate expiry and
 * hardware class are not part of a target (the artifact brings its own hardware class), nor is "below
 * the minimum" (the artifact brings its own minimum). The prefill travels in the new deployment's address, so the form opens filled in.
 */
import type { DeviceFilter } from '../shared/api.js';

export interface DeployPrefill {
  tags?: string;
  versions?: string;
  belowVersion?: string;
}

/** What a deployment target keeps of the filter, and the words for each filter it cannot take. */
export function deploymentTargetOf(filter: DeviceFilter): { prefill: DeployPrefill; cannot: string[] } {
  const prefill: DeployPrefill = {};
  if (filter.tag) prefill.tags = filter.tag;
  if (filter.firmwareVersion) prefill.versions = filter.firmwareVersion;
  if (filter.belowVersion) prefill.belowVersion = filter.belowVersion;
  const cannot: string[] = [];
  if (filter.status) cannot.push(`status ${filter.status}`);
  if (filter.connected !== undefined) cannot.push(filter.connected ? 'connected' : 'not connected');
  if (filter.hardwareClass)
    cannot.push(`hardware class ${filter.hardwareClass} (the artifact brings its own hardware class)`);
  if (filter.belowMinimum !== undefined)
    cannot.push(
      `${filter.belowMinimum ? 'below' : 'not below'} the minimum version (the artifact brings its own minimum)`,
    );
  if (
    filter.lastSeenBefore !== undefined ||
    filter.lastSeenAfter !== undefined ||
    filter.neverSeen !== undefined
  )
    cannot.push('when it was last seen');
  if (filter.certificateExpiresBefore !== undefined) cannot.push('when its certificate expires');
  return { prefill, cannot };
}

const PREFILL_KEYS = ['tags', 'versions', 'belowVersion'] as const;

/** The query of the deployments screen that opens the new-deployment form with this prefill. */
export function prefillSearch(prefill: DeployPrefill): string {
  const params = new URLSearchParams({ new: '1' });
  for (const key of PREFILL_KEYS) if (prefill[key]) params.set(key, prefill[key]);
  return `?${params.toString()}`;
}

/** The prefill the deployments screen's address carries, or undefined when it asks for no form. */
export function prefillOf(search: string): DeployPrefill | undefined {
  const params = new URLSearchParams(search);
  if (params.get('new') !== '1') return undefined;
  const prefill: DeployPrefill = {};
  for (const key of PREFILL_KEYS) {
    const value = params.get(key)?.trim();
    if (value) prefill[key] = value;
  }
  return prefill;
}
