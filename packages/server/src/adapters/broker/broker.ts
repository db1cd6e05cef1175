/**
 * The MQTT adapter: aedes with Mooring's hooks. It knows topics and packets, not tenants: who a client
 * is and what it may do come from the device, telemetry and command services. This file assembles the
 * parts, each behind aedes' public hooks and events:
 *
 * - `connect.ts`: CONNECT as named steps (authenticate, revocation, client id, stored session);
 *   refusals name error codes, `return-codes.ts` turns them into CONNACK and SUBACK codes.
 * - `session-registry.ts`: who owns a stored session, who holds a client id, a device's live
 *   connections (in memory here: `memory-session-registry.ts`).
 * - `publish.ts` with `inbound/`: PUBLISH routed to the handler each domain registers for its topic.
 * - `subscribe.ts`: SUBSCRIBE, granted subscriptions, forwarding.
 * - `feeds.ts` with `feeds/`: what a device receives when it subscribes (commands), paged and bounded
 *   by `outbound.ts`.
 * - `lifecycle.ts`: presence, close reasons and the client id registry, from aedes' events.
 * - `provisioning-channel.ts`: connections that hold only a provisioning token.
 * - `notices.ts`: the platform notices the adapter acts on.
 */
import { Aedes, type Client } from 'aedes';
import type { Duplex } from 'node:stream';
import type { Notifier } from '../../platform/notifier.js';
import type { Logger, Metrics } from '../../platform/observability.js';
import type { CommandService } from '../../domains/commands/commands.js';
import type { AuthenticatedDevice } from '../../domains/devices/devices.js';
import type { PeerCertificate } from '../../domains/pki/pki.js';
import type { PresenceService } from '../../domains/presence/presence.js';
import type { ProvisioningService } from '../../domains/provisioning/provisioning.js';
import type { FleetService } from '../../domains/fleet/fleet.js';
import type { TelemetryService } from '../../domains/telemetry/telemetry.js';
import type { RefusalLog } from '../../domains/fleet/refusal-log.js';
import type { LimitEventLog } from '../../domains/limits/event-log.js';
import { LIMITS } from '../../platform/limits/catalogue.js';
import type { Limiter } from '../../platform/limits/limits.js';
import { createConnectHandler } from './connect.js';
import { createFeeds } from './feeds.js';
import { COMMAND_FEED, commandFeed } from './feeds/commands.js';
import { OTA_FEED, otaFeed } from './feeds/ota.js';
import { CONFIG_FEED, configFeed } from './feeds/config.js';
import { configGetRoute, configReportedRoute } from './inbound/config.js';
import type { ConfigService } from '../../domains/config/config.js';
import { otaProgressRoute } from './inbound/ota-progress.js';
import type { OtaDeviceService } from '../../domains/deployments/deployments.js';
import { commandResultsRoute } from './inbound/command-results.js';
import { eventsRoute } from './inbound/events.js';
import { createInboundRouter } from './inbound/router.js';
import { telemetryRoute } from './inbound/telemetry.js';
import { firmwareRoute } from './inbound/firmware.js';
import { attachLifecycle } from './lifecycle.js';
import { createMemorySessionRegistry } from './memory-session-registry.js';
import { brokerNotices } from './notices.js';
import { DEFAULT_OUTBOUND_LIMITS, type OutboundLimits } from './outbound.js';
import { createProvisioningChannel } from './provisioning-channel.js';
import { createPreAuthGate, type PeerSocket } from './pre-auth.js';
import { createPublishHandler } from './publish.js';
import { createRevocationLog } from './revocations.js';
import type { ConnectionMeta, DeviceSession, ProvisioningSession, Transport } from './session.js';
import { createSubscribeHandlers } from './subscribe.js';
import { checkConnect, limitPacketSize, packetTooLarge } from './wire-guard.js';

export type { ConnectionMeta, Transport } from './session.js';

export interface BrokerDeps {
  /** Resolves a device credential (access key or registration token) for the claimed device id. */
  authenticateDevice(secret: string, claimedDeviceId: string): Promise<AuthenticatedDevice>;
  /** Resolves a verified client certificate (mutual TLS) for the claimed device id. */
  authenticateCertificate(peer: PeerCertificate, claimedDeviceId: string): Promise<AuthenticatedDevice>;
  /** Provisioning over MQTT for connections that hold only a provisioning token. */
  provisioning: ProvisioningService;
  telemetry: TelemetryService;
  fleet: FleetService;
  commands: CommandService;
  ota: OtaDeviceService;
  config: Pick<ConfigService, 'pushFor' | 'report' | 'requestFull'>;
  presence: PresenceService;
  bus: Notifier;
  metrics: Metrics;
  logger: Logger;
  /** Where refused publishes and connects are kept (bounded per device and code). */
  refusals?: Pick<RefusalLog, 'refused'>;
  /** Bounds on what may wait toward one client; defaults to DEFAULT_OUTBOUND_LIMITS. */
  outboundLimits?: OutboundLimits;
  /** A client has this long to send CONNECT once its stream is handed over (after TLS); 10 s by default. */
  connectTimeoutMs?: number;
  /** Connections one address may hold before CONNACK (`mqtt.pending_connections_per_address`). */
  pendingPerAddress?: () => number;
  /** A packet announcing more than this (remaining length) closes the connection; 128 KiB by default. */
  maxPacketBytes?: number;
  /** Keep-alive 0 or above this is taken as this (seconds); 1200 by default. */
  maxKeepaliveSeconds?: number;
  /**
   * The MQTT limits (CONNECTs per listener and per client id, connections per tenant, subscriptions
   * per connection); none: not limited.
   */
  limiter?: Pick<Limiter, 'consume' | 'acquire' | 'configured'>;
  /** Where refusals by a limit are kept for the tenant (limit events). */
  limitEvents?: Pick<LimitEventLog, 'exceeded'>;
}

export interface Broker {
  /**
   * Counts a new socket against its address's cap of connections before CONNACK (`pre-auth.ts`);
   * false: the caller closes it at once. Pass the socket as `meta.counted` to `handle`.
   */
  admit(
    socket: PeerSocket & { once(event: 'close', listener: () => void): unknown },
    transport: Transport,
  ): boolean;
  /** Serves one MQTT connection (a TLS socket or a WebSocket stream). */
  handle(stream: Duplex, meta: ConnectionMeta): void;
  /** Live sessions on this node. */
  readonly connectedDevices: number;
  close(): Promise<void>;
}

export async function createBroker(deps: BrokerDeps): Promise<Broker> {
  const { metrics, logger } = deps;
  const notices = brokerNotices(deps.bus);
  const pendingMeta = new WeakMap<Client, ConnectionMeta>();
  const sessions = new WeakMap<Client, DeviceSession>();
  const provisioningSessions = new WeakMap<Client, ProvisioningSession>();
  const provisioningClients = new Map<string, Client>();
  const registry = createMemorySessionRegistry<Client>();
  const revocations = createRevocationLog();
  const preAuth = createPreAuthGate({
    max: deps.pendingPerAddress ?? (() => LIMITS['mqtt.pending_connections_per_address'].defaultValue),
    onRefused: (transport) => metrics.refused.inc({ transport, reason: 'too_many_pending_connections' }),
  });

  const channel = createProvisioningChannel({
    provisioning: deps.provisioning,
    onDecided: notices.onProvisioningDecided,
    send(clientId, topic, body) {
      const client = provisioningClients.get(clientId);
      const prov = client && provisioningSessions.get(client);
      prov?.outbound.send(topic, topic, Buffer.from(JSON.stringify(body)), 1);
    },
  });

  // Device → cloud: one route per topic, registered by the domain it belongs to.
  const router = createInboundRouter();
  router.registerInbound(telemetryRoute(deps.telemetry));
  router.registerInbound(eventsRoute(deps.telemetry));
  router.registerInbound(commandResultsRoute(deps.commands));
  router.registerInbound(firmwareRoute(deps.fleet));
  router.registerInbound(otaProgressRoute(deps.ota));
  router.registerInbound(configReportedRoute(deps.config));
  router.registerInbound(configGetRoute(deps.config));

  // Cloud → device on subscription: one feed per kind of stored item.
  const feeds = createFeeds({
    *sessionsOf(deviceId) {
      for (const client of registry.liveOf(deviceId)) {
        const session = sessions.get(client);
        if (session) yield session;
      }
    },
    metrics,
    logger,
  });
  feeds.registerFeed(commandFeed(deps.commands));
  feeds.registerFeed(otaFeed(deps.ota));
  feeds.registerFeed(configFeed(deps.config));

  const subscribe = createSubscribeHandlers({
    sessions,
    provisioningSessions,
    channel,
    metrics,
    limiter: deps.limiter,
    limitEvents: deps.limitEvents,
  });
  const aedes = await Aedes.createBroker({
    // A client has this long to send CONNECT once its TLS handshake (or WebSocket upgrade) is done;
    // the handshake has its own deadline in the listeners (MOORING_MQTT_HANDSHAKE_TIMEOUT_SECONDS).
    connectTimeout: deps.connectTimeoutMs ?? 10_000,
    // Malformed CONNECTs close without CONNACK; keep-alive 0 or too long becomes the maximum.
    preConnect: checkConnect({
      maxKeepaliveSeconds: deps.maxKeepaliveSeconds ?? 1200,
      onMalformed: (client, reason) =>
        metrics.refused.inc({ transport: pendingMeta.get(client)?.transport ?? 'mqtts', reason }),
    }),
    // Deliveries to a subscriber whose socket stays blocked this long are abandoned, so one stuck
    // client cannot stall the broker (the same time the platform's own writes wait).
    drainTimeout: (deps.outboundLimits ?? DEFAULT_OUTBOUND_LIMITS).drainTimeoutMs,
    authenticate: createConnectHandler({
      authenticateDevice: deps.authenticateDevice,
      authenticateCertificate: deps.authenticateCertificate,
      provisioning: deps.provisioning,
      pendingMeta,
      sessions,
      provisioningSessions,
      registry,
      revocations,
      outboundLimits: deps.outboundLimits ?? DEFAULT_OUTBOUND_LIMITS,
      metrics,
      logger,
      refusals: deps.refusals,
      limiter: deps.limiter,
      limitEvents: deps.limitEvents,
    }),
    authorizePublish: createPublishHandler({
      sessions,
      provisioningSessions,
      channel,
      router,
      metrics,
      refusals: deps.refusals,
    }),
    authorizeSubscribe: subscribe.authorizeSubscribe,
    authorizeForward: subscribe.authorizeForward,
  });

  const lifecycle = attachLifecycle(aedes, {
    sessions,
    provisioningSessions,
    provisioningClients,
    registry,
    channel,
    feeds,
    presence: deps.presence,
    unsubscribed: subscribe.unsubscribed,
    metrics,
    logger,
  });

  const unsubscribers = [
    notices.onProvisioningTokenRevoked(({ tokenId }) => {
      for (const client of provisioningClients.values()) {
        if (provisioningSessions.get(client)?.tokenId === tokenId) client.close();
      }
    }),
    notices.onDeviceDisconnect(({ deviceId, reason, keyId }) => {
      revocations.record(deviceId, keyId);
      // Every connection that authenticated as this device, CONNACK sent or not, whatever came before
      // on its client id.
      for (const client of registry.liveOf(deviceId)) {
        const session = sessions.get(client);
        if (!session || (keyId && session.device.credentialId !== keyId)) continue;
        session.revoked = true;
        session.closeReason = reason;
        client.close();
      }
    }),
    notices.onCommandCreated(({ deviceId }) => feeds.pumpDevice(deviceId, COMMAND_FEED)),
    notices.onOtaChanged(({ deviceIds }) => {
      for (const deviceId of deviceIds) feeds.pumpDevice(deviceId, OTA_FEED);
    }),
    notices.onConfigChanged(({ deviceIds }) => {
      for (const deviceId of deviceIds) feeds.pumpDevice(deviceId, CONFIG_FEED);
    }),
  ];

  // CONNACK written (accepted or refused): the connection no longer counts as pending.
  aedes.on('connackSent', (_packet, client) => {
    const counted = pendingMeta.get(client)?.counted;
    if (counted) preAuth.answered(counted);
  });

  return {
    admit: (socket, transport) => preAuth.admit(socket, transport),
    handle(stream, meta) {
      const client = aedes.handle(stream, undefined as never);
      pendingMeta.set(client, meta);
      const maxPacketBytes = deps.maxPacketBytes ?? LIMITS['mqtt.bytes_per_packet'].defaultValue;
      limitPacketSize(client, maxPacketBytes, (announced) => {
        // Recorded as the disconnect reason (presence) and, once the device is known, as a limit
        // event of its tenant, before the close.
        const session = sessions.get(client);
        metrics.refused.inc({ transport: meta.transport, reason: 'packet_too_large' });
        if (!session) return;
        session.closeReason ??= 'packet_too_large';
        const { tenantId, deviceId } = session.device;
        deps.limitEvents?.exceeded(
          { tenantId, subject: `device:${deviceId}`, deviceId },
          packetTooLarge(announced, maxPacketBytes),
        );
      });
    },
    get connectedDevices() {
      return lifecycle.readySessions;
    },
    async close() {
      for (const u of unsubscribers) u();
      for (const client of registry.allLive()) {
        const session = sessions.get(client);
        if (session) session.closeReason = 'server_shutdown';
      }
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await lifecycle.settled();
    },
  };
}

/**
 * The development-only anonymous broker: aedes with its own defaults and no access to device topics or
 * data, for MQTT conformance suites. Bound to 127.0.0.1 by the caller.
 */
export async function createInsecureDevBroker(): Promise<{
  handle(stream: Duplex): void;
  close(): Promise<void>;
}> {
  const aedes = await Aedes.createBroker();
  return {
    handle: (stream) => void aedes.handle(stream, undefined as never),
    close: () => new Promise<void>((resolve) => aedes.close(() => resolve())),
  };
}
