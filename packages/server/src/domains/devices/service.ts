import { parseInstant, parseSemver } from '@mooring/protocol';
import { AppError, Errors } from '../../errors.js';
import { constantTimeEqual, newId, newSecret, sha256Hex } from '../../ids.js';
import type { Notifier } from '../../platform/notifier.js';
import type { FactWriter } from '../../platform/outbox.js';
import type { TenantCaller } from '../../platform/caller.js';
import { clampLimit, type Cursors } from '../../platform/pagination.js';
import type { Transaction } from '../../store/db.js';
import {
  ACCESS_KEY_PREFIX,
  MAX_METADATA_BYTES,
  MAX_TAGS,
  newDeviceRecord,
  type Device,
  type DeviceFilter,
  type DeviceService,
} from './devices.js';
import { cursorBodyOf, isCursorBody, placeOf } from './sort.js';
import { toDevice, type DeviceFilterQuery, type DeviceStore } from './store.js';

export interface DeviceDeps {
  store: DeviceStore;
  transaction: Transaction<DeviceStore>;
  bus: Notifier;
  /** Facts that must follow a change (a deleted device's certificates are revoked). */
  outbox: FactWriter;
  /** Signs and checks pagination cursors. */
  cursors: Cursors;
  now?: () => number;
}

function checkShape(tags: string[] | undefined, metadata: Record<string, unknown> | undefined) {
  if (tags && new Set(tags).size > MAX_TAGS)
    throw Errors.validation(`at most ${MAX_TAGS} tags`, [
      { path: '/tags', message: `at most ${MAX_TAGS} tags` },
    ]);
  if (metadata && Buffer.byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES) {
    throw Errors.validation(`metadata is limited to ${MAX_METADATA_BYTES} bytes of JSON`, [
      { path: '/metadata', message: `at most ${MAX_METADATA_BYTES} bytes of JSON` },
    ]);
  }
}

/**
 * The list's filters as the store takes them: the version bound and the instants parsed. `path` names
 * `belowVersion` in errors (`querystring:/belowVersion`, `/filter/belowVersion`); the other fields are
 * named beside it.
 */
export function filterQuery(filter: DeviceFilter, path: string): DeviceFilterQuery {
  const { belowVersion, lastSeenBefore, lastSeenAfter, certificateExpiresBefore, ...rest } = filter;
  const at = (field: string) => `${path.slice(0, path.lastIndexOf('/') + 1)}${field}`;
  const instant = (field: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const ms = parseInstant(text);
    if (ms === undefined)
      throw Errors.validation(`${field} must be epoch milliseconds or an RFC 3339 date-time`, [
        { path: at(field), message: 'not a time' },
      ]);
    return ms;
  };
  const seenBefore = instant('lastSeenBefore', lastSeenBefore);
  const seenAfter = instant('lastSeenAfter', lastSeenAfter);
  const certificateBefore = instant('certificateExpiresBefore', certificateExpiresBefore);
  const query: DeviceFilterQuery = {
    ...rest,
    ...(seenBefore !== undefined ? { seenBefore } : {}),
    ...(seenAfter !== undefined ? { seenAfter } : {}),
    ...(certificateBefore !== undefined ? { certificateBefore } : {}),
  };
  if (belowVersion === undefined) return query;
  const parsed = parseSemver(belowVersion);
  if (!parsed.ok)
    throw new AppError('INVALID_FIRMWARE_REPORT', parsed.message, {
      errors: [{ path, message: parsed.message }],
    });
  return { ...query, below: parsed.key };
}

export function createDeviceService(deps: DeviceDeps): DeviceService {
  const { store, transaction } = deps;
  const now = deps.now ?? Date.now;

  async function require(caller: TenantCaller, id: string): Promise<Device> {
    const d = await store.get(caller.tenantId, id);
    if (!d) throw Errors.deviceNotFound(id);
    return d;
  }

  return {
    async create(caller, input) {
      checkShape(input.tags, input.metadata);
      const t = now();
      const device = newDeviceRecord({
        id: newId('dev', t),
        tenantId: caller.tenantId,
        serial: input.serial ?? null,
        name: input.name,
        ...(input.tags ? { tags: input.tags } : {}),
        ...(input.metadata ? { metadata: input.metadata } : {}),
        now: t,
      });
      return store.insert(device);
    },

    async list(caller, query) {
      const limit = clampLimit(query.limit);
      const sort = query.sort ?? 'id';
      // A cursor carries the sort it was made for: used with another one it is refused (./sort.ts).
      const after = placeOf(deps.cursors.decode(query.cursor, isCursorBody), sort);
      const { cursor: _c, limit: _l, sort: _s, ...filter } = query;
      const rows = await store.list(caller.tenantId, {
        ...filterQuery(filter, 'querystring:/belowVersion'),
        limit,
        sort,
        ...(after ? { after } : {}),
        ...(caller.visible ? { visible: caller.visible } : {}),
      });
      return deps.cursors.pageOf(rows, limit, toDevice, (r) => cursorBodyOf(sort, r));
    },

    async bulk(caller, input) {
      const { action } = input;
      if (action.type === 'revoke' || action.type === 'setDesiredConfig')
        throw new Error(`bulk ${action.type} runs as a job (DeviceBulkJobService)`);
      const filter = filterQuery(input.filter, '/filter/belowVersion');
      const dryRun = input.dryRun === true;
      return transaction(async (tx) => {
        const counted = await tx.bulkCount(caller.tenantId, filter, action, caller.visible);
        if (input.expectMatched !== undefined && counted.matched !== input.expectMatched)
          throw new AppError(
            'BULK_MATCH_CHANGED',
            `the filter matches ${counted.matched} devices now, not ${input.expectMatched}: nothing was done`,
            { details: { matched: counted.matched, expectMatched: input.expectMatched } },
          );
        if (counted.tooManyTags > 0)
          throw Errors.validation(
            `${counted.tooManyTags} of the matching devices would have more than ${MAX_TAGS} tags: nothing was done`,
            [{ path: '/action/tags', message: `a device has at most ${MAX_TAGS} tags` }],
          );
        const base = { dryRun, matched: counted.matched, wouldChange: counted.wouldChange };
        if (dryRun) return { ...base, changed: 0 };
        const changed = await tx.bulkApply(caller.tenantId, filter, action, now(), caller.visible);
        if (action.type === 'disable')
          for (const deviceId of changed)
            deps.bus.publish('device.disconnect', { deviceId, reason: 'device_disabled' });
        return { ...base, changed: changed.length };
      });
    },

    get: require,

    async update(caller, id, patch) {
      checkShape(patch.tags, patch.metadata);
      const d = await require(caller, id);
      if (d.status === 'released')
        throw new AppError('FORBIDDEN', `device ${id} was released to another owner and cannot be changed`);
      const next: Device = {
        ...d,
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.tags !== undefined ? { tags: [...new Set(patch.tags)] } : {}),
        ...(patch.metadata !== undefined ? { metadata: patch.metadata } : {}),
        ...(patch.status !== undefined ? { status: patch.status } : {}),
        updatedAt: now(),
      };
      await store.update(next);
      if (d.status === 'enabled' && next.status === 'disabled') {
        deps.bus.publish('device.disconnect', { deviceId: id, reason: 'device_disabled' });
      }
      return next;
    },

    async delete(caller, id) {
      // The revocation of its certificates is a fact written with the delete: it happens even when
      // the process dies right after the commit.
      const deleted = await transaction(async (tx) => {
        const gone = await tx.delete(caller.tenantId, id);
        if (!gone) return false;
        await deps.outbox.add('device.deleted', { tenantId: caller.tenantId, deviceId: id, tags: gone.tags });
        return true;
      });
      if (!deleted) throw Errors.deviceNotFound(id);
      deps.bus.publish('device.disconnect', { deviceId: id, reason: 'device_deleted' });
    },

    async createAccessKey(caller, deviceId) {
      await require(caller, deviceId);
      const secret = newSecret(ACCESS_KEY_PREFIX);
      const accessKey = {
        id: newId('acc'),
        deviceId,
        prefix: secret.slice(0, 10),
        createdAt: now(),
        lastUsedAt: null,
        revokedAt: null,
      };
      await store.insertAccessKey(caller.tenantId, accessKey, sha256Hex(secret));
      return { accessKey, secret };
    },

    async listAccessKeys(caller, deviceId) {
      await require(caller, deviceId);
      return store.listAccessKeys(caller.tenantId, deviceId);
    },

    async revokeAccessKey(caller, deviceId, keyId) {
      await require(caller, deviceId);
      const t = now();
      await transaction(async (tx) => {
        if (!(await tx.revokeAccessKey(caller.tenantId, deviceId, keyId, t)))
          throw Errors.accessKeyNotFound(keyId);
        await deps.outbox.add('credential.revoked', {
          tenantId: caller.tenantId,
          deviceId,
          kind: 'access-key',
          credentialId: keyId,
          at: t,
        });
      });
      deps.bus.publish('device.disconnect', { deviceId, reason: 'access_key_revoked', keyId });
    },

    async authenticate(secret, claimedDeviceId) {
      if (!secret.startsWith(`${ACCESS_KEY_PREFIX}_`)) throw Errors.invalidCredentials();
      const found = await store.findAccessKey(sha256Hex(secret));
      if (!found) throw Errors.invalidCredentials();
      if (claimedDeviceId !== undefined && !constantTimeEqual(found.deviceId, claimedDeviceId))
        throw Errors.invalidCredentials();
      if (found.status !== 'enabled')
        throw new AppError('DEVICE_DISABLED', `device ${found.deviceId} is disabled`);
      const t = now();
      // last-used is informational: written at most once a minute per key, never on every message.
      if (found.lastUsedAt === null || t - found.lastUsedAt > 60_000)
        await store.touchAccessKey(found.keyId, t);
      return {
        tenantId: found.tenantId,
        deviceId: found.deviceId,
        credential: 'access-key',
        credentialId: found.keyId,
      };
    },
  };
}
