/**
 * The configuration twin over REST, MQTT and the HTTPS device API: merge-patch rules, versions and
 * metadata, If-Match, each named limit, schemas, history and audit, the push of the delta since the
 * acknowledged version on every (re)connect, and what an attacker tries (another tenant's device, an
 * acknowledgement past the current version, text the store cannot hold).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyMergePatch, desiredAction, topics, type DesiredConfigMessage } from '@mooring/protocol';
import type { MqttClient } from 'mqtt';
import { eventually, nextMessage, startTestPlatform, type TestPlatform } from './harness.js';
import { runTwinChurn, seeded } from './twin-churn.js';

let t: TestPlatform;
before(async () => {
  // The churn test reconnects its devices 1,000 times on purpose, far above mqtt.connects_per_client_id.
  t = await startTestPlatform({
    MOORING_LIMIT_MQTT_CONNECTS_PER_CLIENT_ID: '100000',
    // The churn test changes desired configuration every 50 ms: past 60 writes per device a minute.
    MOORING_LIMIT_CONFIG_WRITES_PER_DEVICE: '100000',
  });
});
after(async () => {
  await t.stop();
});

const patchDesired = (
  apiKey: string,
  deviceId: string,
  body: unknown,
  headers: Record<string, string> = {},
) =>
  t.call('PATCH', `/v1/devices/${deviceId}/config/desired`, {
    token: apiKey,
    raw: JSON.stringify(body),
    headers: { 'content-type': 'application/merge-patch+json', ...headers },
  });

test('merge patch: null deletes, objects merge, arrays replace; versions, metadata, ETag and history', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  const empty = await t.call('GET', `/v1/devices/${d.deviceId}/config`, { token: apiKey });
  assert.equal(empty.status, 200, empty.text);
  assert.equal(empty.body.desired.version, 0);
  assert.deepEqual(empty.body.desired.document, {});

  const first = await patchDesired(apiKey, d.deviceId, {
    led: { color: 'red', blink: true },
    modes: [1, 2],
    name: 'x',
  });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.headers.etag, '"1"');
  const second = await patchDesired(apiKey, d.deviceId, {
    led: { blink: null, level: 3 },
    modes: [9],
    name: null,
  });
  assert.equal(second.status, 200, second.text);
  assert.deepEqual(second.body.desired.document, { led: { color: 'red', level: 3 }, modes: [9] });
  assert.equal(second.body.desired.version, 2);
  assert.equal(second.body.desired.metadata.led.version, 2);
  assert.match(second.body.desired.metadata.led.by, /^api-key:/);
  assert.equal(second.body.desired.metadata.name, undefined, 'a deleted member has no metadata');
  assert.deepEqual(second.body.pending, { led: { color: 'red', level: 3 }, modes: [9] });

  // A patch that changes nothing makes no version.
  const same = await patchDesired(apiKey, d.deviceId, { modes: [9] });
  assert.equal(same.body.desired.version, 2);

  const history = await t.call('GET', `/v1/devices/${d.deviceId}/config/history?side=desired`, {
    token: apiKey,
  });
  assert.equal(history.status, 200, history.text);
  assert.deepEqual(
    history.body.items.map((e: { version: number }) => e.version),
    [2, 1],
  );
  assert.deepEqual(history.body.items[0].before, first.body.desired.document);
  assert.deepEqual(history.body.items[0].after, second.body.desired.document);
  assert.deepEqual(history.body.items[0].patch, { led: { blink: null, level: 3 }, modes: [9], name: null });

  // Desired changes are audited with the request: actor, device, the patch.
  const action = 'PATCH /v1/devices/:deviceId/config/desired';
  const audit = await t.call('GET', `/v1/audit?action=${encodeURIComponent(action)}&limit=50`, {
    token: apiKey,
  });
  assert.equal(audit.status, 200, audit.text);
  const records = audit.body.items.filter((r: { target: string }) => r.target === d.deviceId);
  assert.equal(records.length, 3, audit.text.slice(0, 500));
  assert.ok(
    records.every(
      (r: { outcome: string; actor: string }) => r.outcome === 'success' && r.actor.startsWith('api-key:'),
    ),
  );
  assert.ok(
    records.some(
      (r: { changes: { request?: unknown } }) =>
        JSON.stringify(r.changes.request) === JSON.stringify({ modes: [9] }),
    ),
  );
});

test('If-Match: the current version is accepted, a stale one gets 409 with the current version', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  assert.equal((await patchDesired(apiKey, d.deviceId, { a: 1 }, { 'if-match': '"0"' })).status, 200);
  const stale = await patchDesired(apiKey, d.deviceId, { a: 2 }, { 'if-match': '"0"' });
  assert.equal(stale.status, 409, stale.text);
  assert.equal(stale.body.code, 'CONFIG_VERSION_CONFLICT');
  assert.equal(stale.body.currentVersion, 1);
  const ok = await patchDesired(apiKey, d.deviceId, { a: 2 }, { 'if-match': '1' });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.desired.document.a, 2);
  const bad = await patchDesired(apiKey, d.deviceId, { a: 3 }, { 'if-match': 'yesterday' });
  assert.equal(bad.status, 400, bad.text);
});

test('each limit names itself: document size, patch size, depth, member name length; bad text and shapes are refused', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  const big = await patchDesired(apiKey, d.deviceId, { blob: 'x'.repeat(40 * 1024) });
  assert.equal(big.status, 422, big.text);
  assert.equal(big.body.code, 'CONFIG_LIMIT_EXCEEDED');
  assert.equal(big.body.limit, 'documentBytes');
  assert.equal(big.body.max, 32 * 1024);
  assert.ok(big.body.actual > 40 * 1024);

  const hugePatch = await patchDesired(apiKey, d.deviceId, { blob: 'x'.repeat(70 * 1024) });
  assert.equal(hugePatch.body.limit, 'patchBytes');

  let deep: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 11; i++) deep = { n: deep };
  const tooDeep = await patchDesired(apiKey, d.deviceId, deep);
  assert.equal(tooDeep.status, 422, tooDeep.text);
  assert.equal(tooDeep.body.limit, 'depth');
  assert.equal(tooDeep.body.max, 10);
  assert.equal(tooDeep.body.actual, 12);

  const longKey = await patchDesired(apiKey, d.deviceId, { ['k'.repeat(129)]: 1 });
  assert.equal(longKey.body.limit, 'keyLength');
  assert.equal(longKey.body.actual, 129);

  const nul = await t.call('PATCH', `/v1/devices/${d.deviceId}/config/desired`, {
    token: apiKey,
    raw: '{"a\\u0000b": 1}',
  });
  assert.equal(nul.status, 400, nul.text);
  assert.equal(nul.body.code, 'INVALID_TEXT');
  const surrogate = await patchDesired(apiKey, d.deviceId, { a: '\ud800' });
  assert.equal(surrogate.status, 400, surrogate.text);
  const array = await patchDesired(apiKey, d.deviceId, [1, 2]);
  assert.equal(array.status, 400, array.text);
  const after = await t.call('GET', `/v1/devices/${d.deviceId}/config`, { token: apiKey });
  assert.equal(after.body.desired.version, 0, 'nothing refused changed the twin');
});

test('a schema for a tag is checked on desired writes (422 lists the failing paths); others are not', async () => {
  const { apiKey } = await t.tenant();
  const thermo = await t.device(apiKey, { name: 't', tags: ['thermo'] });
  const other = await t.device(apiKey, { name: 'o', tags: ['cam'] });
  const invalid = await t.call('POST', '/v1/config-schemas', {
    token: apiKey,
    body: { name: 'bad', tag: 'thermo', schema: { type: 'object', properties: { a: { type: 'nonsense' } } } },
  });
  assert.equal(invalid.status, 400, invalid.text);
  assert.equal(invalid.body.code, 'CONFIG_SCHEMA_INVALID');
  const remote = await t.call('POST', '/v1/config-schemas', {
    token: apiKey,
    body: { name: 'remote', tag: 'thermo', schema: { $ref: 'https://169.254.169.254/schema.json' } },
  });
  assert.equal(remote.status, 400, remote.text);
  const put = await t.call('POST', '/v1/config-schemas', {
    token: apiKey,
    body: {
      name: 'thermostat',
      tag: 'thermo',
      schema: {
        type: 'object',
        properties: {
          setpoint: { type: 'number', minimum: 5, maximum: 30 },
          mode: { enum: ['heat', 'cool'] },
        },
        additionalProperties: false,
      },
    },
  });
  assert.equal(put.status, 201, put.text);
  const again = await t.call('POST', '/v1/config-schemas', {
    token: apiKey,
    body: { name: 'thermostat', tag: 'x', schema: {} },
  });
  assert.equal(again.status, 409, again.text);
  const refused = await patchDesired(apiKey, thermo.deviceId, { setpoint: 99, mode: 'party', extra: 1 });
  assert.equal(refused.status, 422, refused.text);
  assert.equal(refused.body.code, 'CONFIG_SCHEMA_VIOLATION');
  assert.equal(refused.body.schema, 'thermostat');
  const paths = refused.body.errors.map((e: { path: string }) => e.path).sort();
  assert.deepEqual(paths, ['/', '/mode', '/setpoint']);
  assert.equal((await patchDesired(apiKey, thermo.deviceId, { setpoint: 21, mode: 'heat' })).status, 200);
  assert.equal((await patchDesired(apiKey, other.deviceId, { setpoint: 99 })).status, 200);
  const listed = await t.call('GET', '/v1/config-schemas', { token: apiKey });
  assert.deepEqual(
    listed.body.items.map((s: { name: string }) => s.name),
    ['thermostat'],
  );
  // Replaced: the next write is checked against the new schema.
  const replaced = await t.call('PUT', '/v1/config-schemas/thermostat', {
    token: apiKey,
    body: { tag: 'thermo', schema: { type: 'object', properties: { setpoint: { maximum: 25 } } } },
  });
  assert.equal(replaced.status, 200, replaced.text);
  assert.equal((await patchDesired(apiKey, thermo.deviceId, { setpoint: 26 })).status, 422);
  assert.equal((await patchDesired(apiKey, thermo.deviceId, { setpoint: 24, extra: 1 })).status, 200);
  const missing = await t.call('PUT', '/v1/config-schemas/nope', {
    token: apiKey,
    body: { tag: 'x', schema: {} },
  });
  assert.equal(missing.status, 404, missing.text);
  assert.equal(missing.body.code, 'CONFIG_SCHEMA_NOT_FOUND');
  assert.equal((await t.call('DELETE', '/v1/config-schemas/thermostat', { token: apiKey })).status, 204);
  assert.equal((await t.call('DELETE', '/v1/config-schemas/thermostat', { token: apiKey })).status, 404);
  assert.equal((await patchDesired(apiKey, thermo.deviceId, { setpoint: 99 })).status, 200);
});

test("another tenant's device is not found for reading, patching or history; a device cannot ack past the current version", async () => {
  const mine = await t.tenant();
  const theirs = await t.tenant();
  const d = await t.device(theirs.apiKey);
  for (const r of [
    await t.call('GET', `/v1/devices/${d.deviceId}/config`, { token: mine.apiKey }),
    await patchDesired(mine.apiKey, d.deviceId, { a: 1 }),
    await t.call('GET', `/v1/devices/${d.deviceId}/config/history`, { token: mine.apiKey }),
  ]) {
    assert.equal(r.status, 404, r.text);
    assert.equal(r.body.code, 'DEVICE_NOT_FOUND');
  }
  const past = await t.call('POST', '/v1/device/config/reported', {
    token: d.accessKey,
    body: { desiredVersion: 5 },
  });
  assert.equal(past.status, 422, past.text);
  assert.equal(past.body.code, 'INVALID_CONFIG_REPORT');
  const empty = await t.call('POST', '/v1/device/config/reported', { token: d.accessKey, body: {} });
  assert.equal(empty.status, 422, empty.text);
});

/** Collects desired messages a client receives, in order. */
function desiredMessages(client: MqttClient, deviceId: string): DesiredConfigMessage[] {
  const seen: DesiredConfigMessage[] = [];
  client.on('message', (topic, payload) => {
    if (topic === topics.configDesired(deviceId)) seen.push(JSON.parse(payload.toString()));
  });
  return seen;
}

test('MQTT: the whole document at first subscribe, then each change from the acknowledged version, and the delta since it after a reconnect', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  await patchDesired(apiKey, d.deviceId, { a: 1, b: { c: 2 } });

  let client = await t.connectDevice(d.deviceId, d.accessKey, { clean: true });
  let seen = desiredMessages(client, d.deviceId);
  await client.subscribeAsync(topics.configDesired(d.deviceId), { qos: 1 });
  await eventually(() => seen.length >= 1, 5000, 'the first push');
  assert.deepEqual(seen[0], { version: 1, baseVersion: 0, patch: { a: 1, b: { c: 2 } } });
  await client.publishAsync(
    topics.configReported(d.deviceId),
    JSON.stringify({ desiredVersion: 1, patch: { a: 1 } }),
    {
      qos: 1,
    },
  );

  await patchDesired(apiKey, d.deviceId, { b: { c: 3 } });
  await eventually(() => seen.length >= 2, 5000, 'the change');
  assert.deepEqual(seen[1], { version: 2, baseVersion: 1, patch: { b: { c: 3 } } });
  await client.publishAsync(topics.configReported(d.deviceId), JSON.stringify({ desiredVersion: 2 }), {
    qos: 1,
  });
  const twin = await t.call('GET', `/v1/devices/${d.deviceId}/config`, { token: apiKey });
  assert.equal(twin.body.acknowledgedVersion, 2);
  assert.deepEqual(twin.body.reported.document, { a: 1 });
  assert.equal(twin.body.reported.metadata.a.by, `device:${d.deviceId}`);
  client.end(true);

  // Offline: two changes. The reconnect brings one patch from version 2 to 4, unasked.
  await patchDesired(apiKey, d.deviceId, { a: null, z: true });
  await patchDesired(apiKey, d.deviceId, { b: { c: 4 } });
  client = await t.connectDevice(d.deviceId, d.accessKey, { clean: true });
  seen = desiredMessages(client, d.deviceId);
  await client.subscribeAsync(topics.configDesired(d.deviceId), { qos: 1 });
  await eventually(() => seen.length >= 1, 5000, 'the catch-up');
  assert.deepEqual(seen[0], { version: 4, baseVersion: 2, patch: { a: null, z: true, b: { c: 4 } } });
  const holding = applyMergePatch({ a: 1, b: { c: 3 } }, seen[0]!.patch);
  assert.deepEqual(holding, { b: { c: 4 }, z: true });

  // An acknowledgement past the current version is refused on the errors topic; nothing moves.
  await client.subscribeAsync(topics.errors(d.deviceId));
  const notice = nextMessage(client, (topic) => topic === topics.errors(d.deviceId));
  await client.publishAsync(topics.configReported(d.deviceId), JSON.stringify({ desiredVersion: 99 }), {
    qos: 1,
  });
  assert.equal((await notice).payload.code, 'INVALID_CONFIG_REPORT');

  // Asking for the whole document brings it from the empty one.
  await client.publishAsync(topics.configGet(d.deviceId), '{}', { qos: 1 });
  await eventually(() => seen.some((m) => m.baseVersion === 0), 5000, 'the whole document');
  assert.deepEqual(
    seen.find((m) => m.baseVersion === 0),
    { version: 4, baseVersion: 0, patch: { b: { c: 4 }, z: true } },
  );
  await client.publishAsync(topics.configReported(d.deviceId), JSON.stringify({ desiredVersion: 4 }), {
    qos: 1,
  });
  const count = seen.length;
  client.end(true);

  // Up to date: a reconnect pushes nothing.
  client = await t.connectDevice(d.deviceId, d.accessKey, { clean: true });
  seen = desiredMessages(client, d.deviceId);
  await client.subscribeAsync(topics.configDesired(d.deviceId), { qos: 1 });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(seen.length, 0, `nothing after version 4 was acknowledged (had ${count})`);
  client.end(true);
});

test('HTTPS long poll: at once when behind, after a change when current, 204 when nothing changed', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  const idle = await t.call('GET', '/v1/device/config/desired?version=0&waitSeconds=0', {
    token: d.accessKey,
  });
  assert.equal(idle.status, 204, idle.text);
  await patchDesired(apiKey, d.deviceId, { a: 1 });
  const behind = await t.call('GET', '/v1/device/config/desired?version=0&waitSeconds=5', {
    token: d.accessKey,
  });
  assert.equal(behind.status, 200, behind.text);
  assert.deepEqual(behind.body, { version: 1, baseVersion: 0, patch: { a: 1 } });

  const started = Date.now();
  const waiting = t.call('GET', '/v1/device/config/desired?version=1&waitSeconds=10', { token: d.accessKey });
  await new Promise((r) => setTimeout(r, 300));
  await patchDesired(apiKey, d.deviceId, { a: 2, b: 1 });
  const changed = await waiting;
  assert.equal(changed.status, 200, changed.text);
  assert.deepEqual(changed.body, { version: 2, baseVersion: 1, patch: { a: 2, b: 1 } });
  assert.ok(Date.now() - started < 5000, 'answered at the change, not at the end of the wait');
  const ack = await t.call('POST', '/v1/device/config/reported', {
    token: d.accessKey,
    body: { desiredVersion: 2, patch: { a: 2 } },
  });
  assert.equal(ack.status, 200, ack.text);
  assert.deepEqual(ack.body, { acknowledgedVersion: 2, reportedVersion: 1 });
  const none = await t.call('GET', '/v1/device/config/desired?version=2&waitSeconds=1', {
    token: d.accessKey,
  });
  assert.equal(none.status, 204);
});

test('churn: 1,000 random disconnect/reconnect cycles while desired changes every 50 ms; every device ends on the final document and no message repeats an acknowledged version', async (ctx) => {
  const { apiKey } = await t.tenant();
  const devices = [];
  for (let i = 0; i < 20; i++) devices.push(await t.device(apiKey));
  const result = await runTwinChurn({
    devices,
    cycles: 1000,
    writeEveryMs: 50,
    random: seeded(7),
    connect: (d) => t.connectDevice(d.deviceId, d.accessKey, { clean: true, reconnectPeriod: 0 }),
    writeDesired: async (deviceId, patch) => {
      const r = await patchDesired(apiKey, deviceId, patch);
      assert.equal(r.status, 200, r.text);
      return r.body.desired.version as number;
    },
    readDesired: async (deviceId) => {
      const r = await t.call('GET', `/v1/devices/${deviceId}/config`, { token: apiKey });
      return { version: r.body.desired.version, document: r.body.desired.document };
    },
  });
  const ms = [...result.convergeMs].sort((a, b) => a - b);
  const pct = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))];
  // Diagnostic only (figures belong to the benchmark): how long reconnects took to catch up.
  ctx.diagnostic(
    `churn: ${result.cycles} cycles, ${result.writes} writes, ${result.messages} messages, ${result.resyncs} resyncs; ` +
      `catch-up after reconnect p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${ms.at(-1)} ms over ${ms.length}; ` +
      `${result.notConverged} sessions ended before catching up`,
  );
  assert.equal(result.cycles, 1000);
  assert.ok(result.writes > 50, `the operator wrote ${result.writes} times`);
  assert.deepEqual(result.staleDeltas, [], 'no message carried a version the device had acknowledged');
  assert.deepEqual(result.diverged, [], 'every device ends on the final desired document');
  assert.ok(ms.length > 100, `${ms.length} reconnects found the device behind`);
});

test('MQTT: a device whose acknowledgement was lost acknowledges again and gets the patch from the version it holds', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  await patchDesired(apiKey, d.deviceId, { a: 1 });
  await t.call('POST', '/v1/device/config/reported', { token: d.accessKey, body: { desiredVersion: 1 } });
  await patchDesired(apiKey, d.deviceId, { b: 2 });
  // The device applied version 2 from base 1, but its acknowledgement never arrived; then a third change.
  await patchDesired(apiKey, d.deviceId, { c: 3 });
  const client = await t.connectDevice(d.deviceId, d.accessKey, { clean: true });
  try {
    const seen = desiredMessages(client, d.deviceId);
    await client.subscribeAsync(topics.configDesired(d.deviceId), { qos: 1 });
    await eventually(() => seen.length >= 1, 5000, 'the push from the recorded acknowledgement');
    assert.deepEqual(seen[0], { version: 3, baseVersion: 1, patch: { b: 2, c: 3 } });
    assert.equal(desiredAction(2, seen[0]!), 'acknowledge');
    await client.publishAsync(topics.configReported(d.deviceId), JSON.stringify({ desiredVersion: 2 }), {
      qos: 1,
    });
    await eventually(() => seen.length >= 2, 5000, 'the push from the version it holds');
    assert.deepEqual(seen[1], { version: 3, baseVersion: 2, patch: { c: 3 } });
  } finally {
    client.end(true);
  }
});
