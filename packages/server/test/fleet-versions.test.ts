/**
 * Fleet versions from the attacker's side: a device reports only its own firmware (MQTT topic of
 * another id, device API by its own credential), bad reports are refused with named codes on both
 * paths, another tenant's devices are never counted, the policy change is audited, and the version
 * filters hold at the SemVer boundaries (1.10.0 > 1.9.0, a pre-release below its release).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { topics } from '@mooring/protocol';
import { eventually, nextMessage, startTestPlatform, type TestPlatform } from './harness.js';
import { storeBackends } from './postgres.js';

let t: TestPlatform;
before(async () => {
  t = await startTestPlatform();
});
after(async () => {
  await t.stop();
});

const report = (accessKey: string, body: unknown) =>
  t.call('PUT', '/v1/device/firmware', { token: accessKey, body });

async function firmwareOf(apiKey: string, deviceId: string) {
  const r = await t.call('GET', `/v1/devices/${deviceId}`, { token: apiKey });
  assert.equal(r.status, 200, r.text);
  return r.body.firmware as { version: string; hardwareClass: string; reportedAt: number } | null;
}

async function listIds(apiKey: string, query: string): Promise<string[]> {
  const r = await t.call('GET', `/v1/devices?limit=500&${query}`, { token: apiKey });
  assert.equal(r.status, 200, r.text);
  return (r.body.items as { id: string }[]).map((d) => d.id).sort();
}

test('a device reports over MQTT at connect, operators see it, a new report replaces the old one', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  assert.equal(await firmwareOf(apiKey, d.deviceId), null, 'nothing before the first report');
  const client = await t.connectDevice(d.deviceId, d.accessKey);
  try {
    await client.publishAsync(
      topics.firmware(d.deviceId),
      JSON.stringify({ version: '1.2.3', hardwareClass: 'gw-v2' }),
      { qos: 1 },
    );
    // The PUBACK follows the commit.
    const first = await firmwareOf(apiKey, d.deviceId);
    assert.equal(first?.version, '1.2.3');
    assert.equal(first?.hardwareClass, 'gw-v2');
    await client.publishAsync(
      topics.firmware(d.deviceId),
      JSON.stringify({ version: '1.3.0-rc.1+build.7', hardwareClass: 'gw-v2' }),
      { qos: 1 },
    );
    assert.equal((await firmwareOf(apiKey, d.deviceId))?.version, '1.3.0-rc.1+build.7');
    const listed = await t.call('GET', '/v1/devices', { token: apiKey });
    assert.equal(listed.body.items[0].firmware.version, '1.3.0-rc.1+build.7');
  } finally {
    client.end(true);
  }
});

test("a device cannot report for another device: another id's topic is refused, the device API takes its own credential", async () => {
  const { apiKey } = await t.tenant();
  const a = await t.device(apiKey);
  const b = await t.device(apiKey);
  const client = await t.connectDevice(a.deviceId, a.accessKey);
  try {
    await client.subscribeAsync(topics.errors(a.deviceId));
    const notice = nextMessage(client, (topic) => topic === topics.errors(a.deviceId));
    await client.publishAsync(
      topics.firmware(b.deviceId),
      JSON.stringify({ version: '9.9.9', hardwareClass: 'evil' }),
      { qos: 1 },
    );
    const n = await notice;
    assert.equal(n.payload.code, 'TOPIC_NOT_ALLOWED');
    assert.equal(n.payload.topic, topics.firmware(b.deviceId));
  } finally {
    client.end(true);
  }
  // Over HTTPS the body names no device: A's key reports for A only.
  const r = await report(a.accessKey, { version: '2.0.0', hardwareClass: 'hw' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.version, '2.0.0');
  assert.equal((await firmwareOf(apiKey, a.deviceId))?.version, '2.0.0');
  assert.equal(await firmwareOf(apiKey, b.deviceId), null);
  // A body that tries to name a device is refused, and an API key is not a device credential.
  const named = await report(a.accessKey, { version: '2.0.0', hardwareClass: 'hw', deviceId: b.deviceId });
  assert.equal(named.status, 422);
  assert.equal(named.body.code, 'INVALID_FIRMWARE_REPORT');
  assert.equal((await report(apiKey, { version: '2.0.0', hardwareClass: 'hw' })).status, 401);
  assert.equal(await firmwareOf(apiKey, b.deviceId), null);
});

const BAD: [string, unknown, 'INVALID_FIRMWARE_REPORT' | 'INVALID_TEXT'][] = [
  ['not semver', { version: '1.2', hardwareClass: 'hw' }, 'INVALID_FIRMWARE_REPORT'],
  ['leading zero', { version: '01.2.3', hardwareClass: 'hw' }, 'INVALID_FIRMWARE_REPORT'],
  ['a v prefix', { version: 'v1.2.3', hardwareClass: 'hw' }, 'INVALID_FIRMWARE_REPORT'],
  ['a number', { version: 123, hardwareClass: 'hw' }, 'INVALID_FIRMWARE_REPORT'],
  [
    'huge version',
    { version: `1.2.3-${'a'.repeat(100_000)}`, hardwareClass: 'hw' },
    'INVALID_FIRMWARE_REPORT',
  ],
  ['huge major', { version: '99999999999.0.0', hardwareClass: 'hw' }, 'INVALID_FIRMWARE_REPORT'],
  ['bad class', { version: '1.0.0', hardwareClass: 'a b' }, 'INVALID_FIRMWARE_REPORT'],
  ['huge class', { version: '1.0.0', hardwareClass: 'x'.repeat(65) }, 'INVALID_FIRMWARE_REPORT'],
  ['missing class', { version: '1.0.0' }, 'INVALID_FIRMWARE_REPORT'],
  ['an array', [], 'INVALID_FIRMWARE_REPORT'],
  ['NUL', { version: '1.0.0', hardwareClass: 'hw\u0000x' }, 'INVALID_TEXT'],
  ['lone surrogate', { version: '1.0.0-\ud800', hardwareClass: 'hw' }, 'INVALID_TEXT'],
];

/** JSON.stringify writes a lone surrogate as `\ud800`: the escape the parsers must refuse. */
const encode = (body: unknown) => JSON.stringify(body);

test('invalid reports are refused with named codes over HTTPS, and nothing is stored', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  for (const [why, body, code] of BAD) {
    const r = await t.call('PUT', '/v1/device/firmware', {
      token: d.accessKey,
      raw: encode(body),
      headers: { 'content-type': 'application/json' },
    });
    const status = { INVALID_FIRMWARE_REPORT: 422, INVALID_TEXT: 400 }[code];
    assert.ok(r.status === status || r.status === 413, `${why}: ${r.status} ${r.text.slice(0, 200)}`);
    assert.equal(
      r.body.code,
      r.status === 413 ? 'PAYLOAD_TOO_LARGE' : code,
      `${why}: ${r.text.slice(0, 200)}`,
    );
  }
  assert.equal(await firmwareOf(apiKey, d.deviceId), null);
});

test('invalid reports are refused over MQTT with a notice on d/{id}/errors, and nothing is stored', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  const client = await t.connectDevice(d.deviceId, d.accessKey);
  try {
    await client.subscribeAsync(topics.errors(d.deviceId));
    for (const [why, body, code] of BAD) {
      const notice = nextMessage(client, (topic) => topic === topics.errors(d.deviceId));
      await client.publishAsync(topics.firmware(d.deviceId), encode(body), { qos: 1 });
      const n = await notice;
      const want = why === 'huge version' ? ['INVALID_FIRMWARE_REPORT', 'PAYLOAD_TOO_LARGE'] : [code];
      assert.ok(want.includes(n.payload.code), `${why}: ${JSON.stringify(n.payload)}`);
      assert.equal(n.payload.topic, topics.firmware(d.deviceId));
    }
    // The connection stays open and a valid report still lands.
    await client.publishAsync(
      topics.firmware(d.deviceId),
      encode({ version: '1.0.0', hardwareClass: 'hw' }),
      { qos: 1 },
    );
  } finally {
    client.end(true);
  }
  assert.equal((await firmwareOf(apiKey, d.deviceId))?.version, '1.0.0');
});

test('filters hold at version boundaries: 1.10.0 > 1.9.0, pre-releases below their release', () =>
  boundaries());

test('the same boundaries on PostgreSQL (the sort key compares in byte order on both stores)', async () => {
  const postgres = storeBackends.find(([name]) => name === 'postgres')![1];
  const store = await postgres();
  const embedded = t;
  t = await startTestPlatform({}, { db: store.db });
  try {
    await boundaries();
  } finally {
    await t.stop();
    t = embedded;
    await store.close();
  }
});

async function boundaries() {
  const { apiKey } = await t.tenant();
  const versions = ['1.9.0', '1.10.0', '1.10.0-rc.2', '1.10.0-rc.10', '1.10.0-alpha', '2.0.0', '0.9.9'];
  const ids: Record<string, string> = {};
  for (const version of versions) {
    const d = await t.device(apiKey);
    ids[version] = d.deviceId;
    assert.equal((await report(d.accessKey, { version, hardwareClass: 'board-a' })).status, 200);
  }
  const silent = await t.device(apiKey);
  const below = (v: string) => listIds(apiKey, `belowVersion=${encodeURIComponent(v)}`);
  const idsOf = (...vs: string[]) => vs.map((v) => ids[v]!).sort();

  assert.deepEqual(
    await below('1.10.0'),
    idsOf('1.9.0', '1.10.0-rc.2', '1.10.0-rc.10', '1.10.0-alpha', '0.9.9'),
  );
  assert.deepEqual(await below('1.9.1'), idsOf('1.9.0', '0.9.9'));
  // SemVer §11: alpha < rc.2 < rc.10 (numeric identifiers compare as numbers).
  assert.deepEqual(await below('1.10.0-rc.10'), idsOf('1.9.0', '1.10.0-rc.2', '1.10.0-alpha', '0.9.9'));
  assert.deepEqual(await below('1.10.0-rc.2'), idsOf('1.9.0', '1.10.0-alpha', '0.9.9'));
  assert.deepEqual(await below('0.9.9'), []);
  assert.ok(
    !(await below('99.0.0')).includes(silent.deviceId),
    'a device that never reported is below nothing',
  );
  assert.deepEqual(await listIds(apiKey, 'firmwareVersion=1.10.0'), idsOf('1.10.0'));
  assert.equal((await listIds(apiKey, 'hardwareClass=board-a')).length, versions.length);
  assert.deepEqual(await listIds(apiKey, 'hardwareClass=board-b'), []);

  const bad = await t.call('GET', '/v1/devices?belowVersion=1.x', { token: apiKey });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.code, 'VALIDATION_FAILED');
  const nul = await t.call('GET', '/v1/devices?hardwareClass=a%00b', { token: apiKey });
  assert.equal(nul.status, 400);
  assert.ok(['INVALID_TEXT', 'VALIDATION_FAILED'].includes(nul.body.code), nul.text);

  // The policy: below 1.10.0 on board-a.
  const set = await t.call('PUT', '/v1/fleet/policy', {
    token: apiKey,
    body: { hardwareClass: 'board-a', minVersion: '1.10.0' },
  });
  assert.equal(set.status, 200, set.text);
  assert.deepEqual(
    set.body.items.map((p: { hardwareClass: string; minVersion: string }) => [p.hardwareClass, p.minVersion]),
    [['board-a', '1.10.0']],
  );
  const belowMin = await listIds(apiKey, 'belowMinimum=true');
  assert.deepEqual(belowMin, await below('1.10.0'));
  const fleet = await t.call('GET', '/v1/fleet/versions', { token: apiKey });
  assert.equal(fleet.status, 200, fleet.text);
  assert.equal(fleet.body.total, versions.length + 1);
  assert.equal(fleet.body.neverReported, 1);
  assert.equal(fleet.body.belowMinimum, 5);
  assert.deepEqual(
    fleet.body.policy.map((p: { belowMinimum: number }) => p.belowMinimum),
    [5],
  );
  const count = (v: string | null) =>
    fleet.body.items.find((i: { version: string | null }) => i.version === v)?.count;
  assert.equal(count('1.10.0'), 1);
  assert.equal(count(null), 1);
}

test("another tenant's devices are never counted, listed or below its policy", async () => {
  const mine = await t.tenant();
  const theirs = await t.tenant();
  const m = await t.device(mine.apiKey, { name: 'n', tags: ['site-1'] });
  await report(m.accessKey, { version: '1.0.0', hardwareClass: 'shared-hw' });
  for (let i = 0; i < 3; i++) {
    const o = await t.device(theirs.apiKey, { name: 'n', tags: ['site-1'] });
    await report(o.accessKey, { version: '0.1.0', hardwareClass: 'shared-hw' });
  }
  await t.call('PUT', '/v1/fleet/policy', {
    token: theirs.apiKey,
    body: { hardwareClass: 'shared-hw', minVersion: '5.0.0' },
  });
  const fleet = await t.call('GET', '/v1/fleet/versions?by=tag', { token: mine.apiKey });
  assert.equal(fleet.status, 200, fleet.text);
  assert.equal(fleet.body.total, 1);
  assert.equal(fleet.body.belowMinimum, 0, "the other tenant's policy does not apply");
  assert.deepEqual(fleet.body.policy, []);
  assert.deepEqual(fleet.body.items, [
    { version: '1.0.0', hardwareClass: 'shared-hw', tag: 'site-1', count: 1 },
  ]);
  assert.deepEqual(await listIds(mine.apiKey, 'belowVersion=9.0.0'), [m.deviceId]);
  assert.deepEqual(await listIds(mine.apiKey, 'belowMinimum=true'), []);
  const tagged = await t.call('GET', '/v1/fleet/versions?tag=site-1', { token: theirs.apiKey });
  assert.equal(tagged.body.total, 3);
  assert.equal(tagged.body.belowMinimum, 3);
});

test('connected and disabled devices are counted, of the tenant and within a scoped grant only', async () => {
  const mine = await t.tenant();
  const theirs = await t.tenant();
  const on = await t.device(mine.apiKey, { name: 'on', tags: ['line-a'] });
  const off = await t.device(mine.apiKey, { name: 'off', tags: ['line-b'] });
  const other = await t.device(theirs.apiKey, { name: 'theirs' });
  await t.call('POST', `/v1/devices/${off.deviceId}/disable`, { token: mine.apiKey });
  const a = await t.connectDevice(on.deviceId, on.accessKey);
  const b = await t.connectDevice(other.deviceId, other.accessKey);
  try {
    const counts = async (token: string, query = '') => {
      const r = await t.call('GET', `/v1/fleet/versions${query}`, { token });
      assert.equal(r.status, 200, r.text);
      return { total: r.body.total, connected: r.body.connected, disabled: r.body.disabled };
    };
    await eventually(async () => (await counts(mine.apiKey)).connected === 1, 5_000, 'connected');
    assert.deepEqual(await counts(mine.apiKey), { total: 2, connected: 1, disabled: 1 });
    assert.deepEqual(await counts(mine.apiKey, '?tag=line-b'), { total: 1, connected: 0, disabled: 1 });
    assert.deepEqual(await counts(theirs.apiKey), { total: 1, connected: 1, disabled: 0 });
    const scoped = await t.call('POST', '/v1/api-keys', {
      token: mine.apiKey,
      body: { name: 'scoped', grants: [{ role: 'viewer', scope: { tag: 'line-b' } }] },
    });
    assert.equal(scoped.status, 201, scoped.text);
    assert.deepEqual(await counts(scoped.body.secret), { total: 1, connected: 0, disabled: 1 });
    a.end(true);
    await eventually(async () => (await counts(mine.apiKey)).connected === 0, 5_000, 'disconnected');
  } finally {
    a.end(true);
    b.end(true);
  }
});

test('a policy change is audited in its transaction; removing it clears the count', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  await report(d.accessKey, { version: '1.0.0', hardwareClass: 'cam' });
  const set = await t.call('PUT', '/v1/fleet/policy', {
    token: apiKey,
    body: { hardwareClass: 'cam', minVersion: '2.0.0' },
  });
  assert.equal(set.status, 200, set.text);
  const bad = await t.call('PUT', '/v1/fleet/policy', {
    token: apiKey,
    body: { hardwareClass: 'cam', minVersion: 'two' },
  });
  assert.equal(bad.status, 400);
  assert.equal((await t.call('GET', '/v1/fleet/versions', { token: apiKey })).body.belowMinimum, 1);
  const cleared = await t.call('PUT', '/v1/fleet/policy', {
    token: apiKey,
    body: { hardwareClass: 'cam', minVersion: null },
  });
  assert.deepEqual(cleared.body, { items: [] });
  assert.equal((await t.call('GET', '/v1/fleet/versions', { token: apiKey })).body.belowMinimum, 0);
  const records = await eventually(async () => {
    const r = await t.call('GET', '/v1/audit?limit=100', { token: apiKey });
    const mineOnly = (r.body.items as { action: string; outcome: string; changes: unknown }[]).filter(
      (i) => i.action === 'PUT /v1/fleet/policy',
    );
    return mineOnly.length === 3 && mineOnly;
  });
  assert.deepEqual(
    records.map((r) => r.outcome),
    ['success', 'failure', 'success'],
  );
  assert.match(JSON.stringify(records[0]!.changes), /2\.0\.0/);
});

test('by tag: a device counts once under each of its tags, untagged ones under null, totals once', async () => {
  const { apiKey } = await t.tenant();
  const devices: [string[], string][] = [
    [['x', 'y'], '1.0.0'],
    [['y'], '1.0.0'],
    [[], '1.0.0'],
    [['x', 'y'], '2.0.0'],
  ];
  for (const [tags, version] of devices) {
    const d = await t.device(apiKey, { name: 'n', tags });
    await report(d.accessKey, { version, hardwareClass: 'tag-hw' });
  }
  const fleet = await t.call('GET', '/v1/fleet/versions?by=tag', { token: apiKey });
  assert.equal(fleet.status, 200, fleet.text);
  assert.equal(fleet.body.total, 4);
  assert.deepEqual(fleet.body.items, [
    { version: '1.0.0', hardwareClass: 'tag-hw', tag: 'x', count: 1 },
    { version: '1.0.0', hardwareClass: 'tag-hw', tag: 'y', count: 2 },
    { version: '1.0.0', hardwareClass: 'tag-hw', tag: null, count: 1 },
    { version: '2.0.0', hardwareClass: 'tag-hw', tag: 'x', count: 1 },
    { version: '2.0.0', hardwareClass: 'tag-hw', tag: 'y', count: 1 },
  ]);
});
