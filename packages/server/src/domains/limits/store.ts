/** SQL of limit overrides (`limit_overrides`) and limit events (`limit_events`), migration 030. */
import type { DeviceVisibility } from '../../platform/caller.js';
import type { Queryable } from '../../store/db.js';

export interface OverrideRow {
  deviceId: string | null;
  limit: string;
  value: number;
}

/** One stored limit event; `suppressed` counts the like ones not stored on their own. */
export interface LimitEventRow {
  tenantId: string;
  deviceId: string | null;
  at: number;
  limit: string;
  scope: string;
  subject: string;
  configured: number;
  observed: number;
  suppressed: number;
}

export interface EventRecord {
  id: string;
  at: number;
  limit_name: string;
  scope: string;
  subject: string;
  device_id: string | null;
  configured: number;
  observed: number;
  suppressed: number;
}

export function limitStore(db: Queryable) {
  return {
    /** Every override of a tenant, the tenant's and its devices'. */
    async overrides(tenantId: string): Promise<OverrideRow[]> {
      const rows = await db.query<{ device_id: string | null; limit_name: string; value: string }>(
        `SELECT device_id, limit_name, value FROM limit_overrides WHERE tenant_id = $1`,
        [tenantId],
      );
      return rows.map((r) => ({ deviceId: r.device_id, limit: r.limit_name, value: Number(r.value) }));
    },
    async deviceExists(tenantId: string, deviceId: string): Promise<boolean> {
      const rows = await db.query(`SELECT 1 FROM devices WHERE tenant_id = $1 AND id = $2`, [
        tenantId,
        deviceId,
      ]);
      return rows.length > 0;
    },
    /** Sets (or, with null, clears) one override of the tenant (deviceId null) or of one device. */
    async setOverride(
      tenantId: string,
      deviceId: string | null,
      limit: string,
      value: number | null,
      at: number,
    ): Promise<void> {
      if (value === null) {
        await db.query(
          `DELETE FROM limit_overrides
            WHERE tenant_id = $1 AND coalesce(device_id, '') = coalesce($2::text, '') AND limit_name = $3`,
          [tenantId, deviceId, limit],
        );
        return;
      }
      await db.query(
        `INSERT INTO limit_overrides (tenant_id, device_id, limit_name, value, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, (coalesce(device_id, '')), limit_name)
         DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at`,
        [tenantId, deviceId, limit, value, at],
      );
    },
    async insertEvents(rows: readonly LimitEventRow[]): Promise<void> {
      if (rows.length === 0) return;
      await db.query(
        `INSERT INTO limit_events (tenant_id, device_id, at, limit_name, scope, subject, configured, observed, suppressed)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                              $7::bigint[], $8::bigint[], $9::int[])`,
        [
          rows.map((r) => r.tenantId),
          rows.map((r) => r.deviceId),
          rows.map((r) => r.at),
          rows.map((r) => r.limit),
          rows.map((r) => r.scope),
          rows.map((r) => r.subject),
          rows.map((r) => r.configured),
          rows.map((r) => r.observed),
          rows.map((r) => r.suppressed),
        ],
      );
    },
    /** A page newest first (by time, then id), one row more than `limit` when there are more. */
    async events(s: {
      tenantId: string;
      from: number;
      name?: string | undefined;
      deviceId?: string | undefined;
      visible?: DeviceVisibility | undefined;
      after?: { at: number; id: string } | undefined;
      limit: number;
    }): Promise<EventRecord[]> {
      const params: unknown[] = [s.tenantId, s.from];
      const where = ['tenant_id = $1', 'at >= $2'];
      if (s.name !== undefined) where.push(`limit_name = $${params.push(s.name)}`);
      if (s.deviceId !== undefined) where.push(`device_id = $${params.push(s.deviceId)}`);
      // A scoped caller sees its own devices' events only (none without a device).
      if (s.visible)
        where.push(
          `device_id IN (SELECT id FROM devices WHERE tenant_id = $1 AND (tags && $${params.push(s.visible.tags)}::text[] OR id = ANY($${params.push(s.visible.deviceIds)}::text[])))`,
        );
      if (s.after)
        where.push(`(at, id) < ($${params.push(s.after.at)}, $${params.push(s.after.id)}::bigint)`);
      return db.query<EventRecord>(
        `SELECT id::text, at, limit_name, scope, subject, device_id, configured, observed, suppressed
           FROM limit_events WHERE ${where.join(' AND ')}
          ORDER BY at DESC, id DESC LIMIT $${params.push(s.limit + 1)}`,
        params,
      );
    },
    async purgeEvents(before: number, limit: number): Promise<number> {
      const rows = await db.query(
        `DELETE FROM limit_events WHERE id IN (SELECT id FROM limit_events WHERE at < $1 LIMIT $2) RETURNING id`,
        [before, limit],
      );
      return rows.length;
    },
  };
}
export type LimitStore = ReturnType<typeof limitStore>;
