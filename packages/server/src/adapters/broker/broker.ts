/**
 * The MQTT adapter: aedes with Mooring's hooks. It knows topics and packets, not tenants: who a client
 * is and what it may do come from the device, telemetry and command services. Refused publishes are
 * acknowledged and dropped (MQTT 3.1.1 has no negative PUBACK), counted, and explained on the device's
 * `d/{id}/errors` topic; refused subscriptions get return code 0x80 [MQTT-3.9.3].
 */
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import type { Duplex } from 'node:stream';
import {
  PROVISIONING_CLIENT_PREFIX,
  PROVISIONING_USERNAME,
  decodeJsonPayload,
  isAllowedDeviceSubscription,
  parseCommandResult,
  parseInboundTopic,
  textProblem,
  topics,
  TELEMETRY_LIMITS,
  type CommandMessage,
  type ErrorCode,
} from '@mooring/protocol';
import { isAppError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Bus } from '../../platform/bus.js';
import type { Logger, Metrics } from '../../platform/observability.js';
import type { CommandService } from '../../domains/commands/commands.js';
import type { AuthenticatedDevice } from '../../domains/devices/devices.js';
import type { PeerCertificate } from '../../domains/pki/pki.js';
import type { ProvisioningService } from '../../domains/provisioning/provisioning.js';
import { createProvisioningChannel } from './provisioning-channel.js';
import {
  createOutbound,
  DEFAULT_OUTBOUND_LIMITS,
  subscriptionOf,
  type Outbound,
  type OutboundLimits,
} from './outbound.js';
import type { PresenceService } from '../../domains/presence/presence.js';
import type { TelemetryService } from '../../domains/telemetry/telemetry.js';

export type Transport = 'mqtts' | 'mqtts-mtls' | 'wss' | 'mqtt-insecure';

interface Session {
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
  /** Commands written to this connection: a new SUBSCRIBE does not send them again. */
  sentCommands: Set<string>;
  /** The command pump is running; `pumpAgain` asks it for one more pass (a new command, a re-subscribe). */
  pumping: boolean;
  pumpAgain: boolean;
  /** Set when the platform revoked what this session authenticated with: nothing more is accepted. */
  revoked: boolean;
  /** CONNACK is out and the connect recorded (`clientReady`); until then it is not counted as live. */
  ready: boolean;
}

export interface BrokerDeps {
  /** Resolves a device credential (access key or registration token) for the claimed device id. */
  authenticateDevice(secret: string, claimedDeviceId: string): Promise<AuthenticatedDevice>;
  /** Resolves a verified client certificate (mutual TLS) for the claimed device id. */
  authenticateCertificate(peer: PeerCertificate, claimedDeviceId: string): Promise<AuthenticatedDevice>;
  /** Provisioning over MQTT for connections that hold only a provisioning token. */
  provisioning: ProvisioningService;
  telemetry: TelemetryService;
  commands: CommandService;
  presence: PresenceService;
  bus: Bus;
  metrics: Metrics;
  logger: Logger;
  /** Bounds on what may wait toward one client; defaults to DEFAULT_OUTBOUND_LIMITS. */
  outboundLimits?: OutboundLimits;
}

export interface ConnectionMeta {
  transport: Transport;
  remoteAddress: string | null;
  /** Set on mutual TLS connections: the client certificate the TLS layer verified. */
  certificate?: PeerCertificate;
}

export interface Broker {
  /** Serves one MQTT connection (a TLS socket or a WebSocket stream). */
  handle(stream: Duplex, meta: ConnectionMeta): void;
  /** Live sessions on this node. */
  readonly connectedDevices: number;
  close(): Promise<void>;
}

const RETURN_CODE_BAD_CREDENTIALS = 4;
const RETURN_CODE_NOT_AUTHORIZED = 5;
const RETURN_CODE_IDENTIFIER_REJECTED = 2;
const DROPPED_TOPIC = '$mooring/dropped';

export async function createBroker(deps: BrokerDeps): Promise<Broker> {
  const { metrics, logger } = deps;
  const pendingMeta = new WeakMap<Client, ConnectionMeta>();
  const sessions = new WeakMap<Client, Session>();
  const outboundLimits = deps.outboundLimits ?? DEFAULT_OUTBOUND_LIMITS;
  /**
   * Every authenticated connection of each device, from the moment its credential is accepted (not
   * only once CONNACK is out), so that a revocation reaches connections still finishing their CONNECT.
   */
  const liveByDevice = new Map<string, Set<Client>>();
  let readySessions = 0;
  /** Connections that hold only a provisioning token: client id → token. Never device sessions. */
  const provisioningSessions = new WeakMap<
    Client,
    { secret: string; tokenId: string; ackTail: Promise<void>; outbound: Outbound }
  >();
  const provisioningClients = new Map<string, Client>();
  // The publish path counts every message: bound label children, not a label lookup per message.
  const inCounters = new Map<string, { inc(): void }>();
  const countIn = (transport: Transport, kind: 'telemetry' | 'event' | 'command_result') => {
    const key = `${transport}/${kind}`;
    let counter = inCounters.get(key);
    if (!counter) inCounters.set(key, (counter = metrics.messagesIn.labels(transport, kind)));
    counter.inc();
  };
  const pendingPresence = new Set<Promise<void>>();
  /** Which identity made the session stored under each client id (`tenant/device`). */
  const sessionOwners = new Map<string, string>();
  /**
   * Notices to drop a device's sessions from the last minute, numbered. A CONNECT whose credential
   * was looked up before such a notice and whose session registers after it would otherwise miss it:
   * authentication notes the number when it starts and refuses if a matching notice came since.
   */
  let disconnectSeq = 0;
  const recentDisconnects: { seq: number; at: number; deviceId: string; keyId?: string }[] = [];
  const disconnectedSince = (mark: number, device: AuthenticatedDevice) =>
    recentDisconnects.some(
      (n) =>
        n.seq > mark &&
        n.deviceId === device.deviceId &&
        (n.keyId === undefined || n.keyId === device.credentialId),
    );
  const track = (deviceId: string, client: Client) => {
    let set = liveByDevice.get(deviceId);
    if (!set) liveByDevice.set(deviceId, (set = new Set()));
    set.add(client);
    (client.conn as unknown as { once(e: 'close', f: () => void): void }).once('close', () => {
      set.delete(client);
      if (set.size === 0 && liveByDevice.get(deviceId) === set) liveByDevice.delete(deviceId);
    });
  };
  const slowConsumer = (transport: Transport, onDrop: () => void) => () => {
    metrics.refused.inc({ transport, reason: 'slow_consumer' });
    onDrop();
  };

  const aedes = await Aedes.createBroker({
    // A client has 10 s to send CONNECT after the socket opens.
    connectTimeout: 10_000,
    // Deliveries to a subscriber whose socket stays blocked this long are abandoned, so one stuck
    // client cannot stall the broker.
    drainTimeout: 30_000,
    authenticate(client, username, password, done) {
      const meta = pendingMeta.get(client);
      const refuse = (reason: string, returnCode: number) => {
        metrics.refused.inc({ transport: meta?.transport ?? 'mqtts', reason });
        const err = new Error(reason) as AuthenticateError;
        err.returnCode = returnCode;
        done(err, false);
      };
      if (!meta) return refuse('no_transport', RETURN_CODE_NOT_AUTHORIZED);
      if (username === PROVISIONING_USERNAME && !meta.certificate) {
        // A provisioning-only connection: its client id lives in its own prefix, so it can never
        // take over a device's session.
        if (!password || !client.id.startsWith(PROVISIONING_CLIENT_PREFIX))
          return refuse('bad_credentials', RETURN_CODE_BAD_CREDENTIALS);
        // No persistent sessions for provisioning: a queued answer (a registration token) must never
        // wait in a session that another token could resume with the same client id.
        if (!client.clean) return refuse('persistent_session_refused', RETURN_CODE_IDENTIFIER_REJECTED);
        const secret = password.toString('utf8');
        deps.provisioning.authenticateToken(secret).then(
          (token) => {
            // Only the same token may take over a provisioning client id.
            const holder = (aedes as unknown as { clients: Record<string, Client> }).clients[client.id];
            const held = holder && holder !== client ? provisioningSessions.get(holder) : undefined;
            if (held && held.tokenId !== token.tokenId)
              return refuse('client_id_in_use', RETURN_CODE_IDENTIFIER_REJECTED);
            provisioningSessions.set(client, {
              secret,
              tokenId: token.tokenId,
              ackTail: Promise.resolve(),
              outbound: createOutbound(
                client,
                outboundLimits,
                slowConsumer(meta.transport, () => undefined),
              ),
            });
            done(null, true);
          },
          (err: unknown) => {
            if (isAppError(err)) return refuse('bad_credentials', RETURN_CODE_BAD_CREDENTIALS);
            logger.error({ err }, 'provisioning authentication failed');
            refuse('auth_error', 3);
          },
        );
        return;
      }
      let authenticated: Promise<AuthenticatedDevice>;
      const disconnectMark = disconnectSeq;
      if (meta.certificate) {
        // Mutual TLS: the verified certificate is the identity; the client id must name its device and
        // a username, if sent, must agree.
        if (username && username !== client.id) return refuse('bad_credentials', RETURN_CODE_BAD_CREDENTIALS);
        authenticated = deps.authenticateCertificate(meta.certificate, client.id);
      } else {
        // [MQTT-3.1.3-3]: the client id names the device; username and client id must agree.
        if (!username || !password || username !== client.id)
          return refuse('bad_credentials', RETURN_CODE_BAD_CREDENTIALS);
        authenticated = deps.authenticateDevice(password.toString('utf8'), username);
      }
      authenticated.then(
        (device) => {
          // The connection went away while its credential was looked up: nothing to register (and
          // its 'close' has fired already, so it would never leave the registry).
          if (client.closed || (client.conn as unknown as { destroyed?: boolean }).destroyed)
            return refuse('connection_closed', RETURN_CODE_NOT_AUTHORIZED);
          // The credential was revoked (or the device disabled) while it was being looked up.
          if (disconnectedSince(disconnectMark, device))
            return refuse('credential_revoked', RETURN_CODE_NOT_AUTHORIZED);
          // A client id held by another identity is not taken over [MQTT-3.1.3-8]: only the same
          // device may replace its own session.
          const holder = (aedes as unknown as { clients: Record<string, Client> }).clients[client.id];
          const holderSession = holder && holder !== client ? sessions.get(holder) : undefined;
          if (holderSession && holderSession.device.deviceId !== device.deviceId)
            return refuse('client_id_in_use', RETURN_CODE_IDENTIFIER_REJECTED);
          // A second connection with the same client id takes the session over [MQTT-3.1.4-2]: aedes
          // closes the old one next; record why.
          if (holderSession) holderSession.closeReason = 'session_taken_over';
          // A stored (offline) session is resumed only by the identity that made it: a manufacturer
          // serial used as client id by a device of another tenant starts clean or not at all.
          const owner = `${device.tenantId}/${device.deviceId}`;
          const storedOwner = sessionOwners.get(client.id);
          if (!client.clean && storedOwner !== undefined && storedOwner !== owner)
            return refuse('client_id_in_use', RETURN_CODE_IDENTIFIER_REJECTED);
          sessionOwners.set(client.id, owner);
          const session: Session = {
            device,
            topicId: device.clientId ?? device.deviceId,
            sessionId: newId('ses'),
            transport: meta.transport,
            remoteAddress: meta.remoteAddress,
            connectRecorded: Promise.resolve(),
            ackTail: Promise.resolve(),
            outbound: createOutbound(
              client,
              outboundLimits,
              slowConsumer(meta.transport, () => (session.closeReason ??= 'slow_consumer')),
            ),
            sentCommands: new Set(),
            pumping: false,
            pumpAgain: false,
            revoked: false,
            ready: false,
          };
          sessions.set(client, session);
          track(device.deviceId, client);
          done(null, true);
        },
        (err: unknown) => {
          if (isAppError(err) && (err.code === 'DEVICE_DISABLED' || err.code === 'CERTIFICATE_PENDING'))
            return refuse('device_disabled', RETURN_CODE_NOT_AUTHORIZED);
          if (isAppError(err)) return refuse('bad_credentials', RETURN_CODE_BAD_CREDENTIALS);
          logger.error({ err }, 'device authentication failed');
          refuse('auth_error', 3); // 3: server unavailable
        },
      );
    },

    authorizePublish(client, packet, done) {
      const prov = client ? provisioningSessions.get(client) : undefined;
      if (client && prov) {
        packet.retain = false;
        const work = channel
          .publish(client.id, prov.secret, packet.topic, packet.payload as Buffer)
          .then(() => dropForward(packet));
        const next = prov.ackTail
          .then(() => work)
          .then(
            () => done(null),
            (err: unknown) => done(err as Error),
          );
        prov.ackTail = next.catch(() => undefined);
        return;
      }
      const session = client ? sessions.get(client) : undefined;
      // Will messages of vanished clients and unauthenticated publishes are never forwarded; nothing
      // is accepted once the session's credential was revoked, even a packet already read.
      if (!client || !session) return done(new Error('not authenticated'));
      if (session.revoked) return done(new Error('credential revoked'));
      packet.retain = false; // device topics never retain
      const received = Date.now();
      const work = acceptPublish(session, packet, received);
      const previous = session.ackTail;
      const next = previous
        .then(() => work)
        .then(
          () => done(null),
          (err: unknown) => done(err as Error),
        );
      session.ackTail = next.catch(() => undefined);
    },

    authorizeSubscribe(client, sub, done) {
      if (client && provisioningSessions.has(client)) {
        if (!channel.canSubscribe(client.id, sub.topic)) {
          metrics.refused.inc({ transport: 'mqtts', reason: 'subscribe_not_allowed' });
          return done(null, null as unknown as Subscription);
        }
        return done(null, { ...sub, qos: Math.min(sub.qos, 1) as 0 | 1 });
      }
      const session = client ? sessions.get(client) : undefined;
      if (!session || !isAllowedDeviceSubscription(session.topicId, sub.topic)) {
        metrics.refused.inc({ transport: session?.transport ?? 'mqtts', reason: 'subscribe_not_allowed' });
        return done(null, null as unknown as Subscription); // negated: SUBACK 0x80
      }
      done(null, { ...sub, qos: Math.min(sub.qos, 1) as 0 | 1 });
    },

    // Nothing reaches a client except through its own namespace.
    authorizeForward(client, packet) {
      if (provisioningSessions.has(client))
        return channel.canReceive(client.id, packet.topic) ? packet : null;
      const session = sessions.get(client);
      if (!session || !packet.topic.startsWith(`d/${session.topicId}/`)) return null;
      return packet;
    },
  });

  const channel = createProvisioningChannel({
    provisioning: deps.provisioning,
    bus: deps.bus,
    send(clientId, topic, body) {
      const client = provisioningClients.get(clientId);
      const prov = client && provisioningSessions.get(client);
      prov?.outbound.send(topic, topic, Buffer.from(JSON.stringify(body)), 1);
    },
  });

  /** Validates and stores one publish; resolves when it may be acknowledged. Refusals resolve too. */
  function acceptPublish(session: Session, packet: PublishPacket, received: number): Promise<void> {
    const { device } = session;
    const parsed = parseInboundTopic(packet.topic);
    if (!parsed || parsed.deviceId !== session.topicId) {
      return refusePublish(
        session,
        packet,
        'TOPIC_NOT_ALLOWED',
        `publishing to '${packet.topic}' is not allowed`,
        'publish_not_allowed',
      );
    }
    // [MQTT-4.7.3-2] a topic holds no U+0000: the command id taken from an allowed topic must be
    // text the store can hold.
    const topicProblem = parsed.commandId === undefined ? undefined : textProblem(parsed.commandId);
    if (topicProblem)
      return refusePublish(session, packet, 'INVALID_TEXT', `the topic ${topicProblem}`, 'invalid_text');
    const decoded = decodeJsonPayload(packet.payload as Buffer, TELEMETRY_LIMITS.maxPayloadBytes);
    if (!decoded.ok)
      return refusePublish(
        session,
        packet,
        decoded.error.code,
        decoded.error.message,
        'invalid_payload',
        decoded.error.path,
      );
    try {
      switch (parsed.kind) {
        case 'telemetry':
          return deps.telemetry.ingest(device, decoded.value, received).then(() => {
            countIn(session.transport, 'telemetry');
            dropForward(packet);
          });
        case 'events':
          return deps.telemetry.ingestEvent(device, decoded.value, received).then(() => {
            countIn(session.transport, 'event');
            dropForward(packet);
          });
        case 'command-result': {
          const result = parseCommandResult(decoded.value);
          if (!result.ok)
            return refusePublish(session, packet, 'VALIDATION_FAILED', result.message, 'invalid_payload');
          return deps.commands.reportResult(device, parsed.commandId!, result.value).then(
            () => {
              countIn(session.transport, 'command_result');
              dropForward(packet);
            },
            (err: unknown) => {
              if (isAppError(err))
                return refusePublish(session, packet, err.code, err.message, 'command_result_refused');
              throw err;
            },
          );
        }
      }
    } catch (err) {
      if (isAppError(err))
        return refusePublish(
          session,
          packet,
          err.code,
          err.message,
          'invalid_payload',
          err.errors?.[0]?.path,
        );
      return Promise.reject(err);
    }
  }

  /** Device publishes are stored, not relayed: no one may subscribe to another device's topics. */
  function dropForward(packet: PublishPacket) {
    packet.topic = DROPPED_TOPIC;
  }

  function refusePublish(
    session: Session,
    packet: PublishPacket,
    code: ErrorCode,
    message: string,
    reason: string,
    path?: string,
  ) {
    metrics.refused.inc({ transport: session.transport, reason });
    const topic = packet.topic;
    dropForward(packet);
    const notice = {
      code,
      message,
      topic,
      ...(path !== undefined ? { path } : {}),
      at: new Date().toISOString(),
    };
    const errors = topics.errors(session.topicId);
    session.outbound.send(errors, errors, Buffer.from(JSON.stringify(notice)), 0);
    return Promise.resolve();
  }

  /** Commands read from the store per page while a backlog is pushed. */
  const COMMAND_PAGE = 100;

  /**
   * Pushes a device's open commands to its live session at QoS 1, if it has subscribed to its command
   * topic. A command counts as delivered once written to the session; open commands are pushed again
   * on every reconnect until they have a result or expire, so delivery is at least once and devices
   * deduplicate by command id (docs/mqtt.md). Within one connection each command is written once: a
   * repeated SUBSCRIBE or a new command asks the pump for another pass, which sends only what this
   * connection has not had. The backlog is read in pages and written only while the client reads
   * (`outbound.room()`), so its size costs neither memory nor a stuck client's buffer.
   */
  async function pumpCommands(client: Client, session: Session) {
    if (session.pumping) {
      session.pumpAgain = true;
      return;
    }
    session.pumping = true;
    const filter = topics.commandsFilter(session.topicId);
    try {
      do {
        session.pumpAgain = false;
        const stillOpen = new Set<string>();
        let afterId: string | undefined;
        for (;;) {
          if (!subscriptionOf(client, filter)) return;
          const page = await deps.commands.openForDevice(session.device, {
            ...(afterId !== undefined ? { afterId } : {}),
            limit: COMMAND_PAGE,
          });
          for (const c of page) {
            stillOpen.add(c.id);
            if (session.sentCommands.has(c.id)) continue;
            if (!(await session.outbound.room())) return;
            const message: CommandMessage = {
              id: c.id,
              name: c.name,
              params: c.params,
              expiresAt: new Date(c.expiresAt).toISOString(),
            };
            const topic = topics.command(session.topicId, c.id);
            if (!session.outbound.send(filter, topic, Buffer.from(JSON.stringify(message)), 1)) return;
            session.sentCommands.add(c.id);
            metrics.messagesOut.inc({ kind: 'command' });
            if (c.status === 'pending')
              deps.commands
                .markDelivered(session.device, [c.id])
                .catch((e: unknown) => logger.error({ err: e }, 'marking delivery failed'));
          }
          if (page.length < COMMAND_PAGE) break;
          afterId = page[page.length - 1]!.id;
        }
        // Forget what is no longer open (answered, expired), so the set stays as small as the backlog.
        for (const id of session.sentCommands) if (!stillOpen.has(id)) session.sentCommands.delete(id);
      } while (session.pumpAgain);
    } finally {
      session.pumping = false;
    }
  }

  const pump = (client: Client, session: Session) =>
    pumpCommands(client, session).catch((err: unknown) => logger.error({ err }, 'command delivery failed'));

  /**
   * A listener of a client event that throws must not end the process (aedes calls them from socket
   * events, where nothing catches): the error is logged and that client's connection closed.
   */
  function guarded<A extends unknown[]>(
    event: string,
    client: (...args: A) => Client,
    fn: (...args: A) => void,
  ) {
    return (...args: A) => {
      try {
        fn(...args);
      } catch (err) {
        logger.error({ err, event }, 'mqtt client event failed; closing the connection');
        try {
          client(...args).close();
        } catch (closeErr) {
          logger.error({ err: closeErr }, 'closing the connection failed');
        }
      }
    };
  }
  const first = (c: Client, ..._rest: unknown[]) => c;
  const second = (_: unknown, c: Client) => c;

  aedes.on(
    'clientReady',
    guarded('clientReady', first, (client: Client) => {
      if (provisioningSessions.has(client)) {
        provisioningClients.set(client.id, client);
        return;
      }
      const session = sessions.get(client);
      // Closed while its CONNECT was finishing (revoked, taken over): never a live session.
      if (!session || client.closed) return;
      session.ready = true;
      readySessions++;
      metrics.mqttConnections.inc();
      session.connectRecorded = deps.presence
        .connected(session.device, session.sessionId, {
          remoteAddress: session.remoteAddress,
          transport: session.transport,
        })
        .catch((err: unknown) => logger.error({ err }, 'recording presence failed'));
      // A persistent session (clean session 0) gets its subscriptions back without a SUBSCRIBE: push
      // its open commands now.
      void pump(client, session);
    }),
  );

  aedes.on(
    'clientDisconnect',
    guarded('clientDisconnect', first, (client: Client) => {
      if (provisioningSessions.has(client)) {
        if (provisioningClients.get(client.id) === client) provisioningClients.delete(client.id);
        channel.closed(client.id);
        return;
      }
      const session = sessions.get(client);
      if (!session?.ready) return;
      session.ready = false;
      readySessions--;
      metrics.mqttConnections.dec();
      const reason =
        session.closeReason ??
        ((client as unknown as { _disconnected: boolean })._disconnected
          ? 'client_disconnect'
          : 'connection_lost');
      const recorded = session.connectRecorded
        .then(() =>
          deps.presence.disconnected(session.device, session.sessionId, reason, {
            remoteAddress: session.remoteAddress,
            transport: session.transport,
          }),
        )
        .catch((err: unknown) => logger.error({ err }, 'recording presence failed'));
      // Shutdown waits for these so that no presence write runs after the store closes.
      pendingPresence.add(recorded);
      void recorded.finally(() => pendingPresence.delete(recorded));
    }),
  );

  aedes.on(
    'keepaliveTimeout',
    guarded('keepaliveTimeout', first, (client: Client) => {
      const session = sessions.get(client);
      if (session) session.closeReason ??= 'keepalive_timeout';
    }),
  );

  aedes.on(
    'client',
    guarded('client', first, (client: Client) => {
      // A second connection with the same client id takes the session over [MQTT-3.1.4-2]; aedes has
      // already closed the old one by now.
      logger.debug({ clientId: client.id }, 'mqtt client registered');
    }),
  );

  aedes.on(
    'subscribe',
    guarded('subscribe', second, (subs: Subscription[], client: Client) => {
      const session = sessions.get(client);
      if (
        session &&
        subs.some((s) => s.topic === topics.commandsFilter(session.topicId) && (s.qos as number) !== 128)
      ) {
        void pump(client, session);
      }
    }),
  );

  aedes.on(
    'clientError',
    guarded('clientError', first, (client: Client, err: Error) => {
      const session = sessions.get(client);
      if (session) session.closeReason ??= `protocol_error`;
      logger.debug({ clientId: client.id, err: err.message }, 'mqtt client error');
    }),
  );

  const unsubscribers = [
    deps.bus.subscribe('provisioning.token-revoked', ({ tokenId }) => {
      for (const client of provisioningClients.values()) {
        if (provisioningSessions.get(client)?.tokenId === tokenId) client.close();
      }
    }),
    deps.bus.subscribe('device.disconnect', ({ deviceId, reason, keyId }) => {
      const at = Date.now();
      recentDisconnects.push({ seq: ++disconnectSeq, at, deviceId, ...(keyId ? { keyId } : {}) });
      while (recentDisconnects.length > 0 && recentDisconnects[0]!.at < at - 60_000)
        recentDisconnects.shift();
      // Every connection that authenticated as this device, CONNACK sent or not, whatever came
      // before on its client id.
      for (const client of liveByDevice.get(deviceId) ?? []) {
        const session = sessions.get(client);
        if (!session || (keyId && session.device.credentialId !== keyId)) continue;
        session.revoked = true;
        session.closeReason = reason;
        client.close();
      }
    }),
    deps.bus.subscribe('command.created', ({ deviceId }) => {
      for (const client of liveByDevice.get(deviceId) ?? []) {
        const session = sessions.get(client);
        if (session?.ready) void pump(client, session);
      }
    }),
  ];

  return {
    handle(stream, meta) {
      const client = aedes.handle(stream, undefined as never);
      pendingMeta.set(client, meta);
    },
    get connectedDevices() {
      return readySessions;
    },
    async close() {
      for (const u of unsubscribers) u();
      for (const clients of liveByDevice.values()) {
        for (const client of clients) {
          const s = sessions.get(client);
          if (s) s.closeReason = 'server_shutdown';
        }
      }
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await Promise.all([...pendingPresence]);
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
