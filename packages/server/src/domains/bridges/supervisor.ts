/**
 * Which bridges this node forwards. Each enabled bridge is forwarded by one node at a time: the node
 * holds a lease on the bridge row (30 s, database clock), renewed while its forwarder runs. A node
 * that dies loses its leases when they lapse and another node takes them; a node that starts again
 * gives back at once what its earlier run held. A change of the bridge's settings (its revision) makes
 * the forwarder reconnect with the new ones; a disabled or deleted bridge's forwarder stops.
 */
import { randomBytes } from 'node:crypto';
import type { AddressPolicy } from '../../platform/outbound/address-policy.js';
import type { Resolver } from '../../platform/outbound/guarded-lookup.js';
import type { SecretBox } from '../../platform/secret-box.js';
import type { Db } from '../../store/db.js';
import { startForwarder, type Forwarder, type ForwarderDeps } from './forwarder.js';
import { bridgeStore } from './store.js';

export interface SupervisorOptions {
  db: Db;
  box: SecretBox;
  policy: AddressPolicy;
  nodeId: string;
  logger: ForwarderDeps['logger'] & { error(obj: object, msg: string): void };
  leaseMs?: number;
  resolve?: Resolver;
}

export interface BridgeSupervisor {
  /** Takes free leases, renews held ones, starts, restarts and stops forwarders. */
  tick(): Promise<void>;
  /** Rows were spooled for the bridge: its forwarder, if it runs on this node, looks now. */
  wake(bridgeId: string): void;
  /** Stops every forwarder and gives its lease back. */
  stop(): Promise<void>;
}

const DEFAULT_LEASE_MS = 30_000;

export function createBridgeSupervisor(options: SupervisorOptions): BridgeSupervisor {
  const { db, logger } = options;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const holder = `${options.nodeId}:${randomBytes(4).toString('hex')}`;
  const store = bridgeStore(db);
  const running = new Map<string, { forwarder: Forwarder; renewedAt: number }>();
  let started = false;
  let stopped = false;

  const deps: ForwarderDeps = {
    db,
    store,
    box: options.box,
    policy: options.policy,
    holder,
    logger,
    ...(options.resolve ? { resolve: options.resolve } : {}),
  };

  /** Stops a forwarder and gives its lease back (a no-op when another node holds it now). */
  async function stopOne(id: string, release = true) {
    const r = running.get(id);
    if (!r) return;
    running.delete(id);
    await r.forwarder.stop();
    if (release) await store.release(id, holder).catch(() => undefined);
  }

  return {
    async tick() {
      if (stopped) return;
      if (!started) {
        started = true;
        await store.releaseEarlier(options.nodeId, holder);
      }
      const candidates = await store.leasable(holder);
      const wanted = new Set(candidates.map((c) => c.id));
      // Held forwarders whose bridge is gone, disabled or taken: stop them.
      for (const id of [...running.keys()]) if (!wanted.has(id)) await stopOne(id);
      for (const c of candidates) {
        if (stopped) return;
        const r = running.get(c.id);
        if (r && r.forwarder.revision === c.revision && Date.now() - r.renewedAt < leaseMs / 3) continue;
        const settings = await store.lease(c.id, holder, leaseMs);
        if (stopped) {
          if (settings) await store.release(c.id, holder);
          return;
        }
        if (!settings) {
          await stopOne(c.id);
          continue;
        }
        if (r && r.forwarder.revision === settings.revision) {
          r.renewedAt = Date.now();
          continue;
        }
        // New settings: reconnect with them, keeping the lease just renewed.
        if (r) await stopOne(c.id, false);
        try {
          running.set(c.id, { forwarder: startForwarder(settings, deps), renewedAt: Date.now() });
        } catch (err) {
          logger.error({ err, bridge: c.id }, 'starting a bridge forwarder failed');
        }
      }
    },
    wake(bridgeId) {
      running.get(bridgeId)?.forwarder.wake();
    },
    async stop() {
      stopped = true;
      await Promise.all([...running.keys()].map((id) => stopOne(id)));
    },
  };
}
