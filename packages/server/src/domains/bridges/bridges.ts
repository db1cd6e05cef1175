/**
 * MQTT bridges (docs/integrations.md#mqtt-bridge): per tenant, a connection to the customer's own
 * broker that carries chosen platform events. Events go first into the bridge's spool, a table, in
 * the transaction that handles them (`BridgeSpool.enqueue`), capped in bytes and age (the oldest rows
 * dropped first, every drop counted and audited); one node at a time (a lease on the bridge row)
 * forwards the spool in order and deletes a row only once the broker acknowledged it.
 */
import type { PlatformEvent, PlatformEventType } from '@mooring/protocol';
import type { TenantCaller } from '../../platform/caller.js';
import type { Queryable } from '../../store/db.js';

export interface BridgeStatus {
  connected: boolean;
  lastConnectedAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  spoolRows: number;
  spoolBytes: number;
  oldestSpooledAt: number | null;
  forwarded: number;
  dropped: number;
  lastDroppedAt: number | null;
}

/** A bridge as the API shows it: secrets never, only whether they are set. */
export interface Bridge {
  id: string;
  name: string;
  url: string;
  username: string | null;
  hasPassword: boolean;
  clientCert: string | null;
  hasClientKey: boolean;
  ca: string | null;
  topicTemplate: string;
  eventTypes: PlatformEventType[];
  deviceTags: string[] | null;
  qos: 0 | 1;
  spoolMaxBytes: number;
  spoolMaxAgeSeconds: number;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
  status: BridgeStatus;
}

export interface BridgeInput {
  name: string;
  url: string;
  username?: string | null;
  password?: string | null;
  clientCert?: string | null;
  clientKey?: string | null;
  ca?: string | null;
  topicTemplate: string;
  eventTypes: PlatformEventType[];
  deviceTags?: string[] | null;
  qos?: 0 | 1;
  spoolMaxBytes?: number;
  spoolMaxAgeSeconds?: number;
  enabled?: boolean;
}

export interface BridgeService {
  list(caller: TenantCaller): Promise<Bridge[]>;
  get(caller: TenantCaller, bridgeId: string): Promise<Bridge>;
  /** VALIDATION_FAILED naming the field for a refused URL (scheme, address) or topic template. */
  create(caller: TenantCaller, input: BridgeInput): Promise<Bridge>;
  /** Changes the given members (null removes an optional one); the forwarder reconnects with them. */
  update(caller: TenantCaller, bridgeId: string, input: Partial<BridgeInput>): Promise<Bridge>;
  /** Deletes the bridge and its spool. */
  delete(caller: TenantCaller, bridgeId: string): Promise<void>;
}

/**
 * What the event fan-out calls for every platform event, inside the transaction that handles the
 * event (the ambient one, or `tx` when given): the event is added to the spool of every enabled
 * bridge of its tenant whose event types and tag filter match, and each spool's caps are enforced in
 * the same transaction. Resolves to the number of bridges it was spooled for.
 */
export interface BridgeSpool {
  enqueue(event: PlatformEvent, deviceTags: readonly string[], tx?: Queryable): Promise<number>;
  /** The same for several events at once; resolves to the number of messages spooled. */
  enqueueMany(items: readonly SpoolItem[], tx?: Queryable): Promise<number>;
}

/** One event to spool, with the tags of the device it is about. */
export interface SpoolItem {
  event: PlatformEvent;
  deviceTags: readonly string[];
}
