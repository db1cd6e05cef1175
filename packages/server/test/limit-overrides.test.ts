/**
 * Limit overrides and limit events over HTTPS: a tenant's override of the per-credential REST limit
 * applies from the next count and names itself as `configured`, while another tenant keeps the
 * server's value; a device's override beats its tenant's; another tenant's device is 404; a caller
 * without tenant:manage is refused and changes nothing; bad names and values are 400 with their path.
 * A 429 is listed as a limit event (and as a fleet problem), and a flood of refusals stores a bounded
 * number of rows.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type HttpResponse, type TestPlatform } from './harness.js';

const SERVER_VALUE = 60;
const PER_KEY = 'rest.requests_per_key';

let t: TestPlatform;
let admin: string;
before(async () => {
  t = await startTestPlatform({ MOORING_LIMIT_REST_REQUESTS_PER_KEY: String(SERVER_VALUE) });
  admin = await t.adminToken();
});
after(() => t.stop());

/** A fresh API key of the tenant (a fresh count), with a role. */
async function key(tenantId: string, role?: string): Promise<string> {
  const r = await t.call('POST', `/v1/tenants/${tenantId}/api-keys`, {
    token: admin,
    body: { name: `k-${Math.random()}`, ...(role ? { role } : {}) },
  });
  assert.equal(r.status, 201, r.text);
  return r.body.secret as string;
}

interface Value {
  limit: string;
  default: number;
  tenantOverride: number | null;
  deviceOverride?: number | null;
  effective: number;
  overridable: string | null;
  scope: string;
  windowMs: number | null;
}
const entry = (r: HttpResponse, limit: string) => {
  assert.equal(r.status, 200, r.text);
  const v = (r.body.items as Value[]).find((i) => i.limit === limit);
  assert.ok(v, `${limit} listed`);
  return v;
};

async function until<T>(read: () => Promise<T | undefined>, what: string): Promise<T> {
  const end = Date.now() + 5000;
  for (;;) {
    const v = await read();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a tenant override of the per-credential limit applies on the next count; another tenant keeps the default', async () => {
  const a = await t.tenant();
  const b = await t.tenant();
  const set = await t.call('PUT', '/v1/tenant/limits', {
    token: a.apiKey,
    body: { items: [{ limit: PER_KEY, value: 3 }] },
  });
  const v = entry(set, PER_KEY);
  assert.deepEqual(
    { d: v.default, o: v.tenantOverride, e: v.effective, ov: v.overridable, s: v.scope, w: v.windowMs },
    { d: SERVER_VALUE, o: 3, e: 3, ov: 'device', s: 'api-key', w: 10_000 },
  );

  const fresh = await key(a.tenantId);
  for (let i = 1; i <= 3; i++)
    assert.equal((await t.call('GET', '/v1/devices', { token: fresh })).status, 200);
  const refused = await t.call('GET', '/v1/devices', { token: fresh });
  assert.equal(refused.status, 429, refused.text);
  assert.equal(refused.body.limit, PER_KEY);
  assert.equal(refused.body.configured, 3);
  assert.equal(refused.body.observed, 4);
  assert.ok(refused.headers['retry-after']);

  // The other tenant: the server's value.
  for (let i = 1; i <= 5; i++)
    assert.equal((await t.call('GET', '/v1/devices', { token: b.apiKey })).status, 200);
  const other = await t.call('GET', '/v1/tenant/limits', { token: b.apiKey });
  assert.deepEqual(
    (({ tenantOverride, effective }) => ({ tenantOverride, effective }))(entry(other, PER_KEY)),
    { tenantOverride: null, effective: SERVER_VALUE },
  );

  // The change is in the audit trail.
  const audit = await t.call('GET', '/v1/audit?limit=100', { token: await key(a.tenantId) });
  assert.equal(audit.status, 200, audit.text);
  assert.ok((audit.body.items as { action: string }[]).some((x) => x.action === 'PUT /v1/tenant/limits'));

  // Cleared: the server's value again, from the next count.
  const cleared = await t.call('PUT', '/v1/tenant/limits', {
    token: await key(a.tenantId),
    body: { items: [{ limit: PER_KEY, value: null }] },
  });
  assert.deepEqual(
    (({ tenantOverride, effective }) => ({ tenantOverride, effective }))(entry(cleared, PER_KEY)),
    { tenantOverride: null, effective: SERVER_VALUE },
  );
  assert.equal((await t.call('GET', '/v1/devices', { token: fresh })).status, 200);
});

test("a device's override beats its tenant's; another tenant's device is 404", async () => {
  const a = await t.tenant();
  const b = await t.tenant();
  const d = await t.device(a.apiKey);
  const owner = await key(a.tenantId);
  assert.equal(
    (
      await t.call('PUT', '/v1/tenant/limits', {
        token: owner,
        body: {
          items: [
            { limit: PER_KEY, value: 5 },
            { limit: 'mqtt.messages_per_device', value: 10 },
          ],
        },
      })
    ).status,
    200,
  );
  const set = await t.call('PUT', `/v1/devices/${d.deviceId}/limits`, {
    token: owner,
    body: { items: [{ limit: PER_KEY, value: 2 }] },
  });
  const v = entry(set, PER_KEY);
  assert.deepEqual({ t: v.tenantOverride, d: v.deviceOverride, e: v.effective }, { t: 5, d: 2, e: 2 });
  const msgs = entry(set, 'mqtt.messages_per_device');
  assert.deepEqual({ d: msgs.deviceOverride, e: msgs.effective }, { d: null, e: 10 });
  // Tenant-wide limits are not listed for a device.
  assert.ok(!(set.body.items as Value[]).some((i) => i.limit === 'webhooks.deliveries_per_tenant'));

  // The device's own credential is held to the device's value: 2, not the tenant's 5.
  for (let i = 1; i <= 2; i++) {
    const r = await t.call('GET', '/v1/device/commands', { token: d.accessKey });
    assert.notEqual(r.status, 429, r.text);
  }
  const refused = await t.call('GET', '/v1/device/commands', { token: d.accessKey });
  assert.equal(refused.status, 429, refused.text);
  assert.equal(refused.body.configured, 2);

  const bKey = b.apiKey;
  for (const [method, body] of [
    ['GET', undefined],
    ['PUT', { items: [{ limit: PER_KEY, value: 1 }] }],
  ] as const) {
    const r = await t.call(method, `/v1/devices/${d.deviceId}/limits`, { token: bKey, body });
    assert.equal(r.status, 404, r.text);
    assert.equal(r.body.code, 'DEVICE_NOT_FOUND');
  }
  const missing = await t.call('GET', '/v1/devices/dev_nope/limits', { token: owner });
  assert.equal(missing.status, 404, missing.text);
  // Unchanged by the other tenant's attempt.
  const after = await t.call('GET', `/v1/devices/${d.deviceId}/limits`, { token: owner });
  assert.equal(entry(after, PER_KEY).deviceOverride, 2);
});

test('a caller without tenant:manage is refused and changes nothing; bad values are 400 with their path', async () => {
  const a = await t.tenant();
  const d = await t.device(a.apiKey);
  for (const role of ['admin', 'operator', 'viewer']) {
    const k = await key(a.tenantId, role);
    for (const path of ['/v1/tenant/limits', `/v1/devices/${d.deviceId}/limits`]) {
      const r = await t.call('PUT', path, { token: k, body: { items: [{ limit: PER_KEY, value: 1 }] } });
      assert.equal(r.status, 403, `${role} ${path}: ${r.text}`);
      assert.equal(r.body.code, 'FORBIDDEN');
    }
  }
  const owner = await key(a.tenantId);
  const now = await t.call('GET', '/v1/tenant/limits', { token: owner });
  assert.equal(entry(now, PER_KEY).tenantOverride, null);
  const dev = await t.call('GET', `/v1/devices/${d.deviceId}/limits`, { token: owner });
  assert.equal(entry(dev, PER_KEY).deviceOverride, null);

  const bad: [string, unknown, string][] = [
    ['/v1/tenant/limits', { items: [{ limit: 'rest.no_such_limit', value: 1 }] }, '/items/0/limit'],
    ['/v1/tenant/limits', { items: [{ limit: PER_KEY, value: SERVER_VALUE + 1 }] }, '/items/0/value'],
    ['/v1/tenant/limits', { items: [{ limit: PER_KEY, value: 0 }] }, '/items/0/value'],
    ['/v1/tenant/limits', { items: [{ limit: PER_KEY, value: 1.5 }] }, '/items/0/value'],
    ['/v1/tenant/limits', { items: [{ limit: 'rest.requests_per_address', value: 1 }] }, '/items/0/limit'],
    [
      '/v1/tenant/limits',
      {
        items: [
          { limit: PER_KEY, value: 5 },
          { limit: 'auth.failed_logins_per_user_name', value: 1 },
        ],
      },
      '/items/1/limit',
    ],
    [
      `/v1/devices/${d.deviceId}/limits`,
      { items: [{ limit: 'webhooks.deliveries_per_tenant', value: 1 }] },
      '/items/0/limit',
    ],
    ['/v1/tenant/limits', { items: [] }, '/items'],
  ];
  for (const [path, body, at] of bad) {
    const r = await t.call('PUT', path, { token: owner, body });
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
    assert.ok(
      (r.body.errors as { path: string }[] | undefined)?.some((e) => e.path === at),
      `${JSON.stringify(body)} names ${at}: ${r.text}`,
    );
  }
  // Nothing of a refused list was written, its valid first item included.
  const still = await t.call('GET', '/v1/tenant/limits', { token: owner });
  assert.equal(entry(still, PER_KEY).tenantOverride, null);
});

test('a 429 is listed as a limit event and a fleet problem; a flood stores a bounded number of rows', async () => {
  const a = await t.tenant();
  const owner = await key(a.tenantId);
  const reader = await key(a.tenantId, 'viewer');
  const set = await t.call('PUT', '/v1/tenant/limits', {
    token: owner,
    body: { items: [{ limit: PER_KEY, value: 2 }] },
  });
  assert.equal(set.status, 200, set.text);
  // The reader's own count is held to 2 per 10 s too: wait for its window where needed.
  const read = async (path: string) => {
    for (;;) {
      const r = await t.call('GET', path, { token: reader });
      if (r.status !== 429) return r;
      await new Promise((res) => setTimeout(res, Number(r.body.retryAfterMs) + 10));
    }
  };

  const flooder = await key(a.tenantId);
  const started = Date.now();
  let refusals = 0;
  for (let batch = 0; batch < 25; batch++) {
    const rs = await Promise.all(
      Array.from({ length: 20 }, () => t.call('GET', '/v1/devices', { token: flooder })),
    );
    refusals += rs.filter((r) => r.status === 429).length;
  }
  const took = Date.now() - started;
  assert.ok(refusals >= 490, `refusals ${refusals}`);

  const events = await until(async () => {
    const r = await read(`/v1/limit-events?name=${PER_KEY}`);
    assert.equal(r.status, 200, r.text);
    const items = r.body.items as { subject: string; configured: number; observed: number; count: number }[];
    return items.length > 0 ? items : undefined;
  }, 'the limit event');
  const e = events[0]!;
  assert.match(e.subject, /^api-key:/);
  assert.equal(e.configured, 2);
  assert.ok(e.observed >= 3, `observed ${e.observed}`);
  // One row per subject per 10 s window: a flood of 500 is a handful of rows, not 500.
  const windows = Math.ceil(took / 10_000) + 1;
  assert.ok(events.length <= windows, `${events.length} rows for ${refusals} refusals in ${took} ms`);

  const problems = await read('/v1/fleet/problems?kind=limit_exceeded');
  assert.equal(problems.status, 200, problems.text);
  const p = (problems.body.items as { kind: string; code: string; deviceId: string | null }[])[0];
  assert.ok(p, problems.text);
  assert.deepEqual(
    { kind: p.kind, code: p.code, deviceId: p.deviceId },
    {
      kind: 'limit_exceeded',
      code: PER_KEY,
      deviceId: null,
    },
  );

  // Another tenant sees none of them.
  const b = await t.tenant();
  const theirs = await t.call('GET', '/v1/limit-events', { token: b.apiKey });
  assert.equal(theirs.status, 200, theirs.text);
  assert.deepEqual(theirs.body.items, []);

  const unknown = await read('/v1/limit-events?name=rest.nope');
  assert.equal(unknown.status, 400, unknown.text);
});

test('commands and desired configuration of a device: limit + 1 is a 429 naming the limit; nothing is changed; another device is not held', async () => {
  const a = await t.tenant();
  const owner = await key(a.tenantId);
  const held = await t.device(owner);
  const other = await t.device(owner);
  const set = await t.call('PUT', `/v1/devices/${held.deviceId}/limits`, {
    token: owner,
    body: {
      items: [
        { limit: 'commands.created_per_device', value: 3 },
        { limit: 'config.writes_per_device', value: 2 },
      ],
    },
  });
  assert.equal(set.status, 200, set.text);

  const command = (deviceId: string) =>
    t.call('POST', `/v1/devices/${deviceId}/commands`, { token: owner, body: { name: 'reboot' } });
  for (let i = 0; i < 3; i++) assert.equal((await command(held.deviceId)).status, 201);
  const refused = await command(held.deviceId);
  assert.equal(refused.status, 429, refused.text);
  assert.equal(refused.body.code, 'RATE_LIMITED');
  assert.equal(refused.body.limit, 'commands.created_per_device');
  assert.equal(refused.body.scope, 'device');
  assert.equal(refused.body.configured, 3);
  assert.equal(refused.body.observed, 4);
  const wait = Number(refused.body.retryAfterMs);
  assert.ok(wait > 0 && wait <= 60_000, `retryAfterMs ${wait}`);
  assert.equal(refused.headers['retry-after'], String(Math.ceil(wait / 1000)));
  const listed = await t.call('GET', `/v1/devices/${held.deviceId}/commands`, { token: owner });
  assert.equal(listed.status, 200, listed.text);
  assert.equal(listed.body.items.length, 3, 'the refused command was not created');
  // Another device's count is its own (the server's default, 60 a minute).
  assert.equal((await command(other.deviceId)).status, 201);

  const desired = (n: number) =>
    t.call('PATCH', `/v1/devices/${held.deviceId}/config/desired`, {
      token: owner,
      body: { n },
      headers: { 'content-type': 'application/merge-patch+json' },
    });
  assert.equal((await desired(1)).status, 200);
  assert.equal((await desired(2)).status, 200);
  const writeRefused = await desired(3);
  assert.equal(writeRefused.status, 429, writeRefused.text);
  assert.equal(writeRefused.body.limit, 'config.writes_per_device');
  assert.equal(writeRefused.body.configured, 2);
  const twin = await t.call('GET', `/v1/devices/${held.deviceId}/config`, { token: owner });
  assert.equal(twin.status, 200, twin.text);
  assert.deepEqual(
    { version: twin.body.desired.version, doc: twin.body.desired.document },
    {
      version: 2,
      doc: { n: 2 },
    },
  );

  // Both refusals are the device's limit events.
  const reader = await key(a.tenantId);
  const events = await until(async () => {
    const r = await t.call('GET', `/v1/limit-events?deviceId=${held.deviceId}`, { token: reader });
    if (r.status === 429) return undefined; // this file's REST limit per key is low: poll on
    assert.equal(r.status, 200, r.text);
    const names = new Set((r.body.items as { limit: string }[]).map((e) => e.limit));
    return names.size === 2 ? names : undefined;
  }, 'the device limit events');
  assert.deepEqual([...events].sort(), ['commands.created_per_device', 'config.writes_per_device']);
});
