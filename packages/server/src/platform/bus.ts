/**
 * The platform bus: domain services announce facts, adapters and workers react. In-process here; the
 * same interface will be carried over Redis when several nodes share one database.
 */
import { EventEmitter } from 'node:events';

export interface BusEvents {
  /** Live sessions of this device must be dropped (disabled, deleted, credential revoked). */
  'device.disconnect': { deviceId: string; reason: string; keyId?: string };
  /** A provisioning operation left `pending` (approved, rejected, superseded, locked, expired). */
  'provisioning.decided': { operationId: string };
  /** A provisioning token was revoked: connections holding it are dropped. */
  'provisioning.token-revoked': { tokenId: string };
  /** A device record was deleted: its certificates are revoked. */
  'device.deleted': { tenantId: string; deviceId: string };
  /** A command was created and should be pushed if its device is connected. */
  'command.created': { tenantId: string; deviceId: string; commandId: string };
}

export interface Bus {
  publish<K extends keyof BusEvents>(topic: K, event: BusEvents[K]): void;
  subscribe<K extends keyof BusEvents>(topic: K, handler: (event: BusEvents[K]) => void): () => void;
}

export function createLocalBus(): Bus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(100);
  return {
    publish: (topic, event) => {
      emitter.emit(topic, event);
    },
    subscribe: (topic, handler) => {
      const h = handler as (e: unknown) => void;
      emitter.on(topic, h);
      return () => emitter.off(topic, h);
    },
  };
}
