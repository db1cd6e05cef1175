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
import type { WebhookStore } from './store.js';

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
  outbox: Pick<Outbox, 'handle'>;
  transaction: Transaction<WebhookStore>;
  /** Other sinks, bound to the fan-out's transaction. */
  sinks?: ((tx: Queryable) => EventSink)[];
  /** Deliveries were written: the delivery worker should run. */
  nudge(): void;
  now?: () => number;
}

/** The event a fact makes (and the device tags the fact recorded), or undefined when it makes none. */
function mappedEvent<K extends FactType>(type: K, payload: OutboxFacts[K], fact: FactInfo) {
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

export function registerEventFanOut(deps: FanOutDeps): void {
  const now = deps.now ?? Date.now;
  for (const type of Object.keys(FACT_EVENTS) as FactType[]) {
    deps.outbox.handle(type, async (payload, fact) => {
      const mapped = mappedEvent(type, payload, fact);
      if (!mapped) return;
      const { event } = mapped;
      const wrote = await deps.transaction(async (store, tx) => {
        const tags =
          mapped.deviceTags ?? (event.deviceId ? await store.deviceTags(event.tenantId, event.deviceId) : []);
        const endpoints = await store.matching(event.tenantId, event.type, tags);
        const t = now();
        await store.addDeliveries(
          endpoints,
          event,
          endpoints.map(() => newId('whd', t)),
          t,
        );
        for (const sink of deps.sinks ?? []) await sink(tx).enqueue([{ event, deviceTags: tags }]);
        return endpoints.length > 0;
      });
      if (wrote) deps.nudge();
    });
  }
}
