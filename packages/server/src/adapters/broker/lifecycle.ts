/**
 * What happens around a connection once CONNECT is through, from aedes' public events only: the
 * client id registry (`client`, `clientDisconnect`), presence (`clientReady`, `clientDisconnect`),
 * close reasons (`keepaliveTimeout`, `clientError`), feeds (`clientReady`, `subscribe`) and granted
 * subscriptions (`unsubscribe`).
 *
 * A listener that throws must not end the process (aedes calls them from socket events, where nothing
 * catches): the error is logged and that client's connection closed.
 */
import type { Aedes, Client, Subscription } from 'aedes';
import type { PresenceService } from '../../domains/presence/presence.js';
import type { Logger, Metrics } from '../../platform/observability.js';
import type { Feeds } from './feeds.js';
import type { ProvisioningChannel } from './provisioning-channel.js';
import { isGranted } from './return-codes.js';
import type { DeviceSession, ProvisioningSession } from './session.js';
import type { SessionRegistry } from './session-registry.js';

export interface LifecycleDeps {
  sessions: WeakMap<Client, DeviceSession>;
  provisioningSessions: WeakMap<Client, ProvisioningSession>;
  /** Ready provisioning connections by client id. */
  provisioningClients: Map<string, Client>;
  registry: SessionRegistry<Client>;
  channel: ProvisioningChannel;
  feeds: Feeds;
  presence: PresenceService;
  unsubscribed(filters: string[], client: Client): void;
  metrics: Metrics;
  logger: Logger;
}

export interface Lifecycle {
  /** Device sessions on this node whose CONNACK is out. */
  readonly readySessions: number;
  /** Resolves when the presence writes started so far have finished. */
  settled(): Promise<void>;
}

/**
 * Whether the client ended with a DISCONNECT packet. aedes 1.x has no public event or hook for it;
 * its own flag (`_disconnected`, set by the DISCONNECT handler) is the one private read left here.
 */
const sentDisconnect = (client: Client) => (client as unknown as { _disconnected: boolean })._disconnected;

export function attachLifecycle(aedes: Aedes, deps: LifecycleDeps): Lifecycle {
  const { sessions, provisioningSessions, provisioningClients, registry, metrics, logger } = deps;
  let readySessions = 0;
  const pendingPresence = new Set<Promise<void>>();

  function on<A extends [Client, ...unknown[]] | [unknown, Client]>(
    event: string,
    clientOf: (...args: A) => Client,
    fn: (...args: A) => void,
  ) {
    aedes.on(
      event as 'client',
      ((...args: A) => {
        try {
          fn(...args);
        } catch (err) {
          logger.error({ err, event }, 'mqtt client event failed; closing the connection');
          try {
            clientOf(...args).close();
          } catch (closeErr) {
            logger.error({ err: closeErr }, 'closing the connection failed');
          }
        }
      }) as unknown as (client: Client) => void,
    );
  }
  const first = (c: Client, ..._rest: unknown[]) => c;
  const second = (_: unknown, c: Client) => c;

  // aedes registered the client under its id; a second connection with the same client id has
  // already closed the old one by now [MQTT-3.1.4-2].
  on('client', first, (client: Client) => {
    registry.registered(client.id, client);
    logger.debug({ clientId: client.id }, 'mqtt client registered');
  });

  on('clientReady', first, (client: Client) => {
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
    // its feeds now.
    deps.feeds.pumpAll(session);
  });

  on('clientDisconnect', first, (client: Client) => {
    registry.unregistered(client.id, client);
    if (provisioningSessions.has(client)) {
      if (provisioningClients.get(client.id) === client) provisioningClients.delete(client.id);
      deps.channel.closed(client.id);
      return;
    }
    const session = sessions.get(client);
    if (!session?.ready) return;
    session.ready = false;
    readySessions--;
    metrics.mqttConnections.dec();
    const reason = session.closeReason ?? (sentDisconnect(client) ? 'client_disconnect' : 'connection_lost');
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
  });

  on('keepaliveTimeout', first, (client: Client) => {
    const session = sessions.get(client);
    if (session) session.closeReason ??= 'keepalive_timeout';
  });

  on('clientError', first, (client: Client, err: unknown) => {
    const session = sessions.get(client);
    if (session) session.closeReason ??= 'protocol_error';
    logger.debug({ clientId: client.id, err: (err as Error).message }, 'mqtt client error');
  });

  // A connection that failed before its CONNECT named a client id: nothing was registered for it.
  on('connectionError', first, (_client: Client, err: unknown) => {
    logger.debug({ err: (err as Error).message }, 'mqtt connection error');
  });

  on('subscribe', second, (subs: Subscription[], client: Client) => {
    const session = sessions.get(client);
    if (!session) return;
    const granted = subs.filter((s) => isGranted(s.qos)).map((s) => s.topic);
    if (granted.length > 0) deps.feeds.subscribed(session, granted);
  });

  on('unsubscribe', second, (filters: string[], client: Client) => deps.unsubscribed(filters, client));

  return {
    get readySessions() {
      return readySessions;
    },
    settled: () => Promise.all([...pendingPresence]).then(() => undefined),
  };
}
