/**
 * What a device's report does to its operation: the rules, free of the store. A report must name the
 * current attempt of an operation that is still with the device, and move it forward (a device may
 * defer until it begins installing, e.g. downloaded now and installed in a window, and go on from
 * there); `succeeded` counts only with the version the deployment installs;
 * `failed`, `rolled_back` (and a success with another version) are retried while retries last;
 * `rejected` (the device refused the image) is not.
 */
import { OTA_FINAL_STATES, type OtaReport, type OtaState } from '@mooring/protocol';
import { AppError } from '../../errors.js';
import type { DeploymentSettings, TimeoutState } from './deployments.js';
import { retryDelayMs } from './settings.js';
import type { OperationRow } from './store.js';

const ORDER: Partial<Record<OtaState, number>> = {
  offered: 1,
  accepted: 2,
  deferred: 2,
  downloading: 3,
  downloaded: 4,
  installing: 5,
  rebooting: 6,
};
const FINAL = new Set<OtaState>(OTA_FINAL_STATES);
export const isFinal = (s: OtaState) => FINAL.has(s);
export const isActive = (s: OtaState) => ORDER[s] !== undefined;

/** How an operation's attempt ended, for the deployment's counters. */
export type Outcome = 'none' | 'success' | 'failure';

export interface Transition {
  row: OperationRow;
  /** The state the fact names (a failure that is retried is reported as what it was). */
  factState: OtaState;
  outcome: Outcome;
  /** The device's feed changed (an offer ended or a cancel was acknowledged). */
  feedChanged: boolean;
}

export function notOpen(op: OperationRow, why: string): AppError {
  return new AppError('OTA_OPERATION_NOT_OPEN', `operation ${op.operation_id}: ${why}`, {
    details: { state: op.state, attempt: op.attempt },
  });
}

/** The operation after `report`, or the refusal; `undefined` when the report repeats what is known. */
export function apply(
  op: OperationRow,
  report: OtaReport,
  settings: DeploymentSettings,
  now: number,
  /** The deployment is active or paused: a failed attempt may be retried. */
  running: boolean,
): Transition | undefined {
  const base = { ...op, updated_at: now };
  if (report.state === 'cancelled') {
    if (op.cancel_pending && report.attempt === op.attempt)
      return {
        row: { ...base, cancel_pending: false },
        factState: 'cancelled',
        outcome: 'none',
        feedChanged: true,
      };
    if (op.state === 'cancelled') return undefined;
    throw notOpen(op, 'it was not cancelled');
  }
  if (report.attempt !== op.attempt) throw notOpen(op, `attempt ${report.attempt} is not the current one`);
  if (isFinal(op.state)) {
    if (op.state === report.state) return undefined;
    throw notOpen(op, `it already ended ${op.state}`);
  }
  if (!isActive(op.state)) throw notOpen(op, 'it has not been offered');
  const from = ORDER[op.state]!;
  const to = ORDER[report.state];
  const deferral = report.state === 'deferred' && from <= ORDER.downloaded!;
  if (to !== undefined && to < from && op.state !== 'deferred' && !deferral)
    throw notOpen(op, `${report.state} cannot follow ${op.state}`);

  const detail = { code: report.code ?? null, reason: report.reason ?? null };
  if (to !== undefined) {
    const state = report.state as TimeoutState;
    const changed = state !== op.state;
    return {
      row: {
        ...base,
        state,
        progress: state === 'downloading' ? (report.progress ?? op.progress) : null,
        ...(changed || report.code !== undefined || report.reason !== undefined ? detail : {}),
        state_since: changed ? now : op.state_since,
        deadline_at: now + settings.timeouts[state] * 1000,
      },
      factState: state,
      outcome: 'none',
      feedChanged: false,
    };
  }
  if (report.state === 'succeeded' && report.version === settings.version) {
    return {
      row: {
        ...base,
        state: 'succeeded',
        ...detail,
        progress: null,
        state_since: now,
        deadline_at: null,
        succeeded_at: now,
      },
      factState: 'succeeded',
      outcome: 'success',
      feedChanged: true,
    };
  }
  const ended: OtaState = report.state === 'succeeded' ? 'failed' : report.state;
  const why =
    report.state === 'succeeded'
      ? { code: 'VERSION_MISMATCH', reason: `reports running ${report.version}, not ${settings.version}` }
      : detail;
  return {
    row: failed(base, ended, why, settings, now, running),
    factState: ended,
    outcome: 'failure',
    feedChanged: true,
  };
}

/**
 * An attempt that ended badly: queued for the next attempt while retries last and the deployment runs
 * (not after a rejection).
 */
export function failed(
  op: OperationRow,
  state: OtaState,
  why: { code: string | null; reason: string | null },
  settings: DeploymentSettings,
  now: number,
  running: boolean,
): OperationRow {
  // A deployment that ended (aborted, stopped) retries nothing: its queue is never offered again.
  const retry = running && state !== 'rejected' && op.attempt <= settings.retries.max;
  return {
    ...op,
    ...why,
    state: retry ? 'queued' : state,
    next_attempt_at: retry ? now + retryDelayMs(settings, op.attempt) : null,
    progress: null,
    state_since: now,
    deadline_at: null,
    updated_at: now,
  };
}
