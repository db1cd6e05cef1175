/**
 * The platform bus: domain services announce facts, adapters and workers react. In-process here; the
 * same interface will be carried over Redis when several nodes share one database.
 *
 * A notice published inside a transaction is held until that transaction commits and dropped when it
 * rolls back: listeners act on it ("drop this device's sessions", "push this command") by reading
 * the store, so they must see the change, and must never act on a change that did not happen.
 */
import { EventEmitter } from 'node:events';
import { enqueue, type CommitHook } from '../store/ambient.js';

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

/**
 * `onListenerError`: a listener that throws is reported here and the others still run; the publisher
 * (often a request whose change has already committed) never sees the error.
 */
export function createLocalBus(
  onListenerError: (err: unknown, topic: string) => void = () => undefined,
): Bus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(100);
  const afterCommit: CommitHook<{ topic: string; event: unknown }> = {
    afterCommit: (notices) => {
      for (const { topic, event } of notices) emitter.emit(topic, event);
    },
  };
  return {
    publish: (topic, event) => {
      if (!enqueue(afterCommit, { topic, event })) emitter.emit(topic, event);
    },
    subscribe: (topic, handler) => {
      const h = (e: unknown) => {
        try {
          (handler as (e: unknown) => void)(e);
        } catch (err) {
          onListenerError(err, topic);
        }
      };
      emitter.on(topic, h);
      return () => emitter.off(topic, h);
    },
  };
}
