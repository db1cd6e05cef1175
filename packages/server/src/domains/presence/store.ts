/** SQL for presence: the live-session columns of `devices` and the `presence_events` history. */
import type { Queryable } from '../../store/db.js';
import type { DeviceIdentity } from '../../platform/caller.js';
import type { ConnectionInfo, PresenceEvent } from './presence.js';

export function presenceStore(db: Queryable) {
  return {
    async markConnected(device: DeviceIdentity, sessionId: string, nodeId: string, at: number) {
      await db.query(
        `UPDATE devices SET connected = true, session_id = $3, connected_node = $4, last_connected_at = $5, last_seen_at = $5
          WHERE tenant_id = $1 AND id = $2`,
        [device.tenantId, device.deviceId, sessionId, nodeId, at],
      );
    },
    async recordConnected(device: DeviceIdentity, at: number, info: ConnectionInfo) {
      await db.query(
        `INSERT INTO presence_events (tenant_id, device_id, at, event, remote_address, transport) VALUES ($1, $2, $3, 'connected', $4, $5)`,
        [device.tenantId, device.deviceId, at, info.remoteAddress, info.transport],
      );
    },
    /** Marks the device offline when `sessionId` is still its session; whether it was. */
    async markDisconnected(
      device: DeviceIdentity,
      sessionId: string,
      at: number,
      reason: string,
    ): Promise<boolean> {
      const rows = await db.query(
        `UPDATE devices SET connected = false, session_id = NULL, connected_node = NULL, last_disconnected_at = $4, last_disconnect_reason = $5
          WHERE tenant_id = $1 AND id = $2 AND session_id = $3 RETURNING id`,
        [device.tenantId, device.deviceId, sessionId, at, reason],
      );
      return rows.length > 0;
    },
    async recordDisconnected(device: DeviceIdentity, at: number, reason: string, info: ConnectionInfo) {
      await db.query(
        `INSERT INTO presence_events (tenant_id, device_id, at, event, reason, remote_address, transport)
         VALUES ($1, $2, $3, 'disconnected', $4, $5, $6)`,
        [device.tenantId, device.deviceId, at, reason, info.remoteAddress, info.transport],
      );
    },
    /** Marks every device connected through `nodeId` offline; returns them. */
    async markNodeDisconnected(
      nodeId: string,
      at: number,
      reason: string,
    ): Promise<{ id: string; tenant_id: string }[]> {
      return db.query<{ id: string; tenant_id: string }>(
        `UPDATE devices SET connected = false, session_id = NULL, connected_node = NULL, last_disconnected_at = $2, last_disconnect_reason = $3
          WHERE connected AND connected_node = $1 RETURNING id, tenant_id`,
        [nodeId, at, reason],
      );
    },
    /** A disconnect record per device, with the address and transport of its last connect record. */
    async recordNodeDisconnected(devices: { id: string; tenant_id: string }[], at: number, reason: string) {
      await db.query(
        `INSERT INTO presence_events (tenant_id, device_id, at, event, reason, remote_address, transport)
         SELECT v.tenant_id, v.id, $3, 'disconnected', $4, c.remote_address, c.transport
           FROM unnest($1::text[], $2::text[]) AS v(tenant_id, id)
           LEFT JOIN LATERAL (
             SELECT remote_address, transport FROM presence_events p
              WHERE p.tenant_id = v.tenant_id AND p.device_id = v.id AND p.event = 'connected'
              ORDER BY p.id DESC LIMIT 1
           ) c ON true`,
        [devices.map((r) => r.tenant_id), devices.map((r) => r.id), at, reason],
      );
    },
    async history(tenantId: string, deviceId: string, limit: number): Promise<PresenceEvent[]> {
      const rows = await db.query<{
        at: number;
        event: 'connected' | 'disconnected';
        reason: string | null;
        remote_address: string | null;
        transport: string | null;
      }>(
        'SELECT at, event, reason, remote_address, transport FROM presence_events WHERE tenant_id = $1 AND device_id = $2 ORDER BY id DESC LIMIT $3',
        [tenantId, deviceId, limit],
      );
      return rows.map((r) => ({
        at: r.at,
        event: r.event,
        reason: r.reason,
        remoteAddress: r.remote_address,
        transport: r.transport,
      }));
    },
  };
}
export type PresenceStore = ReturnType<typeof presenceStore>;
