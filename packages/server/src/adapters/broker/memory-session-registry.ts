/**
 * The session registry of a single node: plain maps. Stored sessions live in aedes' in-memory
 * persistence on this node too, so their owners can live here; both go when the process ends.
 */
import type { SessionOwner, SessionRegistry } from './session-registry.js';

export function createMemorySessionRegistry<Connection>(): SessionRegistry<Connection> {
  /** Which identity made the session stored under each client id (`tenant/device`). */
  const owners = new Map<string, string>();
  const holders = new Map<string, Connection>();
  const liveByDevice = new Map<string, Set<Connection>>();
  const empty: readonly Connection[] = [];

  return {
    claimStoredSession(clientId: string, owner: SessionOwner, resume: boolean) {
      const key = `${owner.tenantId}/${owner.deviceId}`;
      const stored = owners.get(clientId);
      if (resume && stored !== undefined && stored !== key) return Promise.resolve(false);
      owners.set(clientId, key);
      return Promise.resolve(true);
    },

    holderOf: (clientId) => holders.get(clientId),
    registered(clientId, connection) {
      holders.set(clientId, connection);
    },
    unregistered(clientId, connection) {
      if (holders.get(clientId) === connection) holders.delete(clientId);
    },

    addLive(deviceId, connection) {
      let set = liveByDevice.get(deviceId);
      if (!set) liveByDevice.set(deviceId, (set = new Set()));
      set.add(connection);
    },
    removeLive(deviceId, connection) {
      const set = liveByDevice.get(deviceId);
      if (!set) return;
      set.delete(connection);
      if (set.size === 0) liveByDevice.delete(deviceId);
    },
    liveOf: (deviceId) => liveByDevice.get(deviceId) ?? empty,
    *allLive() {
      for (const set of liveByDevice.values()) yield* set;
    },
  };
}
