/**
 * Devices: the registry of units, their per-device access keys, and device authentication. The
 * contract; `service.ts` implements it over `store.ts`.
 */
import type { DeviceIdentity, TenantCaller } from '../../platform/caller.js';
import type { Page } from '../../platform/pagination.js';
import type { DeviceSort } from '@mooring/protocol';
import type { Queryable } from '../../store/db.js';

/** `released`: handed over to another owner (ownership transfer); kept only as the old owner's record. */
export type DeviceStatus = 'enabled' | 'disabled' | 'released';

export interface Device {
  id: string;
  tenantId: string;
  /** The manufacturer's serial, unique in the tenant; provisioning finds devices by it. */
  serial: string | null;
  name: string;
  tags: string[];
  metadata: Record<string, unknown>;
  status: DeviceStatus;
  createdAt: number;
  updatedAt: number;
  /** What the device last reported running (`fleet` domain); null until it reports. */
  firmware: DeviceFirmware | null;
  presence: {
    connected: boolean;
    lastSeenAt: number | null;
    lastConnectedAt: number | null;
    lastDisconnectedAt: number | null;
    lastDisconnectReason: string | null;
  };
}

export interface DeviceFirmware {
  version: string;
  hardwareClass: string;
  reportedAt: number;
}

export interface AccessKey {
  id: string;
  deviceId: string;
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface DeviceCreate {
  name: string;
  serial?: string;
  tags?: string[];
  metadata?: Record<string, unknown>;
}

export interface DeviceUpdate {
  name?: string;
  tags?: string[];
  metadata?: Record<string, unknown>;
  status?: DeviceStatus;
}

export interface DeviceListQuery {
  cursor?: string;
  limit?: number;
  /** The page order (./sort.ts); `id` (creation order) when absent. */
  sort?: DeviceSort;
  tag?: string;
  status?: DeviceStatus;
  connected?: boolean;
  /** Exactly this version (as reported, build metadata included). */
  firmwareVersion?: string;
  hardwareClass?: string;
  /** Below this version by SemVer precedence; devices that never reported are not below anything. */
  belowVersion?: string;
  /** true: below the tenant's minimum version for their hardware class. */
  belowMinimum?: boolean;
  /**
   * Instants as the query gives them (epoch ms or RFC 3339). Not seen since then: `presence.lastSeenAt`
   * before it, or never seen.
   */
  lastSeenBefore?: string;
  /** Seen at or after this instant. */
  lastSeenAfter?: string;
  /** true: never seen (`presence.lastSeenAt` null); false: seen at least once. */
  neverSeen?: boolean;
  /**
   * The device's current certificate expires before this instant (expired included): of its
   * certificates neither revoked nor pending approval, the one that expires last. A device without
   * one never matches.
   */
  certificateExpiresBefore?: string;
}

/** The list's filters without paging and order: the devices a bulk operation acts on. */
export type DeviceFilter = Omit<DeviceListQuery, 'cursor' | 'limit' | 'sort'>;

/** A bulk operation (docs/api.md#bulk-operations): what to do to every device a filter matches. */
export interface DeviceBulkInput {
  filter: DeviceFilter;
  action:
    | { type: 'addTags'; tags: string[] }
    | { type: 'removeTags'; tags: string[] }
    | { type: 'disable' }
    | { type: 'enable' }
    | { type: 'revoke' }
    | { type: 'setDesiredConfig'; patch: Record<string, unknown> };
  dryRun?: boolean;
  /** The count the dry run showed: another count now refuses the operation (BULK_MATCH_CHANGED). */
  expectMatched?: number;
}

export interface DeviceBulkResult {
  dryRun: boolean;
  matched: number;
  wouldChange: number;
  changed: number;
}

/** The actions that run as a job: their work is too much for one transaction at fleet size. */
export type DeviceBulkJobAction = 'revoke' | 'setDesiredConfig';
export type DeviceBulkJobStatus = 'queued' | 'running' | 'done' | 'failed';

/** A device a job left as it was, and why. */
export interface SkippedDevice {
  deviceId: string;
  code: string;
  message: string;
}

/** A bulk job (docs/api.md#bulk-operations): its request and its progress. */
export interface DeviceBulkJob {
  id: string;
  action: DeviceBulkJobAction;
  status: DeviceBulkJobStatus;
  filter: DeviceFilter;
  createdBy: string;
  matched: number;
  processed: number;
  changed: number;
  skipped: number;
  skippedDevices: SkippedDevice[];
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  error: string | null;
}

/** The answer to a bulk request that started a job. */
export interface DeviceBulkAccepted extends DeviceBulkResult {
  dryRun: false;
  job: DeviceBulkJob;
}

/**
 * Bulk operations that run as jobs. The request counts the filter's devices (a dry run stops there)
 * and stores the job with the ids it matched, in one transaction; a worker under a lease then works
 * the job through in chunks (`work`). One method per action: each needs the permissions of its
 * single-device paths.
 */
export interface DeviceBulkJobService {
  /** Revokes every credential of each matched device (certificates, access keys, registration tokens). */
  revoke(caller: TenantCaller, input: DeviceBulkInput): Promise<DeviceBulkResult | DeviceBulkAccepted>;
  /** Merges a JSON Merge Patch into each matched device's desired configuration. */
  setDesiredConfig(
    caller: TenantCaller,
    input: DeviceBulkInput,
  ): Promise<DeviceBulkResult | DeviceBulkAccepted>;
  /** A job of the caller's tenant (BULK_JOB_NOT_FOUND otherwise). */
  get(caller: TenantCaller, jobId: string): Promise<DeviceBulkJob>;
  /**
   * Works queued and running jobs through, chunk by chunk, for about `budgetMs` (the worker); resolves
   * with whether work is left. `maxChunks` stops after that many chunks (tests of a resumption).
   */
  work(options?: { budgetMs?: number; maxChunks?: number }): Promise<boolean>;
}

/** How a device proved itself; carried on its session for logs, presence and revocation. */
export interface AuthenticatedDevice extends DeviceIdentity {
  credential: 'access-key' | 'registration-token' | 'certificate';
  /** The access key id, the registration token's `jti`, or the certificate serial. */
  credentialId: string;
  /** The id in the device's topics and MQTT client id when it is not the device id (manufacturer certificates). */
  clientId?: string;
}

export interface DeviceService {
  create(caller: TenantCaller, input: DeviceCreate): Promise<Device>;
  /** Lists the tenant's devices in creation order, filtered by tag, status or connection. */
  list(caller: TenantCaller, query: DeviceListQuery): Promise<Page<Device>>;
  /** Returns a device of the caller's tenant, or DEVICE_NOT_FOUND (also for other tenants' ids). */
  get(caller: TenantCaller, deviceId: string): Promise<Device>;
  /** Changes name, tags, metadata or status; disabling drops the device's live sessions. */
  update(caller: TenantCaller, deviceId: string, patch: DeviceUpdate): Promise<Device>;
  /** Deletes the device with its keys, commands and data; drops its live sessions. */
  delete(caller: TenantCaller, deviceId: string): Promise<void>;
  /**
   * Acts on every device the filter matches, in one transaction (the request's, with its one audit
   * record), or only counts them (`dryRun`); disabling drops the disabled devices' live sessions.
   * Revoking and setting the desired configuration run as jobs (`DeviceBulkJobService`).
   */
  bulk(caller: TenantCaller, input: DeviceBulkInput): Promise<DeviceBulkResult>;
  /** Issues a new access key; the secret is returned once. Several may be live for rotation. */
  createAccessKey(caller: TenantCaller, deviceId: string): Promise<{ accessKey: AccessKey; secret: string }>;
  listAccessKeys(caller: TenantCaller, deviceId: string): Promise<AccessKey[]>;
  /** Revokes one key at once and drops the sessions that authenticated with it. */
  revokeAccessKey(caller: TenantCaller, deviceId: string, keyId: string): Promise<void>;
  /**
   * Authenticates a device by its access key. `claimedDeviceId`, when given (MQTT client id and
   * username), must name the key's device. INVALID_CREDENTIALS or DEVICE_DISABLED otherwise.
   */
  authenticate(secret: string, claimedDeviceId?: string): Promise<AuthenticatedDevice>;
}

/**
 * Device rows as other domains create and read them (provisioning, factory batches, ownership claims,
 * just-in-time registration). They get `DeviceRecordsOn` from `app.ts`, never the devices store itself.
 */
export interface DeviceRecords {
  /** Stores a new device (ALREADY_EXISTS for a serial taken in its tenant). */
  insert(device: Device, provisioningTokenId?: string | null): Promise<Device>;
  get(tenantId: string, id: string): Promise<Device | undefined>;
  /** The device with this manufacturer serial in the tenant. */
  bySerial(tenantId: string, serial: string): Promise<Device | undefined>;
  /** The ids of the tenant's devices with these serials, by serial. */
  idsBySerial(tenantId: string, serials: string[]): Promise<Map<string, string>>;
  /** What registration-token checks read, by device id alone (the token names the tenant). */
  credentialState(deviceId: string): Promise<DeviceCredentialState | undefined>;
  /** Every access key of the device stops working. */
  revokeAllAccessKeys(tenantId: string, deviceId: string, at: number): Promise<void>;
  /** Registration tokens issued before `at` stop working; false when the tenant has no such device. */
  revokeRegistrationTokens(tenantId: string, deviceId: string, at: number): Promise<boolean>;
  /**
   * The unit was provisioned again with `provisioningTokenId`: registration tokens issued before `at`
   * stop working and it refreshes with that token from now.
   */
  reprovisioned(tenantId: string, deviceId: string, provisioningTokenId: string, at: number): Promise<void>;
  /** Handed to another owner: status `released`, serial freed, registration tokens dead. */
  release(tenantId: string, deviceId: string, at: number): Promise<void>;
}

export interface DeviceCredentialState {
  tenantId: string;
  status: DeviceStatus;
  /** Registration tokens issued before this time (ms) are refused. */
  tokensValidAfter: number;
  /** The provisioning token the unit was (last) provisioned with: the one it refreshes with. */
  provisioningTokenId: string | null;
  serial: string | null;
}

/** The device records in the caller's transaction `tx`, or on the store when none is given. */
export type DeviceRecordsOn = (tx?: Queryable) => DeviceRecords;

export const ACCESS_KEY_PREFIX = 'dak';
export const MAX_TAGS = 32;
export const MAX_METADATA_BYTES = 8 * 1024;

/** A device record as first stored: enabled unless told otherwise, never connected. */
export function newDeviceRecord(fields: {
  id: string;
  tenantId: string;
  name: string;
  serial?: string | null;
  tags?: string[];
  metadata?: Record<string, unknown>;
  status?: DeviceStatus;
  now: number;
}): Device {
  return {
    id: fields.id,
    tenantId: fields.tenantId,
    serial: fields.serial ?? null,
    name: fields.name,
    tags: [...new Set(fields.tags ?? [])],
    metadata: fields.metadata ?? {},
    status: fields.status ?? 'enabled',
    createdAt: fields.now,
    updatedAt: fields.now,
    firmware: null,
    presence: {
      connected: false,
      lastSeenAt: null,
      lastConnectedAt: null,
      lastDisconnectedAt: null,
      lastDisconnectReason: null,
    },
  };
}
