/** SQL of the configuration twin: `device_config`, `device_config_history`, `config_schemas`. */
import type { ConfigDocument } from '@mooring/protocol';
import type { Queryable } from '../../store/db.js';
import type { ConfigHistoryEntry, ConfigMemberMeta, ConfigSchema, ConfigSideName } from './config.js';

export interface ConfigRow {
  device_id: string;
  tenant_id: string;
  desired: ConfigDocument;
  desired_version: number;
  desired_meta: Record<string, ConfigMemberMeta>;
  desired_at: number | null;
  reported: ConfigDocument;
  reported_version: number;
  reported_meta: Record<string, ConfigMemberMeta>;
  reported_at: number | null;
  acked_version: number;
  acked_at: number | null;
  resync: boolean;
}

interface HistoryRow {
  seq: number;
  side: ConfigSideName;
  version: number;
  patch: ConfigDocument;
  before: ConfigDocument;
  after: ConfigDocument;
  actor: string;
  at: number;
}

interface SchemaRow {
  name: string;
  tag: string;
  schema: Record<string, unknown>;
  created_at: number;
  updated_at: number;
}

export const toHistoryEntry = (r: HistoryRow): ConfigHistoryEntry => ({
  side: r.side,
  version: Number(r.version),
  patch: r.patch,
  before: r.before,
  after: r.after,
  actor: r.actor,
  at: Number(r.at),
});

export const toSchema = (r: SchemaRow): ConfigSchema => ({
  name: r.name,
  tag: r.tag,
  schema: r.schema,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

const json = (v: unknown) => JSON.stringify(v);

export function configStore(db: Queryable) {
  return {
    async find(tenantId: string, deviceId: string): Promise<ConfigRow | undefined> {
      const rows = await db.query<ConfigRow>(
        'SELECT * FROM device_config WHERE device_id = $1 AND tenant_id = $2',
        [deviceId, tenantId],
      );
      return rows[0];
    },
    /** The device's row, made if missing and locked until the transaction ends. */
    async lock(tenantId: string, deviceId: string): Promise<ConfigRow> {
      await db.query(
        'INSERT INTO device_config (device_id, tenant_id) VALUES ($1, $2) ON CONFLICT (device_id) DO NOTHING',
        [deviceId, tenantId],
      );
      const rows = await db.query<ConfigRow>(
        'SELECT * FROM device_config WHERE device_id = $1 AND tenant_id = $2 FOR UPDATE',
        [deviceId, tenantId],
      );
      if (!rows[0]) throw new Error(`device_config row of ${deviceId} is not the tenant's`);
      return rows[0];
    },
    /**
     * The rows of these devices of the tenant (made where missing) with each device's tags, locked
     * until the transaction ends; released devices and ids of no device of the tenant are left out.
     */
    async lockMany(
      tenantId: string,
      deviceIds: readonly string[],
    ): Promise<(ConfigRow & { tags: string[] })[]> {
      await db.query(
        `INSERT INTO device_config (device_id, tenant_id)
         SELECT id, tenant_id FROM devices WHERE tenant_id = $1 AND id = ANY($2::text[]) AND status <> 'released'
         ON CONFLICT (device_id) DO NOTHING`,
        [tenantId, deviceIds],
      );
      return db.query<ConfigRow & { tags: string[] }>(
        `SELECT c.*, d.tags FROM device_config c JOIN devices d ON d.id = c.device_id AND d.tenant_id = c.tenant_id
          WHERE c.tenant_id = $1 AND c.device_id = ANY($2::text[]) AND d.status <> 'released'
          ORDER BY c.device_id FOR UPDATE OF c`,
        [tenantId, deviceIds],
      );
    },
    /** Writes new desired documents of several devices and their history entries: two statements. */
    async setDesiredMany(
      tenantId: string,
      changes: readonly {
        deviceId: string;
        version: number;
        before: ConfigDocument;
        after: ConfigDocument;
        meta: Record<string, ConfigMemberMeta>;
      }[],
      patch: ConfigDocument,
      actor: string,
      at: number,
    ): Promise<void> {
      const rows = json(
        changes.map((c) => ({
          device_id: c.deviceId,
          version: c.version,
          before: c.before,
          after: c.after,
          meta: c.meta,
        })),
      );
      await db.query(
        `UPDATE device_config c SET desired = x.after, desired_version = x.version, desired_meta = x.meta, desired_at = $3
           FROM jsonb_to_recordset($2::jsonb) AS x(device_id text, version bigint, after jsonb, meta jsonb)
          WHERE c.tenant_id = $1 AND c.device_id = x.device_id`,
        [tenantId, rows, at],
      );
      await db.query(
        `INSERT INTO device_config_history (device_id, side, version, tenant_id, patch, before, after, actor, at)
         SELECT x.device_id, 'desired', x.version, $1, $3, x.before, x.after, $4, $5
           FROM jsonb_to_recordset($2::jsonb) AS x(device_id text, version bigint, before jsonb, after jsonb)`,
        [tenantId, rows, json(patch), actor, at],
      );
    },
    async setSide(
      deviceId: string,
      side: ConfigSideName,
      v: { document: ConfigDocument; version: number; meta: Record<string, ConfigMemberMeta>; at: number },
    ): Promise<void> {
      // `side` is one of two literals, never input.
      await db.query(
        `UPDATE device_config SET ${side} = $2, ${side}_version = $3, ${side}_meta = $4, ${side}_at = $5
          WHERE device_id = $1`,
        [deviceId, json(v.document), v.version, json(v.meta), v.at],
      );
    },
    async addHistory(tenantId: string, deviceId: string, e: Omit<ConfigHistoryEntry, never>): Promise<void> {
      await db.query(
        `INSERT INTO device_config_history (device_id, side, version, tenant_id, patch, before, after, actor, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [deviceId, e.side, e.version, tenantId, json(e.patch), json(e.before), json(e.after), e.actor, e.at],
      );
    },
    /**
     * Records an acknowledged desired version: it only moves forward; a device that holds the current
     * version no longer needs the whole document.
     */
    async acknowledge(deviceId: string, version: number, at: number): Promise<void> {
      await db.query(
        `UPDATE device_config SET acked_version = greatest(acked_version, $2), acked_at = $3,
                resync = resync AND $2 < desired_version
          WHERE device_id = $1`,
        [deviceId, version, at],
      );
    },
    async requestResync(tenantId: string, deviceId: string): Promise<boolean> {
      const rows = await db.query(
        `UPDATE device_config SET resync = true WHERE device_id = $1 AND tenant_id = $2 AND desired_version > 0
         RETURNING device_id`,
        [deviceId, tenantId],
      );
      return rows.length > 0;
    },
    /**
     * What a push needs, when there is something to push: the current desired document and the one
     * at the base (the acknowledged version's snapshot; none when the device asked for the whole one
     * or acknowledged nothing yet).
     */
    async pushState(
      tenantId: string,
      deviceId: string,
    ): Promise<
      | { desired: ConfigDocument; version: number; baseVersion: number; base: ConfigDocument | null }
      | undefined
    > {
      const rows = await db.query<{
        desired: ConfigDocument;
        desired_version: number;
        acked_version: number;
        resync: boolean;
        base: ConfigDocument | null;
      }>(
        `SELECT c.desired, c.desired_version, c.acked_version, c.resync, h.after AS base
           FROM device_config c
           LEFT JOIN device_config_history h
             ON h.device_id = c.device_id AND h.side = 'desired' AND h.version = c.acked_version AND NOT c.resync
          WHERE c.device_id = $1 AND c.tenant_id = $2 AND (c.desired_version > c.acked_version OR c.resync)`,
        [deviceId, tenantId],
      );
      const r = rows[0];
      if (!r) return undefined;
      const baseVersion = r.resync || r.base === null ? 0 : Number(r.acked_version);
      return {
        desired: r.desired,
        version: Number(r.desired_version),
        baseVersion,
        base: baseVersion === 0 ? null : r.base,
      };
    },
    /** The desired document at `version`, from its history; undefined when not kept. */
    async desiredAt(deviceId: string, version: number): Promise<ConfigDocument | undefined> {
      const rows = await db.query<{ after: ConfigDocument }>(
        `SELECT after FROM device_config_history WHERE device_id = $1 AND side = 'desired' AND version = $2`,
        [deviceId, version],
      );
      return rows[0]?.after;
    },
    async history(
      tenantId: string,
      deviceId: string,
      q: { side?: ConfigSideName; beforeSeq?: number; limit: number },
    ): Promise<HistoryRow[]> {
      const where = ['device_id = $1', 'tenant_id = $2'];
      const params: unknown[] = [deviceId, tenantId];
      if (q.side) where.push(`side = $${params.push(q.side)}`);
      if (q.beforeSeq !== undefined) where.push(`seq < $${params.push(q.beforeSeq)}`);
      return db.query<HistoryRow>(
        `SELECT seq, side, version, patch, before, after, actor, at FROM device_config_history
          WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT $${params.push(q.limit + 1)}`,
        params,
      );
    },
    async schemas(tenantId: string): Promise<ConfigSchema[]> {
      const rows = await db.query<SchemaRow>(
        'SELECT name, tag, schema, created_at, updated_at FROM config_schemas WHERE tenant_id = $1 ORDER BY name',
        [tenantId],
      );
      return rows.map(toSchema);
    },
    async schemasForTags(tenantId: string, tags: readonly string[]): Promise<ConfigSchema[]> {
      if (tags.length === 0) return [];
      const rows = await db.query<SchemaRow>(
        `SELECT name, tag, schema, created_at, updated_at FROM config_schemas
          WHERE tenant_id = $1 AND tag = ANY($2::text[]) ORDER BY name`,
        [tenantId, tags],
      );
      return rows.map(toSchema);
    },
    async insertSchema(
      tenantId: string,
      s: { name: string; tag: string; schema: Record<string, unknown>; at: number },
    ): Promise<ConfigSchema | undefined> {
      const rows = await db.query<SchemaRow>(
        `INSERT INTO config_schemas (tenant_id, name, tag, schema, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (tenant_id, name) DO NOTHING
         RETURNING name, tag, schema, created_at, updated_at`,
        [tenantId, s.name, s.tag, json(s.schema), s.at],
      );
      return rows[0] && toSchema(rows[0]);
    },
    async updateSchema(
      tenantId: string,
      s: { name: string; tag: string; schema: Record<string, unknown>; at: number },
    ): Promise<ConfigSchema | undefined> {
      // updated_at only grows: it keys the compiled-validator cache.
      const rows = await db.query<SchemaRow>(
        `UPDATE config_schemas SET tag = $3, schema = $4, updated_at = greatest($5, updated_at + 1)
          WHERE tenant_id = $1 AND name = $2
          RETURNING name, tag, schema, created_at, updated_at`,
        [tenantId, s.name, s.tag, json(s.schema), s.at],
      );
      return rows[0] && toSchema(rows[0]);
    },
    async deleteSchema(tenantId: string, name: string): Promise<boolean> {
      const rows = await db.query(
        'DELETE FROM config_schemas WHERE tenant_id = $1 AND name = $2 RETURNING name',
        [tenantId, name],
      );
      return rows.length > 0;
    },
  };
}
export type ConfigStore = ReturnType<typeof configStore>;
