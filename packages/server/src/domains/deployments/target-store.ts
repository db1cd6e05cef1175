/**
 * SQL of target selection: the devices a deployment's target names, each with why the artifact
 * leaves it out (another hardware class or none reported, below the artifact's minimum, already at or
 * past its version, in another open deployment), read from the firmware columns of `devices`; and
 * the operations of the devices that are in.
 */
import type { VersionKey } from '@mooring/protocol';
import type { Queryable } from '../../store/db.js';
import type { DeploymentTarget } from './deployments.js';

export interface TargetQuery {
  tenantId: string;
  target: DeploymentTarget;
  hardwareClass: string;
  versionKey: VersionKey;
  minKey: VersionKey | null;
  belowKey: VersionKey | null;
}

const KEY = '(d.fw_major, d.fw_minor, d.fw_patch, d.fw_pre)';

/** The candidate devices of a target, each with why the artifact leaves it out (NULL: it is in). */
function candidates(q: TargetQuery) {
  const params: unknown[] = [q.tenantId, q.hardwareClass];
  const key = (k: VersionKey) =>
    `($${params.push(k.major)}::int, $${params.push(k.minor)}::int, $${params.push(k.patch)}::int, $${params.push(k.pre)}::text COLLATE "C")`;
  const where = ['d.tenant_id = $1', `d.status <> 'released'`];
  const t = q.target;
  if (t.tags) where.push(`d.tags && $${params.push(t.tags)}::text[]`);
  if (t.deviceIds) where.push(`d.id = ANY($${params.push(t.deviceIds)}::text[])`);
  if (t.versions) where.push(`d.firmware_version = ANY($${params.push(t.versions)}::text[])`);
  if (q.belowKey) where.push(`${KEY} < ${key(q.belowKey)}`);
  const sql = `SELECT d.id, d.firmware_version,
      CASE
        WHEN d.hardware_class IS NULL THEN 'no_firmware_report'
        WHEN d.hardware_class <> $2 THEN 'hardware_class'
        ${q.minKey ? `WHEN ${KEY} < ${key(q.minKey)} THEN 'below_min_version'` : ''}
        WHEN ${KEY} >= ${key(q.versionKey)} THEN 'not_newer'
        WHEN EXISTS (SELECT 1 FROM deployment_devices o
                      WHERE o.tenant_id = d.tenant_id AND o.device_id = d.id AND o.open) THEN 'busy'
      END AS reason
    FROM devices d WHERE ${where.join(' AND ')}`;
  return { sql, params };
}

export function targetStore(db: Queryable) {
  return {
    async targetCounts(q: TargetQuery): Promise<Map<string | null, number>> {
      const { sql, params } = candidates(q);
      const rows = await db.query<{ reason: string | null; n: number }>(
        `SELECT reason, count(*)::int AS n FROM (${sql}) c GROUP BY reason`,
        params,
      );
      return new Map(rows.map((r) => [r.reason, r.n]));
    },
    /** Every candidate and why it is left out (null: it is in): for an explicit device list. */
    async candidateReasons(q: TargetQuery): Promise<{ id: string; reason: string | null }[]> {
      const { sql, params } = candidates(q);
      return db.query<{ id: string; reason: string | null }>(`SELECT id, reason FROM (${sql}) c`, params);
    },
    /** The operations of the devices that are in, ranked; how many. */
    async insertOperations(d: { id: string; created_at: number }, q: TargetQuery): Promise<number> {
      const { sql, params } = candidates(q);
      // The devices in a random but fixed order: the first phase is no particular corner of the fleet.
      const inserted = await db.query(
        `INSERT INTO deployment_devices (operation_id, deployment_id, tenant_id, device_id, rank, state,
                                         from_version, updated_at)
         SELECT 'ota_' || $${params.push(d.id.slice(4))} || '_' || (r.rank)::text, $${params.push(d.id)}, $1, r.id,
                r.rank, 'queued', r.firmware_version, $${params.push(d.created_at)}
           FROM (SELECT c.id, c.firmware_version,
                        (row_number() OVER (ORDER BY md5(c.id || $${params.push(d.id)})) - 1)::int AS rank
                   FROM (${sql}) c WHERE c.reason IS NULL) r
         RETURNING device_id`,
        params,
      );
      return inserted.length;
    },
  };
}
