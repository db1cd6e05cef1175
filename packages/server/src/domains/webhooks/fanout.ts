/**
 * The event fan-out: outbox facts become platform events (docs/integrations.md), and each event one
 * delivery per matching webhook plus whatever other sinks take it (the MQTT bridge spool), all in one
 * transaction per fact. The event's id derives from the fact's, so a fact handed on twice (a crash
 * between the commit and marking it done) makes no second delivery.
 */
import type { PlatformEvent, PlatformEventType } from '@mooring/protocol';
import { newId } from '../../ids.js';
import type { FactInfo, FactType, Outbox, OutboxFacts } from '../../platform/outbox.js';
import type { Queryable, Transaction } from '../../store/db.js';
import { endpointMatcher, type WebhookStore } from './store.js';

/** Another consumer of events, written in the fan-out's transaction. */
export interface EventSink {
  /** Events in order, each with the tags of the device it is about. */
  enqueue(items: readonly { event: PlatformEvent; deviceTags: readonly string[] }[]): Promise<void>;
}

type Mapped = {
  type: PlatformEventType;
  deviceId: string | null;
  occurredAt: number;
  data: Record<string, unknown>;
  /** The device's tags as the fact recorded them (the device may be gone when the fact is handed on). */
  deviceTags?: readonly string[];
};

/** Drops the envelope's members from a fact's payload: what is left is the event's `data`. */
function dataOf(payload: object): Record<string, unknown> {
  const { tenantId: _t, deviceId: _d, ...rest } = payload as Record<string, unknown>;
  return rest;
}

const ALERT_EVENTS: Record<string, PlatformEventType> = {
  firing: 'alert.fired',
  acknowledged: 'alert.acknowledged',
  resolved: 'alert.resolved',
};

/** How each fact type reads as an event; a fact type not named here is not an event. */
export const FACT_EVENTS: { [K in FactType]?: (p: OutboxFacts[K]) => Mapped | undefined } = {
  'device.connected': (p) => ({
    type: 'device.connected',
    deviceId: p.deviceId,
    occurredAt: p.at,
    data: dataOf(p),
  }),
  'device.disconnected': (p) => ({
    type: 'device.disconnected',
    deviceId: p.deviceId,
    occurredAt: p.at,
    data: dataOf(p),
  }),
  'device.event': (p) => ({ type: 'device.event', deviceId: p.deviceId, occurredAt: p.ts, data: dataOf(p) }),
  'command.result': (p) => ({
    type: 'command.result',
    deviceId: p.deviceId,
    occurredAt: p.at,
    data: dataOf(p),
  }),
  'provisioning.decided': (p) => ({
    type: 'provisioning.decided',
    deviceId: p.deviceId,
    occurredAt: p.at,
    data: dataOf(p),
  }),
  'certificate.issued': (p) => ({
    type: 'certificate.issued',
    deviceId: p.deviceId,
    occurredAt: Number(p.at),
    data: dataOf(p),
  }),
  'certificate.revoked': (p) => ({
    type: 'certificate.revoked',
    deviceId: p.deviceId,
    occurredAt: Number(p.at),
    data: dataOf(p),
  }),
  'credential.revoked': (p) => ({
    type: 'credential.revoked',
    deviceId: p.deviceId,
    occurredAt: p.at,
    data: dataOf(p),
  }),
  'device.deleted': (p) => ({
    type: 'device.deleted',
    deviceId: p.deviceId,
    occurredAt: Date.now(),
    data: {},
    ...(p.tags ? { deviceTags: p.tags } : {}),
  }),
  'config.desired.changed': (p) => ({
    type: 'config.desired.changed',
    deviceId: p.deviceId,
    occurredAt: p.at,
    data: dataOf(p),
  }),
  'config.reported.changed': (p) => ({
    type: 'config.reported.changed',
    deviceId: p.deviceId,
    occurredAt: p.at,
    data: dataOf(p),
  }),
  'ota.operation.changed': (p) => ({
    type: 'ota.operation.changed',
    deviceId: p.deviceId,
    occurredAt: p.at,
    data: dataOf(p),
  }),
  'deployment.status.changed': (p) => ({
    type: 'deployment.status.changed',
    deviceId: null,
    occurredAt: p.at,
    data: dataOf(p),
  }),
  'alert.changed': (p) => {
    const type = ALERT_EVENTS[p.state];
    return type && { type, deviceId: p.deviceId, occurredAt: p.at, data: dataOf(p) };
  },
};

export interface FanOutDeps {
  outbox: Pick<Outbox, 'handleBatch'>;
  transaction: Transaction<WebhookStore>;
  /** Other sinks, bound to the fan-out's transaction. */
  sinks?: ((tx: Queryable) => EventSink)[];
  /** Deliveries were written: the delivery worker should run. */
  nudge(): void;
  now?: () => number;
}

interface MappedEvent {
  event: PlatformEvent;
  deviceTags: readonly string[] | undefined;
}

/** The event a fact makes (and the device tags the fact recorded), or undefined when it makes none. */
function mappedEvent<K extends FactType>(
  type: K,
  payload: OutboxFacts[K],
  fact: FactInfo,
): MappedEvent | undefined {
  const map = FACT_EVENTS[type] as ((p: OutboxFacts[K]) => Mapped | undefined) | undefined;
  const mapped = map?.(payload);
  if (!mapped) return undefined;
  const event: PlatformEvent = {
    id: `evt_${fact.id}`,
    type: mapped.type,
    tenantId: (payload as { tenantId: string }).tenantId,
    deviceId: mapped.deviceId,
    occurredAt: mapped.occurredAt,
    data: mapped.data,
  };
  return { event, deviceTags: mapped.deviceTags };
}

/**
 * Hands facts on as events in batches: each batch in one transaction of a few statements whatever
 * its size (per tenant: the devices' tags, the tenant's active webhooks; then the deliveries and each
 * sink's writes). On the embedded store a transaction's statements run back to back on the event
 * loop, so a statement per fact would be time no PUBACK leaves.
 */
export function registerEventFanOut(deps: FanOutDeps): void {
  const now = deps.now ?? Date.now;
  for (const type of Object.keys(FACT_EVENTS) as FactType[]) {
    deps.outbox.handleBatch(type, async (facts) => {
      const items: MappedEvent[] = facts.flatMap(
        ({ payload, fact }) => mappedEvent(type, payload, fact) ?? [],
      );
      if (items.length === 0) return;
      const wrote = await deps.transaction(async (store, tx) => {
        const t = now();
        const deliveries: Parameters<WebhookStore['addDeliveriesOfEvents']>[0][number][] = [];
        const events: { event: PlatformEvent; deviceTags: readonly string[] }[] = [];
        for (const [tenantId, list] of groupBy(items, (i) => i.event.tenantId)) {
          const unknownTags = [
            ...new Set(list.flatMap((i) => (!i.deviceTags && i.event.deviceId ? [i.event.deviceId] : []))),
          ];
          const tags =
            unknownTags.length > 0
              ? await store.devicesTags(tenantId, unknownTags)
              : new Map<string, string[]>();
          const matching = endpointMatcher(await store.activeEndpoints(tenantId));
          for (const { event, deviceTags } of list) {
            const known = deviceTags ?? (event.deviceId ? (tags.get(event.deviceId) ?? []) : []);
            events.push({ event, deviceTags: known });
            const endpointIds = matching(event.type, known);
            if (endpointIds.length > 0)
              deliveries.push({ endpointIds, event, ids: endpointIds.map(() => newId('whd', t)) });
          }
        }
        await store.addDeliveriesOfEvents(deliveries, t);
        for (const sink of deps.sinks ?? []) await sink(tx).enqueue(events);
        return deliveries.length > 0;
      });
      if (wrote) deps.nudge();
    });
  }
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k);
    if (list) list.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
