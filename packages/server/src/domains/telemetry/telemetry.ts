/**
 * Telemetry and device events: ingestion through the batching writer (acknowledged only once
 * committed) and the read side (raw ranges, latest values, bucketed aggregates, events).
 */
import type { DeviceIdentity, TenantCaller } from '../../platform/caller.js';
import type { Page } from '../../platform/pagination.js';
import type { DeviceEvent, TelemetryValue } from '@mooring/protocol';

export interface TelemetryPoint {
  ts: number;
  key: string;
  value: TelemetryValue;
}

export interface LatestValue {
  key: string;
  ts: number;
  value: TelemetryValue;
}

export interface AggregateBucket {
  /** Bucket start, epoch ms. */
  start: number;
  count: number;
  min: number | null;
  max: number | null;
  avg: number | null;
}

export interface RangeQuery {
  from: number;
  to: number;
  key?: string;
  cursor?: string;
  limit?: number;
}

export interface StoredEvent extends DeviceEvent {
  id: number;
  receivedAt: number;
}

export interface TelemetryService {
  /**
   * Validates a decoded payload and queues it for the next group commit. Validation happens at once
   * (throws an AppError); the returned promise resolves when the batch holding it is committed.
   * The queueing is synchronous, so commits resolve in call order.
   */
  ingest(device: DeviceIdentity, payload: unknown, received?: number): Promise<number>;
  /** Same for a device event. */
  ingestEvent(device: DeviceIdentity, payload: unknown, received?: number): Promise<void>;
  /** Raw values of one device in [from, to), oldest first. */
  range(caller: TenantCaller, deviceId: string, query: RangeQuery): Promise<Page<TelemetryPoint>>;
  /** The latest value of every key of a device. */
  latest(caller: TenantCaller, deviceId: string): Promise<LatestValue[]>;
  /** count/min/max/avg of a numeric key in buckets of `bucketMs` over [from, to). */
  aggregate(
    caller: TenantCaller,
    deviceId: string,
    q: { key: string; from: number; to: number; bucketMs: number },
  ): Promise<AggregateBucket[]>;
  /** Events of one device in [from, to), oldest first. */
  events(caller: TenantCaller, deviceId: string, query: RangeQuery): Promise<Page<StoredEvent>>;
}

/** Largest number of buckets one aggregate query may return. */
export const MAX_AGGREGATE_BUCKETS = 10_000;

/**
 * One message of a telemetry group commit, as the commit's hook sees it (what integrations forward is
 * written in the same transaction: `BatchStats.inCommit`).
 */
export interface CommittedMessage {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly received: number;
  readonly rows: readonly { readonly key: string; readonly ts: number; readonly value: TelemetryValue }[];
  readonly event: DeviceEvent | undefined;
}
