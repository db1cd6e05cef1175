/**
 * Fleet versions: the firmware each device reports running (over MQTT at connect, or the device
 * API), the tenant's distribution by version × hardware class (× tag), and a minimum supported
 * version per hardware class. The contract; `service.ts` implements it over `store.ts`.
 *
 * And the devices' recent failures and refusals (`GET /v1/fleet/problems`): what the broker refused
 * them (kept by `refusal-log.ts` in `device_refusals`), failed OTA operations, events of error
 * severity, disconnects for abnormal reasons and rejected provisioning requests, read from the tables
 * that keep them, newest first; `problems-service.ts` implements it over `problems-store.ts`.
 */
import type { FLEET_PROBLEM_KINDS } from '@mooring/protocol';
import type { DeviceIdentity, TenantCaller } from '../../platform/caller.js';
import type { Page } from '../../platform/pagination.js';

export interface FirmwareState {
  version: string;
  hardwareClass: string;
  reportedAt: number;
}

export interface FleetVersionsQuery {
  /** `tag`: split every count by device tag as well (a device with two tags counts under both). */
  by?: 'tag';
  /** Only devices with this tag. */
  tag?: string;
}

export interface FleetVersionCount {
  /** null: the devices that never reported. */
  version: string | null;
  hardwareClass: string | null;
  /** With `by: 'tag'`; null for devices without tags. */
  tag?: string | null;
  count: number;
}

export interface FleetPolicyEntry {
  hardwareClass: string;
  minVersion: string;
  updatedAt: number;
}

export interface FleetVersions {
  total: number;
  neverReported: number;
  belowMinimum: number;
  items: FleetVersionCount[];
  policy: (FleetPolicyEntry & { belowMinimum: number })[];
}

export interface FleetPolicySet {
  hardwareClass: string;
  /** null removes the class's minimum. */
  minVersion: string | null;
}

export interface FleetService {
  /**
   * A device reports the firmware it runs. Throws INVALID_FIRMWARE_REPORT synchronously for a payload
   * that is not a report (so the broker refuses it before anything is stored).
   */
  report(device: DeviceIdentity, payload: unknown, received?: number): Promise<FirmwareState>;
  /** The distribution of the caller's visible devices, with the policy and the count below it. */
  versions(caller: TenantCaller, query: FleetVersionsQuery): Promise<FleetVersions>;
  policy(caller: TenantCaller): Promise<FleetPolicyEntry[]>;
  /** Sets (or with a null version removes) the minimum version of one hardware class; the whole policy back. */
  setPolicy(caller: TenantCaller, input: FleetPolicySet): Promise<FleetPolicyEntry[]>;
}

export type ProblemKind = (typeof FLEET_PROBLEM_KINDS)[number];

/** Disconnect reasons that tell of a failure (the rest: the device or an operator ended it). */
export const ABNORMAL_DISCONNECTS = [
  'connection_lost',
  'keepalive_timeout',
  'protocol_error',
  'slow_consumer',
  'packet_too_large',
  'too_many_subscriptions',
  'session_taken_over',
] as const;
/** OTA operation states that end in failure (docs/ota.md). */
export const FAILED_OTA_STATES = ['failed', 'rolled_back', 'rejected', 'timed_out'] as const;
/** Device event severities that count as failures. */
export const ERROR_SEVERITIES = ['error', 'critical'] as const;
/** Provisioning operations refused by an operator, or locked after too many wrong codes. */
export const REJECTED_PROVISIONING = ['rejected', 'locked'] as const;

export interface FleetProblem {
  id: string;
  kind: ProblemKind;
  deviceId: string | null;
  deviceName: string | null;
  serial: string | null;
  at: number;
  code: string | null;
  message: string | null;
  topic: string | null;
  count: number;
}

export interface ProblemQuery {
  kind?: ProblemKind;
  deviceId?: string;
  /** Epoch ms; default 24 h ago, clamped to 30 days ago. */
  from?: number;
  cursor?: string;
  limit?: number;
}

export interface ProblemCounts {
  from: number;
  total: number;
  items: { kind: ProblemKind; count: number }[];
}

export interface FleetProblemService {
  /** The caller's visible devices' failures and refusals since `from`, newest first. */
  list(caller: TenantCaller, q: ProblemQuery): Promise<Page<FleetProblem>>;
  /** How many of each kind since `from` (a stored refusal counts with the ones it stands for). */
  counts(caller: TenantCaller, q: Omit<ProblemQuery, 'kind' | 'cursor' | 'limit'>): Promise<ProblemCounts>;
}

export const DEFAULT_WINDOW_MS = 86_400_000;
export const MAX_WINDOW_MS = 30 * 86_400_000;
