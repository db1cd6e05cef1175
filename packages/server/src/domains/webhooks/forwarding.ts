/**
 * Telemetry and device events for integrations. The telemetry group commit writes, in its own
 * transaction and only for tenants that forward them (`interest.ts`), each message's readings to
 * `telemetry_forward` and each device event as an outbox fact: what was acknowledged to the device is
 * forwarded, and nothing else. A leased job then drains `telemetry_forward` every second: the
 * readings of one device in that window become one `telemetry.batch` event (at most
 * `MAX_READINGS_PER_EVENT`), so a forwarding target gets one request per device and window, not one
 * per message, and the fan-out and the removal of the rows share one transaction.
 */
import type { PlatformEvent, TelemetryValue } from '@mooring/protocol';
import { newId } from '../../ids.js';
import type { Outbox } from '../../platform/outbox.js';
import type { Queryable, Transaction } from '../../store/db.js';
import type { CommittedMessage } from '../telemetry/telemetry.js';
import type { EventSink } from './fanout.js';
import type { Interest } from './interest.js';
import type { WebhookStore } from './store.js';

/** Readings in one telemetry.batch event; a device with more in one window gets several events. */
export const MAX_READINGS_PER_EVENT = 1000;
/** Messages drained per transaction. */
const DRAIN_ROWS = 5000;

interface Reading {
  key: string;
  ts: number;
  value: TelemetryValue;
}

/** The group commit's hook: what interested tenants forward, in the commit's transaction. */
export function forwardInCommit(deps: { interest: Interest; outbox: Pick<Outbox, 'addIn'> }) {
  let wroteEvents = false;
  return {
    async inCommit(tx: Queryable, messages: readonly CommittedMessage[]): Promise<void> {
      const tenants: string[] = [];
      const devices: string[] = [];
      const readings: string[] = [];
      const received: number[] = [];
      const events = [];
      for (const m of messages) {
        if (m.rows.length > 0 && deps.interest.wants(m.tenantId, 'telemetry.batch')) {
          tenants.push(m.tenantId);
          devices.push(m.deviceId);
          readings.push(
            JSON.stringify(m.rows.map((r): Reading => ({ key: r.key, ts: r.ts, value: r.value }))),
          );
          received.push(m.received);
        }
        if (m.event && deps.interest.wants(m.tenantId, 'device.event'))
          events.push({ tenantId: m.tenantId, deviceId: m.deviceId, ...m.event, at: m.received });
      }
      if (tenants.length > 0)
        await tx.query(
          `INSERT INTO telemetry_forward (tenant_id, device_id, readings, received_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::bigint[])`,
          [tenants, devices, readings, received],
        );
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
  device_id: string;
  readings: Reading[];
  received_at: number;
}

/** The leased drain of `telemetry_forward` into telemetry.batch events. */
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
            `SELECT id::text AS id, tenant_id, device_id, readings, received_at FROM telemetry_forward
              ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
            [DRAIN_ROWS],
          );
          if (buffered.length === 0) return { events: 0, rows: 0, delivered: false };
          const byDevice = new Map<string, BufferRow[]>();
          for (const r of buffered) {
            const k = `${r.tenant_id} ${r.device_id}`;
            const list = byDevice.get(k);
            if (list) list.push(r);
            else byDevice.set(k, [r]);
          }
          let count = 0;
          let wrote = false;
          const t = now();
          for (const group of byDevice.values()) {
            const { tenant_id: tenantId, device_id: deviceId } = group[0]!;
            const tags = await store.deviceTags(tenantId, deviceId);
            const endpoints = await store.matching(tenantId, 'telemetry.batch', tags);
            for (const event of batchEvents(group)) {
              count++;
              await store.addDeliveries(
                endpoints,
                event,
                endpoints.map(() => newId('whd', t)),
                t,
              );
              wrote ||= endpoints.length > 0;
              for (const sink of deps.sinks ?? []) await sink(tx).enqueue(event, tags);
            }
          }
          await tx.query('DELETE FROM telemetry_forward WHERE id = ANY($1::bigint[])', [
            buffered.map((r) => r.id),
          ]);
          return { events: count, rows: buffered.length, delivered: wrote };
        });
        made += events;
        if (delivered) deps.nudge();
        if (rows < DRAIN_ROWS) return made;
      }
    },
  };
}

/**
 * One device's buffered messages as telemetry.batch events of at most MAX_READINGS_PER_EVENT
 * readings each. An event's id is its first message's row id: the same rows make the same id.
 */
function batchEvents(group: BufferRow[]): PlatformEvent[] {
  const events: PlatformEvent[] = [];
  let readings: Reading[] = [];
  let first: BufferRow | undefined;
  let last: BufferRow | undefined;
  const flush = () => {
    if (!first || !last) return;
    events.push({
      id: `evt_tlm_${first.id}`,
      type: 'telemetry.batch',
      tenantId: first.tenant_id,
      deviceId: first.device_id,
      occurredAt: Number(last.received_at),
      data: {
        readings,
        receivedFrom: Number(first.received_at),
        receivedTo: Number(last.received_at),
      },
    });
    readings = [];
    first = undefined;
  };
  for (const r of group) {
    if (readings.length > 0 && readings.length + r.readings.length > MAX_READINGS_PER_EVENT) flush();
    first ??= r;
    last = r;
    readings.push(...r.readings);
  }
  flush();
  return events;
}
