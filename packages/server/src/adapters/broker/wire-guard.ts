/**
 * Checks on the wire before aedes acts on a packet:
 *
 * - `limitPacketSize`: a packet whose remaining length (fixed header) exceeds the maximum packet size
 *   (`mqtt.bytes_per_packet`) closes the connection as soon as its header is read. mqtt-packet would otherwise buffer up to
 *   the 256 MB a remaining length can announce before anything looks at the packet; now at most one
 *   read chunk of it is held. Neither aedes nor mqtt-packet has an option for this, so the check wraps
 *   the parser's `parse` (aedes feeds each chunk it reads from the socket to `client._parser.parse`)
 *   and reads the length the parser has just decoded; a packet that came whole within one chunk is
 *   stopped at the parser's `emit`, before aedes sees it.
 * - `checkConnect` (aedes' `preConnect` hook): a will with QoS 3 [MQTT-3.1.2-14] closes the connection
 *   without CONNACK (mqtt-packet 9 accepts it); a keep-alive of 0 or above the maximum is taken as the
 *   maximum, so every connection has an idle deadline (1.5 × keep-alive, aedes' own timer) and a
 *   half-open socket does not stay for ever.
 */
import type { AedesOptions, Client } from 'aedes';
import { LIMITS } from '../../platform/limits/catalogue.js';
import type { LimitDecision } from '../../platform/limits/limits.js';

type PreConnectHandler = NonNullable<AedesOptions['preConnect']>;

/** The parts of mqtt-packet's parser (9.x) this file reads. */
interface ParserState {
  parse(buf: Buffer): number;
  emit(event: string | symbol, ...args: unknown[]): boolean;
  /** 0 header, 1 remaining length, 2 payload, 3 next packet. */
  _stateCounter: number;
  packet: { length: number };
}

/**
 * Closes `client` when a packet announces more than `maxBytes` (remaining length). `onTooLarge` runs
 * first, so the reason can be recorded before the close.
 */
export function limitPacketSize(
  client: Client,
  maxBytes: number,
  onTooLarge: (announced: number) => void,
): void {
  const parser = (client as unknown as { _parser?: ParserState })._parser;
  if (!parser || typeof parser.parse !== 'function' || typeof parser._stateCounter !== 'number')
    throw new Error('aedes client has no mqtt-packet parser to guard (aedes or mqtt-packet changed)');
  const parse = parser.parse.bind(parser);
  const emit = parser.emit.bind(parser);
  let cut = false;
  const stop = (announced: number) => {
    cut = true;
    onTooLarge(announced);
    client.close();
  };
  const tooLarge = () => parser._stateCounter === 2 && parser.packet.length > maxBytes;
  // A packet that came whole within one chunk (so at most that chunk was held) is stopped before
  // aedes sees it; so is every packet after a cut.
  parser.emit = (event: string | symbol, ...args: unknown[]) => {
    if (event !== 'packet') return emit(event, ...args);
    if (cut) return false;
    const length = (args[0] as { length?: number }).length ?? 0;
    if (length > maxBytes) {
      stop(length);
      return false;
    }
    return emit(event, ...args);
  };
  parser.parse = (buf: Buffer) => {
    if (cut) return 0;
    // The header may have come in an earlier chunk: then this one is not even appended.
    if (!tooLarge()) parse(buf);
    if (!cut && tooLarge()) stop(parser.packet.length);
    return 0;
  };
}

/** A packet over the maximum size, as a refusal by `mqtt.bytes_per_packet` (kept as a limit event). */
export function packetTooLarge(announced: number, maxBytes: number): LimitDecision {
  return {
    limit: 'mqtt.bytes_per_packet',
    scope: LIMITS['mqtt.bytes_per_packet'].scope,
    allowed: false,
    observed: announced,
    configured: maxBytes,
    remaining: 0,
    retryAfterMs: 0,
  };
}

export interface ConnectChecks {
  /** Keep-alive 0 or above this (seconds) is taken as this. */
  maxKeepaliveSeconds: number;
  /** A CONNECT refused here (no CONNACK, the connection closes): counted by the caller. */
  onMalformed(client: Client, reason: string): void;
}

export function checkConnect(checks: ConnectChecks): PreConnectHandler {
  return (client, packet, callback) => {
    if (packet.will && (packet.will.qos ?? 0) > 2) {
      checks.onMalformed(client, 'will_qos_invalid');
      return callback(new Error('will QoS 3 is not allowed [MQTT-3.1.2-14]'), false);
    }
    if (!packet.keepalive || packet.keepalive > checks.maxKeepaliveSeconds)
      packet.keepalive = checks.maxKeepaliveSeconds;
    callback(null, true);
  };
}
