import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemorySessionRegistry } from './memory-session-registry.js';

const alice = { tenantId: 'ten_a', deviceId: 'dev_a' };
const mallory = { tenantId: 'ten_m', deviceId: 'dev_m' };

test('a stored session is resumed only by the identity that made it; a clean start takes the id over', async () => {
  const r = createMemorySessionRegistry<object>();
  assert.equal(await r.claimStoredSession('SN-1', alice, true), true);
  assert.equal(await r.claimStoredSession('SN-1', mallory, true), false);
  assert.equal(await r.claimStoredSession('SN-1', alice, true), true);
  assert.equal(await r.claimStoredSession('SN-1', mallory, false), true);
  assert.equal(await r.claimStoredSession('SN-1', alice, true), false);
});

test('a client id holder is released only by itself', () => {
  const r = createMemorySessionRegistry<object>();
  const first = {};
  const second = {};
  r.registered('c', first);
  r.registered('c', second);
  r.unregistered('c', first);
  assert.equal(r.holderOf('c'), second);
  r.unregistered('c', second);
  assert.equal(r.holderOf('c'), undefined);
});

test('live connections by device', () => {
  const r = createMemorySessionRegistry<object>();
  const a1 = {};
  const a2 = {};
  const b = {};
  r.addLive('dev_a', a1);
  r.addLive('dev_a', a2);
  r.addLive('dev_b', b);
  assert.deepEqual([...r.liveOf('dev_a')], [a1, a2]);
  r.removeLive('dev_a', a1);
  assert.deepEqual([...r.liveOf('dev_a')], [a2]);
  assert.deepEqual(new Set(r.allLive()), new Set([a2, b]));
  r.removeLive('dev_a', a2);
  assert.deepEqual([...r.liveOf('dev_a')], []);
});
