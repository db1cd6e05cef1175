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

/** Nulls last, then code-point order: the same order whichever store's collation. */
function compareNullable(a: string | null | undefined, b: string | null | undefined): number {
  if (a == null || b == null) return a == null ? (b == null ? 0 : 1) : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}
const byClassVersionTag = (a: FleetVersionCount, b: FleetVersionCount) =>
  compareNullable(a.hardwareClass, b.hardwareClass) ||
  compareNullable(a.version, b.version) ||
  compareNullable(a.tag, b.tag);

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
    /** How many of the devices are connected now, and how many disabled. */
    async states(
      tenantId: string,
      q: { visible?: DeviceVisibility; tag?: string },
    ): Promise<{ connected: number; disabled: number }> {
      const { where, params } = scope(tenantId, q.visible, q.tag);
      const [row] = await db.query<{ connected: number; disabled: number }>(
        `SELECT count(*) FILTER (WHERE d.connected)::int AS connected,
                count(*) FILTER (WHERE d.status = 'disabled')::int AS disabled
           FROM devices d WHERE ${where}`,
        params,
      );
      return { connected: row?.connected ?? 0, disabled: row?.disabled ?? 0 };
    },
    /** Devices per version × hardware class, ordered by class then version (nulls last). */
    async distribution(
      tenantId: string,
      q: { visible?: DeviceVisibility; tag?: string },
    ): Promise<FleetVersionCount[]> {
      const { where, params } = scope(tenantId, q.visible, q.tag);
      const rows = await db.query<{ version: string | null; hardware_class: string | null; n: number }>(
        `SELECT d.firmware_version AS version, d.hardware_class, count(*)::int AS n
           FROM devices d WHERE ${where}
          GROUP BY 1, 2 ORDER BY 2 NULLS LAST, 1 NULLS LAST`,
        params,
      );
      return rows.map((r) => ({ version: r.version, hardwareClass: r.hardware_class, count: r.n }));
    },
    /**
     * The distribution and its split by tag from one scan: devices are counted per version, class
     * and set of tags (a fleet has few distinct sets), and those counts are folded both ways here.
     * A device counts once per tag in the split, once in the plain counts; untagged ones under a
     * null tag. Scanning twice (split, then plain for the totals) cost twice as much at 100,000.
     */
    async distributionByTag(
      tenantId: string,
      q: { visible?: DeviceVisibility; tag?: string },
    ): Promise<{ plain: FleetVersionCount[]; byTag: FleetVersionCount[] }> {
      const { where, params } = scope(tenantId, q.visible, q.tag);
      const rows = await db.query<{
        version: string | null;
        hardware_class: string | null;
        tags: string[] | null;
        n: number;
      }>(
        `SELECT d.firmware_version AS version, d.hardware_class, d.tags, count(*)::int AS n
           FROM devices d WHERE ${where} GROUP BY 1, 2, 3`,
        params,
      );
      const plain = new Map<string, FleetVersionCount>();
      const byTag = new Map<string, FleetVersionCount>();
      const add = (into: Map<string, FleetVersionCount>, item: FleetVersionCount) => {
        const key = JSON.stringify([item.hardwareClass, item.version, item.tag]);
        const seen = into.get(key);
        if (seen) seen.count += item.count;
        else into.set(key, item);
      };
      for (const r of rows) {
        add(plain, { version: r.version, hardwareClass: r.hardware_class, count: r.n });
        const tags = r.tags?.length ? r.tags : [null];
        for (const tag of tags)
          add(byTag, { version: r.version, hardwareClass: r.hardware_class, tag, count: r.n });
      }
      return {
        plain: [...plain.values()].sort(byClassVersionTag),
        byTag: [...byTag.values()].sort(byClassVersionTag),
      };
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
