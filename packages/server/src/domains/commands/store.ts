/** SQL for commands; every query carries the tenant id (but the expiry sweep). */
import type { DeviceIdentity } from '../../platform/caller.js';
import type { Queryable } from '../../store/db.js';
import type { Command } from './commands.js';

export interface CommandRow {
  id: string;
  tenant_id: string;
  device_id: string;
  name: string;
  params: unknown;
  status: Command['status'];
  created_at: number;
  expires_at: number;
  delivered_at: number | null;
  completed_at: number | null;
  result: unknown;
  error: string | null;
}

export const toCommand = (r: CommandRow): Command => ({
  id: r.id,
  deviceId: r.device_id,
  name: r.name,
  params: r.params,
  status: r.status,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  deliveredAt: r.delivered_at,
  completedAt: r.completed_at,
  result: r.result,
  error: r.error,
});

export function commandStore(db: Queryable) {
  return {
    async find(tenantId: string, deviceId: string, id: string): Promise<Command | undefined> {
      const [r] = await db.query<CommandRow>(
        'SELECT * FROM commands WHERE tenant_id = $1 AND device_id = $2 AND id = $3',
        [tenantId, deviceId, id],
      );
      return r && toCommand(r);
    },
    async insert(c: {
      id: string;
      tenantId: string;
      deviceId: string;
      name: string;
      paramsJson: string | null;
      createdAt: number;
      expiresAt: number;
    }): Promise<Command> {
      const [row] = await db.query<CommandRow>(
        `INSERT INTO commands (id, tenant_id, device_id, name, params, status, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) RETURNING *`,
        [c.id, c.tenantId, c.deviceId, c.name, c.paramsJson, c.createdAt, c.expiresAt],
      );
      return toCommand(row!);
    },
    /** A page of a device's commands, newest first, one row more than `limit` when there are more. */
    async list(
      tenantId: string,
      deviceId: string,
      q: { status?: Command['status']; beforeId?: string; limit: number },
    ): Promise<CommandRow[]> {
      const params: unknown[] = [tenantId, deviceId];
      let where = 'tenant_id = $1 AND device_id = $2';
      if (q.status) where += ` AND status = $${params.push(q.status)}`;
      if (q.beforeId) where += ` AND id < $${params.push(q.beforeId)}`;
      return db.query<CommandRow>(
        `SELECT * FROM commands WHERE ${where} ORDER BY id DESC LIMIT $${params.push(q.limit + 1)}`,
        params,
      );
    },
    /** Pending and delivered commands not expired at `now`, oldest first. */
    async open(
      device: DeviceIdentity,
      now: number,
      page: { afterId?: string; limit?: number },
    ): Promise<Command[]> {
      const params: unknown[] = [device.tenantId, device.deviceId, now];
      const after = page.afterId !== undefined ? ` AND id > $${params.push(page.afterId)}` : '';
      const limit = page.limit !== undefined ? ` LIMIT $${params.push(page.limit)}` : '';
      const rows = await db.query<CommandRow>(
        `SELECT * FROM commands WHERE tenant_id = $1 AND device_id = $2 AND status IN ('pending', 'delivered') AND expires_at > $3${after} ORDER BY id${limit}`,
        params,
      );
      return rows.map(toCommand);
    },
    async markDelivered(device: DeviceIdentity, commandIds: string[], now: number): Promise<void> {
      await db.query(
        `UPDATE commands SET status = 'delivered', delivered_at = $4
          WHERE tenant_id = $1 AND device_id = $2 AND id = ANY($3::text[]) AND status = 'pending'`,
        [device.tenantId, device.deviceId, commandIds, now],
      );
    },
    /** Completes an open, unexpired command; undefined when there is none. */
    async complete(
      device: DeviceIdentity,
      commandId: string,
      r: { status: Command['status']; resultJson: string | null; error: string | null; at: number },
    ): Promise<Command | undefined> {
      const [row] = await db.query<CommandRow>(
        `UPDATE commands SET status = $4, result = $5, error = $6, completed_at = $7, delivered_at = coalesce(delivered_at, $7)
          WHERE tenant_id = $1 AND device_id = $2 AND id = $3 AND status IN ('pending', 'delivered') AND expires_at > $7
          RETURNING *`,
        [device.tenantId, device.deviceId, commandId, r.status, r.resultJson, r.error, r.at],
      );
      return row && toCommand(row);
    },
    async expireDue(now: number): Promise<number> {
      const rows = await db.query(
        `UPDATE commands SET status = 'expired', completed_at = expires_at
          WHERE status IN ('pending', 'delivered') AND expires_at <= $1 RETURNING id`,
        [now],
      );
      return rows.length;
    },
  };
}
export type CommandStore = ReturnType<typeof commandStore>;
