/**
 * SQL of deployments: `deployments`, `deployment_devices` (one operation per targeted device) and
 * `ota_emergency_stops`, with the target selection of `target-store.ts`. The health gate
 * reads `presence_events`, `device_events` and `telemetry` (read-only, by the indexes of migration 017).
 * Every state change of an operation is one statement guarded by the state it leaves.
 */
import { OTA_ACTIVE_STATES, OTA_CANCELLABLE_STATES, type OtaState } from '@mooring/protocol';
import type { Queryable } from '../../store/db.js';
import { targetStore, type TargetQuery } from './target-store.js';

export type { TargetQuery } from './target-store.js';
import type {
  DeploymentDevice,
  DeploymentSettings,
  DeploymentStatus,
  DeploymentTarget,
  HealthComparison,
} from './deployments.js';

export interface DeploymentRow {
  id: string;
  tenant_id: string;
  name: string | null;
  artifact_id: string;
  status: DeploymentStatus;
  status_code: string | null;
  status_reason: string | null;
  target: DeploymentTarget;
  settings: DeploymentSettings;
  excluded: Record<string, number>;
  total: number;
  current_phase: number;
  phase_started_at: number | null;
  soak_until: number | null;
  rate_minute: number | null;
  rate_offers: number;
  executions: number;
  failures: number;
  health: HealthComparison | null;
  created_at: number;
  created_by: string | null;
  updated_at: number;
  finished_at: number | null;
}

export interface OperationRow {
  operation_id: string;
  deployment_id: string;
  tenant_id: string;
  device_id: string;
  rank: number;
  state: OtaState;
  attempt: number;
  progress: number | null;
  code: string | null;
  reason: string | null;
  from_version: string | null;
  state_since: number | null;
  deadline_at: number | null;
  next_attempt_at: number | null;
  cancel_pending: boolean;
  succeeded_at: number | null;
  updated_at: number;
  open: boolean;
}

/** An operation that changed, for its outbox fact and the device's feed. */
export interface Changed {
  operation_id: string;
  device_id: string;
  attempt: number;
  previous: OtaState;
  state: OtaState;
}

/** A list of states as SQL, for `state IN …`: the protocol's lists are the one source. */
const sqlList = (states: readonly OtaState[]) => `(${states.map((s) => `'${s}'`).join(', ')})`;
const ACTIVE = sqlList(OTA_ACTIVE_STATES);
const CANCELLABLE = sqlList(OTA_CANCELLABLE_STATES);

export function toDeploymentDevice(r: OperationRow, phases: { devices: number }[]): DeploymentDevice {
  const phase = phases.findIndex((p) => r.rank < p.devices);
  return {
    deviceId: r.device_id,
    operationId: r.operation_id,
    state: r.state,
    attempt: r.attempt,
    phase: phase < 0 ? phases.length - 1 : phase,
    progress: r.progress,
    code: r.code,
    reason: r.reason,
    fromVersion: r.from_version,
    stateSince: r.state_since,
    deadlineAt: r.deadline_at,
    nextAttemptAt: r.next_attempt_at,
    updatedAt: r.updated_at,
  };
}

export function deploymentStore(db: Queryable) {
  const targets = targetStore(db);
  return {
    ...targets,
    /** Per reason, how many candidates are left out (`null`: how many are in). */
    async lockTenant(tenantId: string): Promise<void> {
      await db.query('SELECT id FROM tenants WHERE id = $1 FOR UPDATE', [tenantId]);
    },
    async insert(
      d: Omit<
        DeploymentRow,
        | 'rate_minute'
        | 'rate_offers'
        | 'current_phase'
        | 'phase_started_at'
        | 'soak_until'
        | 'executions'
        | 'failures'
        | 'health'
        | 'finished_at'
      >,
      q: TargetQuery,
    ) {
      await db.query(
        `INSERT INTO deployments (id, tenant_id, name, artifact_id, status, status_code, status_reason, target,
                                  settings, excluded, total, phase_started_at, created_at, created_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10::jsonb, $11, $12, $12, $13, $12)`,
        [
          d.id,
          d.tenant_id,
          d.name,
          d.artifact_id,
          d.status,
          d.status_code,
          d.status_reason,
          JSON.stringify(d.target),
          JSON.stringify(d.settings),
          JSON.stringify(d.excluded),
          d.total,
          d.created_at,
          d.created_by,
        ],
      );
      return targets.insertOperations(d, q);
    },
    async get(tenantId: string, id: string, lock = false): Promise<DeploymentRow | undefined> {
      const [r] = await db.query<DeploymentRow>(
        `SELECT * FROM deployments WHERE tenant_id = $1 AND id = $2${lock ? ' FOR UPDATE' : ''}`,
        [tenantId, id],
      );
      return r;
    },
    async byId(id: string): Promise<DeploymentRow | undefined> {
      const [r] = await db.query<DeploymentRow>('SELECT * FROM deployments WHERE id = $1', [id]);
      return r;
    },
    async lockById(id: string): Promise<DeploymentRow | undefined> {
      const [r] = await db.query<DeploymentRow>('SELECT * FROM deployments WHERE id = $1 FOR UPDATE', [id]);
      return r;
    },
    async list(tenantId: string, q: { status?: DeploymentStatus; beforeId?: string; limit: number }) {
      const params: unknown[] = [tenantId];
      let where = 'tenant_id = $1';
      if (q.status) where += ` AND status = $${params.push(q.status)}`;
      if (q.beforeId) where += ` AND id < $${params.push(q.beforeId)}`;
      return db.query<DeploymentRow>(
        `SELECT * FROM deployments WHERE ${where} ORDER BY id DESC LIMIT $${params.push(q.limit + 1)}`,
        params,
      );
    },
    /** Devices per state of each deployment. */
    async counts(ids: string[]): Promise<Map<string, Record<string, number>>> {
      const rows = await db.query<{ deployment_id: string; state: string; n: number }>(
        `SELECT deployment_id, state, count(*)::int AS n FROM deployment_devices
          WHERE deployment_id = ANY($1::text[]) GROUP BY 1, 2`,
        [ids],
      );
      const out = new Map<string, Record<string, number>>();
      for (const r of rows) {
        const m = out.get(r.deployment_id) ?? {};
        m[r.state] = r.n;
        out.set(r.deployment_id, m);
      }
      return out;
    },
    async operations(deploymentId: string, q: { state?: OtaState; afterRank?: number; limit: number }) {
      const params: unknown[] = [deploymentId];
      let where = 'deployment_id = $1';
      if (q.state) where += ` AND state = $${params.push(q.state)}`;
      if (q.afterRank !== undefined) where += ` AND rank > $${params.push(q.afterRank)}`;
      return db.query<OperationRow>(
        `SELECT * FROM deployment_devices WHERE ${where} ORDER BY rank LIMIT $${params.push(q.limit + 1)}`,
        params,
      );
    },
    async operationOf(
      deploymentId: string,
      deviceId: string,
      lock = false,
    ): Promise<OperationRow | undefined> {
      const [r] = await db.query<OperationRow>(
        `SELECT * FROM deployment_devices WHERE deployment_id = $1 AND device_id = $2${lock ? ' FOR UPDATE' : ''}`,
        [deploymentId, deviceId],
      );
      return r;
    },
    /** A device's operation, locked. */
    async deviceOperation(tenantId: string, deviceId: string, operationId: string, lock = true) {
      const [r] = await db.query<OperationRow>(
        `SELECT * FROM deployment_devices WHERE tenant_id = $1 AND device_id = $2 AND operation_id = $3${lock ? ' FOR UPDATE' : ''}`,
        [tenantId, deviceId, operationId],
      );
      return r;
    },
    /** Writes an operation's new state (all the columns a transition may change). */
    async updateOperation(r: OperationRow): Promise<void> {
      await db.query(
        `UPDATE deployment_devices SET state = $2, attempt = $3, progress = $4, code = $5, reason = $6,
                state_since = $7, deadline_at = $8, next_attempt_at = $9, cancel_pending = $10,
                succeeded_at = $11, updated_at = $12
          WHERE operation_id = $1`,
        [
          r.operation_id,
          r.state,
          r.attempt,
          r.progress,
          r.code,
          r.reason,
          r.state_since,
          r.deadline_at,
          r.next_attempt_at,
          r.cancel_pending,
          r.succeeded_at,
          r.updated_at,
        ],
      );
    },
    /** What a device should hear: its offers (an active state) and cancels it has not acknowledged. */
    async openForDevice(tenantId: string, deviceId: string) {
      return db.query<OperationRow & { settings: DeploymentSettings; artifact_id: string }>(
        `SELECT o.*, d.artifact_id, d.settings FROM deployment_devices o JOIN deployments d ON d.id = o.deployment_id
          WHERE o.tenant_id = $1 AND o.device_id = $2 AND (o.state IN ${ACTIVE} OR o.cancel_pending)
          ORDER BY o.operation_id`,
        [tenantId, deviceId],
      );
    },
    /** The deployments that still need an artifact: running, or with a device between offer and reboot. */
    async runningOf(tenantId: string, artifactId: string): Promise<string[]> {
      const rows = await db.query<{ id: string }>(
        `SELECT d.id FROM deployments d
          WHERE d.tenant_id = $1 AND d.artifact_id = $2
            AND (d.status IN ('active', 'paused')
                 OR EXISTS (SELECT 1 FROM deployment_devices o WHERE o.deployment_id = d.id AND o.state IN ${ACTIVE}))
          ORDER BY d.id`,
        [tenantId, artifactId],
      );
      return rows.map((r) => r.id);
    },
    async mayDownload(tenantId: string, deviceId: string, artifactId: string): Promise<boolean> {
      const rows = await db.query(
        `SELECT 1 FROM deployment_devices o JOIN deployments d ON d.id = o.deployment_id
          WHERE o.tenant_id = $1 AND o.device_id = $2 AND o.state IN ${ACTIVE} AND d.artifact_id = $3 LIMIT 1`,
        [tenantId, deviceId, artifactId],
      );
      return rows.length > 0;
    },
    /** Adds finished executions (and failures among them) to a deployment's counters. */
    async count(deploymentId: string, executions: number, failures: number, now: number) {
      const [r] = await db.query<DeploymentRow>(
        `UPDATE deployments SET executions = executions + $2, failures = failures + $3, updated_at = $4
          WHERE id = $1 RETURNING *`,
        [deploymentId, executions, failures, now],
      );
      return r!;
    },
    async setStatus(
      id: string,
      from: readonly DeploymentStatus[],
      to: DeploymentStatus,
      why: { code: string; reason: string | null },
      now: number,
    ): Promise<DeploymentRow | undefined> {
      const final = to === 'completed' || to === 'aborted' || to === 'stopped';
      const [r] = await db.query<DeploymentRow>(
        `UPDATE deployments SET status = $3, status_code = $4, status_reason = $5, updated_at = $6,
                finished_at = CASE WHEN $7 THEN $6 ELSE finished_at END
          WHERE id = $1 AND status = ANY($2::text[]) RETURNING *`,
        [id, from, to, why.code, why.reason, now, final],
      );
      return r;
    },
    /**
     * Cancels a deployment's operations that have not begun installing: queued ones quietly, offered
     * ones with a cancel the device is to acknowledge. Installing and rebooting ones run to their end.
     */
    async cancelOpen(deploymentId: string, reason: string, now: number): Promise<Changed[]> {
      return db.query<Changed>(
        `WITH hit AS (
           SELECT operation_id, state FROM deployment_devices
            WHERE deployment_id = $1 AND (state = 'queued' OR state IN ${CANCELLABLE}) FOR UPDATE)
         UPDATE deployment_devices o SET state = 'cancelled', cancel_pending = hit.state <> 'queued',
                code = 'CANCELLED', reason = $2, deadline_at = NULL, next_attempt_at = NULL,
                state_since = $3, updated_at = $3
           FROM hit WHERE o.operation_id = hit.operation_id
         RETURNING o.operation_id, o.device_id, o.attempt, hit.state AS previous, o.state`,
        [deploymentId, reason, now],
      );
    },
    /** Deployments with an operation past its deadline. */
    async withDueDeadlines(now: number): Promise<string[]> {
      const rows = await db.query<{ deployment_id: string }>(
        `SELECT DISTINCT deployment_id FROM deployment_devices WHERE deadline_at <= $1 AND open LIMIT 100`,
        [now],
      );
      return rows.map((r) => r.deployment_id);
    },
    /** Times out a deployment's operations past their deadline: retried while retries last and it runs. */
    async timeOut(
      deploymentId: string,
      settings: DeploymentSettings,
      running: boolean,
      now: number,
    ): Promise<Changed[]> {
      return db.query<Changed>(
        `WITH due AS (
           SELECT operation_id, state, attempt FROM deployment_devices
            WHERE deployment_id = $1 AND open AND deadline_at <= $2 ORDER BY deadline_at LIMIT 5000 FOR UPDATE)
         UPDATE deployment_devices o SET
                state = CASE WHEN due.attempt <= $3 AND $5 THEN 'queued' ELSE 'timed_out' END,
                next_attempt_at = CASE WHEN due.attempt <= $3 AND $5
                                       THEN $2 + $4::bigint * (2 ^ greatest(due.attempt - 1, 0))::bigint END,
                cancel_pending = NOT (due.attempt <= $3 AND $5) AND due.state IN ${CANCELLABLE},
                code = 'TIMED_OUT', reason = 'silent in ' || due.state || ' past its deadline',
                deadline_at = NULL, progress = NULL, state_since = $2, updated_at = $2
           FROM due WHERE o.operation_id = due.operation_id
         RETURNING o.operation_id, o.device_id, o.attempt, due.state AS previous,
                   CASE WHEN o.state = 'queued' THEN 'timed_out' ELSE o.state END AS state`,
        [deploymentId, now, settings.retries.max, settings.retries.backoffSeconds * 1000, running],
      );
    },
    async active(): Promise<string[]> {
      const rows = await db.query<{ id: string }>(
        `SELECT id FROM deployments WHERE status = 'active' ORDER BY id`,
      );
      return rows.map((r) => r.id);
    },
    /** Open operations ranked below `cut` (the current phase), and operations in flight overall. */
    async progressOf(deploymentId: string, cut: number) {
      const [r] = await db.query<{ open_in_phase: number; in_flight: number; succeeded: number }>(
        `SELECT count(*) FILTER (WHERE open AND rank < $2)::int AS open_in_phase,
                count(*) FILTER (WHERE state IN ${ACTIVE})::int AS in_flight,
                count(*) FILTER (WHERE state = 'succeeded')::int AS succeeded
           FROM deployment_devices WHERE deployment_id = $1`,
        [deploymentId, cut],
      );
      return r!;
    },
    /** Offers the next queued operations below `cut` that are due, lowest rank first. */
    async offer(
      deploymentId: string,
      cut: number,
      limit: number,
      now: number,
      deadline: number,
    ): Promise<Changed[]> {
      return db.query<Changed>(
        `WITH next AS (
           SELECT operation_id FROM deployment_devices
            WHERE deployment_id = $1 AND state = 'queued' AND rank < $2
              AND (next_attempt_at IS NULL OR next_attempt_at <= $4)
            ORDER BY rank LIMIT $3 FOR UPDATE)
         UPDATE deployment_devices o SET state = 'offered', attempt = o.attempt + 1, progress = NULL,
                state_since = $4, deadline_at = $5, next_attempt_at = NULL, cancel_pending = false, updated_at = $4
           FROM next WHERE o.operation_id = next.operation_id
         RETURNING o.operation_id, o.device_id, o.attempt, 'queued' AS previous, o.state`,
        [deploymentId, cut, limit, now, deadline],
      );
    },
    async setPhase(
      id: string,
      phase: { current: number; startedAt: number | null; soakUntil: number | null },
      now: number,
    ) {
      await db.query(
        `UPDATE deployments SET current_phase = $2, phase_started_at = $3, soak_until = $4, updated_at = $5 WHERE id = $1`,
        [id, phase.current, phase.startedAt, phase.soakUntil, now],
      );
    },
    /** Counts offers made in the minute `minute` (the exponential rate's budget). */
    async spendRate(id: string, minute: number, offers: number): Promise<void> {
      await db.query(
        `UPDATE deployments SET rate_offers = CASE WHEN rate_minute = $2 THEN rate_offers + $3 ELSE $3 END,
                rate_minute = $2 WHERE id = $1`,
        [id, minute, offers],
      );
    },
    async setHealth(id: string, health: HealthComparison): Promise<void> {
      await db.query('UPDATE deployments SET health = $2::jsonb WHERE id = $1', [id, JSON.stringify(health)]);
    },
    /**
     * Per cohort (updated: succeeded here; control: targeted and never offered), how many devices
     * connected more than `maxReboots` times, are offline, or sent an error or critical event since
     * `since` (for an updated device: since it succeeded, if later); with a telemetry key, the mean
     * of its numeric readings per cohort.
     */
    async cohorts(deploymentId: string, since: number, maxReboots: number, telemetryKey: string | null) {
      return db.query<{
        cohort: 'updated' | 'control';
        devices: number;
        rebooting: number;
        offline: number;
        crashing: number;
        unhealthy: number;
        mean: number | null;
      }>(
        `SELECT c.cohort, count(*)::int AS devices,
                count(*) FILTER (WHERE c.reboots > $3)::int AS rebooting,
                count(*) FILTER (WHERE NOT c.connected)::int AS offline,
                count(*) FILTER (WHERE c.crashes)::int AS crashing,
                count(*) FILTER (WHERE c.reboots > $3 OR NOT c.connected OR c.crashes)::int AS unhealthy,
                avg(c.mean)::float8 AS mean
           FROM (
             SELECT CASE WHEN o.state = 'succeeded' THEN 'updated' ELSE 'control' END AS cohort,
                    d.connected,
                    (SELECT count(*) FROM presence_events p
                      WHERE p.tenant_id = o.tenant_id AND p.device_id = o.device_id AND p.event = 'connected'
                        AND p.at > greatest($2, coalesce(o.succeeded_at, 0))) AS reboots,
                    EXISTS (SELECT 1 FROM device_events e
                      WHERE e.tenant_id = o.tenant_id AND e.device_id = o.device_id
                        AND e.ts > greatest($2, coalesce(o.succeeded_at, 0))
                        AND e.severity IN ('error', 'critical')) AS crashes,
                    CASE WHEN $4::text IS NULL THEN NULL ELSE
                      (SELECT avg(t.num) FROM telemetry t
                        WHERE t.device_id = o.device_id AND t.key = $4
                          AND t.ts > greatest($2, coalesce(o.succeeded_at, 0))) END AS mean
               FROM deployment_devices o JOIN devices d ON d.id = o.device_id
              WHERE o.deployment_id = $1 AND (o.state = 'succeeded' OR (o.state = 'queued' AND o.attempt = 0))
           ) c GROUP BY c.cohort`,
        [deploymentId, since, maxReboots, telemetryKey],
      );
    },
    async emergencyStop(tenantId: string) {
      const [r] = await db.query<{ since: number; by_actor: string | null; reason: string | null }>(
        'SELECT since, by_actor, reason FROM ota_emergency_stops WHERE tenant_id = $1',
        [tenantId],
      );
      return r;
    },
    async setEmergencyStop(tenantId: string, by: string, reason: string | null, now: number): Promise<void> {
      await db.query(
        `INSERT INTO ota_emergency_stops (tenant_id, since, by_actor, reason) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id) DO NOTHING`,
        [tenantId, now, by, reason],
      );
    },
    async liftEmergencyStop(tenantId: string): Promise<boolean> {
      const rows = await db.query(
        'DELETE FROM ota_emergency_stops WHERE tenant_id = $1 RETURNING tenant_id',
        [tenantId],
      );
      return rows.length > 0;
    },
    async running(tenantId: string): Promise<string[]> {
      const rows = await db.query<{ id: string }>(
        `SELECT id FROM deployments WHERE tenant_id = $1 AND status IN ('active', 'paused') ORDER BY id`,
        [tenantId],
      );
      return rows.map((r) => r.id);
    },
  };
}
export type DeploymentStore = ReturnType<typeof deploymentStore>;
