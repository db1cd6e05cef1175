import { parseDeviceEvent, parseTelemetry, type TelemetryValue } from '@mooring/protocol';
import { AppError, Errors } from '../../errors.js';
import type { TenantCaller } from '../../platform/caller.js';
import { clampLimit, type Cursors } from '../../platform/pagination.js';
import type { BatchWriter, TelemetryRow } from './batch-writer.js';
import type { Cursor, TelemetryStore, ValueColumns } from './store.js';
import { MAX_AGGREGATE_BUCKETS, type TelemetryService } from './telemetry.js';

export interface TelemetryDeps {
  store: TelemetryStore;
  writer: BatchWriter;
  /** Signs and checks pagination cursors. */
  cursors: Cursors;
  /** Confirms the device belongs to the caller's tenant (DEVICE_NOT_FOUND otherwise). */
  requireDevice(caller: TenantCaller, deviceId: string): Promise<unknown>;
  now?: () => number;
}

const isCursor = (v: unknown): v is Cursor =>
  Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x));

function valueOf(r: ValueColumns): TelemetryValue {
  return r.num ?? r.str ?? (r.bool as boolean);
}

function checkRange(from: number, to: number) {
  if (!(Number.isFinite(from) && Number.isFinite(to)) || from >= to)
    throw Errors.invalidTimeRange('from must be before to');
}

export function createTelemetryService(deps: TelemetryDeps): TelemetryService {
  const { store, writer } = deps;
  const now = deps.now ?? Date.now;

  return {
    ingest(device, payload, received = now()) {
      const parsed = parseTelemetry(payload, received);
      if (!parsed.ok) {
        const { code, message, path } = parsed.error;
        throw new AppError(code, message, path !== undefined ? { errors: [{ path, message }] } : undefined);
      }
      const rows: TelemetryRow[] = [];
      for (const reading of parsed.value) {
        for (const [key, value] of Object.entries(reading.values)) {
          rows.push({ tenantId: device.tenantId, deviceId: device.deviceId, key, ts: reading.ts, value });
        }
      }
      return writer.write(device.tenantId, device.deviceId, received, rows).then(() => rows.length);
    },

    ingestEvent(device, payload, received = now()) {
      const parsed = parseDeviceEvent(payload, received);
      if (!parsed.ok) {
        const { code, message, path } = parsed.error;
        throw new AppError(code, message, path !== undefined ? { errors: [{ path, message }] } : undefined);
      }
      return writer.write(device.tenantId, device.deviceId, received, [], parsed.value);
    },

    async range(caller, deviceId, q) {
      checkRange(q.from, q.to);
      await deps.requireDevice(caller, deviceId);
      const limit = clampLimit(q.limit);
      const after = deps.cursors.decode(q.cursor, isCursor);
      const rows = await store.range(caller.tenantId, deviceId, q, after, limit);
      return deps.cursors.pageOf(
        rows,
        limit,
        (r) => ({ ts: r.ts, key: r.key, value: valueOf(r) }),
        (r): Cursor => [r.ts, r.id],
      );
    },

    async latest(caller, deviceId) {
      await deps.requireDevice(caller, deviceId);
      const rows = await store.latest(caller.tenantId, deviceId);
      return rows.map((r) => ({ key: r.key, ts: r.ts, value: valueOf(r) }));
    },

    async aggregate(caller, deviceId, q) {
      checkRange(q.from, q.to);
      if (!Number.isInteger(q.bucketMs) || q.bucketMs < 1000)
        throw Errors.invalidTimeRange('bucket must be at least 1000 ms');
      if ((q.to - q.from) / q.bucketMs > MAX_AGGREGATE_BUCKETS) {
        throw Errors.invalidTimeRange(
          `the range holds more than ${MAX_AGGREGATE_BUCKETS} buckets; use a larger bucket`,
        );
      }
      await deps.requireDevice(caller, deviceId);
      const rows = await store.aggregate(caller.tenantId, deviceId, q);
      return rows.map((r) => ({
        start: Number(r.start),
        count: r.count,
        min: r.min,
        max: r.max,
        avg: r.avg === null ? null : Number(r.avg),
      }));
    },

    async events(caller, deviceId, q) {
      checkRange(q.from, q.to);
      await deps.requireDevice(caller, deviceId);
      const limit = clampLimit(q.limit);
      const after = deps.cursors.decode(q.cursor, isCursor);
      const rows = await store.events(caller.tenantId, deviceId, q, after, limit);
      return deps.cursors.pageOf(
        rows,
        limit,
        (r) => ({
          id: r.id,
          ts: r.ts,
          type: r.type,
          severity: r.severity,
          message: r.message,
          data: r.data,
          receivedAt: r.received_at,
        }),
        (r): Cursor => [r.ts, r.id],
      );
    },
  };
}
