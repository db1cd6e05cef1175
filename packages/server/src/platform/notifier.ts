/**
 * The notifier: notices for the nodes alive now. Domain services announce them, adapters react ("drop
 * this device's sessions", "push this command", "this provisioning operation was decided"). In-process
 * here; the same interface will be carried over Redis when several nodes share one database. A notice
 * is not stored: a node that is down misses it, which is right for these (it holds no session to drop,
 * no long poll to answer). Facts that must not be lost (a deleted device's certificates are revoked)
 * go through the outbox (`outbox.ts`) instead.
 *
 * A notice published inside a transaction is held until that transaction commits and dropped when it
 * rolls back: listeners act on it by reading the store, so they must see the change, and must never
 * act on a change that did not happen.
 */
import { EventEmitter } from 'node:events';
import { enqueue, type CommitHook } from '../store/ambient.js';

export interface NotifierEvents {
  /** Live sessions of this device must be dropped (disabled, deleted, credential revoked). */
  'device.disconnect': { deviceId: string; reason: string; keyId?: string };
  /** A provisioning operation left `pending` (approved, rejected, superseded, locked, expired). */
  'provisioning.decided': { operationId: string };
  /** A provisioning token was revoked: connections holding it are dropped. */
  'provisioning.token-revoked': { tokenId: string };
  /** A command was created and should be pushed if its device is connected. */
  'command.created': { tenantId: string; deviceId: string; commandId: string };
  /** A device's OTA offers or cancels changed and should be pushed if it is connected. */
  'ota.changed': { tenantId: string; deviceIds: string[] };
  /** A device's desired configuration (or what it should be pushed of it) changed. */
  'config.changed': { tenantId: string; deviceIds: string[] };
}

export interface Notifier {
  publish<K extends keyof NotifierEvents>(topic: K, event: NotifierEvents[K]): void;
  subscribe<K extends keyof NotifierEvents>(
    topic: K,
    handler: (event: NotifierEvents[K]) => void,
  ): () => void;
}

/**
 * `onListenerError`: a listener that throws is reported here and the others still run; the publisher
 * (often a request whose change has already committed) never sees the error.
 */
export function createLocalNotifier(
  onListenerError: (err: unknown, topic: string) => void = () => undefined,
): Notifier {
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
