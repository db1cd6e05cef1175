/**
 * HTTP refusals: each is problem+json with a stable code from the catalogue, no internals leak, and
 * nothing is stored. Covers authentication, tenant isolation, malformed and oversized bodies, wrong
 * media types, unknown fields and out-of-range timestamps.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CATALOGUE } from '@mooring/protocol';
import { startTestPlatform, type HttpResponse, type TestPlatform } from './harness.js';

let t: TestPlatform;
let a: { tenantId: string; apiKey: string };
let b: { tenantId: string; apiKey: string };
let bDevice: { deviceId: string; accessKey: string };

before(async () => {
  t = await startTestPlatform();
  a = await t.tenant();
  b = await t.tenant();
  bDevice = await t.device(b.apiKey);
});
after(async () => {
  await t.stop();
});

function assertProblem(r: HttpResponse, code: keyof typeof ERROR_CATALOGUE) {
  assert.equal(r.body?.code, code, `expected ${code}, got ${r.status} ${r.text}`);
  assert.equal(r.status, ERROR_CATALOGUE[code].status);
  assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
  assert.equal(r.body.status, r.status);
  assert.ok(r.body.title && r.body.type && r.body.requestId);
  assert.doesNotMatch(r.text, /\n\s+at |node_modules|\.ts:\d+/, 'no stack trace or source path leaks');
}

async function telemetryCount(apiKey: string, deviceId: string) {
  const r = await t.call('GET', `/v1/devices/${deviceId}/telemetry?from=0`, { token: apiKey });
  return r.body.items.length as number;
}

test('requests without or with a bad credential are refused', async () => {
  assertProblem(await t.call('GET', '/v1/devices'), 'UNAUTHENTICATED');
  assertProblem(
    await t.call('GET', '/v1/devices', { headers: { authorization: 'Basic abc' } }),
    'UNAUTHENTICATED',
  );
  assertProblem(await t.call('GET', '/v1/devices', { token: 'mk_notakey' }), 'INVALID_CREDENTIALS');
  assertProblem(await t.call('GET', '/v1/devices', { token: bDevice.accessKey }), 'INVALID_CREDENTIALS');
  assertProblem(
    await t.call('POST', '/v1/device/telemetry', { token: a.apiKey, body: { values: { t: 1 } } }),
    'INVALID_CREDENTIALS',
  );
  assertProblem(
    await t.call('POST', '/v1/auth/login', { body: { username: 'admin', password: 'not the password' } }),
    'INVALID_CREDENTIALS',
  );
});

test('credentials are confined to their kind of route', async () => {
  assertProblem(await t.call('POST', '/v1/tenants', { token: a.apiKey, body: { name: 'x' } }), 'FORBIDDEN');
  assertProblem(await t.call('GET', '/v1/devices', { token: await t.adminToken() }), 'FORBIDDEN');
});

test("another tenant's device answers 404 on every route, and nothing changes", async () => {
  const id = bDevice.deviceId;
  const calls: [string, string, unknown?][] = [
    ['GET', `/v1/devices/${id}`],
    ['PATCH', `/v1/devices/${id}`, { name: 'stolen' }],
    ['POST', `/v1/devices/${id}/disable`],
    ['DELETE', `/v1/devices/${id}`],
    ['POST', `/v1/devices/${id}/access-keys`],
    ['GET', `/v1/devices/${id}/access-keys`],
    ['GET', `/v1/devices/${id}/telemetry`],
    ['GET', `/v1/devices/${id}/telemetry/latest`],
    ['GET', `/v1/devices/${id}/telemetry/aggregate?key=t`],
    ['GET', `/v1/devices/${id}/events`],
    ['GET', `/v1/devices/${id}/presence`],
    ['POST', `/v1/devices/${id}/commands`, { name: 'reboot' }],
    ['GET', `/v1/devices/${id}/commands`],
  ];
  for (const [method, path, body] of calls) {
    const r = await t.call(method, path, { token: a.apiKey, ...(body ? { body } : {}) });
    assertProblem(r, 'DEVICE_NOT_FOUND');
    assert.doesNotMatch(r.text, /theirs|dak_/);
  }
  const still = await t.call('GET', `/v1/devices/${id}`, { token: b.apiKey });
  assert.equal(still.status, 200);
  assert.equal(still.body.status, 'enabled');
  const cmds = await t.call('GET', `/v1/devices/${id}/commands`, { token: b.apiKey });
  assert.deepEqual(cmds.body.items, []);
  // a nonexistent id answers the same way as a foreign one
  assertProblem(
    await t.call('GET', '/v1/devices/dev_00000000000000000', { token: a.apiKey }),
    'DEVICE_NOT_FOUND',
  );
});

test('malformed JSON is refused with MALFORMED_JSON', async () => {
  assertProblem(await t.call('POST', '/v1/devices', { token: a.apiKey, raw: '{"name": ' }), 'MALFORMED_JSON');
  assertProblem(
    await t.call('POST', '/v1/device/telemetry', { token: bDevice.accessKey, raw: '{"values": {' }),
    'MALFORMED_JSON',
  );
  assert.equal(await telemetryCount(b.apiKey, bDevice.deviceId), 0);
});

test('oversized bodies are refused with PAYLOAD_TOO_LARGE', async () => {
  const big = JSON.stringify({ values: { s: 'x'.repeat(70 * 1024) } });
  assertProblem(
    await t.call('POST', '/v1/device/telemetry', { token: bDevice.accessKey, raw: big }),
    'PAYLOAD_TOO_LARGE',
  );
  const huge = JSON.stringify({ name: 'x', metadata: { blob: 'x'.repeat(300 * 1024) } });
  assertProblem(await t.call('POST', '/v1/devices', { token: a.apiKey, raw: huge }), 'PAYLOAD_TOO_LARGE');
  assert.equal(await telemetryCount(b.apiKey, bDevice.deviceId), 0);
});

test('a body in another media type is refused with UNSUPPORTED_MEDIA_TYPE', async () => {
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
    assertProblem(
      await t.call('POST', '/v1/device/telemetry', {
        token: bDevice.accessKey,
        raw: '{"values":{"t":1}}',
        headers: { 'content-type': type },
      }),
      'UNSUPPORTED_MEDIA_TYPE',
    );
  }
  assert.equal(await telemetryCount(b.apiKey, bDevice.deviceId), 0);
});

test('unknown and mistyped fields are refused with the path of each', async () => {
  const r = await t.call('POST', '/v1/devices', { token: a.apiKey, body: { name: 'x', colour: 'red' } });
  assertProblem(r, 'VALIDATION_FAILED');
  assert.deepEqual(
    r.body.errors.map((e: { path: string }) => e.path),
    ['/colour'],
  );
  const typed = await t.call('POST', '/v1/devices', { token: a.apiKey, body: { name: 42, tags: 'a' } });
  assertProblem(typed, 'VALIDATION_FAILED');
  assert.deepEqual(typed.body.errors.map((e: { path: string }) => e.path).sort(), ['/name', '/tags']);
  const tel = await t.call('POST', '/v1/device/telemetry', {
    token: bDevice.accessKey,
    body: { values: { t: 1 }, tenant: 'ten_x' },
  });
  assertProblem(tel, 'INVALID_TELEMETRY');
  assert.equal(tel.body.errors[0].path, '/tenant');
  const list = await t.call('GET', '/v1/devices', { token: a.apiKey });
  assert.deepEqual(list.body.items, []);
  assert.equal(await telemetryCount(b.apiKey, bDevice.deviceId), 0);
});

test('far-future and pre-epoch timestamps are refused with TIMESTAMP_OUT_OF_RANGE', async () => {
  for (const ts of [Date.now() + 86_400_000, -1, '1969-12-31T23:59:59Z']) {
    const r = await t.call('POST', '/v1/device/telemetry', {
      token: bDevice.accessKey,
      body: [{ values: { ok: 1 } }, { ts, values: { t: 1 } }],
    });
    assertProblem(r, 'TIMESTAMP_OUT_OF_RANGE');
    assert.equal(r.body.errors[0].path, '/1/ts');
  }
  assert.equal(
    await telemetryCount(b.apiKey, bDevice.deviceId),
    0,
    'a refused message stores none of its readings',
  );
});

test('bad query parameters, cursors and ranges are refused', async () => {
  assertProblem(await t.call('GET', '/v1/devices?limit=0', { token: a.apiKey }), 'VALIDATION_FAILED');
  assertProblem(await t.call('GET', '/v1/devices?limit=abc', { token: a.apiKey }), 'VALIDATION_FAILED');
  assertProblem(await t.call('GET', '/v1/devices?cursor=%%%', { token: a.apiKey }), 'INVALID_CURSOR');
  assertProblem(await t.call('GET', '/v1/devices?bogus=1', { token: a.apiKey }), 'VALIDATION_FAILED');
  const id = bDevice.deviceId;
  assertProblem(
    await t.call('GET', `/v1/devices/${id}/telemetry?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z`, {
      token: b.apiKey,
    }),
    'INVALID_TIME_RANGE',
  );
  assertProblem(
    await t.call('GET', `/v1/devices/${id}/telemetry?from=yesterday`, { token: b.apiKey }),
    'VALIDATION_FAILED',
  );
  assertProblem(
    await t.call('GET', `/v1/devices/${id}/telemetry/aggregate?key=t&from=0&to=${Date.now()}&bucket=1`, {
      token: b.apiKey,
    }),
    'INVALID_TIME_RANGE',
  );
  assertProblem(
    await t.call('POST', `/v1/devices/${id}/commands`, {
      token: b.apiKey,
      body: { name: 'x', ttlSeconds: 10 ** 9 },
    }),
    'VALIDATION_FAILED',
  );
  assertProblem(
    await t.call('POST', `/v1/devices/${id}/commands`, { token: b.apiKey, body: { name: 'bad name!' } }),
    'VALIDATION_FAILED',
  );
  assertProblem(
    await t.call('POST', '/v1/devices', {
      token: a.apiKey,
      body: { name: 'x' },
      headers: { 'idempotency-key': 'has spaces' },
    }),
    'VALIDATION_FAILED',
  );
});

test('unknown routes answer NOT_FOUND as problem+json', async () => {
  assertProblem(await t.call('GET', '/v1/nope'), 'NOT_FOUND');
  assertProblem(await t.call('DELETE', '/v1/tenants'), 'NOT_FOUND');
});

test('health, readiness, metrics and the OpenAPI document are served', async () => {
  assert.deepEqual((await t.call('GET', '/healthz')).body, { status: 'ok' });
  assert.deepEqual((await t.call('GET', '/readyz')).body, { status: 'ready' });
  const metrics = await t.call('GET', '/metrics');
  for (const name of [
    'mooring_mqtt_connections',
    'mooring_messages_in_total',
    'mooring_refused_total',
    'mooring_telemetry_batch_rows',
    'mooring_telemetry_commit_seconds',
  ]) {
    assert.match(metrics.text, new RegExp(`# TYPE ${name} `), name);
  }
  const spec = await t.call('GET', '/openapi.json');
  assert.equal(spec.body.openapi, '3.1.0');
  assert.ok(spec.body.paths['/v1/devices'].post.requestBody);
  assert.ok(spec.body.paths['/v1/device/telemetry'].post);
  assert.equal(spec.body.paths['/mqtt'], undefined);
});
