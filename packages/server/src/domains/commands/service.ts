import { MAX_COMMAND_DOCUMENT_BYTES } from '@mooring/protocol';
import { Errors } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Notifier } from '../../platform/notifier.js';
import type { FactWriter } from '../../platform/outbox.js';
import type { Transaction } from '../../store/db.js';
import { clampLimit, type Cursors } from '../../platform/pagination.js';
import type { TenantCaller } from '../../platform/caller.js';
import type { Command, CommandService } from './commands.js';
import { toCommand, type CommandStore } from './store.js';
import { deviceSubject, type LimitGate } from '../limits/limits.js';

export interface CommandDeps {
  store: CommandStore;
  /** A result and its command.result fact commit together. */
  transaction: Transaction<CommandStore>;
  outbox: FactWriter;
  bus: Notifier;
  /** Signs and checks pagination cursors. */
  cursors: Cursors;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
  requireDevice(caller: TenantCaller, deviceId: string): Promise<unknown>;
  /** Counts `commands.created_per_device`; absent, commands are not limited (unit tests). */
  limit?: LimitGate;
  now?: () => number;
}

const isString = (v: unknown): v is string => typeof v === 'string';

export function createCommandService(deps: CommandDeps): CommandService {
  const { store } = deps;
  const now = deps.now ?? Date.now;

  async function find(tenantId: string, deviceId: string, id: string): Promise<Command> {
    const c = await store.find(tenantId, deviceId, id);
    if (!c) throw Errors.commandNotFound(id);
    return c;
  }

  const service: CommandService = {
    async create(caller, deviceId, input) {
      await deps.requireDevice(caller, deviceId);
      await deps.limit?.(
        'commands.created_per_device',
        deviceSubject(caller.tenantId, deviceId),
        'to this device',
      );
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
      const command = await store.insert({
        id: newId('cmd', t),
        tenantId: caller.tenantId,
        deviceId,
        name: input.name,
        paramsJson,
        createdAt: t,
        expiresAt: t + ttl * 1000,
      });
      deps.bus.publish('command.created', { tenantId: caller.tenantId, deviceId, commandId: command.id });
      return command;
    },

    async list(caller, deviceId, q) {
      await deps.requireDevice(caller, deviceId);
      const limit = clampLimit(q.limit);
      const after = deps.cursors.decode(q.cursor, isString);
      const rows = await store.list(caller.tenantId, deviceId, {
        ...(q.status ? { status: q.status } : {}),
        ...(after ? { beforeId: after } : {}),
        limit,
      });
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
      return store.open(device, now(), page);
    },

    async markDelivered(device, commandIds) {
      if (commandIds.length === 0) return;
      await store.markDelivered(device, commandIds, now());
    },

    async reportResult(device, commandId, result) {
      const resultJson = result.result === undefined ? null : JSON.stringify(result.result);
      if (resultJson !== null && Buffer.byteLength(resultJson) > MAX_COMMAND_DOCUMENT_BYTES) {
        throw Errors.validation(`result is limited to ${MAX_COMMAND_DOCUMENT_BYTES} bytes of JSON`, [
          { path: '/result', message: `at most ${MAX_COMMAND_DOCUMENT_BYTES} bytes of JSON` },
        ]);
      }
      const t = now();
      const done = await deps.transaction(async (tx) => {
        const c = await tx.complete(device, commandId, {
          status: result.status,
          resultJson,
          error: result.error ?? null,
          at: t,
        });
        if (c)
          await deps.outbox.add('command.result', {
            tenantId: device.tenantId,
            deviceId: device.deviceId,
            commandId: c.id,
            name: c.name,
            status: c.status,
            result: c.result ?? null,
            error: c.error,
            at: t,
          });
        return c;
      });
      if (done) return done;
      const existing = await find(device.tenantId, device.deviceId, commandId);
      throw Errors.commandNotOpen(
        commandId,
        existing.status === 'pending' || existing.status === 'delivered' ? 'expired' : existing.status,
      );
    },

    async expireDue() {
      return store.expireDue(now());
    },
  };
  return service;
}
