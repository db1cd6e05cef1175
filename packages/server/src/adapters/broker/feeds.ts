/**
 * Subscription feeds: what the store holds for a device and must reach it when it subscribes, and
 * again when something new arrives. Commands are one (`feeds/commands.ts`); desired configuration and
 * OTA offers can be others, each a definition registered here.
 *
 * A feed's open items are pushed to a live session at its QoS once the session has subscribed to the
 * feed's filter. An item counts as delivered once written to the session; open items are pushed again
 * on every reconnect until they are no longer open, so delivery is at least once and devices
 * deduplicate by id (docs/mqtt.md). Within one connection each item is written once: a repeated
 * SUBSCRIBE or a new item asks the pump for another pass, which sends only what this connection has
 * not had. The backlog is read in pages and written only while the client reads (`outbound.room()`),
 * so its size costs neither memory nor a stuck client's buffer; a client that reads nothing for the
 * drain timeout is dropped as a slow consumer (`outbound.ts`).
 */
import type { AuthenticatedDevice } from '../../domains/devices/devices.js';
import type { Logger, Metrics } from '../../platform/observability.js';
import type { DeviceSession, FeedState } from './session.js';

/** Items read from the store per page while a backlog is pushed. */
export const FEED_PAGE = 100;

export interface FeedDefinition<Item> {
  /** Names the feed: `pumpDevice(deviceId, name)`, logs. */
  name: string;
  /** The `kind` label of `mooring_messages_out_total`. */
  kind: string;
  /** The filter a device subscribes to for this feed, for its topic id. */
  topicFilter(topicId: string): string;
  /** The device's open items after `after` (an id from `idOf`), in id order, at most `limit`. */
  openFor(device: AuthenticatedDevice, page: { after?: string; limit: number }): Promise<Item[]>;
  idOf(item: Item): string;
  topicOf(topicId: string, item: Item): string;
  payloadOf(item: Item): Buffer;
  qos: 0 | 1;
  /**
   * Checked right before an item is written: true drops it, because something this connection did
   * while the pass ran made it moot (an acknowledgement of a later version). Optional.
   */
  stale?(session: DeviceSession, item: Item): boolean;
  /** Called once an item was written to a connection (for example to mark a command delivered). */
  sent?(device: AuthenticatedDevice, item: Item): Promise<void> | undefined;
}

export interface Feeds {
  registerFeed<Item>(feed: FeedDefinition<Item>): void;
  /** A session is ready: push every feed it has subscribed to (a stored session brings them back). */
  pumpAll(session: DeviceSession): void;
  /** A session was granted `filters`: push the feeds they name. */
  subscribed(session: DeviceSession, filters: readonly string[]): void;
  /** Something new for `deviceId` in feed `name`: push it to the device's ready sessions here. */
  pumpDevice(deviceId: string, name: string): void;
}

export function createFeeds(deps: {
  /** The device's sessions on this node, ready or not. */
  sessionsOf(deviceId: string): Iterable<DeviceSession>;
  metrics: Metrics;
  logger: Logger;
}): Feeds {
  const { metrics, logger } = deps;
  const feeds = new Map<string, FeedDefinition<unknown>>();

  function stateOf(session: DeviceSession, name: string): FeedState {
    let state = session.feeds.get(name);
    if (!state) session.feeds.set(name, (state = { sent: new Set(), pumping: false, again: false }));
    return state;
  }

  async function pumpFeed(session: DeviceSession, feed: FeedDefinition<unknown>) {
    const state = stateOf(session, feed.name);
    if (state.pumping) {
      state.again = true;
      return;
    }
    state.pumping = true;
    const filter = feed.topicFilter(session.topicId);
    try {
      do {
        state.again = false;
        const stillOpen = new Set<string>();
        let after: string | undefined;
        for (;;) {
          if (!session.subscriptions.has(filter)) return;
          const page = await feed.openFor(session.device, {
            ...(after !== undefined ? { after } : {}),
            limit: FEED_PAGE,
          });
          for (const item of page) {
            const id = feed.idOf(item);
            stillOpen.add(id);
            if (state.sent.has(id)) continue;
            if (!(await session.outbound.room())) return;
            if (feed.stale?.(session, item)) continue;
            const topic = feed.topicOf(session.topicId, item);
            if (!session.outbound.send(filter, topic, feed.payloadOf(item), feed.qos)) return;
            state.sent.add(id);
            metrics.messagesOut.inc({ kind: feed.kind });
            feed
              .sent?.(session.device, item)
              ?.catch((err: unknown) => logger.error({ err, feed: feed.name }, 'marking delivery failed'));
          }
          if (page.length < FEED_PAGE) break;
          after = feed.idOf(page[page.length - 1]!);
        }
        // Forget what is no longer open (answered, expired), so the set stays as small as the backlog.
        for (const id of state.sent) if (!stillOpen.has(id)) state.sent.delete(id);
      } while (state.again);
    } finally {
      state.pumping = false;
    }
  }

  const pump = (session: DeviceSession, feed: FeedDefinition<unknown>) =>
    void pumpFeed(session, feed).catch((err: unknown) =>
      logger.error({ err, feed: feed.name }, 'feed delivery failed'),
    );

  return {
    registerFeed(feed) {
      if (feeds.has(feed.name)) throw new Error(`feed '${feed.name}' is registered twice`);
      feeds.set(feed.name, feed as FeedDefinition<unknown>);
    },
    pumpAll(session) {
      for (const feed of feeds.values()) pump(session, feed);
    },
    subscribed(session, filters) {
      for (const feed of feeds.values()) {
        if (filters.includes(feed.topicFilter(session.topicId))) pump(session, feed);
      }
    },
    pumpDevice(deviceId, name) {
      const feed = feeds.get(name);
      if (!feed) return;
      for (const session of deps.sessionsOf(deviceId)) if (session.ready) pump(session, feed);
    },
  };
}
