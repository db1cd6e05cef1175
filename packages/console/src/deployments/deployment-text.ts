/**
 * Deployments in words: their statuses and the states of a device's operation, a target, the
 * devices an artifact left out and why, and the API's refusals of a deployment (by their stable
 * codes and the members they carry: `excluded`, `errors`, `deploymentStatus`, `state`).
 */
import type { ApiProblem, Deployment, DeploymentDevice } from '../shared/api.js';
import { plural, problemText } from '../shared/messages.js';

export type DeploymentStatus = Deployment['status'];
export type OtaState = DeploymentDevice['state'];

export const STATUS_TEXT: Record<DeploymentStatus, string> = {
  active: 'Active',
  paused: 'Paused',
  completed: 'Completed',
  aborted: 'Aborted',
  stopped: 'Stopped',
};

/** The badge class of a status: going on, waiting, done, ended early. */
export const STATUS_BADGE: Record<DeploymentStatus, string> = {
  active: 'ok',
  paused: 'warn',
  completed: '',
  aborted: 'bad',
  stopped: 'bad',
};

/** Each state in words, in the order a healthy update walks them. */
export const STATE_TEXT: Record<OtaState, string> = {
  queued: 'Queued',
  offered: 'Offered',
  accepted: 'Accepted',
  deferred: 'Deferred',
  downloading: 'Downloading',
  downloaded: 'Downloaded',
  installing: 'Installing',
  rebooting: 'Rebooting',
  succeeded: 'Succeeded',
  failed: 'Failed',
  rolled_back: 'Rolled back',
  rejected: 'Rejected',
  timed_out: 'Timed out',
  cancelled: 'Cancelled',
};

/**
 * Every state of a device's operation, in the order a healthy update walks them (as the API lists
 * them): the order of STATE_TEXT, whose type makes it name every state the API has.
 */
export const OTA_STATES = Object.keys(STATE_TEXT) as readonly OtaState[];

/** States in which an update went wrong. */
export const FAILED_STATES: ReadonlySet<OtaState> = new Set([
  'failed',
  'rolled_back',
  'rejected',
  'timed_out',
]);
/** States a device is in while it holds the offer (each with a deadline). */
export const OPEN_STATES: ReadonlySet<OtaState> = new Set([
  'offered',
  'accepted',
  'deferred',
  'downloading',
  'downloaded',
  'installing',
  'rebooting',
]);
/** States in which a device's operation can still be cancelled: it has not begun installing. */
export const CANCELLABLE_STATES: ReadonlySet<OtaState> = new Set([
  'queued',
  'offered',
  'accepted',
  'deferred',
  'downloading',
  'downloaded',
]);

/** Why the deployment last changed status (`statusCode`). */
const STATUS_CODE_TEXT: Record<string, string> = {
  operator: 'by an operator',
  status_rule: 'by the status rule (too many failed updates)',
  health_gate: 'by the health gate (updated devices less healthy than the others)',
  emergency_stop: 'by an emergency stop',
  completed: 'every phase done',
};
export const statusCodeText = (code: string | null) =>
  code === null ? undefined : (STATUS_CODE_TEXT[code] ?? code);

/** The devices an artifact left out, by reason (`excluded`). */
const EXCLUDED_TEXT: Record<string, string> = {
  hardware_class: 'of another hardware class',
  no_firmware_report: 'that never reported their firmware',
  below_min_version: "running below the artifact's minimum version",
  not_newer: "at or past the artifact's version",
  busy: 'in another open deployment',
};

export function excludedText(excluded: Readonly<Record<string, number>>): string[] {
  return Object.entries(excluded)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${plural(n, 'device')} ${EXCLUDED_TEXT[reason] ?? reason}`);
}

interface TargetShape {
  tags?: string[];
  deviceIds?: string[];
  versions?: string[];
  belowVersion?: string;
}

/** A target as the request gave it, in words (`target` is `unknown` in the answer: read defensively). */
export function targetText(target: unknown): string {
  const t = (target ?? {}) as TargetShape;
  const parts: string[] = [];
  if (Array.isArray(t.tags)) parts.push(`tagged ${t.tags.join(' or ')}`);
  if (Array.isArray(t.deviceIds)) parts.push(plural(t.deviceIds.length, 'named device'));
  if (Array.isArray(t.versions)) parts.push(`running ${t.versions.join(' or ')}`);
  if (typeof t.belowVersion === 'string') parts.push(`below ${t.belowVersion}`);
  return parts.length === 0 ? 'every device of the hardware class' : parts.join(', ');
}

/** A refused deployment request or action. */
export function deploymentText(p: ApiProblem): string {
  switch (p.code) {
    case 'DEPLOYMENT_TARGET_EMPTY': {
      const excluded = p.members.excluded;
      const why =
        excluded && typeof excluded === 'object' ? excludedText(excluded as Record<string, number>) : [];
      return `No device of this target can take the artifact (${p.code})${
        why.length > 0 ? `: left out are ${why.join('; ')}` : ''
      }. Nothing was created.`;
    }
    case 'DEPLOYMENT_TARGET_REFUSED': {
      const errors = Array.isArray(p.members.errors) ? (p.members.errors as { message?: unknown }[]) : [];
      const named = errors.map((e) => (typeof e.message === 'string' ? e.message : '')).filter(Boolean);
      return `Named devices cannot take the artifact (${p.code}): ${named.join('; ')}. Nothing was created.`;
    }
    case 'OTA_EMERGENCY_STOP_ACTIVE':
      return `The emergency stop is engaged: no deployment can be created or resumed until it is released (${p.code}).`;
    case 'DEPLOYMENT_STATE_CONFLICT': {
      const status = p.members.deploymentStatus;
      return `That does not apply now: the deployment is ${
        typeof status === 'string' ? status : 'in another status'
      } (${p.code}).`;
    }
    case 'OTA_OPERATION_NOT_OPEN': {
      const state = p.members.state;
      return `This device's update cannot be cancelled: it is ${
        typeof state === 'string' ? (STATE_TEXT[state as OtaState] ?? state).toLowerCase() : 'past that'
      }, and an install runs to its end (${p.code}).`;
    }
    default:
      return problemText(p);
  }
}
