/**
 * The configuration twin (docs/config.md): per device a desired document written by operators and a
 * reported one written by the device, each versioned and changed by JSON Merge Patch (the rules and
 * the wire messages are in `@mooring/protocol`'s `config.ts`). Every change is kept as history and
 * written as an outbox fact in its transaction; the platform pushes each device the difference from
 * the desired version it last acknowledged, on every connect and after every change.
 */
import type { ConfigDocument, DesiredConfigMessage } from '@mooring/protocol';
import type { DeviceIdentity, TenantCaller } from '../../platform/caller.js';
import type { Page } from '../../platform/pagination.js';

export type ConfigSideName = 'desired' | 'reported';

/** Who changed a top-level member last, in which version, when. */
export interface ConfigMemberMeta {
  version: number;
  at: number;
  by: string;
}

export interface ConfigSide {
  version: number;
  document: ConfigDocument;
  metadata: Record<string, ConfigMemberMeta>;
  updatedAt: number | null;
}

export interface DeviceConfig {
  deviceId: string;
  desired: ConfigSide;
  reported: ConfigSide;
  /** The desired version the device last said it applied (0: none). */
  acknowledgedVersion: number;
  acknowledgedAt: number | null;
  /** Desired members whose value the reported document does not hold (a merge patch without deletions). */
  pending: ConfigDocument;
}

export interface ConfigHistoryEntry {
  side: ConfigSideName;
  version: number;
  patch: ConfigDocument;
  before: ConfigDocument;
  after: ConfigDocument;
  /** `user:…`, `api-key:…`, `device:…`. */
  actor: string;
  at: number;
}

export interface ConfigSchema {
  name: string;
  /** Applies to the devices with this tag. */
  tag: string;
  schema: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

export interface ConfigService {
  get(caller: TenantCaller, deviceId: string): Promise<DeviceConfig>;
  /**
   * Merges `patch` into the desired document. `ifMatch`: the desired version the caller read
   * (CONFIG_VERSION_CONFLICT when it is not the current one). A patch that changes nothing makes no
   * version.
   */
  setDesired(
    caller: TenantCaller,
    deviceId: string,
    patch: unknown,
    options?: { ifMatch?: number },
  ): Promise<DeviceConfig>;
  /**
   * Merges `patch` into the desired configuration of each of these devices of the tenant, in the
   * caller's transaction (a bulk job's chunk; not for adapters): the devices changed, and those left
   * as they were with why (over a limit, refused by a schema, gone).
   */
  setDesiredMany(
    tenantId: string,
    deviceIds: readonly string[],
    patch: ConfigDocument,
    actor: string,
    at: number,
  ): Promise<{ changed: string[]; skipped: { deviceId: string; code: string; message: string }[] }>;
  history(
    caller: TenantCaller,
    deviceId: string,
    q: { side?: ConfigSideName; cursor?: string; limit?: number },
  ): Promise<Page<ConfigHistoryEntry>>;
  listSchemas(caller: TenantCaller): Promise<ConfigSchema[]>;
  /** Creates a schema (ALREADY_EXISTS for a name taken; CONFIG_SCHEMA_INVALID when it does not compile). */
  createSchema(
    caller: TenantCaller,
    input: { name: string; tag: string; schema: Record<string, unknown> },
  ): Promise<ConfigSchema>;
  /** Replaces a schema's tag and schema (CONFIG_SCHEMA_NOT_FOUND, CONFIG_SCHEMA_INVALID). */
  updateSchema(
    caller: TenantCaller,
    name: string,
    input: { tag: string; schema: Record<string, unknown> },
  ): Promise<ConfigSchema>;
  deleteSchema(caller: TenantCaller, name: string): Promise<void>;

  /**
   * What to push to the device now: the patch from its acknowledged version to the current desired
   * one (from the empty document when it asked for the whole one), or undefined when it is up to date.
   */
  pushFor(device: DeviceIdentity): Promise<DesiredConfigMessage | undefined>;
  /**
   * The HTTPS long poll: the patch from the version the device holds (`version`) once the desired
   * one is later, waiting up to `waitMs` for a change; undefined when none came.
   */
  pollDesired(
    device: DeviceIdentity,
    version: number,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<DesiredConfigMessage | undefined>;
  /** A device's report: an acknowledgement of a desired version and/or a reported patch. */
  report(
    device: DeviceIdentity,
    payload: unknown,
    received?: number,
  ): Promise<{ acknowledgedVersion: number; reportedVersion: number }>;
  /** The device holds no usable desired document: push it the whole one. */
  requestFull(device: DeviceIdentity): Promise<void>;
}
