/**
 * One JSON Merge Patch merged into the desired configuration of many devices (a chunk of a bulk job,
 * docs/api.md#bulk-operations), exactly as PATCH /v1/devices/{deviceId}/config/desired merges it into
 * one: each device's result checked against the limits and the schemas of its tags, a new version with
 * its history entry and its config.desired.changed fact, and connected devices told. It runs in the
 * caller's transaction, in a handful of statements whatever the chunk's size. A device whose result
 * does not fit (over a limit, refused by a schema) is skipped with why; the others go on.
 */
import type { ConfigDocument } from '@mooring/protocol';
import { AppError } from '../../errors.js';
import type { Notifier } from '../../platform/notifier.js';
import type { FactWriter } from '../../platform/outbox.js';
import type { ConfigService } from './config.js';
import { planChange, type PlannedChange } from './merge.js';
import type { SchemaChecker } from './schemas.js';
import type { ConfigStore } from './store.js';

export function desiredForMany(deps: {
  store: ConfigStore;
  outbox: FactWriter;
  bus: Notifier;
  schemas: SchemaChecker;
}): ConfigService['setDesiredMany'] {
  return async (tenantId, deviceIds, patch, actor, at) => {
    const rows = await deps.store.lockMany(tenantId, deviceIds);
    const schemas = await deps.store.schemas(tenantId);
    const changes: (PlannedChange & { deviceId: string; before: ConfigDocument })[] = [];
    const skipped: { deviceId: string; code: string; message: string }[] = [];
    for (const row of rows) {
      const mine = schemas.filter((s) => row.tags.includes(s.tag));
      try {
        const next = planChange(row, 'desired', patch, actor, at, (doc) =>
          deps.schemas.check(tenantId, mine, doc),
        );
        if (next) changes.push({ ...next, deviceId: row.device_id, before: row.desired });
      } catch (e) {
        if (!(e instanceof AppError)) throw e;
        skipped.push({ deviceId: row.device_id, code: e.code, message: e.message });
      }
    }
    // An id of no device of the tenant (deleted since the request, or released) is skipped too.
    const found = new Set(rows.map((r) => r.device_id));
    for (const deviceId of deviceIds)
      if (!found.has(deviceId))
        skipped.push({
          deviceId,
          code: 'DEVICE_NOT_FOUND',
          message: 'deleted or released since the request',
        });
    if (changes.length > 0) {
      await deps.store.setDesiredMany(tenantId, changes, patch, actor, at);
      await deps.outbox.addMany(
        'config.desired.changed',
        changes.map((c) => ({ tenantId, deviceId: c.deviceId, version: c.version, patch, actor, at })),
      );
      deps.bus.publish('config.changed', { tenantId, deviceIds: changes.map((c) => c.deviceId) });
    }
    return { changed: changes.map((c) => c.deviceId), skipped };
  };
}
