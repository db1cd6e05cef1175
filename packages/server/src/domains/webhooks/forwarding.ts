/**
 * Telemetry and device events for integrations. The telemetry group commit writes, in its own
 * transaction and only for tenants that forward them (`interest.ts`), the readings of each tenant's
 * messages as one row of `telemetry_forward_batches` and each device event as an outbox fact: what was
 * acknowledged to the device is forwarded, and nothing else, at the cost of one row per commit and
 * tenant. A leased job then drains the buffer every second into telemetry.batch events
 * (docs/integrations.md):
 * - for webhooks, one event per tenant, drain and set of matching webhooks, holding every device's
 *   readings of that second (at most `MAX_READINGS_PER_EVENT`; more make several events): a webhook
 *   gets about one request a second however many devices report, not one per device or message;
 * - for MQTT bridges, whose topics name a device, one event per device and drain.
 * The events, their deliveries and spool rows and the removal of the drained rows share one
 * transaction of a handful of statements.
 */
import type { PlatformEvent, TelemetryValue } from '@mooring/protocol';
import { newId } from '../../ids.js';
import type { Outbox } from '../../platform/outbox.js';
import type { Queryable, Transaction } from '../../store/db.js';
import type { CommittedMessage } from '../telemetry/telemetry.js';
import type { EventSink } from './fanout.js';
import type { Interest } from './interest.js';
import { endpointMatcher, type WebhookStore } from './store.js';

/** Readings in one telemetry.batch event; a second with more makes several events. */
export const MAX_READINGS_PER_EVENT = 2000;
/** Buffer rows (each a commit's worth of a tenant's messages) drained per transaction. */
const DRAIN_ROWS = 100;

/** A buffered message as stored: [deviceId, receivedAt, [[key, ts, value], …]]. */
type StoredMessage = [string, number, [string, number, TelemetryValue][]];

interface Reading {
  key: string;
  ts: number;
  value: TelemetryValue;
}

/** One device's part of a telemetry.batch event. */
export interface DeviceReadings {
  deviceId: string;
  readings: Reading[];
  receivedFrom: number;
  receivedTo: number;
}

/** The group commit's hook: what interested tenants forward, in the commit's transaction. */
export function forwardInCommit(deps: { interest: Interest; outbox: Pick<Outbox, 'addIn'> }) {
  let wroteEvents = false;
  return {
    async inCommit(tx: Queryable, messages: readonly CommittedMessage[]): Promise<void> {
      const byTenant = new Map<string, StoredMessage[]>();
      const events = [];
      for (const m of messages) {
        if (m.rows.length > 0 && deps.interest.wants(m.tenantId, 'telemetry.batch')) {
          const stored: StoredMessage = [m.deviceId, m.received, m.rows.map((r) => [r.key, r.ts, r.value])];
          const list = byTenant.get(m.tenantId);
          if (list) list.push(stored);
          else byTenant.set(m.tenantId, [stored]);
        }
        if (m.event && deps.interest.wants(m.tenantId, 'device.event'))
          events.push({ tenantId: m.tenantId, deviceId: m.deviceId, ...m.event, at: m.received });
      }
      if (byTenant.size > 0) {
        // Each tenant's text a parameter of its own: inside a text array it would be escaped and
        // quoted on its way in, which costs more than the insert itself for a large commit.
        const params = [...byTenant].flatMap(([tenantId, list]) => [tenantId, JSON.stringify(list)]);
        await tx.query(
          `INSERT INTO telemetry_forward_batches (tenant_id, messages)
           VALUES ${[...byTenant.keys()].map((_t, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(', ')}`,
          params,
        );
      }
      if (events.length > 0) {
        await deps.outbox.addIn(tx, 'device.event', events);
        wroteEvents = true;
      }
    },
    /** After the commit: whether device events were written (the outbox worker is then nudged). */
    takeWroteEvents(): boolean {
      const was = wroteEvents;
      wroteEvents = false;
      return was;
    },
  };
}

interface BufferRow {
  id: string;
  tenant_id: string;
  messages: string;
}

/** What one tenant sent in a drain: each device's readings, devices in the order they first appear. */
function devicesOf(rows: readonly BufferRow[]): Map<string, Map<string, DeviceReadings>> {
  const tenants = new Map<string, Map<string, DeviceReadings>>();
  for (const row of rows) {
    let devices = tenants.get(row.tenant_id);
    if (!devices) tenants.set(row.tenant_id, (devices = new Map()));
    for (const [deviceId, received, readings] of JSON.parse(row.messages) as StoredMessage[]) {
      let d = devices.get(deviceId);
      if (!d)
        devices.set(deviceId, (d = { deviceId, readings: [], receivedFrom: received, receivedTo: received }));
      for (const [key, ts, value] of readings) d.readings.push({ key, ts, value });
      d.receivedFrom = Math.min(d.receivedFrom, received);
      d.receivedTo = Math.max(d.receivedTo, received);
    }
  }
  return tenants;
}

/**
 * Devices' readings as parts of at most `max` readings each, in order: a device's readings stay in
 * one part when they fit in what is left of it, and are split across parts only when they do not.
 */
export function chunkReadings(devices: readonly DeviceReadings[], max = MAX_READINGS_PER_EVENT) {
  const chunks: DeviceReadings[][] = [];
  let chunk: DeviceReadings[] = [];
  let room = max;
  for (const d of devices) {
    for (let at = 0; at < d.readings.length;) {
      if (room === 0) {
        chunks.push(chunk);
        chunk = [];
        room = max;
      }
      const part = d.readings.slice(at, at + room);
      chunk.push({ ...d, readings: part });
      at += part.length;
      room -= part.length;
    }
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/** A telemetry.batch event of one or more devices' readings. */
function batchEvent(id: string, tenantId: string, devices: DeviceReadings[]): PlatformEvent {
  return {
    id,
    type: 'telemetry.batch',
    tenantId,
    deviceId: devices.length === 1 ? devices[0]!.deviceId : null,
    occurredAt: Math.max(...devices.map((d) => d.receivedTo)),
    data: { devices },
  };
}

/** The leased drain of the buffer into telemetry.batch events. */
export function createTelemetryForwarder(deps: {
  transaction: Transaction<WebhookStore>;
  sinks?: ((tx: Queryable) => EventSink)[];
  nudge(): void;
  now?: () => number;
}) {
  const now = deps.now ?? Date.now;
  return {
    /** Drains what is buffered; resolves with the number of events made. */
    async run(): Promise<number> {
      let made = 0;
      for (;;) {
        const { events, rows, delivered } = await deps.transaction(async (store, tx) => {
          const buffered = await tx.query<BufferRow>(
            `SELECT id::text AS id, tenant_id, messages FROM telemetry_forward_batches
              ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
            [DRAIN_ROWS],
          );
          if (buffered.length === 0) return { events: 0, rows: 0, delivered: false };
          // Event ids derive from the drain's first row: the same rows make the same ids.
          const base = buffered[0]!.id;
          let k = 0;
          const deliveries: Parameters<WebhookStore['addDeliveriesOfEvents']>[0][number][] = [];
          const spooled: { event: PlatformEvent; deviceTags: readonly string[] }[] = [];
          const t = now();
          for (const [tenantId, devices] of devicesOf(buffered)) {
            // One statement for the tags of the tenant's devices, one for its webhooks (PGlite runs a
            // transaction's statements back to back without yielding to the event loop: each
            // statement here is time no PUBACK leaves).
            const tags = await store.devicesTags(tenantId, [...devices.keys()]);
            const matching = endpointMatcher(await store.activeEndpoints(tenantId));
            const groups = new Map<string, { endpoints: string[]; devices: DeviceReadings[] }>();
            for (const d of devices.values()) {
              const deviceTags = tags.get(d.deviceId) ?? [];
              const endpoints = matching('telemetry.batch', deviceTags);
              if (endpoints.length > 0) {
                const key = endpoints.join(' ');
                const group = groups.get(key);
                if (group) group.devices.push(d);
                else groups.set(key, { endpoints, devices: [d] });
              }
              if (deps.sinks?.length)
                for (const part of chunkReadings([d]))
                  spooled.push({ event: batchEvent(`evt_tlmd_${base}_${k++}`, tenantId, part), deviceTags });
            }
            for (const { endpoints, devices: grouped } of groups.values())
              for (const part of chunkReadings(grouped)) {
                const event = batchEvent(`evt_tlm_${base}_${k++}`, tenantId, part);
                deliveries.push({ endpointIds: endpoints, event, ids: endpoints.map(() => newId('whd', t)) });
              }
          }
          await store.addDeliveriesOfEvents(deliveries, t);
          for (const sink of deps.sinks ?? []) await sink(tx).enqueue(spooled);
          await tx.query('DELETE FROM telemetry_forward_batches WHERE id = ANY($1::bigint[])', [
            buffered.map((r) => r.id),
          ]);
          return {
            events: deliveries.length + spooled.length,
            rows: buffered.length,
            delivered: deliveries.length > 0,
          };
        });
        made += events;
        if (delivered) deps.nudge();
        if (rows < DRAIN_ROWS) return made;
      }
    },
  };
}
