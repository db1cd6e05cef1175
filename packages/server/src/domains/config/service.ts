import {
  diffMergePatch,
  isPlainObject,
  parseReportedConfig,
  type ConfigDocument,
  type DesiredConfigMessage,
} from '@mooring/protocol';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, Errors } from '../../errors.js';
import { principalName, type TenantCaller } from '../../platform/caller.js';
import type { Notifier } from '../../platform/notifier.js';
import type { FactWriter } from '../../platform/outbox.js';
import { clampLimit, type Cursors } from '../../platform/pagination.js';
import type { Transaction } from '../../store/db.js';
import { desiredForMany } from './bulk.js';
import { parseDesiredPatch, planChange } from './merge.js';
import type { ConfigService, ConfigSide, ConfigSideName, DeviceConfig } from './config.js';
import { toHistoryEntry, type ConfigRow, type ConfigStore } from './store.js';
import type { SchemaChecker } from './schemas.js';
import { deviceSubject, type LimitGate } from '../limits/limits.js';

export interface ConfigDeps {
  store: ConfigStore;
  transaction: Transaction<ConfigStore>;
  outbox: FactWriter;
  bus: Notifier;
  cursors: Cursors;
  schemas: SchemaChecker;
  /** The device of the caller's tenant with its tags; DEVICE_NOT_FOUND otherwise. */
  requireDevice(caller: TenantCaller, deviceId: string): Promise<{ tags: readonly string[] }>;
  /** Counts `config.writes_per_device` for single-device writes; absent, they are not limited. */
  limit?: LimitGate;
  now?: () => number;
}

const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** Drops `null` members (deletions), recursively: what is still to be applied, not what to remove. */
function withoutDeletions(patch: ConfigDocument): ConfigDocument {
  const out: ConfigDocument = {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) continue;
    if (isPlainObject(v)) {
      const inner = withoutDeletions(v);
      if (Object.keys(inner).length > 0) out[k] = inner;
    } else out[k] = v;
  }
  return out;
}

const EMPTY_SIDE: ConfigSide = { version: 0, document: {}, metadata: {}, updatedAt: null };

function sideOf(r: ConfigRow, side: ConfigSideName): ConfigSide {
  return {
    version: Number(r[`${side}_version`]),
    document: r[side],
    metadata: r[`${side}_meta`],
    updatedAt: r[`${side}_at`] === null ? null : Number(r[`${side}_at`]),
  };
}

function toConfig(deviceId: string, r: ConfigRow | undefined): DeviceConfig {
  if (!r)
    return {
      deviceId,
      desired: EMPTY_SIDE,
      reported: EMPTY_SIDE,
      acknowledgedVersion: 0,
      acknowledgedAt: null,
      pending: {},
    };
  return {
    deviceId,
    desired: sideOf(r, 'desired'),
    reported: sideOf(r, 'reported'),
    acknowledgedVersion: Number(r.acked_version),
    acknowledgedAt: r.acked_at === null ? null : Number(r.acked_at),
    pending: withoutDeletions(diffMergePatch(r.reported, r.desired)),
  };
}

export function createConfigService(deps: ConfigDeps): ConfigService {
  const { store } = deps;
  const now = deps.now ?? Date.now;

  /** Merges a patch into one side inside the transaction; the new row, or the old one when nothing changed. */
  async function change(
    tx: ConfigStore,
    row: ConfigRow,
    side: ConfigSideName,
    patch: ConfigDocument,
    actor: string,
    at: number,
    check?: (document: ConfigDocument) => void,
  ): Promise<ConfigRow> {
    const next = planChange(row, side, patch, actor, at, check);
    if (!next) return row; // nothing changes: no version
    await tx.setSide(row.device_id, side, {
      document: next.after,
      version: next.version,
      meta: next.meta,
      at,
    });
    await tx.addHistory(row.tenant_id, row.device_id, {
      side,
      version: next.version,
      patch,
      before: row[side],
      after: next.after,
      actor,
      at,
    });
    await deps.outbox.add(side === 'desired' ? 'config.desired.changed' : 'config.reported.changed', {
      tenantId: row.tenant_id,
      deviceId: row.device_id,
      version: next.version,
      patch,
      actor,
      at,
    });
    return {
      ...row,
      [side]: next.after,
      [`${side}_version`]: next.version,
      [`${side}_meta`]: next.meta,
      [`${side}_at`]: at,
    };
  }

  const parsePatch = (patch: unknown) => parseDesiredPatch(patch);

  function messageFrom(
    version: number,
    baseVersion: number,
    base: ConfigDocument | null | undefined,
    desired: ConfigDocument,
  ): DesiredConfigMessage {
    if (baseVersion === 0 || !base) return { version, baseVersion: 0, patch: desired };
    return { version, baseVersion, patch: diffMergePatch(base, desired) };
  }

  const service: ConfigService = {
    async get(caller, deviceId) {
      await deps.requireDevice(caller, deviceId);
      return toConfig(deviceId, await store.find(caller.tenantId, deviceId));
    },

    async setDesired(caller, deviceId, rawPatch, options = {}) {
      const device = await deps.requireDevice(caller, deviceId);
      const patch = parsePatch(rawPatch);
      await deps.limit?.(
        'config.writes_per_device',
        deviceSubject(caller.tenantId, deviceId),
        'of this device',
      );
      const schemas = await store.schemasForTags(caller.tenantId, device.tags);
      const actor = principalName(caller.principal);
      const row = await deps.transaction(async (tx) => {
        const current = await tx.lock(caller.tenantId, deviceId);
        const version = Number(current.desired_version);
        if (options.ifMatch !== undefined && options.ifMatch !== version)
          throw new AppError(
            'CONFIG_VERSION_CONFLICT',
            `the desired configuration is at version ${version}, not ${options.ifMatch}`,
            { details: { currentVersion: version } },
          );
        const next = await change(tx, current, 'desired', patch, actor, now(), (doc) =>
          deps.schemas.check(caller.tenantId, schemas, doc),
        );
        if (next !== current)
          deps.bus.publish('config.changed', { tenantId: caller.tenantId, deviceIds: [deviceId] });
        return next;
      });
      return toConfig(deviceId, row);
    },

    setDesiredMany: desiredForMany({ store, outbox: deps.outbox, bus: deps.bus, schemas: deps.schemas }),

    async history(caller, deviceId, q) {
      await deps.requireDevice(caller, deviceId);
      const limit = clampLimit(q.limit);
      const before = deps.cursors.decode(q.cursor, isSeq);
      const rows = await store.history(caller.tenantId, deviceId, {
        ...(q.side ? { side: q.side } : {}),
        ...(before !== undefined ? { beforeSeq: before } : {}),
        limit,
      });
      return deps.cursors.pageOf(rows, limit, toHistoryEntry, (r) => Number(r.seq));
    },

    listSchemas: (caller) => store.schemas(caller.tenantId),

    async createSchema(caller, input) {
      deps.schemas.assertUsable(input.schema);
      const created = await store.insertSchema(caller.tenantId, { ...input, at: now() });
      if (!created) throw Errors.alreadyExists(`a configuration schema named '${input.name}'`);
      return created;
    },

    async updateSchema(caller, name, input) {
      deps.schemas.assertUsable(input.schema);
      const updated = await store.updateSchema(caller.tenantId, { name, ...input, at: now() });
      if (!updated) throw new AppError('CONFIG_SCHEMA_NOT_FOUND', `no configuration schema '${name}'`);
      return updated;
    },

    async deleteSchema(caller, name) {
      if (!(await store.deleteSchema(caller.tenantId, name)))
        throw new AppError('CONFIG_SCHEMA_NOT_FOUND', `no configuration schema '${name}'`);
    },

    async pushFor(device) {
      const s = await store.pushState(device.tenantId, device.deviceId);
      if (!s) return undefined;
      return messageFrom(s.version, s.baseVersion, s.base, s.desired);
    },

    async pollDesired(device, version, waitMs, signal) {
      const deadline = now() + waitMs;
      for (;;) {
        // Listen before reading, so a change between the read and the wait is not missed.
        const changed = new AbortController();
        const stop = deps.bus.subscribe('config.changed', (e) => {
          if (e.tenantId === device.tenantId && e.deviceIds.includes(device.deviceId)) changed.abort();
        });
        const onAbort = () => changed.abort();
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
          const row = await store.find(device.tenantId, device.deviceId);
          const current = row ? Number(row.desired_version) : 0;
          if (row && current !== version) {
            // A device ahead of the platform (restored from elsewhere) gets the whole document.
            const base =
              version > 0 && version < current ? await store.desiredAt(device.deviceId, version) : null;
            return messageFrom(current, base ? version : 0, base, row.desired);
          }
          const left = deadline - now();
          if (left <= 0 || signal?.aborted) return undefined;
          await sleep(left, undefined, { signal: changed.signal }).catch(() => undefined);
          if (signal?.aborted) return undefined;
        } finally {
          stop();
          signal?.removeEventListener('abort', onAbort);
        }
      }
    },

    async report(device, payload, received = now()) {
      const parsed = parseReportedConfig(payload);
      if (!parsed.ok)
        throw new AppError('INVALID_CONFIG_REPORT', parsed.message, {
          errors: [{ path: parsed.path, message: parsed.message }],
        });
      const { desiredVersion } = parsed.value;
      const patch = parsed.value.patch === undefined ? undefined : parsePatch(parsed.value.patch);
      const actor = principalName({ kind: 'device', deviceId: device.deviceId, tenantId: device.tenantId });
      const row = await deps.transaction(async (tx) => {
        let current = await tx.lock(device.tenantId, device.deviceId);
        if (desiredVersion !== undefined) {
          const latest = Number(current.desired_version);
          if (desiredVersion > latest)
            throw new AppError(
              'INVALID_CONFIG_REPORT',
              `desiredVersion ${desiredVersion} is past the current desired version ${latest}`,
              { errors: [{ path: '/desiredVersion', message: `at most ${latest}` }] },
            );
          await tx.acknowledge(device.deviceId, desiredVersion, received);
          const acked = Math.max(Number(current.acked_version), desiredVersion);
          current = { ...current, acked_version: acked, resync: current.resync && desiredVersion < latest };
        }
        if (patch) current = await change(tx, current, 'reported', patch, actor, received);
        return current;
      });
      // A newer desired version than the one acknowledged is pushed from the new base.
      if (Number(row.acked_version) < Number(row.desired_version))
        deps.bus.publish('config.changed', { tenantId: device.tenantId, deviceIds: [device.deviceId] });
      return {
        acknowledgedVersion: Number(row.acked_version),
        reportedVersion: Number(row.reported_version),
      };
    },

    async requestFull(device) {
      if (await store.requestResync(device.tenantId, device.deviceId))
        deps.bus.publish('config.changed', { tenantId: device.tenantId, deviceIds: [device.deviceId] });
    },
  };
  return service;
}
