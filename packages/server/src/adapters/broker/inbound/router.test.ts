import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createInboundRouter, type InboundRoute } from './router.js';

const route = (pattern: string, kind = pattern): InboundRoute => ({
  pattern,
  kind,
  handle: () => Promise.resolve(),
});

function router() {
  const r = createInboundRouter();
  r.registerInbound(route('d/{deviceId}/telemetry', 'telemetry'));
  r.registerInbound(route('d/{deviceId}/commands/{commandId}/result', 'command_result'));
  return r;
}

const cases: {
  desc: string;
  topic: string;
  topicId: string;
  kind?: string;
  params?: Record<string, string>;
}[] = [
  { desc: 'own telemetry', topic: 'd/dev_1/telemetry', topicId: 'dev_1', kind: 'telemetry', params: {} },
  {
    desc: 'own command result, with its command id',
    topic: 'd/dev_1/commands/cmd_9/result',
    topicId: 'dev_1',
    kind: 'command_result',
    params: { commandId: 'cmd_9' },
  },
  { desc: "another device's telemetry", topic: 'd/dev_2/telemetry', topicId: 'dev_1' },
  { desc: 'an empty command id', topic: 'd/dev_1/commands//result', topicId: 'dev_1' },
  { desc: 'a level too many', topic: 'd/dev_1/telemetry/x', topicId: 'dev_1' },
  { desc: 'a wildcard is a literal, not a match', topic: 'd/+/telemetry', topicId: 'dev_1' },
  { desc: 'outside the device namespace', topic: 'x/dev_1/telemetry', topicId: 'dev_1' },
];

for (const c of cases) {
  test(`router: ${c.desc}`, () => {
    const levels = c.topic.split('/');
    const matched = router().match(levels, c.topicId);
    assert.equal(matched?.route.kind, c.kind);
    if (matched) assert.deepEqual({ ...matched.paramsOf(levels) }, c.params);
  });
}

test('router: a route must name {deviceId}, and a pattern is registered once', () => {
  const r = createInboundRouter();
  assert.throws(() => r.registerInbound(route('d/x/telemetry')), /must name \{deviceId\}/);
  r.registerInbound(route('d/{deviceId}/events'));
  assert.throws(() => r.registerInbound(route('d/{deviceId}/events')), /registered twice/);
});
