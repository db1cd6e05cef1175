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
 */
import type { AedesPublishPacket, Client, Subscription } from 'aedes';
import { isAllowedDeviceSubscription } from '@mooring/protocol';
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
}

type SubscribeDone = (error: Error | null, subscription?: Subscription | null) => void;

export function createSubscribeHandlers(deps: SubscribeDeps) {
  const { metrics } = deps;

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
    /** aedes' `authorizeSubscribe` hook. */
    authorizeSubscribe(client: Client | null, sub: Subscription, done: SubscribeDone) {
      const prov = client ? deps.provisioningSessions.get(client) : undefined;
      if (client && prov) {
        if (!deps.channel.canSubscribe(client.id, sub.topic))
          return refuse('mqtts', done, 'TOPIC_NOT_ALLOWED');
        return grant(prov.subscriptions, sub, done);
      }
      const session = client ? deps.sessions.get(client) : undefined;
      if (!session || !isAllowedDeviceSubscription(session.topicId, sub.topic))
        return refuse(session?.transport ?? 'mqtts', done, 'TOPIC_NOT_ALLOWED');
      grant(session.subscriptions, sub, done);
    },

    /** aedes' `unsubscribe` event. */
    unsubscribed(filters: string[], client: Client) {
      const subscriptions = subscriptionsOf(client);
      if (subscriptions) for (const filter of filters) subscriptions.delete(filter);
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
}
