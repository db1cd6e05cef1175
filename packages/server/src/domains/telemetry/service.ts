import { parseDeviceEvent, parseTelemetry, type TelemetryValue } from '@mooring/protocol';
import { AppError, Errors } from '../../errors.js';
import type { TenantCaller } from '../../platform/caller.js';
import { clampLimit, type Cursors } from '../../platform/pagination.js';
import type { Db } from '../../store/db.js';
import type { BatchWriter, TelemetryRow } from './batch-writer.js';
import { MAX_AGGREGATE_BUCKETS, type RangeQuery, type TelemetryService } from './telemetry.js';

export interface TelemetryDeps {
  db: Db;
  writer: BatchWriter;
  /** Signs and checks pagination cursors. */
  cursors: Cursors;
  /** Confirms the device belongs to the caller's tenant (DEVICE_NOT_FOUND otherwise). */
  requireDevice(caller: TenantCaller, deviceId: string): Promise<unknown>;
  now?: () => number;
}

type Cursor = [number, number];
const isCursor = (v: unknown): v is Cursor =>
  Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x));

function valueOf(r: { num: number | null; str: string | null; bool: boolean | null }): TelemetryValue {
  return r.num ?? r.str ?? (r.bool as boolean);
}

/** WHERE clause for a device's rows in [from, to), optionally one key (or event type), after a cursor. */
function rangeWhere(
  tenantId: string,
  deviceId: string,
  q: RangeQuery,
  keyColumn: 'key' | 'type',
  after: Cursor | undefined,
) {
  const params: unknown[] = [tenantId, deviceId, q.from, q.to];
  let where = 'tenant_id = $1 AND device_id = $2 AND ts >= $3 AND ts < $4';
  if (q.key) where += ` AND ${keyColumn} = $${params.push(q.key)}`;
  if (after)
    where += ` AND (ts, id) > ($${params.push(after[0])}::bigint, $${params.push(after[1])}::bigint)`;
  return { where, params };
}

function checkRange(from: number, to: number) {
  if (!(Number.isFinite(from) && Number.isFinite(to)) || from >= to)
    throw Errors.invalidTimeRange('from must be before to');
}

export function createTelemetryService(deps: TelemetryDeps): TelemetryService {
  const { db, writer } = deps;
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
      const { where, params } = rangeWhere(caller.tenantId, deviceId, q, 'key', after);
      const rows = await db.query<{
        id: number;
        key: string;
        ts: number;
        num: number | null;
        str: string | null;
        bool: boolean | null;
      }>(
        `SELECT id, key, ts, num, str, bool FROM telemetry WHERE ${where} ORDER BY ts, id LIMIT $${params.push(limit + 1)}`,
        params,
      );
      return deps.cursors.pageOf(
        rows,
        limit,
        (r) => ({ ts: r.ts, key: r.key, value: valueOf(r) }),
        (r): Cursor => [r.ts, r.id],
      );
    },

    async latest(caller, deviceId) {
      await deps.requireDevice(caller, deviceId);
      const rows = await db.query<{
        key: string;
        ts: number;
        num: number | null;
        str: string | null;
        bool: boolean | null;
      }>(
        'SELECT key, ts, num, str, bool FROM telemetry_latest WHERE tenant_id = $1 AND device_id = $2 ORDER BY key',
        [caller.tenantId, deviceId],
      );
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
      const rows = await db.query<{
        start: number;
        count: number;
        min: number | null;
        max: number | null;
        avg: number | null;
      }>(
        `SELECT (ts / $6::bigint) * $6::bigint AS start, count(num)::int AS count, min(num) AS min, max(num) AS max, avg(num) AS avg
           FROM telemetry
          WHERE tenant_id = $1 AND device_id = $2 AND key = $3 AND ts >= $4 AND ts < $5
          GROUP BY 1 ORDER BY 1`,
        [caller.tenantId, deviceId, q.key, q.from, q.to, q.bucketMs],
      );
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
      const { where, params } = rangeWhere(caller.tenantId, deviceId, q, 'type', after);
      const rows = await db.query<{
        id: number;
        ts: number;
        type: string;
        severity: 'info' | 'warning' | 'error' | 'critical';
        message: string | null;
        data: Record<string, unknown> | null;
        received_at: number;
      }>(
        `SELECT * FROM device_events WHERE ${where} ORDER BY ts, id LIMIT $${params.push(limit + 1)}`,
        params,
      );
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
