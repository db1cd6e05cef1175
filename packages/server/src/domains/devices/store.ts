/** SQL for devices and access keys; every query carries the tenant id. */
import { mapUniqueViolation, type Queryable } from '../../store/db.js';
import type { DeviceSort, VersionKey } from '@mooring/protocol';
import type { DeviceVisibility } from '../../platform/caller.js';
import {
  MAX_TAGS,
  type AccessKey,
  type Device,
  type DeviceCredentialState,
  type DeviceListQuery,
  type DeviceStatus,
} from './devices.js';
import { orderSql, rangeSql, type DevicePlace } from './sort.js';

interface DeviceRow {
  id: string;
  tenant_id: string;
  serial: string | null;
  name: string;
  tags: string[];
  metadata: Record<string, unknown>;
  status: DeviceStatus;
  created_at: number;
  updated_at: number;
  connected: boolean;
  last_seen_at: number | null;
  last_connected_at: number | null;
  last_disconnected_at: number | null;
  last_disconnect_reason: string | null;
  firmware_version: string | null;
  hardware_class: string | null;
  firmware_reported_at: number | null;
  fw_major: number | null;
  fw_minor: number | null;
  fw_patch: number | null;
  fw_pre: string | null;
}

interface AccessKeyRow {
  id: string;
  tenant_id: string;
  device_id: string;
  prefix: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export const toDevice = (r: DeviceRow): Device => ({
  id: r.id,
  tenantId: r.tenant_id,
  serial: r.serial,
  name: r.name,
  tags: r.tags,
  metadata: r.metadata,
  status: r.status,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  firmware:
    r.firmware_version !== null && r.hardware_class !== null && r.firmware_reported_at !== null
      ? {
          version: r.firmware_version,
          hardwareClass: r.hardware_class,
          reportedAt: r.firmware_reported_at,
        }
      : null,
  presence: {
    connected: r.connected,
    lastSeenAt: r.last_seen_at,
    lastConnectedAt: r.last_connected_at,
    lastDisconnectedAt: r.last_disconnected_at,
    lastDisconnectReason: r.last_disconnect_reason,
  },
});

const toAccessKey = (r: AccessKeyRow): AccessKey => ({
  id: r.id,
  deviceId: r.device_id,
  prefix: r.prefix,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});

/** The list's filters (the firmware bound and the instants parsed), as a bulk operation takes them too. */
export type DeviceFilterQuery = Omit<
  DeviceListQuery,
  | 'belowVersion'
  | 'lastSeenBefore'
  | 'lastSeenAfter'
  | 'certificateExpiresBefore'
  | 'cursor'
  | 'limit'
  | 'sort'
> & {
  below?: VersionKey;
  /** Epoch ms: not seen since (last seen before, or never seen). */
  seenBefore?: number;
  /** Epoch ms: seen at or after. */
  seenAfter?: number;
  /** Epoch ms: the current certificate expires before. */
  certificateBefore?: number;
};

/** A certificate of the device row in scope that authenticates it: neither revoked nor pending. */
const LIVE_CERTIFICATE = `SELECT 1 FROM device_certificates c
  WHERE c.tenant_id = devices.tenant_id AND c.device_id = devices.id AND c.revoked_at IS NULL AND NOT c.pending`;

/** What a bulk operation does to each device (docs/api.md#bulk-operations). */
export type BulkChange =
  | { type: 'addTags'; tags: readonly string[] }
  | { type: 'removeTags'; tags: readonly string[] }
  | { type: 'disable' }
  | { type: 'enable' };

/** The WHERE terms of a filter, its values pushed onto `params` (`$1` is the tenant). */
export function filterSql(q: DeviceFilterQuery, params: unknown[]): string[] {
  const where = ['tenant_id = $1'];
  if (q.tag) where.push(`tags @> ARRAY[$${params.push(q.tag)}]::text[]`);
  if (q.status) where.push(`status = $${params.push(q.status)}`);
  if (q.connected !== undefined) where.push(`connected = $${params.push(q.connected)}`);
  if (q.firmwareVersion) where.push(`firmware_version = $${params.push(q.firmwareVersion)}`);
  if (q.hardwareClass) where.push(`hardware_class = $${params.push(q.hardwareClass)}`);
  if (q.below) {
    const { major, minor, patch, pre } = q.below;
    where.push(
      `fw_major IS NOT NULL AND (fw_major, fw_minor, fw_patch, fw_pre) < ($${params.push(major)}::int, $${params.push(minor)}::int, $${params.push(patch)}::int, $${params.push(pre)}::text COLLATE "C")`,
    );
  }
  // The fleet policy's table is read here so that the list stays one indexed query.
  if (q.belowMinimum !== undefined)
    where.push(
      `${q.belowMinimum ? '' : 'NOT '}EXISTS (SELECT 1 FROM fleet_policies p WHERE p.tenant_id = devices.tenant_id AND p.hardware_class = devices.hardware_class AND (devices.fw_major, devices.fw_minor, devices.fw_patch, devices.fw_pre) < (p.min_major, p.min_minor, p.min_patch, p.min_pre))`,
    );
  // Never seen counts as not seen since any time; devices_last_seen_idx serves both bounds.
  if (q.seenBefore !== undefined)
    where.push(`(last_seen_at < $${params.push(q.seenBefore)} OR last_seen_at IS NULL)`);
  if (q.seenAfter !== undefined) where.push(`last_seen_at >= $${params.push(q.seenAfter)}`);
  if (q.neverSeen !== undefined) where.push(`last_seen_at IS ${q.neverSeen ? '' : 'NOT '}NULL`);
  // The current certificate expires before T: a live one does, and none expires later (a renewed
  // device keeps its old certificate until it expires). device_certificates_live_idx answers both.
  if (q.certificateBefore !== undefined) {
    const t = `$${params.push(q.certificateBefore)}::bigint`;
    where.push(
      `EXISTS (${LIVE_CERTIFICATE} AND c.not_after < ${t}) AND NOT EXISTS (${LIVE_CERTIFICATE} AND c.not_after >= ${t})`,
    );
  }
  return where;
}

/**
 * A bulk change as SQL: `when` holds for a device the change would alter, `set` alters it, `tooMany`
 * (only a change that adds tags has one) holds when the device would have more than MAX_TAGS after it.
 */
/** The WHERE term that keeps a scoped caller to the devices its grants cover. */
export function visibleSql(visible: DeviceVisibility, params: unknown[]): string {
  return `(tags && $${params.push(visible.tags)}::text[] OR id = ANY($${params.push(visible.deviceIds)}::text[]))`;
}

function changeSql(c: BulkChange, params: unknown[]): { when: string; set: string; tooMany?: string } {
  switch (c.type) {
    case 'addTags': {
      const p = `$${params.push(c.tags)}::text[]`;
      // Its tags, then the new ones it lacks, in the order given.
      const tags = `(tags || ARRAY(SELECT t FROM unnest(${p}) WITH ORDINALITY AS n(t, i) WHERE NOT t = ANY(tags) ORDER BY i))`;
      return {
        when: `NOT tags @> ${p}`,
        set: `tags = ${tags}`,
        // The subquery only for a device that could reach the limit: run for every device, it was
        // most of the dry-run count over a whole fleet.
        tooMany: `cardinality(tags) + cardinality(${p}) > ${MAX_TAGS} AND cardinality(${tags}) > ${MAX_TAGS}`,
      };
    }
    case 'removeTags': {
      const p = `$${params.push(c.tags)}::text[]`;
      return {
        when: `tags && ${p}`,
        set: `tags = ARRAY(SELECT t FROM unnest(tags) WITH ORDINALITY AS n(t, i) WHERE NOT t = ANY(${p}) ORDER BY i)`,
      };
    }
    case 'disable':
      return { when: `status = 'enabled'`, set: `status = 'disabled'` };
    case 'enable':
      return { when: `status = 'disabled'`, set: `status = 'enabled'` };
  }
}

export function deviceStore(db: Queryable) {
  return {
    async insert(d: Device, provisioningTokenId: string | null = null): Promise<Device> {
      await db
        .query(
          `INSERT INTO devices (id, tenant_id, serial, name, tags, metadata, status, created_at, updated_at, provisioning_token_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [
            d.id,
            d.tenantId,
            d.serial,
            d.name,
            d.tags,
            JSON.stringify(d.metadata),
            d.status,
            d.createdAt,
            d.updatedAt,
            provisioningTokenId,
          ],
        )
        .catch((e) => mapUniqueViolation(e, `a device with serial '${d.serial}'`));
      return d;
    },
    async get(tenantId: string, id: string): Promise<Device | undefined> {
      const [r] = await db.query<DeviceRow>('SELECT * FROM devices WHERE tenant_id = $1 AND id = $2', [
        tenantId,
        id,
      ]);
      return r && toDevice(r);
    },
    async bySerial(tenantId: string, serial: string): Promise<Device | undefined> {
      const [r] = await db.query<DeviceRow>('SELECT * FROM devices WHERE tenant_id = $1 AND serial = $2', [
        tenantId,
        serial,
      ]);
      return r && toDevice(r);
    },
    async idsBySerial(tenantId: string, serials: string[]): Promise<Map<string, string>> {
      const rows = await db.query<{ id: string; serial: string }>(
        'SELECT id, serial FROM devices WHERE tenant_id = $1 AND serial = ANY($2::text[])',
        [tenantId, serials],
      );
      return new Map(rows.map((r) => [r.serial, r.id]));
    },
    /** Tags of a device, for access checks on scoped grants; undefined when the tenant has no such device. */
    async tags(tenantId: string, id: string): Promise<string[] | undefined> {
      const [r] = await db.query<{ tags: string[] }>(
        'SELECT tags FROM devices WHERE tenant_id = $1 AND id = $2',
        [tenantId, id],
      );
      return r?.tags;
    },
    async list(
      tenantId: string,
      q: DeviceFilterQuery & {
        sort?: DeviceSort;
        after?: DevicePlace;
        limit: number;
        visible?: DeviceVisibility;
      },
    ): Promise<DeviceRow[]> {
      const params: unknown[] = [tenantId];
      const where = filterSql(q, params);
      if (q.visible) where.push(visibleSql(q.visible, params));
      const sort = q.sort ?? 'id';
      where.push(...rangeSql(sort, q, params));
      const { after, orderBy } = orderSql(sort, q.after, params);
      if (after) where.push(after);
      return db.query<DeviceRow>(
        `SELECT * FROM devices WHERE ${where.join(' AND ')} ORDER BY ${orderBy} LIMIT $${params.push(q.limit + 1)}`,
        params,
      );
    },
    /**
     * How many devices the filter matches (what the list shows with it), how many of those the bulk
     * change would alter, and how many it would give more tags than a device may have. One statement:
     * at 100,000 devices a dry run reads the fleet once.
     */
    async bulkCount(
      tenantId: string,
      q: DeviceFilterQuery,
      action: BulkChange,
      visible?: DeviceVisibility,
    ): Promise<{ matched: number; wouldChange: number; tooManyTags: number }> {
      const params: unknown[] = [tenantId];
      const where = [...filterSql(q, params), ...(visible ? [visibleSql(visible, params)] : [])].join(
        ' AND ',
      );
      const change = changeSql(action, params);
      const [counts] = await db.query<{ matched: string; would: string; too_many: string }>(
        `SELECT count(*) AS matched,
                count(*) FILTER (WHERE status <> 'released' AND ${change.when}) AS would,
                count(*) FILTER (WHERE status <> 'released' AND ${change.when} AND ${change.tooMany ?? 'false'}) AS too_many
           FROM devices WHERE ${where}`,
        params,
      );
      return {
        matched: Number(counts!.matched),
        wouldChange: Number(counts!.would),
        tooManyTags: Number(counts!.too_many),
      };
    },
    /** Makes the bulk change to every device of the filter that needs it; the ids changed. */
    async bulkApply(
      tenantId: string,
      q: DeviceFilterQuery,
      action: BulkChange,
      at: number,
      visible?: DeviceVisibility,
    ): Promise<string[]> {
      const params: unknown[] = [tenantId];
      const where = [...filterSql(q, params), ...(visible ? [visibleSql(visible, params)] : [])].join(
        ' AND ',
      );
      const change = changeSql(action, params);
      const rows = await db.query<{ id: string }>(
        `UPDATE devices SET ${change.set}, updated_at = $${params.push(at)}
          WHERE ${where} AND status <> 'released' AND ${change.when} RETURNING id`,
        params,
      );
      return rows.map((r) => r.id);
    },
    async update(d: Device): Promise<void> {
      await db.query(
        'UPDATE devices SET name = $3, tags = $4, metadata = $5, status = $6, updated_at = $7 WHERE tenant_id = $1 AND id = $2',
        [d.tenantId, d.id, d.name, d.tags, JSON.stringify(d.metadata), d.status, d.updatedAt],
      );
    },
    /**
     * Deletes the device and the rows that hang off it without a foreign key; answers the tags it had
     * (the event of its deletion is filtered by them), or undefined when there was no such device.
     */
    async delete(tenantId: string, id: string): Promise<{ tags: string[] } | undefined> {
      const rows = await db.query<{ tags: string[] }>(
        'DELETE FROM devices WHERE tenant_id = $1 AND id = $2 RETURNING tags',
        [tenantId, id],
      );
      if (rows.length === 0) return undefined;
      for (const table of ['telemetry', 'telemetry_latest', 'device_events', 'presence_events']) {
        await db.query(`DELETE FROM ${table} WHERE tenant_id = $1 AND device_id = $2`, [tenantId, id]);
      }
      return { tags: rows[0]!.tags };
    },
    /** Every access key of the device stops working (one revoked already keeps its date). */
    async revokeAllAccessKeys(tenantId: string, deviceId: string, at: number): Promise<void> {
      await db.query(
        'UPDATE device_access_keys SET revoked_at = coalesce(revoked_at, $3) WHERE tenant_id = $1 AND device_id = $2',
        [tenantId, deviceId, at],
      );
    },
    async reprovisioned(
      tenantId: string,
      deviceId: string,
      provisioningTokenId: string,
      at: number,
    ): Promise<void> {
      await db.query(
        'UPDATE devices SET tokens_valid_after = $3, tokens_revoked_at = NULL, provisioning_token_id = $4, updated_at = $3 WHERE tenant_id = $1 AND id = $2',
        [tenantId, deviceId, at, provisioningTokenId],
      );
    },
    async revokeRegistrationTokens(tenantId: string, deviceId: string, at: number): Promise<boolean> {
      const rows = await db.query(
        'UPDATE devices SET tokens_valid_after = $3, tokens_revoked_at = $3 WHERE tenant_id = $1 AND id = $2 RETURNING id',
        [tenantId, deviceId, at],
      );
      return rows.length > 0;
    },
    async release(tenantId: string, deviceId: string, at: number): Promise<void> {
      await db.query(
        `UPDATE devices SET tokens_valid_after = $3, tokens_revoked_at = $3, status = 'released', serial = NULL, updated_at = $3 WHERE tenant_id = $1 AND id = $2`,
        [tenantId, deviceId, at],
      );
    },
    async credentialState(deviceId: string): Promise<DeviceCredentialState | undefined> {
      const [r] = await db.query<{
        tenant_id: string;
        status: DeviceStatus;
        tokens_valid_after: number;
        provisioning_token_id: string | null;
        serial: string | null;
      }>(
        'SELECT tenant_id, status, tokens_valid_after, provisioning_token_id, serial FROM devices WHERE id = $1',
        [deviceId],
      );
      return (
        r && {
          tenantId: r.tenant_id,
          status: r.status,
          tokensValidAfter: r.tokens_valid_after,
          provisioningTokenId: r.provisioning_token_id,
          serial: r.serial,
        }
      );
    },
    async insertAccessKey(tenantId: string, k: AccessKey, keyHash: string): Promise<void> {
      await db.query(
        'INSERT INTO device_access_keys (id, tenant_id, device_id, key_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [k.id, tenantId, k.deviceId, keyHash, k.prefix, k.createdAt],
      );
    },
    async listAccessKeys(tenantId: string, deviceId: string): Promise<AccessKey[]> {
      return (
        await db.query<AccessKeyRow>(
          'SELECT * FROM device_access_keys WHERE tenant_id = $1 AND device_id = $2 ORDER BY id',
          [tenantId, deviceId],
        )
      ).map(toAccessKey);
    },
    async revokeAccessKey(tenantId: string, deviceId: string, keyId: string, now: number): Promise<boolean> {
      const rows = await db.query(
        `UPDATE device_access_keys SET revoked_at = coalesce(revoked_at, $4)
          WHERE tenant_id = $1 AND device_id = $2 AND id = $3 RETURNING id`,
        [tenantId, deviceId, keyId, now],
      );
      return rows.length > 0;
    },
    /** Finds the live key with this digest and its device's status. */
    async findAccessKey(
      keyHash: string,
    ): Promise<
      | { keyId: string; tenantId: string; deviceId: string; status: DeviceStatus; lastUsedAt: number | null }
      | undefined
    > {
      const [r] = await db.query<{
        id: string;
        tenant_id: string;
        device_id: string;
        status: DeviceStatus;
        last_used_at: number | null;
      }>(
        `SELECT k.id, k.tenant_id, k.device_id, d.status, k.last_used_at
           FROM device_access_keys k JOIN devices d ON d.id = k.device_id AND d.tenant_id = k.tenant_id
          WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
        [keyHash],
      );
      return (
        r && {
          keyId: r.id,
          tenantId: r.tenant_id,
          deviceId: r.device_id,
          status: r.status,
          lastUsedAt: r.last_used_at,
        }
      );
    },
    async touchAccessKey(keyId: string, now: number): Promise<void> {
      await db.query('UPDATE device_access_keys SET last_used_at = $2 WHERE id = $1', [keyId, now]);
    },
  };
}
export type DeviceStore = ReturnType<typeof deviceStore>;
