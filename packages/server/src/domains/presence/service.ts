import type { TenantCaller } from '../../platform/caller.js';
import type { FactWriter } from '../../platform/outbox.js';
import type { Transaction } from '../../store/db.js';
import type { PresenceService } from './presence.js';
import type { PresenceStore } from './store.js';

export function createPresenceService(deps: {
  store: PresenceStore;
  transaction: Transaction<PresenceStore>;
  /** device.connected and device.disconnected facts, written with the presence change. */
  outbox: FactWriter;
  /**
   * Whether the tenant forwards this kind of presence event (an integration takes it): a connect
   * storm of a fleet nobody forwards for writes no facts. All tenants when absent.
   */
  forwards?(tenantId: string, type: 'device.connected' | 'device.disconnected'): boolean;
  nodeId: string;
  requireDevice(caller: TenantCaller, deviceId: string): Promise<unknown>;
  now?: () => number;
}): PresenceService {
  const { store, transaction, nodeId } = deps;
  const now = deps.now ?? Date.now;
  const forwards = deps.forwards ?? (() => true);
  return {
    async connected(device, sessionId, info) {
      const t = now();
      await transaction(async (tx) => {
        await tx.markConnected(device, sessionId, nodeId, t);
        await tx.recordConnected(device, t, info);
        if (forwards(device.tenantId, 'device.connected'))
          await deps.outbox.add('device.connected', { ...device, sessionId, ...info, at: t });
      });
    },
    async disconnected(device, sessionId, reason, info) {
      const t = now();
      await transaction(async (tx) => {
        if (!(await tx.markDisconnected(device, sessionId, t, reason))) return;
        await tx.recordDisconnected(device, t, reason, info);
        if (forwards(device.tenantId, 'device.disconnected'))
          await deps.outbox.add('device.disconnected', { ...device, sessionId, reason, ...info, at: t });
      });
    },
    async resetNode(node, reason) {
      const t = now();
      return transaction(async (tx) => {
        const rows = await tx.markNodeDisconnected(node, t, reason);
        if (rows.length > 0) await tx.recordNodeDisconnected(rows, t, reason);
        await deps.outbox.addMany(
          'device.disconnected',
          rows
            .filter((r) => forwards(r.tenant_id, 'device.disconnected'))
            .map((r) => ({
              tenantId: r.tenant_id,
              deviceId: r.id,
              sessionId: null,
              reason,
              remoteAddress: null,
              transport: null,
              at: t,
            })),
        );
        return rows.length;
      });
    },
    async history(caller, deviceId, limit) {
      await deps.requireDevice(caller, deviceId);
      return store.history(caller.tenantId, deviceId, limit);
    },
  };
}
