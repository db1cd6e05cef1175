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

/**
 * Everything the tenant can see, to show that a refused request changed nothing. The audit trail
 * counts only successes here: a refused request is recorded as a failure, and its record must be
 * writable too.
 */
async function tenantState(apiKey: string, deviceId: string) {
  const paths = [
    '/v1/devices',
    `/v1/devices/${deviceId}/commands`,
    `/v1/devices/${deviceId}/telemetry?from=0`,
    `/v1/devices/${deviceId}/events?from=0`,
    '/v1/api-keys',
    '/v1/roles',
    '/v1/provisioning-tokens',
    '/v1/invitations',
    '/v1/audit?limit=500',
  ];
  const state: Record<string, unknown> = {};
  for (const path of paths) {
    const r = await t.call('GET', path, { token: apiKey });
    assert.equal(r.status, 200, `${path}: ${r.text}`);
    state[path] = path.startsWith('/v1/audit')
      ? r.body.items.filter((a: { outcome: string }) => a.outcome !== 'failure')
      : r.body;
  }
  return state;
}

/** JSON text with `inner` nested `depth` arrays deep (`[[[…]]]`): 5,000 deep is a 10 KB body. */
const deep = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const NUL = '\u0000';
const LONE = '\ud800';

type EdgeCase = {
  desc: string;
  method: string;
  /** `{device}` is replaced by the device id. */
  path: string;
  as: 'tenant' | 'device' | 'none';
  body?: unknown;
  raw?: string | Buffer;
  headers?: Record<string, string>;
  code: keyof typeof ERROR_CATALOGUE;
  /** Where `errors[0].path` points, when the refusal names a place. */
  at?: string;
};

const edgeCases: EdgeCase[] = [
  // NUL in every kind of free text
  {
    desc: 'a NUL in a device name',
    method: 'POST',
    path: '/v1/devices',
    as: 'tenant',
    body: { name: `a${NUL}b` },
    code: 'INVALID_TEXT',
    at: '/name',
  },
  {
    desc: 'a NUL in device metadata',
    method: 'POST',
    path: '/v1/devices',
    as: 'tenant',
    body: { name: 'm', metadata: { k: `v${NUL}` } },
    code: 'INVALID_TEXT',
    at: '/metadata/k',
  },
  {
    desc: 'a NUL in a metadata member name',
    method: 'PATCH',
    path: '/v1/devices/{device}',
    as: 'tenant',
    body: { metadata: { [`k${NUL}`]: 1 } },
    code: 'INVALID_TEXT',
    at: `/metadata/k${NUL}`,
  },
  {
    desc: 'a NUL in command params',
    method: 'POST',
    path: '/v1/devices/{device}/commands',
    as: 'tenant',
    body: { name: 'reboot', params: { why: NUL } },
    code: 'INVALID_TEXT',
    at: '/params/why',
  },
  {
    desc: 'a NUL in a telemetry string',
    method: 'POST',
    path: '/v1/device/telemetry',
    as: 'device',
    body: { values: { s: `x${NUL}` } },
    code: 'INVALID_TEXT',
    at: '/values/s',
  },
  {
    desc: 'a NUL in event data',
    method: 'POST',
    path: '/v1/device/events',
    as: 'device',
    body: { type: 'crash', data: { log: `a${NUL}` } },
    code: 'INVALID_TEXT',
    at: '/data/log',
  },
  {
    desc: 'a NUL in an event message',
    method: 'POST',
    path: '/v1/device/events',
    as: 'device',
    body: { type: 'crash', message: NUL },
    code: 'INVALID_TEXT',
    at: '/message',
  },
  {
    desc: 'a NUL in a role description',
    method: 'POST',
    path: '/v1/roles',
    as: 'tenant',
    body: { name: 'viewer2', description: `d${NUL}`, permissions: ['devices:read'] },
    code: 'INVALID_TEXT',
    at: '/description',
  },
  {
    desc: 'a NUL in a provisioning token name',
    method: 'POST',
    path: '/v1/provisioning-tokens',
    as: 'tenant',
    body: { name: `t${NUL}`, kind: 'batch', approval: 'auto' },
    code: 'INVALID_TEXT',
    at: '/name',
  },
  {
    desc: 'a NUL in an API key name',
    method: 'POST',
    path: '/v1/api-keys',
    as: 'tenant',
    body: { name: `k${NUL}`, role: 'viewer' },
    code: 'INVALID_TEXT',
    at: '/name',
  },
  {
    desc: 'a NUL in the login user name (unauthenticated)',
    method: 'POST',
    path: '/v1/auth/login',
    as: 'none',
    body: { username: `admin${NUL}`, password: 'x' },
    code: 'INVALID_TEXT',
    at: '/username',
  },
  // lone surrogates: the credential must not be created while its audit record cannot be written
  {
    desc: 'a lone surrogate in an owner API key name',
    method: 'POST',
    path: '/v1/api-keys',
    as: 'tenant',
    body: { name: `stealth${LONE}`, role: 'owner' },
    code: 'INVALID_TEXT',
    at: '/name',
  },
  {
    desc: 'a lone surrogate in an auto-approving provisioning token name',
    method: 'POST',
    path: '/v1/provisioning-tokens',
    as: 'tenant',
    body: { name: `line${LONE}`, kind: 'batch', approval: 'auto' },
    code: 'INVALID_TEXT',
    at: '/name',
  },
  {
    desc: 'a lone surrogate in an invitation note',
    method: 'POST',
    path: '/v1/invitations',
    as: 'tenant',
    body: { grants: [{ role: 'viewer' }], note: `hi${LONE}` },
    code: 'INVALID_TEXT',
    at: '/note',
  },
  {
    desc: 'a lone low surrogate in device metadata',
    method: 'PATCH',
    path: '/v1/devices/{device}',
    as: 'tenant',
    body: { metadata: { k: '\udc00' } },
    code: 'INVALID_TEXT',
    at: '/metadata/k',
  },
  {
    desc: 'a lone surrogate in a telemetry string',
    method: 'POST',
    path: '/v1/device/telemetry',
    as: 'device',
    body: { values: { s: LONE } },
    code: 'INVALID_TEXT',
    at: '/values/s',
  },
  // nesting 5,000 deep (a 10 KB body)
  {
    desc: 'metadata nested 5,000 deep',
    method: 'POST',
    path: '/v1/devices',
    as: 'tenant',
    raw: `{"name":"deep","metadata":{"a":${deep(5000)}}}`,
    code: 'JSON_TOO_DEEP',
  },
  {
    desc: 'command params nested 5,000 deep',
    method: 'POST',
    path: '/v1/devices/{device}/commands',
    as: 'tenant',
    raw: `{"name":"x","params":${deep(5000)}}`,
    code: 'JSON_TOO_DEEP',
  },
  {
    desc: 'event data nested 5,000 deep',
    method: 'POST',
    path: '/v1/device/events',
    as: 'device',
    raw: `{"type":"x","data":{"a":${deep(5000)}}}`,
    code: 'JSON_TOO_DEEP',
  },
  // path parameters and query strings
  {
    desc: 'a NUL in a path parameter',
    method: 'GET',
    path: '/v1/pki/crl/ca_x%00',
    as: 'none',
    code: 'INVALID_TEXT',
    at: 'params:/caId',
  },
  {
    desc: 'a NUL in a device id',
    method: 'DELETE',
    path: '/v1/devices/dev_x%00',
    as: 'tenant',
    code: 'INVALID_TEXT',
    at: 'params:/deviceId',
  },
  {
    desc: 'a NUL in a query parameter',
    method: 'GET',
    path: '/v1/devices?tag=a%00',
    as: 'tenant',
    code: 'INVALID_TEXT',
    at: 'querystring:/tag',
  },
  {
    desc: 'minAgeSeconds=1e20',
    method: 'GET',
    path: '/v1/provisioning/operations?minAgeSeconds=1e20',
    as: 'tenant',
    code: 'VALIDATION_FAILED',
    at: 'querystring:/minAgeSeconds',
  },
  {
    desc: 'a provisioning token ttlSeconds of 1e20',
    method: 'POST',
    path: '/v1/provisioning-tokens',
    as: 'tenant',
    raw: '{"name":"t","kind":"batch","approval":"auto","ttlSeconds":1e20}',
    code: 'VALIDATION_FAILED',
    at: '/ttlSeconds',
  },
  {
    desc: 'a telemetry time range at 1e25',
    method: 'GET',
    path: '/v1/devices/{device}/telemetry?from=0&to=10000000000000000000000000',
    as: 'tenant',
    code: 'VALIDATION_FAILED',
    at: 'querystring:/to',
  },
  {
    desc: 'a surrogate percent-encoded in the path',
    method: 'GET',
    path: '/v1/devices/%ED%A0%80',
    as: 'tenant',
    code: 'INVALID_TEXT',
  },
  // bodies that are not one UTF-8 I-JSON document
  {
    desc: 'invalid UTF-8',
    method: 'POST',
    path: '/v1/devices',
    as: 'tenant',
    raw: Buffer.from([...Buffer.from('{"name":"'), 0xc3, 0x28, ...Buffer.from('"}')]),
    code: 'INVALID_TEXT',
  },
  {
    desc: 'a byte order mark',
    method: 'POST',
    path: '/v1/devices',
    as: 'tenant',
    raw: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"name":"bom"}')]),
    code: 'MALFORMED_JSON',
  },
  {
    desc: 'a duplicate member name',
    method: 'POST',
    path: '/v1/devices',
    as: 'tenant',
    raw: '{"name":"one","name":"two"}',
    code: 'MALFORMED_JSON',
  },
  {
    desc: 'a charset=utf-16 body',
    method: 'POST',
    path: '/v1/devices',
    as: 'tenant',
    raw: Buffer.from('{"name":"u16"}', 'utf16le'),
    headers: { 'content-type': 'application/json; charset=utf-16' },
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    desc: 'a number beyond a double (1e999)',
    method: 'POST',
    path: '/v1/devices',
    as: 'tenant',
    raw: '{"name":"big","metadata":{"n":1e999}}',
    code: 'NUMBER_OUT_OF_RANGE',
    at: '/metadata/n',
  },
  {
    desc: 'a telemetry value of 1e999',
    method: 'POST',
    path: '/v1/device/telemetry',
    as: 'device',
    raw: '{"values":{"n":-1e999}}',
    code: 'NUMBER_OUT_OF_RANGE',
    at: '/values/n',
  },
];

test('text and structure the store cannot hold are refused at the edge, and nothing changes', async () => {
  const tenant = await t.tenant();
  const device = await t.device(tenant.apiKey);
  const before = await tenantState(tenant.apiKey, device.deviceId);
  for (const c of edgeCases) {
    const token = c.as === 'tenant' ? tenant.apiKey : c.as === 'device' ? device.accessKey : undefined;
    const r = await t.call(c.method, c.path.replace('{device}', device.deviceId), {
      ...(token ? { token } : {}),
      ...(c.body !== undefined ? { body: c.body } : {}),
      ...(c.raw !== undefined ? { raw: c.raw } : {}),
      ...(c.headers ? { headers: c.headers } : {}),
    });
    assert.equal(r.body?.code, c.code, `${c.desc}: expected ${c.code}, got ${r.status} ${r.text}`);
    assertProblem(r, c.code);
    if (c.at !== undefined) assert.equal(r.body.errors?.[0]?.path, c.at, c.desc);
  }
  assert.deepEqual(await tenantState(tenant.apiKey, device.deviceId), before);
  const audit = await t.call('GET', '/v1/audit?limit=500', { token: tenant.apiKey });
  const refusals = audit.body.items.filter((a: { outcome: string }) => a.outcome === 'failure');
  assert.ok(refusals.length > 10, 'refused tenant requests are audited as failures');
  const verify = await t.call('GET', '/v1/audit/verify', { token: tenant.apiKey });
  assert.equal(verify.body.intact, true, verify.text);
  // the device and the tenant still work, with text the store can hold
  const ok = await t.call('POST', '/v1/device/telemetry', {
    token: device.accessKey,
    body: { values: { s: 'fine 😀', n: 1.5e308 } },
  });
  assert.equal(ok.status, 202, ok.text);
  for (const type of ['application/json; charset=utf-8', 'application/json;charset="UTF-8"']) {
    const named = await t.call('POST', '/v1/device/telemetry', {
      token: device.accessKey,
      raw: '{"values":{"t":1}}',
      headers: { 'content-type': type },
    });
    assert.equal(named.status, 202, `${type}: ${named.text}`);
  }
});

test('every number a request may carry declares its range in the OpenAPI document', async () => {
  const spec = (await t.call('GET', '/openapi.json')).body;
  const unbounded: string[] = [];
  const visit = (schema: Record<string, any> | undefined, where: string) => {
    if (!schema || typeof schema !== 'object') return;
    const types = [schema.type].flat();
    if (
      (types.includes('integer') || types.includes('number')) &&
      schema.const === undefined &&
      schema.enum === undefined &&
      (schema.minimum ?? schema.exclusiveMinimum) === undefined
    )
      unbounded.push(`${where} (no minimum)`);
    if (
      (types.includes('integer') || types.includes('number')) &&
      schema.const === undefined &&
      schema.enum === undefined &&
      (schema.maximum ?? schema.exclusiveMaximum) === undefined
    )
      unbounded.push(`${where} (no maximum)`);
    for (const [k, v] of Object.entries(schema.properties ?? {})) visit(v as any, `${where}/${k}`);
    for (const k of ['anyOf', 'oneOf', 'allOf'])
      for (const [i, v] of (schema[k] ?? []).entries()) visit(v, `${where}|${k}${i}`);
    for (const k of ['items', 'additionalProperties']) visit(schema[k], `${where}/${k}`);
    for (const v of Object.values(schema.patternProperties ?? {})) visit(v as any, `${where}/*`);
  };
  let numbers = 0;
  const count = (s: unknown) =>
    (numbers += (JSON.stringify(s ?? null).match(/"type":"(integer|number)"/g) ?? []).length);
  for (const [path, ops] of Object.entries(spec.paths as Record<string, any>)) {
    for (const [method, op] of Object.entries(ops as Record<string, any>)) {
      for (const p of op.parameters ?? []) {
        visit(p.schema, `${method.toUpperCase()} ${path} ${p.in}:${p.name}`);
        count(p.schema);
      }
      const body = op.requestBody?.content?.['application/json']?.schema;
      visit(body, `${method.toUpperCase()} ${path} body`);
      count(body);
    }
  }
  assert.ok(numbers > 10, 'the walk sees the numeric fields');
  assert.deepEqual(unbounded, []);
});

test('a registration token spelled other than in canonical base64url is refused', async () => {
  const pt = await t.call('POST', '/v1/provisioning-tokens', {
    token: a.apiKey,
    body: { name: 'canon', kind: 'batch', approval: 'auto' },
  });
  const started = await t.call('POST', '/v1/device/provisioning/operations', {
    token: pt.body.secret,
    body: { serial: 'CANON-1' },
  });
  const rt = started.body.registrationToken as string;
  assert.equal((await t.call('GET', '/v1/device/commands', { token: rt })).status, 200);
  // An Ed25519 signature is 64 bytes: its 86th character carries 4 unused bits. Setting one of them
  // changes the text and not the decoded signature.
  const last = rt.at(-1)!;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const twin = rt.slice(0, -1) + alphabet[alphabet.indexOf(last) + 1]!;
  assert.deepEqual(
    Buffer.from(twin.split('.')[2]!, 'base64url'),
    Buffer.from(rt.split('.')[2]!, 'base64url'),
    'the same signature bytes',
  );
  assertProblem(await t.call('GET', '/v1/device/commands', { token: twin }), 'INVALID_CREDENTIALS');
  await assert.rejects(
    t.connectDevice(started.body.deviceId, twin),
    (e) => (e as { code?: number }).code === 4,
  );
});
test('a made-up pagination cursor is refused', async () => {
  const made = Buffer.from(JSON.stringify('dev_madeup')).toString('base64url');
  assertProblem(await t.call('GET', `/v1/devices?cursor=${made}`, { token: a.apiKey }), 'INVALID_CURSOR');
});
