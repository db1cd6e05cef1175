/**
 * What the adapter keeps about one MQTT connection once it has authenticated: a device session or a
 * provisioning-only session. The parts of the adapter (connect, publish, feeds, lifecycle) share these
 * shapes; the maps from aedes' client to them live in `broker.ts`.
 */
import type { AuthenticatedDevice } from '../../domains/devices/devices.js';
import type { PeerCertificate } from '../../domains/pki/pki.js';
import type { Outbound } from './outbound.js';

export type Transport = 'mqtts' | 'mqtts-mtls' | 'wss' | 'mqtt-insecure';

export interface ConnectionMeta {
  transport: Transport;
  remoteAddress: string | null;
  /** Set on mutual TLS connections: the client certificate the TLS layer verified. */
  certificate?: PeerCertificate;
  /** The socket the pre-auth gate counted (`pre-auth.ts`): it stops counting when CONNACK is written. */
  counted?: { readonly remoteAddress?: string | undefined; readonly remotePort?: number | undefined };
}

/** Granted subscriptions of one connection: filter → granted QoS. */
export type Subscriptions = Map<string, number>;

/** Per connection and feed: what was sent, and whether a pass is running (see `feeds.ts`). */
export interface FeedState {
  /** Item ids written to this connection: a new SUBSCRIBE does not send them again. */
  sent: Set<string>;
  /** The pump is running; `again` asks it for one more pass (a new item, a re-subscribe). */
  pumping: boolean;
  again: boolean;
}

export interface DeviceSession {
  device: AuthenticatedDevice;
  /** The id in this device's topics and its client id: its device id, or a manufacturer certificate's common name. */
  topicId: string;
  sessionId: string;
  transport: Transport;
  remoteAddress: string | null;
  /** Why the platform closed the session; unset when the client went away by itself. */
  closeReason?: string;
  /** Resolves when the connect has been recorded, so the disconnect is recorded after it. */
  connectRecorded: Promise<void>;
  /** Acknowledgement chain: PUBACKs leave in PUBLISH order [MQTT-4.6.0-2]. */
  ackTail: Promise<void>;
  /** Everything sent to this connection goes through here, bounded. */
  outbound: Outbound;
  subscriptions: Subscriptions;
  /** Subscription feeds (commands, …) by feed name, created on first use. */
  feeds: Map<string, FeedState>;
  /** Set when the platform revoked what this session authenticated with: nothing more is accepted. */
  revoked: boolean;
  /** CONNACK is out and the connect recorded (`clientReady`); until then it is not counted as live. */
  ready: boolean;
}

/** A connection that holds only a provisioning token. Never a device session. */
export interface ProvisioningSession {
  secret: string;
  tokenId: string;
  ackTail: Promise<void>;
  outbound: Outbound;
  subscriptions: Subscriptions;
}
