/**
 * SQL of recent failures and refusals: one branch per kind over the table that keeps it (each with a
 * partial index on the tenant and the time, migration 027), merged newest first. Every branch is
 * bounded by the page on its own, so a page reads at most `limit + 1` rows of each.
 */
import type { DeviceVisibility } from '../../platform/caller.js';
import type { Queryable } from '../../store/db.js';
import {
  ABNORMAL_DISCONNECTS,
  ERROR_SEVERITIES,
  FAILED_OTA_STATES,
  REJECTED_PROVISIONING,
  type ProblemKind,
} from './fleet.js';

export interface ProblemRow {
  kind: ProblemKind;
  ref: string;
  device_id: string | null;
  device_name: string | null;
  serial: string | null;
  at: number;
  code: string | null;
  message: string | null;
  topic: string | null;
  n: number;
}

/** Where a page ends: the last row's time, kind and id (the order of the list). */
export interface ProblemPlace {
  at: number;
  kind: string;
  ref: string;
}

interface Scope {
  tenantId: string;
  from: number;
  deviceId?: string | undefined;
  visible?: DeviceVisibility | undefined;
  kind?: ProblemKind | undefined;
}

const list = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

/**
 * Each kind's rows as (ref, device_id, serial, at, code, message, topic, n) from its table; `ref` is
 * text compared in byte order (`COLLATE "C"`), so that the keyset compares as the list sorts.
 */
const BRANCHES: Record<ProblemKind, { table: string; at: string; select: string; where: string }> = {
  publish_refused: {
    table: 'device_refusals',
    at: 'at',
    select: `id::text, device_id, NULL::text, at, code, message, topic, 1 + suppressed`,
    where: `kind = 'publish_refused'`,
  },
  connect_refused: {
    table: 'device_refusals',
    at: 'at',
    select: `id::text, device_id, NULL::text, at, code, message, topic, 1 + suppressed`,
    where: `kind = 'connect_refused'`,
  },
  ota_failed: {
    table: 'deployment_devices',
    at: 'updated_at',
    select: `operation_id, device_id, NULL::text, updated_at, state,
             nullif(concat_ws(': ', code, reason), ''), NULL::text, 1`,
    where: `state IN (${list(FAILED_OTA_STATES)})`,
  },
  device_error: {
    table: 'device_events',
    at: 'ts',
    select: `id::text, device_id, NULL::text, ts, type, message, NULL::text, 1`,
    where: `severity IN (${list(ERROR_SEVERITIES)})`,
  },
  abnormal_disconnect: {
    table: 'presence_events',
    at: 'at',
    select: `id::text, device_id, NULL::text, at, reason, NULL::text, NULL::text, 1`,
    where: `event = 'disconnected' AND reason IN (${list(ABNORMAL_DISCONNECTS)})`,
  },
  // Refusals by a limit (domains/limits/event-log.ts); those without a device (an API key's) are seen
  // by tenant-wide callers only, like a provisioning request that made no device.
  limit_exceeded: {
    table: 'limit_events',
    at: 'at',
    select: `id::text, device_id, NULL::text, at, limit_name,
             concat(limit_name, ': ', observed, ' over ', configured, ' (', scope, ' ', subject, ')'), NULL::text,
             1 + suppressed`,
    where: 'TRUE',
  },
  provisioning_rejected: {
    table: 'provisioning_operations',
    at: 'decided_at',
    select: `id, device_id, serial, decided_at, status, reason, NULL::text, 1`,
    where: `status IN (${list(REJECTED_PROVISIONING)})`,
  },
};
export const PROBLEM_KINDS = Object.keys(BRANCHES) as ProblemKind[];
const COLUMNS = '(ref, device_id, serial, at, code, message, topic, n)';

/** The branches a query reads, each filtered by tenant, time, device and a scoped caller's devices. */
function branches(s: Scope, params: unknown[]): { kind: ProblemKind; sql: string }[] {
  const tenant = `$${params.push(s.tenantId)}`;
  const from = `$${params.push(s.from)}`;
  const device = s.deviceId !== undefined ? `$${params.push(s.deviceId)}` : undefined;
  // A request that made no device is seen by tenant-wide callers only.
  const visible = s.visible
    ? `device_id IN (SELECT id FROM devices WHERE tenant_id = ${tenant} AND (tags && $${params.push(s.visible.tags)}::text[] OR id = ANY($${params.push(s.visible.deviceIds)}::text[])))`
    : undefined;
  return (s.kind ? [s.kind] : PROBLEM_KINDS).map((kind) => {
    const b = BRANCHES[kind];
    const where = [`tenant_id = ${tenant}`, `${b.at} >= ${from}`, b.where];
    if (device) where.push(`device_id = ${device}`);
    if (visible) where.push(visible);
    return {
      kind,
      sql: `SELECT * FROM (SELECT ${b.select} FROM ${b.table} WHERE ${where.join(' AND ')}) AS b${COLUMNS}`,
    };
  });
}

export function problemStore(db: Queryable) {
  return {
    /** A page newest first (by time, kind, id), one row more than `limit` when there are more. */
    async page(s: Scope & { after?: ProblemPlace; limit: number }): Promise<ProblemRow[]> {
      const params: unknown[] = [];
      const parts = branches(s, params);
      const after = s.after;
      const at = after ? `$${params.push(after.at)}` : '';
      const ref = after ? `$${params.push(after.ref)}` : '';
      const n = `$${params.push(s.limit + 1)}`;
      const selects = parts.map(({ kind, sql }) => {
        // Past the place in the list's order: a kind sorting after the place's comes first at the same time.
        const past = !after
          ? ''
          : kind < after.kind
            ? ` WHERE at <= ${at}`
            : kind > after.kind
              ? ` WHERE at < ${at}`
              : ` WHERE (at, ref COLLATE "C") < (${at}, ${ref} COLLATE "C")`;
        return `(SELECT '${kind}'::text AS kind, * FROM (${sql}) AS k${past}
                 ORDER BY at DESC, ref COLLATE "C" DESC LIMIT ${n})`;
      });
      return db.query<ProblemRow>(
        `SELECT p.*, d.name AS device_name FROM (${selects.join(' UNION ALL ')}) AS p
           LEFT JOIN devices d ON d.id = p.device_id AND d.tenant_id = $1
          ORDER BY p.at DESC, p.kind COLLATE "C" DESC, p.ref COLLATE "C" DESC LIMIT ${n}`,
        params,
      );
    },
    /** How many of each kind since the scope's time. */
    async counts(s: Omit<Scope, 'kind'>): Promise<Map<ProblemKind, number>> {
      const params: unknown[] = [];
      const selects = branches(s, params).map(
        ({ kind, sql }) => `SELECT '${kind}'::text AS kind, coalesce(sum(n), 0)::int AS n FROM (${sql}) AS k`,
      );
      const rows = await db.query<{ kind: ProblemKind; n: number }>(selects.join(' UNION ALL '), params);
      return new Map(rows.map((r) => [r.kind, Number(r.n)]));
    },
    /** Stores refusals (the broker's, bounded by `refusal-log.ts`). */
    async insertRefusals(rows: readonly RefusalRow[]): Promise<void> {
      if (rows.length === 0) return;
      await db.query(
        `INSERT INTO device_refusals (tenant_id, device_id, at, kind, code, topic, message, suppressed)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[])`,
        [
          rows.map((r) => r.tenantId),
          rows.map((r) => r.deviceId),
          rows.map((r) => r.at),
          rows.map((r) => r.kind),
          rows.map((r) => r.code),
          rows.map((r) => r.topic),
          rows.map((r) => r.message),
          rows.map((r) => r.suppressed),
        ],
      );
    },
    /** Deletes up to `limit` refusals stored before `before`; how many. */
    async purgeRefusals(before: number, limit: number): Promise<number> {
      const rows = await db.query(
        `DELETE FROM device_refusals WHERE id IN (SELECT id FROM device_refusals WHERE at < $1 LIMIT $2) RETURNING id`,
        [before, limit],
      );
      return rows.length;
    },
  };
}
export type ProblemStore = ReturnType<typeof problemStore>;

/** One stored refusal. */
export interface RefusalRow {
  tenantId: string;
  deviceId: string;
  at: number;
  kind: 'publish_refused' | 'connect_refused';
  code: string;
  topic: string | null;
  message: string;
  /** Refusals of the same device and code not stored on their own, counted here. */
  suppressed: number;
}
