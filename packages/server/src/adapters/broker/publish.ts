/**
 * PUBLISH from a client: aedes' `authorizePublish` hook. In aedes 1.x the QoS 1 PUBACK is written as
 * soon as this hook calls back (`lib/handlers/publish.js`), so the message is stored inside it: the
 * callback runs when the route's handler resolves, after the message's batch has committed.
 *
 * Refused publishes are acknowledged and dropped (MQTT 3.1.1 has no negative PUBACK), counted, and
 * explained on the device's `d/{id}/errors` topic, and kept (`refusal-log.ts`: bounded per device and
 * code). Device publishes are stored, not relayed: after a
 * publish is handled its topic is rewritten to `$mooring/dropped`, which no one may subscribe to.
 *
 * This is the hot path: per message one topic split, one message object, one continuation for the
 * handler and the acknowledgement chain; nothing awaits that the store does not need.
 */
import type { Client, PublishPacket } from 'aedes';
import { decodeJsonPayload, textProblem, topics, TELEMETRY_LIMITS, type ErrorCode } from '@mooring/protocol';
import { isAppError } from '../../errors.js';
import type { Metrics } from '../../platform/observability.js';
import type { RefusalLog } from '../../domains/fleet/refusal-log.js';
import { REFUSED, type InboundMessage, type InboundRouter, type Refused } from './inbound/router.js';
import type { ProvisioningChannel } from './provisioning-channel.js';
import type { DeviceSession, ProvisioningSession, Transport } from './session.js';

const DROPPED_TOPIC = '$mooring/dropped';
const ACCEPTED: Promise<void> = Promise.resolve();

/** Device publishes are stored, not relayed: no one may subscribe to another device's topics. */
function dropForward(packet: PublishPacket) {
  packet.topic = DROPPED_TOPIC;
}

export interface PublishDeps {
  sessions: WeakMap<Client, DeviceSession>;
  provisioningSessions: WeakMap<Client, ProvisioningSession>;
  channel: ProvisioningChannel;
  router: InboundRouter;
  metrics: Metrics;
  /** Where refusals are kept (bounded per device and code); none: only counted and noticed. */
  refusals?: Pick<RefusalLog, 'refused'> | undefined;
}

export function createPublishHandler(deps: PublishDeps) {
  const { metrics, router } = deps;
  // The publish path counts every message: bound label children, not a label lookup per message.
  const inCounters = new Map<string, { inc(): void }>();
  const countIn = (transport: Transport, kind: string) => {
    const key = `${transport}/${kind}`;
    let counter = inCounters.get(key);
    if (!counter) inCounters.set(key, (counter = metrics.messagesIn.labels(transport, kind)));
    counter.inc();
  };

  function refusePublish(
    session: DeviceSession,
    packet: PublishPacket,
    code: ErrorCode,
    message: string,
    reason: string,
    path?: string,
  ): Refused {
    metrics.refused.inc({ transport: session.transport, reason });
    const topic = packet.topic;
    dropForward(packet);
    deps.refusals?.refused(session.device, { kind: 'publish_refused', code, topic, message });
    const notice = {
      code,
      message,
      topic,
      ...(path !== undefined ? { path } : {}),
      at: new Date().toISOString(),
    };
    const errors = topics.errors(session.topicId);
    session.outbound.send(errors, errors, Buffer.from(JSON.stringify(notice)), 0);
    return REFUSED;
  }

  const refuseInbound = (
    m: InboundMessage,
    code: ErrorCode,
    text: string,
    reason: string,
    path?: string,
  ): Refused => refusePublish(m.session, m.packet, code, text, reason, path);

  /** Validates and stores one publish; resolves when it may be acknowledged. Refusals resolve too. */
  function acceptPublish(session: DeviceSession, packet: PublishPacket, received: number): Promise<void> {
    const levels = packet.topic.split('/');
    const matched = router.match(levels, session.topicId);
    if (!matched) {
      refusePublish(
        session,
        packet,
        'TOPIC_NOT_ALLOWED',
        `publishing to '${packet.topic}' is not allowed`,
        'publish_not_allowed',
      );
      return ACCEPTED;
    }
    const params = matched.paramsOf(levels);
    // [MQTT-4.7.3-2] a topic holds no U+0000: ids taken from an allowed topic must be text the store
    // can hold.
    for (const name in params) {
      const topicProblem = textProblem(params[name]!);
      if (topicProblem) {
        refusePublish(session, packet, 'INVALID_TEXT', `the topic ${topicProblem}`, 'invalid_text');
        return ACCEPTED;
      }
    }
    const decoded = decodeJsonPayload(packet.payload as Buffer, TELEMETRY_LIMITS.maxPayloadBytes);
    if (!decoded.ok) {
      const { code, message, path } = decoded.error;
      refusePublish(session, packet, code, message, 'invalid_payload', path);
      return ACCEPTED;
    }
    const { route } = matched;
    let handled: Promise<unknown> | Refused;
    try {
      handled = route.handle({ session, packet, params, payload: decoded.value, received }, refuseInbound);
    } catch (err) {
      if (!isAppError(err)) return Promise.reject(err);
      refusePublish(session, packet, err.code, err.message, 'invalid_payload', err.errors?.[0]?.path);
      return ACCEPTED;
    }
    if (handled === REFUSED) return ACCEPTED;
    return handled.then((outcome) => {
      if (outcome === REFUSED) return;
      countIn(session.transport, route.kind);
      dropForward(packet);
    });
  }

  /** aedes' `authorizePublish` hook. */
  return function authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    done: (error?: Error | null) => void,
  ) {
    const prov = client ? deps.provisioningSessions.get(client) : undefined;
    if (client && prov) {
      packet.retain = false;
      const work = deps.channel
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
    const session = client ? deps.sessions.get(client) : undefined;
    // Will messages of vanished clients and unauthenticated publishes are never forwarded; nothing is
    // accepted once the session's credential was revoked, even a packet already read.
    if (!client || !session) return done(new Error('not authenticated'));
    if (session.revoked) return done(new Error('credential revoked'));
    packet.retain = false; // device topics never retain
    const received = Date.now();
    const work = acceptPublish(session, packet, received);
    // PUBACKs leave in the order the PUBLISH packets arrived [MQTT-4.6.0-2], even when a refusal
    // resolves at once and a stored message waits for its commit.
    const next = session.ackTail
      .then(() => work)
      .then(
        () => done(null),
        (err: unknown) => done(err as Error),
      );
    session.ackTail = next.catch(() => undefined);
  };
}
