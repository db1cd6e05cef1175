/**
 * SQL of the bulk jobs (`device_bulk_jobs`, `device_bulk_job_devices`): the count a request shows,
 * the snapshot of the ids it matched, the chunks a worker takes, and the device-side part of a bulk
 * revocation (access keys, registration tokens). Every query carries the tenant id.
 */
import type { DeviceVisibility } from '../../platform/caller.js';
import type { Queryable } from '../../store/db.js';
import type {
  DeviceBulkJob,
  DeviceBulkJobAction,
  DeviceBulkJobStatus,
  DeviceFilter,
  SkippedDevice,
} from './devices.js';
import { filterSql, visibleSql, type DeviceFilterQuery } from './store.js';

interface JobRow {
  id: string;
  tenant_id: string;
  action: DeviceBulkJobAction;
  params: Record<string, unknown>;
  filter: DeviceFilter;
  created_by: string;
  status: DeviceBulkJobStatus;
  matched: number;
  processed: number;
  changed: number;
  skipped: number;
  skipped_devices: SkippedDevice[];
  cursor: string;
  created_at: string | number;
  started_at: string | number | null;
  finished_at: string | number | null;
  error: string | null;
}

/** The skipped devices a job keeps by name; the rest are counted. */
export const MAX_SKIPPED_LISTED = 20;

const ms = (v: string | number | null) => (v === null ? null : Number(v));

export const toJob = (r: JobRow): DeviceBulkJob => ({
  id: r.id,
  action: r.action,
  status: r.status,
  filter: r.filter,
  createdBy: r.created_by,
  matched: r.matched,
  processed: r.processed,
  changed: r.changed,
  skipped: r.skipped,
  skippedDevices: r.skipped_devices,
  createdAt: Number(r.created_at),
  startedAt: ms(r.started_at),
  finishedAt: ms(r.finished_at),
  error: r.error,
});

/**
 * Whether a device holds a credential that still works: a live access key, a certificate neither
 * revoked nor expired (`$now`), or registration tokens not revoked since it was provisioned.
 */
function liveCredentialSql(params: unknown[], at: number): string {
  const now = `$${params.push(at)}`;
  return `(EXISTS (SELECT 1 FROM device_access_keys k WHERE k.tenant_id = devices.tenant_id AND k.device_id = devices.id AND k.revoked_at IS NULL)
        OR EXISTS (SELECT 1 FROM device_certificates c WHERE c.tenant_id = devices.tenant_id AND c.device_id = devices.id AND c.revoked_at IS NULL AND c.not_after > ${now})
        OR (devices.provisioning_token_id IS NOT NULL AND devices.tokens_revoked_at IS NULL))`;
}

function whereOf(tenantId: string, q: DeviceFilterQuery, visible: DeviceVisibility | undefined) {
  const params: unknown[] = [tenantId];
  const where = filterSql(q, params);
  if (visible) where.push(visibleSql(visible, params));
  return { params, where: where.join(' AND ') };
}

export function bulkJobStore(db: Queryable) {
  return {
    /**
     * How many devices the filter matches, and how many of them the action would change: for a
     * revocation the devices holding a live credential, for a configuration patch every device that
     * is not released (what changes is known only once the patch is merged into each document).
     */
    async count(
      tenantId: string,
      q: DeviceFilterQuery,
      action: DeviceBulkJobAction,
      at: number,
      visible?: DeviceVisibility,
    ): Promise<{ matched: number; wouldChange: number }> {
      const { params, where } = whereOf(tenantId, q, visible);
      const would = action === 'revoke' ? liveCredentialSql(params, at) : 'true';
      const [r] = await db.query<{ matched: string; would: string }>(
        `SELECT count(*) AS matched, count(*) FILTER (WHERE status <> 'released' AND ${would}) AS would
           FROM devices WHERE ${where}`,
        params,
      );
      return { matched: Number(r!.matched), wouldChange: Number(r!.would) };
    },
    /** Stores a job and the ids of the devices it acts on (the filter's match now, released ones left out). */
    async create(
      job: { id: string; tenantId: string; action: DeviceBulkJobAction; params: Record<string, unknown> },
      filter: DeviceFilter,
      createdBy: string,
      matched: number,
      q: DeviceFilterQuery,
      at: number,
      visible?: DeviceVisibility,
    ): Promise<DeviceBulkJob> {
      const [row] = await db.query<JobRow>(
        `INSERT INTO device_bulk_jobs (id, tenant_id, action, params, filter, created_by, matched, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
        [
          job.id,
          job.tenantId,
          job.action,
          JSON.stringify(job.params),
          JSON.stringify(filter),
          createdBy,
          matched,
          at,
        ],
      );
      const { params, where } = whereOf(job.tenantId, q, visible);
      await db.query(
        `INSERT INTO device_bulk_job_devices (job_id, device_id)
         SELECT $${params.push(job.id)}, id FROM devices WHERE ${where} AND status <> 'released'`,
        params,
      );
      return toJob(row!);
    },
    async get(tenantId: string, id: string): Promise<DeviceBulkJob | undefined> {
      const [r] = await db.query<JobRow>('SELECT * FROM device_bulk_jobs WHERE tenant_id = $1 AND id = $2', [
        tenantId,
        id,
      ]);
      return r && toJob(r);
    },
    /** The oldest job still to work on, locked (another node's worker skips it). */
    async nextOpen(): Promise<JobRow | undefined> {
      const [r] = await db.query<JobRow>(
        `SELECT * FROM device_bulk_jobs WHERE status IN ('queued', 'running')
          ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`,
      );
      return r;
    },
    /** The next ids of the job after its cursor, in id order. */
    async chunk(jobId: string, cursor: string, size: number): Promise<string[]> {
      const rows = await db.query<{ device_id: string }>(
        `SELECT device_id FROM device_bulk_job_devices WHERE job_id = $1 AND device_id > $2
          ORDER BY device_id LIMIT $3`,
        [jobId, cursor, size],
      );
      return rows.map((r) => r.device_id);
    },
    /** Records a chunk done: counts, the skipped devices kept by name, the cursor; its snapshot rows go. */
    async advance(
      job: JobRow,
      ids: readonly string[],
      outcome: { changed: number; skipped: readonly SkippedDevice[] },
      at: number,
    ): Promise<void> {
      const listed = [...job.skipped_devices, ...outcome.skipped].slice(0, MAX_SKIPPED_LISTED);
      await db.query(
        `UPDATE device_bulk_jobs SET status = 'running', started_at = coalesce(started_at, $2),
                processed = processed + $3, changed = changed + $4, skipped = skipped + $5,
                skipped_devices = $6, cursor = $7
          WHERE id = $1`,
        [job.id, at, ids.length, outcome.changed, outcome.skipped.length, JSON.stringify(listed), ids.at(-1)],
      );
      await db.query(
        'DELETE FROM device_bulk_job_devices WHERE job_id = $1 AND device_id = ANY($2::text[])',
        [job.id, ids],
      );
    },
    /** Ends a job: done, or failed with why; the snapshot rows left (a failed job's) go. */
    async finish(
      jobId: string,
      status: 'done' | 'failed',
      at: number,
      error: string | null,
    ): Promise<JobRow> {
      await db.query('DELETE FROM device_bulk_job_devices WHERE job_id = $1', [jobId]);
      const [r] = await db.query<JobRow>(
        `UPDATE device_bulk_jobs SET status = $2, started_at = coalesce(started_at, $3), finished_at = $3, error = $4
          WHERE id = $1 RETURNING *`,
        [jobId, status, at, error],
      );
      return r!;
    },

    /**
     * The device side of a bulk revocation for a chunk: every live access key revoked, and every
     * registration token (the devices' tokens_valid_after moved to `at`). Answers the keys revoked and
     * the devices whose tokens were live, for their credential.revoked facts.
     */
    async revokeDeviceCredentials(
      tenantId: string,
      deviceIds: readonly string[],
      at: number,
    ): Promise<{ keys: { id: string; device_id: string }[]; tokenDevices: string[] }> {
      const keys = await db.query<{ id: string; device_id: string }>(
        `UPDATE device_access_keys SET revoked_at = $3
          WHERE tenant_id = $1 AND device_id = ANY($2::text[]) AND revoked_at IS NULL RETURNING id, device_id`,
        [tenantId, deviceIds, at],
      );
      const tokens = await db.query<{ id: string; live: boolean }>(
        `WITH p AS (SELECT id, provisioning_token_id IS NOT NULL AND tokens_revoked_at IS NULL AS live
                      FROM devices WHERE tenant_id = $1 AND id = ANY($2::text[]) AND status <> 'released' FOR UPDATE)
         UPDATE devices d SET tokens_valid_after = greatest(d.tokens_valid_after, $3),
                tokens_revoked_at = coalesce(d.tokens_revoked_at, $3)
           FROM p WHERE d.tenant_id = $1 AND d.id = p.id RETURNING d.id, p.live`,
        [tenantId, deviceIds, at],
      );
      return { keys, tokenDevices: tokens.filter((t) => t.live).map((t) => t.id) };
    },
  };
}
export type BulkJobStore = ReturnType<typeof bulkJobStore>;
export type { JobRow as BulkJobRow };
