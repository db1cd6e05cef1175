/**
 * SUBSCRIBE, UNSUBSCRIBE and forwarding. A device may subscribe to exactly its command filter and its
 * error topic (`isAllowedDeviceSubscription`); a provisioning connection to its result topic. Anything
 * else gets SUBACK 0x80 for that filter [MQTT-3.9.3].
 *
 * Each connection's granted subscriptions are kept here, from aedes' public hook and events, rather
 * than read from aedes' undocumented `client.subscriptions`: a filter counts from the moment it is
 * granted (`authorizeSubscribe`, also called for the subscriptions a stored session brings back), and
 * stops on the `unsubscribe` event. [MQTT-3.8.4] lets the server send matching messages before the
 * SUBACK; a delivery racing an UNSUBSCRIBE until its UNSUBACK is what a client sees anyway.
 *
 * A connection may ask for so many filters (`mqtt.subscriptions_per_connection`, per tenant and
 * device): every distinct filter it sent in a SUBSCRIBE counts, granted or refused, until it
 * unsubscribes it. A device holds at most four, so one past the cap is probing or broken: hard abuse.
 * The reason is recorded first (presence reason `too_many_subscriptions`, a limit event of the
 * tenant, the metric), then the connection is closed without SUBACK, as AWS IoT Core does past its 50
 * per connection (EMQX answers SUBACK 0x97 instead and keeps the connection). MQTT 3.1.1 has no way to
 * say why; MQTT 5 would send DISCONNECT 0x97 (return-codes.ts). The count lives with the connection,
 * on the node that holds it, so it needs no shared store: the limiter gives only its value.
 */
import { createHash } from 'node:crypto';
import type { AedesPublishPacket, Client, Subscription } from 'aedes';
import { isAllowedDeviceSubscription } from '@mooring/protocol';
import type { LimitEventLog } from '../../domains/limits/event-log.js';
import { LIMITS } from '../../platform/limits/catalogue.js';
import type { LimitDecision, Limiter } from '../../platform/limits/limits.js';
import type { Metrics } from '../../platform/observability.js';
import type { ProvisioningChannel } from './provisioning-channel.js';
import type { SubackReturnCode } from './return-codes.js';
import { MAX_GRANTED_QOS, SUBACK_RETURN_CODES, type SubscribeRefusalCode } from './return-codes.js';
import type { DeviceSession, ProvisioningSession, Subscriptions, Transport } from './session.js';

export interface SubscribeDeps {
  sessions: WeakMap<Client, DeviceSession>;
  provisioningSessions: WeakMap<Client, ProvisioningSession>;
  channel: ProvisioningChannel;
  metrics: Metrics;
  /** The value of `mqtt.subscriptions_per_connection` for a device; none: the catalogue's default. */
  limiter?: Pick<Limiter, 'configured'> | undefined;
  /** Where a connection closed for too many subscriptions is kept, for the device's tenant. */
  limitEvents?: Pick<LimitEventLog, 'exceeded'> | undefined;
}

const CAP = 'mqtt.subscriptions_per_connection';

/**
 * How a filter is remembered for the cap: a long one (a filter may be 64 KiB) by its digest, so that
 * the filters a connection asked for cost at most the cap × 64 bytes, refused ones included.
 */
const keyOf = (filter: string) =>
  filter.length <= 64 ? filter : `#${createHash('sha256').update(filter).digest('base64')}`;

type SubscribeDone = (error: Error | null, subscription?: Subscription | null) => void;

export function createSubscribeHandlers(deps: SubscribeDeps) {
  const { metrics } = deps;
  /** Distinct filters each connection asked for and has not unsubscribed (at most the cap). */
  const asked = new WeakMap<Client, Set<string>>();

  /** Counts the filter against the connection's cap; the refusal when it does not fit. */
  async function overCap(client: Client, session: DeviceSession | undefined, filter: string) {
    const value = deps.limiter
      ? await deps.limiter.configured(
          CAP,
          session ? { tenantId: session.device.tenantId, deviceId: session.device.deviceId } : {},
        )
      : LIMITS[CAP].defaultValue;
    let filters = asked.get(client);
    if (!filters) asked.set(client, (filters = new Set()));
    const key = keyOf(filter);
    if (filters.has(key)) return undefined;
    if (filters.size < value) {
      filters.add(key);
      return undefined;
    }
    const over: LimitDecision = {
      limit: CAP,
      scope: LIMITS[CAP].scope,
      allowed: false,
      observed: filters.size + 1,
      configured: value,
      remaining: 0,
      retryAfterMs: 0,
    };
    return over;
  }

  /** Past the cap: the reason recorded, then the connection closed (aedes closes it on the error). */
  function tooMany(
    transport: Transport,
    session: DeviceSession | undefined,
    d: LimitDecision,
    done: SubscribeDone,
  ) {
    metrics.refused.inc({ transport, reason: 'too_many_subscriptions' });
    if (session) {
      session.closeReason ??= 'too_many_subscriptions';
      const { tenantId, deviceId } = session.device;
      deps.limitEvents?.exceeded({ tenantId, subject: `device:${deviceId}`, deviceId }, d);
    }
    done(new Error(`${d.limit}: at most ${d.configured} ${LIMITS[CAP].unit} per connection`));
  }

  function refuse(transport: Transport, done: SubscribeDone, code: SubscribeRefusalCode) {
    metrics.refused.inc({ transport, reason: 'subscribe_not_allowed' });
    // Every refusal code maps to 0x80, the one failure code of MQTT 3.1.1 (checked here at compile
    // time); aedes answers it for a negated subscription.
    const returnCode: typeof SubackReturnCode.FAILURE = SUBACK_RETURN_CODES[code];
    void returnCode;
    done(null, null);
  }

  function grant(subscriptions: Subscriptions, sub: Subscription, done: SubscribeDone) {
    const qos = Math.min(sub.qos, MAX_GRANTED_QOS) as 0 | 1;
    subscriptions.set(sub.topic, qos);
    done(null, { ...sub, qos });
  }

  function subscriptionsOf(client: Client): Subscriptions | undefined {
    return (deps.sessions.get(client) ?? deps.provisioningSessions.get(client))?.subscriptions;
  }

  return {
    /** aedes' `authorizeSubscribe` hook: the cap first, then what the connection may subscribe to. */
    authorizeSubscribe(client: Client | null, sub: Subscription, done: SubscribeDone) {
      if (!client) return refuse('mqtts', done, 'TOPIC_NOT_ALLOWED');
      const session = deps.sessions.get(client);
      const failed = (err: unknown) => done(err instanceof Error ? err : new Error(String(err)));
      overCap(client, session, sub.topic)
        .then((over) =>
          over
            ? tooMany(session?.transport ?? 'mqtts', session, over, done)
            : authorize(client, session, sub, done),
        )
        .catch(failed);
    },

    /** aedes' `unsubscribe` event. */
    unsubscribed(filters: string[], client: Client) {
      const subscriptions = subscriptionsOf(client);
      if (subscriptions) for (const filter of filters) subscriptions.delete(filter);
      const filtersAsked = asked.get(client);
      if (filtersAsked) for (const filter of filters) filtersAsked.delete(keyOf(filter));
    },

    /** aedes' `authorizeForward` hook: nothing reaches a client except through its own namespace. */
    authorizeForward(client: Client, packet: AedesPublishPacket) {
      if (deps.provisioningSessions.has(client))
        return deps.channel.canReceive(client.id, packet.topic) ? packet : null;
      const session = deps.sessions.get(client);
      if (!session || !packet.topic.startsWith(`d/${session.topicId}/`)) return null;
      return packet;
    },
  };

  /** What the connection may subscribe to: its own filters, or its provisioning result topic. */
  function authorize(
    client: Client,
    session: DeviceSession | undefined,
    sub: Subscription,
    done: SubscribeDone,
  ) {
    const prov = deps.provisioningSessions.get(client);
    if (prov) {
      if (!deps.channel.canSubscribe(client.id, sub.topic)) return refuse('mqtts', done, 'TOPIC_NOT_ALLOWED');
      return grant(prov.subscriptions, sub, done);
    }
    if (!session || !isAllowedDeviceSubscription(session.topicId, sub.topic))
      return refuse(session?.transport ?? 'mqtts', done, 'TOPIC_NOT_ALLOWED');
    grant(session.subscriptions, sub, done);
  }
}
