import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuthenticatedDevice } from '../../domains/devices/devices.js';
import type { Logger, Metrics } from '../../platform/observability.js';
import { createFeeds, FEED_PAGE, type FeedDefinition } from './feeds.js';
import type { DeviceSession } from './session.js';

interface Item {
  id: string;
}

function harness(opts: { room?: () => Promise<boolean> } = {}) {
  const store: Item[] = [];
  const written: string[] = [];
  const marked: string[] = [];
  let out = 0;
  const session = {
    device: { deviceId: 'dev_1' } as AuthenticatedDevice,
    topicId: 'dev_1',
    subscriptions: new Map<string, number>(),
    feeds: new Map(),
    ready: true,
    outbound: {
      send: (filter: string, topic: string) => {
        assert.equal(filter, 'd/dev_1/items/+');
        written.push(topic);
        return true;
      },
      room: opts.room ?? (() => Promise.resolve(true)),
    },
  } as unknown as DeviceSession;
  const feed: FeedDefinition<Item> = {
    name: 'items',
    kind: 'item',
    topicFilter: (id) => `d/${id}/items/+`,
    openFor: (_device, { after, limit }) =>
      Promise.resolve(store.filter((i) => after === undefined || i.id > after).slice(0, limit)),
    idOf: (i) => i.id,
    topicOf: (topicId, i) => `d/${topicId}/items/${i.id}`,
    payloadOf: (i) => Buffer.from(i.id),
    qos: 1,
    sent: (_device, i) => {
      marked.push(i.id);
      return Promise.resolve();
    },
  };
  const feeds = createFeeds({
    sessionsOf: (deviceId) => (deviceId === 'dev_1' ? [session] : []),
    metrics: { messagesOut: { inc: () => out++ } } as unknown as Metrics,
    logger: { error: () => undefined } as unknown as Logger,
  });
  feeds.registerFeed(feed);
  const add = (n: number, from = store.length) => {
    for (let i = 0; i < n; i++) store.push({ id: `i${String(from + i).padStart(5, '0')}` });
  };
  return { store, written, marked, session, feeds, add, out: () => out };
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

test('a feed sends nothing until its filter is granted, then its whole backlog page by page, each item once', async () => {
  const h = harness();
  h.add(FEED_PAGE * 2 + 50);
  h.feeds.pumpAll(h.session);
  await settle();
  assert.equal(h.written.length, 0);

  h.session.subscriptions.set('d/dev_1/items/+', 1);
  h.feeds.subscribed(h.session, ['d/dev_1/items/+']);
  await settle();
  assert.equal(h.written.length, FEED_PAGE * 2 + 50);
  assert.deepEqual(
    h.written,
    h.store.map((i) => `d/dev_1/items/${i.id}`),
  );
  assert.equal(h.marked.length, h.written.length);
  assert.equal(h.out(), h.written.length);

  // A repeated SUBSCRIBE sends nothing again; a new item (a notice) is sent alone.
  h.feeds.subscribed(h.session, ['d/dev_1/items/+']);
  await settle();
  assert.equal(h.written.length, FEED_PAGE * 2 + 50);
  h.add(1);
  h.feeds.pumpDevice('dev_1', 'items');
  await settle();
  assert.deepEqual(h.written.slice(FEED_PAGE * 2 + 50), [`d/dev_1/items/${h.store.at(-1)!.id}`]);
});

test('a filter that is not a feed, another feed name or another device pumps nothing', async () => {
  const h = harness();
  h.add(3);
  h.session.subscriptions.set('d/dev_1/items/+', 1);
  h.feeds.subscribed(h.session, ['d/dev_1/errors']);
  h.feeds.pumpDevice('dev_1', 'other');
  h.feeds.pumpDevice('dev_2', 'items');
  await settle();
  assert.equal(h.written.length, 0);
});

test('a feed stops when the connection has no room, and a later pass sends what it had not', async () => {
  let open = false;
  const h = harness({ room: () => Promise.resolve(open) });
  h.add(5);
  h.session.subscriptions.set('d/dev_1/items/+', 1);
  h.feeds.pumpAll(h.session);
  await settle();
  assert.equal(h.written.length, 0);
  open = true;
  h.feeds.pumpAll(h.session);
  await settle();
  assert.equal(h.written.length, 5);
});

test('a feed name is registered once', () => {
  const h = harness();
  assert.throws(() => h.feeds.registerFeed({ name: 'items' } as FeedDefinition<Item>), /registered twice/);
});
