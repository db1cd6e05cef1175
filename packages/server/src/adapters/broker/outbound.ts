/**
 * What the platform sends to one MQTT connection: feeds (commands), refusal notices, provisioning answers.
 *
 * Everything is written straight to that client's connection, never through the broker's shared
 * emitter: there, one subscriber that stops reading holds a delivery slot per message until its socket
 * drains, and once the emitter's slots are all held every publish of every client queues behind it
 * (and the queue unwinds recursively when the client finally goes, deep enough to overflow the stack).
 *
 * And it is bounded. What a connection may have waiting toward its client is limited in bytes (what the
 * socket has buffered) and in messages (writes not yet handed to the socket); a sender that finds the
 * bound reached disconnects the client as a slow consumer instead of buffering more. Senders with a
 * backlog (a subscription feed) wait for room instead: they write while the socket is below its high-water
 * mark and resume on `drain`, so a backlog of any size streams to a client that reads, and a client
 * that reads nothing for `drainTimeoutMs` is disconnected.
 */
import type { Client } from 'aedes';
import type { Subscriptions } from './session.js';

export interface OutboundLimits {
  /** Bytes the socket may hold toward the client before a sender is refused and the client dropped. */
  maxQueuedBytes: number;
  /** Messages written but not yet accepted by the socket before the client is dropped. */
  maxQueuedMessages: number;
  /** A backlog is written while the socket holds less than this many bytes. */
  highWaterBytes: number;
  /** A client that accepts nothing for this long while a backlog waits is dropped, in ms. */
  drainTimeoutMs: number;
}

export const DEFAULT_OUTBOUND_LIMITS: OutboundLimits = Object.freeze({
  maxQueuedBytes: 1024 * 1024,
  maxQueuedMessages: 1_000,
  highWaterBytes: 256 * 1024,
  drainTimeoutMs: 30_000,
});

export interface Outbound {
  /**
   * Writes one message if the client subscribed to `filter`. Returns false (and sends nothing) when
   * it has not, when the connection is closed, or when the client has fallen too far behind (it is
   * then disconnected).
   */
  send(filter: string, topic: string, payload: Buffer, qos: 0 | 1): boolean;
  /**
   * Resolves true when a backlog may write its next message; false when the connection ended or the
   * client read nothing for the drain timeout (it is then disconnected).
   */
  room(): Promise<boolean>;
}

/** Connection state the outbound path reads: aedes' client, typed to what is used here. */
type Conn = NodeJS.WritableStream & {
  writableLength?: number;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
};

export function createOutbound(
  client: Client,
  limits: OutboundLimits,
  /** The connection's granted subscriptions, kept by the adapter from its own hooks and events. */
  subscriptions: Subscriptions,
  /** Called once when the client is dropped for falling behind. */
  onSlowConsumer: () => void,
): Outbound {
  const conn = client.conn as unknown as Conn;
  let unsettled = 0; // messages handed to aedes whose write has not completed
  let dropped = false;

  const buffered = () => conn.writableLength ?? 0;
  const drop = () => {
    if (dropped) return;
    dropped = true;
    onSlowConsumer();
    client.close();
  };

  /** Resolves true on `drain`, false on close or when `timeoutMs` passes first. */
  const drained = (timeoutMs: number) =>
    new Promise<boolean>((resolve) => {
      const settle = (ok: boolean) => {
        clearTimeout(timer);
        conn.off('drain', onDrain);
        conn.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => settle(true);
      const onClose = () => settle(false);
      const timer = setTimeout(() => settle(false), Math.max(0, timeoutMs));
      timer.unref();
      conn.once('drain', onDrain);
      conn.once('close', onClose);
    });

  return {
    send(filter, topic, payload, qos) {
      if (client.closed || dropped) return false;
      const grantedQos = subscriptions.get(filter);
      if (grantedQos === undefined) return false;
      if (unsettled >= limits.maxQueuedMessages || buffered() + payload.length > limits.maxQueuedBytes) {
        drop();
        return false;
      }
      unsettled++;
      client.publish(
        {
          cmd: 'publish',
          topic,
          payload,
          // [MQTT-3.8.4-6]: delivered at the lower of the publish and the granted QoS.
          qos: Math.min(qos, grantedQos) as 0 | 1,
          retain: false,
          dup: false,
        },
        () => {
          unsettled--;
        },
      );
      return true;
    },

    async room() {
      const deadline = Date.now() + limits.drainTimeoutMs;
      for (;;) {
        if (client.closed || dropped) return false;
        if (buffered() < limits.highWaterBytes && unsettled < limits.maxQueuedMessages / 2) return true;
        if (buffered() < limits.highWaterBytes) {
          // Writes the socket took are settled by aedes on the next turn of the loop.
          await new Promise((resolve) => setImmediate(resolve));
          continue;
        }
        if (!(await drained(deadline - Date.now()))) {
          if (!client.closed) drop();
          return false;
        }
      }
    },
  };
}
