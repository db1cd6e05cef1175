/**
 * Connections per remote address before authentication (`mqtt.pending_connections_per_address`): a
 * socket counts from its accept (before the TLS handshake; on WebSocket from the upgrade) until
 * CONNACK is written or it closes. A socket over the cap is closed at once, before any TLS work, and
 * counted in `mooring_refused_total` (reason `too_many_pending_connections`). One gate is shared by
 * every MQTT listener (TLS, mutual TLS, WebSocket), so an address cannot get round it by port.
 *
 * A connection is identified by its address and port, which the TCP socket and the TLS socket on it
 * share, so the listener may admit the one and hand the broker the other.
 */
import type { Transport } from './session.js';

/** What the gate needs of a socket: who is at the other end, and when it closes. */
export interface PeerSocket {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

export interface PreAuthGate {
  /** Counts the socket if its address is under the cap (and uncounts it when it closes); false: close it. */
  admit(
    socket: PeerSocket & { once(event: 'close', listener: () => void): unknown },
    transport: Transport,
  ): boolean;
  /** The connection has its CONNACK: it no longer counts. */
  answered(socket: PeerSocket): void;
  /** Sockets of one address counted now. */
  pending(address: string): number;
}

/** IPv4 clients on a dual-stack socket show as `::ffff:a.b.c.d`; one address, one count. */
function addressOf(socket: PeerSocket): string {
  const a = socket.remoteAddress ?? 'unknown';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

export function createPreAuthGate(opts: {
  /** The cap per address (read on every accept, so a changed setting applies at once). */
  max: () => number;
  onRefused: (transport: Transport) => void;
}): PreAuthGate {
  const perAddress = new Map<string, number>();
  /** Counted connections, `address|port` → their release. */
  const counted = new Map<string, () => void>();
  const keyOf = (s: PeerSocket) => `${addressOf(s)}|${s.remotePort ?? ''}`;

  return {
    admit(socket, transport) {
      const address = addressOf(socket);
      const n = perAddress.get(address) ?? 0;
      if (n >= opts.max()) {
        opts.onRefused(transport);
        return false;
      }
      const key = keyOf(socket);
      // The same address and port twice (a WebSocket upgrade on a kept-alive connection that
      // already holds one) counts once.
      if (counted.has(key)) return true;
      perAddress.set(address, n + 1);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        counted.delete(key);
        const left = (perAddress.get(address) ?? 1) - 1;
        if (left > 0) perAddress.set(address, left);
        else perAddress.delete(address);
      };
      counted.set(key, release);
      socket.once('close', release);
      return true;
    },
    answered(socket) {
      counted.get(keyOf(socket))?.();
    },
    pending(address) {
      return perAddress.get(address) ?? 0;
    },
  };
}
