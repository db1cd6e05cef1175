/**
 * SQL for reading telemetry, events and latest values; every query carries the tenant id. Writes go
 * through the group commit (`batch-writer.ts`).
 */
import type { Queryable } from '../../store/db.js';
import type { RangeQuery } from './telemetry.js';

/** A position in a device's time series: (ts, id). */
export type Cursor = [number, number];

export interface ValueColumns {
  num: number | null;
  str: string | null;
  bool: boolean | null;
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

export function telemetryStore(db: Queryable) {
  return {
    /** A page of readings in the range, one row more than `limit` when there are more. */
    async range(tenantId: string, deviceId: string, q: RangeQuery, after: Cursor | undefined, limit: number) {
      const { where, params } = rangeWhere(tenantId, deviceId, q, 'key', after);
      return db.query<{ id: number; key: string; ts: number } & ValueColumns>(
        `SELECT id, key, ts, num, str, bool FROM telemetry WHERE ${where} ORDER BY ts, id LIMIT $${params.push(limit + 1)}`,
        params,
      );
    },
    async latest(tenantId: string, deviceId: string) {
      return db.query<{ key: string; ts: number } & ValueColumns>(
        'SELECT key, ts, num, str, bool FROM telemetry_latest WHERE tenant_id = $1 AND device_id = $2 ORDER BY key',
        [tenantId, deviceId],
      );
    },
    async aggregate(
      tenantId: string,
      deviceId: string,
      q: { key: string; from: number; to: number; bucketMs: number },
    ) {
      return db.query<{
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
        [tenantId, deviceId, q.key, q.from, q.to, q.bucketMs],
      );
    },
    /** A page of events in the range, one row more than `limit` when there are more. */
    async events(
      tenantId: string,
      deviceId: string,
      q: RangeQuery,
      after: Cursor | undefined,
      limit: number,
    ) {
      const { where, params } = rangeWhere(tenantId, deviceId, q, 'type', after);
      return db.query<{
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
    },
  };
}
export type TelemetryStore = ReturnType<typeof telemetryStore>;
