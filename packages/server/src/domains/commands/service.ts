import { MAX_COMMAND_DOCUMENT_BYTES } from '@mooring/protocol';
import { Errors } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Bus } from '../../platform/bus.js';
import { clampLimit, type Cursors } from '../../platform/pagination.js';
import type { Db } from '../../store/db.js';
import type { TenantCaller } from '../../platform/caller.js';
import type { Command, CommandService } from './commands.js';

interface CommandRow {
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

const toCommand = (r: CommandRow): Command => ({
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

export interface CommandDeps {
  db: Db;
  bus: Bus;
  /** Signs and checks pagination cursors. */
  cursors: Cursors;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
  requireDevice(caller: TenantCaller, deviceId: string): Promise<unknown>;
  now?: () => number;
}

const isString = (v: unknown): v is string => typeof v === 'string';

export function createCommandService(deps: CommandDeps): CommandService {
  const { db } = deps;
  const now = deps.now ?? Date.now;

  async function find(tenantId: string, deviceId: string, id: string): Promise<Command> {
    const [r] = await db.query<CommandRow>(
      'SELECT * FROM commands WHERE tenant_id = $1 AND device_id = $2 AND id = $3',
      [tenantId, deviceId, id],
    );
    if (!r) throw Errors.commandNotFound(id);
    return toCommand(r);
  }

  const service: CommandService = {
    async create(caller, deviceId, input) {
      await deps.requireDevice(caller, deviceId);
      const paramsJson = input.params === undefined ? null : JSON.stringify(input.params);
      if (paramsJson !== null && Buffer.byteLength(paramsJson) > MAX_COMMAND_DOCUMENT_BYTES) {
        throw Errors.validation(`params are limited to ${MAX_COMMAND_DOCUMENT_BYTES} bytes of JSON`, [
          { path: '/params', message: `at most ${MAX_COMMAND_DOCUMENT_BYTES} bytes of JSON` },
        ]);
      }
      const ttl = input.ttlSeconds ?? deps.defaultTtlSeconds;
      if (ttl > deps.maxTtlSeconds) {
        throw Errors.validation(`ttlSeconds is limited to ${deps.maxTtlSeconds}`, [
          { path: '/ttlSeconds', message: `at most ${deps.maxTtlSeconds}` },
        ]);
      }
      const t = now();
      const [row] = await db.query<CommandRow>(
        `INSERT INTO commands (id, tenant_id, device_id, name, params, status, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) RETURNING *`,
        [newId('cmd', t), caller.tenantId, deviceId, input.name, paramsJson, t, t + ttl * 1000],
      );
      const command = toCommand(row!);
      deps.bus.publish('command.created', { tenantId: caller.tenantId, deviceId, commandId: command.id });
      return command;
    },

    async list(caller, deviceId, q) {
      await deps.requireDevice(caller, deviceId);
      const limit = clampLimit(q.limit);
      const after = deps.cursors.decode(q.cursor, isString);
      const params: unknown[] = [caller.tenantId, deviceId];
      let where = 'tenant_id = $1 AND device_id = $2';
      if (q.status) where += ` AND status = $${params.push(q.status)}`;
      if (after) where += ` AND id < $${params.push(after)}`;
      const rows = await db.query<CommandRow>(
        `SELECT * FROM commands WHERE ${where} ORDER BY id DESC LIMIT $${params.push(limit + 1)}`,
        params,
      );
      return deps.cursors.pageOf(rows, limit, toCommand, (r) => r.id);
    },

    async get(caller, deviceId, commandId) {
      await deps.requireDevice(caller, deviceId);
      return find(caller.tenantId, deviceId, commandId);
    },

    async fetchForDevice(device) {
      const open = await service.openForDevice(device);
      await service.markDelivered(
        device,
        open.filter((c) => c.status === 'pending').map((c) => c.id),
      );
      return open;
    },

    async openForDevice(device, page = {}) {
      const params: unknown[] = [device.tenantId, device.deviceId, now()];
      const after = page.afterId !== undefined ? ` AND id > $${params.push(page.afterId)}` : '';
      const limit = page.limit !== undefined ? ` LIMIT $${params.push(page.limit)}` : '';
      const rows = await db.query<CommandRow>(
        `SELECT * FROM commands WHERE tenant_id = $1 AND device_id = $2 AND status IN ('pending', 'delivered') AND expires_at > $3${after} ORDER BY id${limit}`,
        params,
      );
      return rows.map(toCommand);
    },

    async markDelivered(device, commandIds) {
      if (commandIds.length === 0) return;
      await db.query(
        `UPDATE commands SET status = 'delivered', delivered_at = $4
          WHERE tenant_id = $1 AND device_id = $2 AND id = ANY($3::text[]) AND status = 'pending'`,
        [device.tenantId, device.deviceId, commandIds, now()],
      );
    },

    async reportResult(device, commandId, result) {
      const resultJson = result.result === undefined ? null : JSON.stringify(result.result);
      if (resultJson !== null && Buffer.byteLength(resultJson) > MAX_COMMAND_DOCUMENT_BYTES) {
        throw Errors.validation(`result is limited to ${MAX_COMMAND_DOCUMENT_BYTES} bytes of JSON`, [
          { path: '/result', message: `at most ${MAX_COMMAND_DOCUMENT_BYTES} bytes of JSON` },
        ]);
      }
      const t = now();
      const [row] = await db.query<CommandRow>(
        `UPDATE commands SET status = $4, result = $5, error = $6, completed_at = $7, delivered_at = coalesce(delivered_at, $7)
          WHERE tenant_id = $1 AND device_id = $2 AND id = $3 AND status IN ('pending', 'delivered') AND expires_at > $7
          RETURNING *`,
        [device.tenantId, device.deviceId, commandId, result.status, resultJson, result.error ?? null, t],
      );
      if (row) return toCommand(row);
      const existing = await find(device.tenantId, device.deviceId, commandId);
      throw Errors.commandNotOpen(
        commandId,
        existing.status === 'pending' || existing.status === 'delivered' ? 'expired' : existing.status,
      );
    },

    async expireDue() {
      const rows = await db.query(
        `UPDATE commands SET status = 'expired', completed_at = expires_at
          WHERE status IN ('pending', 'delivered') AND expires_at <= $1 RETURNING id`,
        [now()],
      );
      return rows.length;
    },
  };
  return service;
}
