/** SQL of fleet versions: the firmware columns of `devices` and the `fleet_policies` table. */
import type { ParsedFirmwareReport, VersionKey } from '@mooring/protocol';
import type { DeviceVisibility } from '../../platform/caller.js';
import type { Queryable } from '../../store/db.js';
import type { FleetPolicyEntry, FleetVersionCount } from './fleet.js';

/** Which devices count: the tenant's, not released, within a scoped caller's grants, with a tag. */
function scope(tenantId: string, visible: DeviceVisibility | undefined, tag: string | undefined) {
  const where = ['d.tenant_id = $1', `d.status <> 'released'`];
  const params: unknown[] = [tenantId];
  if (visible)
    where.push(
      `(d.tags && $${params.push(visible.tags)}::text[] OR d.id = ANY($${params.push(visible.deviceIds)}::text[]))`,
    );
  if (tag) where.push(`d.tags @> ARRAY[$${params.push(tag)}]::text[]`);
  return { where: where.join(' AND '), params };
}

interface PolicyRow {
  hardware_class: string;
  min_version: string;
  updated_at: number;
}
const toPolicy = (r: PolicyRow): FleetPolicyEntry => ({
  hardwareClass: r.hardware_class,
  minVersion: r.min_version,
  updatedAt: r.updated_at,
});

export function fleetStore(db: Queryable) {
  return {
    /** Stores a device's report; false when the tenant has no such device. */
    async setFirmware(tenantId: string, deviceId: string, r: ParsedFirmwareReport, at: number) {
      const rows = await db.query(
        `UPDATE devices SET firmware_version = $3, hardware_class = $4, firmware_reported_at = $5,
                fw_major = $6, fw_minor = $7, fw_patch = $8, fw_pre = $9
          WHERE tenant_id = $1 AND id = $2 RETURNING id`,
        [
          tenantId,
          deviceId,
          r.version,
          r.hardwareClass,
          at,
          r.key.major,
          r.key.minor,
          r.key.patch,
          r.key.pre,
        ],
      );
      return rows.length > 0;
    },
    async distribution(
      tenantId: string,
      q: { visible?: DeviceVisibility; tag?: string; byTag: boolean },
    ): Promise<FleetVersionCount[]> {
      const { where, params } = scope(tenantId, q.visible, q.tag);
      type Row = { version: string | null; hardware_class: string | null; tag?: string | null; n: number };
      const rows = q.byTag
        ? // Devices are counted per set of tags first (a fleet has few distinct sets), and only those
          // counts are split by tag: unnesting every device's tags took twice as long at 100,000.
          await db.query<Row>(
            `SELECT g.version, g.hardware_class, t.tag, sum(g.n)::int AS n
               FROM (SELECT d.firmware_version AS version, d.hardware_class, d.tags, count(*) AS n
                       FROM devices d WHERE ${where} GROUP BY 1, 2, 3) g
               LEFT JOIN LATERAL unnest(g.tags) AS t(tag) ON true
              GROUP BY 1, 2, 3 ORDER BY 2 NULLS LAST, 1 NULLS LAST, 3 NULLS LAST`,
            params,
          )
        : await db.query<Row>(
            `SELECT d.firmware_version AS version, d.hardware_class, count(*)::int AS n
               FROM devices d WHERE ${where}
              GROUP BY 1, 2 ORDER BY 2 NULLS LAST, 1 NULLS LAST`,
            params,
          );
      return rows.map((r) => ({
        version: r.version,
        hardwareClass: r.hardware_class,
        ...(q.byTag ? { tag: r.tag ?? null } : {}),
        count: r.n,
      }));
    },
    /** Per hardware class of the policy: how many counted devices run a version below its minimum. */
    async belowMinimum(
      tenantId: string,
      q: { visible?: DeviceVisibility; tag?: string },
    ): Promise<Map<string, number>> {
      const { where, params } = scope(tenantId, q.visible, q.tag);
      // One index range scan per policy row (devices_fleet_class_key_idx), not a scan of the tenant.
      const rows = await db.query<{ hardware_class: string; n: number }>(
        `SELECT p.hardware_class, c.n
           FROM fleet_policies p
           CROSS JOIN LATERAL (
             SELECT count(*)::int AS n FROM devices d
              WHERE ${where} AND d.hardware_class = p.hardware_class
                AND (d.fw_major, d.fw_minor, d.fw_patch, d.fw_pre)
                  < (p.min_major, p.min_minor, p.min_patch, p.min_pre)) c
          WHERE p.tenant_id = $1`,
        params,
      );
      return new Map(rows.map((r) => [r.hardware_class, r.n]));
    },
    async policies(tenantId: string): Promise<FleetPolicyEntry[]> {
      const rows = await db.query<PolicyRow>(
        'SELECT hardware_class, min_version, updated_at FROM fleet_policies WHERE tenant_id = $1 ORDER BY hardware_class',
        [tenantId],
      );
      return rows.map(toPolicy);
    },
    async setPolicy(
      tenantId: string,
      hardwareClass: string,
      min: { version: string; key: VersionKey } | null,
      at: number,
    ): Promise<void> {
      if (!min) {
        await db.query('DELETE FROM fleet_policies WHERE tenant_id = $1 AND hardware_class = $2', [
          tenantId,
          hardwareClass,
        ]);
        return;
      }
      await db.query(
        `INSERT INTO fleet_policies (tenant_id, hardware_class, min_version, min_major, min_minor, min_patch, min_pre, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant_id, hardware_class) DO UPDATE SET min_version = $3, min_major = $4,
           min_minor = $5, min_patch = $6, min_pre = $7, updated_at = $8`,
        [tenantId, hardwareClass, min.version, min.key.major, min.key.minor, min.key.patch, min.key.pre, at],
      );
    },
  };
}
export type FleetStore = ReturnType<typeof fleetStore>;
