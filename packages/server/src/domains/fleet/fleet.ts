/**
 * Fleet versions: the firmware each device reports running (over MQTT at connect, or the device
 * API), the tenant's distribution by version × hardware class (× tag), and a minimum supported
 * version per hardware class. The contract; `service.ts` implements it over `store.ts`.
 */
import type { DeviceIdentity, TenantCaller } from '../../platform/caller.js';

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
