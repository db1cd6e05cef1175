import type { Db } from '../../store/db.js';
import type { TenantCaller } from '../../platform/caller.js';
import type { PresenceService } from './presence.js';

export function createPresenceService(deps: {
  db: Db;
  nodeId: string;
  requireDevice(caller: TenantCaller, deviceId: string): Promise<unknown>;
  now?: () => number;
}): PresenceService {
  const { db, nodeId } = deps;
  const now = deps.now ?? Date.now;
  return {
    async connected(device, sessionId, info) {
      const t = now();
      await db.transaction(async (tx) => {
        await tx.query(
          `UPDATE devices SET connected = true, session_id = $3, connected_node = $4, last_connected_at = $5, last_seen_at = $5
            WHERE tenant_id = $1 AND id = $2`,
          [device.tenantId, device.deviceId, sessionId, nodeId, t],
        );
        await tx.query(
          `INSERT INTO presence_events (tenant_id, device_id, at, event, remote_address, transport) VALUES ($1, $2, $3, 'connected', $4, $5)`,
          [device.tenantId, device.deviceId, t, info.remoteAddress, info.transport],
        );
      });
    },
    async disconnected(device, sessionId, reason, info) {
      const t = now();
      await db.transaction(async (tx) => {
        const rows = await tx.query(
          `UPDATE devices SET connected = false, session_id = NULL, connected_node = NULL, last_disconnected_at = $4, last_disconnect_reason = $5
            WHERE tenant_id = $1 AND id = $2 AND session_id = $3 RETURNING id`,
          [device.tenantId, device.deviceId, sessionId, t, reason],
        );
        if (rows.length > 0) {
          await tx.query(
            `INSERT INTO presence_events (tenant_id, device_id, at, event, reason, remote_address, transport)
             VALUES ($1, $2, $3, 'disconnected', $4, $5, $6)`,
            [device.tenantId, device.deviceId, t, reason, info.remoteAddress, info.transport],
          );
        }
      });
    },
    async resetNode(node, reason) {
      const t = now();
      return db.transaction(async (tx) => {
        const rows = await tx.query<{ id: string; tenant_id: string }>(
          `UPDATE devices SET connected = false, session_id = NULL, connected_node = NULL, last_disconnected_at = $2, last_disconnect_reason = $3
            WHERE connected AND connected_node = $1 RETURNING id, tenant_id`,
          [node, t, reason],
        );
        if (rows.length > 0) {
          await tx.query(
            `INSERT INTO presence_events (tenant_id, device_id, at, event, reason, remote_address, transport)
             SELECT v.tenant_id, v.id, $3, 'disconnected', $4, c.remote_address, c.transport
               FROM unnest($1::text[], $2::text[]) AS v(tenant_id, id)
               LEFT JOIN LATERAL (
                 SELECT remote_address, transport FROM presence_events p
                  WHERE p.tenant_id = v.tenant_id AND p.device_id = v.id AND p.event = 'connected'
                  ORDER BY p.id DESC LIMIT 1
               ) c ON true`,
            [rows.map((r) => r.tenant_id), rows.map((r) => r.id), t, reason],
          );
        }
        return rows.length;
      });
    },
    async history(caller, deviceId, limit) {
      await deps.requireDevice(caller, deviceId);
      const rows = await db.query<{
        at: number;
        event: 'connected' | 'disconnected';
        reason: string | null;
        remote_address: string | null;
        transport: string | null;
      }>(
        'SELECT at, event, reason, remote_address, transport FROM presence_events WHERE tenant_id = $1 AND device_id = $2 ORDER BY id DESC LIMIT $3',
        [caller.tenantId, deviceId, limit],
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
