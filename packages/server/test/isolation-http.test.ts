/**
 * The HTTP isolation matrix, generated from the route table (the OpenAPI document lists every route
 * the server registered). Each route declares who may call it; every route is then called as every
 * built-in role (API keys), a tenant user's session and a platform administrator, against its own
 * tenant's object, another tenant's object and a nonexistent id. Expected: allowed where the role
 * holds the route's permission (and 404 for the other tenant's or a nonexistent object), 403 otherwise.
 * A route with no row here fails the test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILT_IN_ROLES, type Permission } from '../src/domains/access/access.js';
import { MooringClient } from '@mooring/client';
import { startTestPlatform, type TestPlatform } from './harness.js';
import { deviceKeyAndCsr } from './openssl.js';

type Need = Permission | 'session' | 'platform' | 'public' | 'device' | 'provisioning';
interface Row {
  need: Need;
  body?: (f: Fixture) => unknown;
  query?: string;
  /** Params re-made for every allowed call on the caller's own tenant (the call consumes them). */
  fresh?: (keyof Fixture)[];
  /** Statuses an allowed call may answer besides 2xx/3xx and domain refusals other than 401/403/404. */
  ok?: number[];
}

const ROUTES: Record<string, Row> = {
  'GET /healthz': { need: 'public' },
  'GET /readyz': { need: 'public' },
  'GET /metrics': { need: 'public' },
  'GET /.well-known/jwks.json': { need: 'public' },
  'GET /v1/time': { need: 'public' },
  'GET /v1/time/key': { need: 'public' },
  'GET /v1/pki/crl/{caId}': { need: 'public' },
  'POST /v1/auth/login': { need: 'public' },
  'POST /v1/auth/logout': { need: 'public' },
  'POST /v1/auth/invitations/accept': { need: 'public' },
  'POST /v1/auth/password-reset': { need: 'public' },

  'GET /v1/auth/me': { need: 'session' },
  'POST /v1/auth/password': {
    need: 'session',
    body: () => ({ currentPassword: 'not the password', newPassword: 'tidal harbour rope 2' }),
    ok: [401],
  },
  'GET /v1/auth/sessions': { need: 'session' },
  'DELETE /v1/auth/sessions/{sessionId}': { need: 'session', ok: [404] },
  'POST /v1/auth/totp': { need: 'session' },
  'POST /v1/auth/totp/confirm': { need: 'session', body: () => ({ code: '000000' }), ok: [401] },
  'POST /v1/auth/totp/disable': { need: 'session', body: () => ({ password: 'x', code: '000000' }) },

  'POST /v1/tenants': { need: 'platform', body: () => ({ name: `t-${Math.random()}` }) },
  'GET /v1/tenants': { need: 'platform' },
  'GET /v1/tenants/{tenantId}': { need: 'platform' },
  'POST /v1/tenants/{tenantId}/users': {
    need: 'platform',
    body: () => ({
      username: `p-${Math.random()}`,
      password: 'tidal harbour rope',
      grants: [{ role: 'viewer' }],
    }),
  },
  'POST /v1/tenants/{tenantId}/api-keys': { need: 'platform', body: () => ({ name: 'k', role: 'viewer' }) },
  'POST /v1/platform/signing-keys/rotate': { need: 'platform' },
  'GET /v1/platform/audit': { need: 'platform' },
  'GET /v1/platform/audit/export': { need: 'platform' },
  'GET /v1/platform/audit/verify': { need: 'platform' },

  'GET /v1/tenant': { need: 'tenant:read' },
  'PATCH /v1/tenant': { need: 'tenant:manage', body: () => ({ requireTotp: false }) },
  'GET /v1/users': { need: 'users:read' },
  'GET /v1/users/{userId}': { need: 'users:read' },
  'PATCH /v1/users/{userId}': { need: 'users:manage', body: () => ({ grants: [{ role: 'viewer' }] }) },
  'DELETE /v1/users/{userId}': { need: 'users:manage', fresh: ['userId'] },
  'POST /v1/users/{userId}/password-reset': { need: 'users:manage' },
  'GET /v1/users/{userId}/sessions': { need: 'users:read' },
  'DELETE /v1/users/{userId}/sessions': { need: 'users:manage' },
  'DELETE /v1/users/{userId}/sessions/{sessionId}': { need: 'users:manage', fresh: ['userId', 'sessionId'] },
  'DELETE /v1/users/{userId}/totp': { need: 'users:manage' },
  'DELETE /v1/users/{userId}/lockout': { need: 'users:manage' },
  'GET /v1/invitations': { need: 'users:read' },
  'POST /v1/invitations': { need: 'users:manage', body: () => ({ grants: [{ role: 'viewer' }] }) },
  'DELETE /v1/invitations/{invitationId}': { need: 'users:manage', fresh: ['invitationId'] },
  'GET /v1/roles': { need: 'users:read' },
  'POST /v1/roles': {
    need: 'roles:manage',
    body: () => ({ name: `r${Math.random().toString(36).slice(2, 10)}`, permissions: ['devices:read'] }),
  },
  'PUT /v1/roles/{name}': { need: 'roles:manage', body: () => ({ permissions: ['devices:read'] }) },
  'DELETE /v1/roles/{name}': { need: 'roles:manage', fresh: ['name'] },

  'GET /v1/api-keys': { need: 'keys:read' },
  'POST /v1/api-keys': { need: 'keys:manage', body: () => ({ name: 'k', permissions: ['devices:read'] }) },
  'GET /v1/api-keys/{keyId}': { need: 'keys:read' },
  'DELETE /v1/api-keys/{keyId}': { need: 'keys:manage', fresh: ['keyId'] },
  'POST /v1/api-keys/{keyId}/rotate': { need: 'keys:manage', body: () => ({ overlapSeconds: 0 }) },

  'POST /v1/devices': { need: 'devices:write', body: () => ({ name: 'matrix' }) },
  'GET /v1/devices': { need: 'devices:read' },
  'GET /v1/devices/{deviceId}': { need: 'devices:read' },
  'PATCH /v1/devices/{deviceId}': { need: 'devices:write', body: () => ({ name: 'renamed' }) },
  'DELETE /v1/devices/{deviceId}': { need: 'devices:delete', fresh: ['deviceId'] },
  'POST /v1/devices/{deviceId}/disable': { need: 'devices:write' },
  'POST /v1/devices/{deviceId}/enable': { need: 'devices:write' },
  'POST /v1/devices/{deviceId}/access-keys': { need: 'devices:credentials' },
  'GET /v1/devices/{deviceId}/access-keys': { need: 'devices:credentials' },
  'DELETE /v1/devices/{deviceId}/access-keys/{accessKeyId}': { need: 'devices:credentials' },
  'GET /v1/devices/{deviceId}/presence': { need: 'devices:read' },
  'GET /v1/devices/{deviceId}/telemetry': { need: 'telemetry:read' },
  'GET /v1/devices/{deviceId}/telemetry/latest': { need: 'telemetry:read' },
  'GET /v1/devices/{deviceId}/telemetry/aggregate': {
    need: 'telemetry:read',
    query: '?key=t&from=0&to=3600000&bucket=60000',
  },
  'GET /v1/devices/{deviceId}/events': { need: 'telemetry:read' },
  'POST /v1/devices/{deviceId}/commands': { need: 'devices:command', body: () => ({ name: 'reboot' }) },
  'GET /v1/devices/{deviceId}/commands': { need: 'devices:read' },
  'GET /v1/devices/{deviceId}/commands/{commandId}': { need: 'devices:read' },
  'POST /v1/devices/{deviceId}/registration-tokens/revoke': { need: 'devices:credentials' },
  'GET /v1/devices/{deviceId}/certificates': { need: 'certificates:read' },
  'POST /v1/devices/{deviceId}/release': {
    need: 'ownership:transfer',
    body: () => ({ keepData: false }),
    fresh: ['deviceId'],
  },
  'POST /v1/devices/claim': { need: 'ownership:transfer', body: () => ({ claimCode: 'not-a-code' }) },

  'POST /v1/device/telemetry': { need: 'device' },
  'POST /v1/device/events': { need: 'device' },
  'GET /v1/device/commands': { need: 'device' },
  'POST /v1/device/commands/{commandId}/result': { need: 'device' },
  'POST /v1/device/certificates': { need: 'device' },
  'POST /v1/device/provisioning/operations': { need: 'provisioning' },
  'GET /v1/device/provisioning/operations/{operationId}': { need: 'provisioning' },
  'POST /v1/device/provisioning/refresh': { need: 'provisioning' },

  'POST /v1/provisioning-tokens': {
    need: 'provisioning:manage',
    body: () => ({ name: 'pt', kind: 'batch', maxUses: 5, approval: 'manual' }),
  },
  'GET /v1/provisioning-tokens': { need: 'provisioning:read' },
  'GET /v1/provisioning-tokens/{tokenId}': { need: 'provisioning:read' },
  'DELETE /v1/provisioning-tokens/{tokenId}': { need: 'provisioning:manage' },
  'GET /v1/provisioning/operations': { need: 'provisioning:read' },
  'GET /v1/provisioning/operations/{operationId}': { need: 'provisioning:read' },
  'POST /v1/provisioning/operations/{operationId}/approve': {
    need: 'provisioning:approve',
    body: () => ({}),
  },
  'POST /v1/provisioning/operations/{operationId}/reject': { need: 'provisioning:approve', body: () => ({}) },
  'POST /v1/provisioning/batches': {
    need: 'factory:provision',
    body: () => ({ batchId: `b-${Math.random()}`, items: [{ serial: `S-${Math.random()}` }] }),
  },

  'POST /v1/certificates/{serial}/revoke': { need: 'certificates:manage', body: () => ({}) },
  'POST /v1/certificates/{serial}/approve': { need: 'certificates:manage' },
  'POST /v1/pki/registration-codes': { need: 'certificates:manage' },
  'POST /v1/pki/cas': {
    need: 'certificates:manage',
    body: () => ({ caCertificate: 'x', verificationCertificate: 'x', crl: 'x', registrationPolicy: 'auto' }),
  },
  'GET /v1/pki/cas': { need: 'certificates:read' },
  'POST /v1/pki/cas/{caId}/disable': { need: 'certificates:manage' },
  'POST /v1/pki/cas/{caId}/enable': { need: 'certificates:manage' },
  'PUT /v1/pki/cas/{caId}/crl': { need: 'certificates:manage', body: () => ({ crl: 'x' }) },

  'GET /v1/audit': { need: 'audit:read' },
  'GET /v1/audit/export': { need: 'audit:read' },
  'GET /v1/audit/verify': { need: 'audit:read' },
};

/** One tenant's objects, one per path parameter the routes use. */
interface Fixture {
  tenantId: string;
  deviceId: string;
  accessKeyId: string;
  commandId: string;
  keyId: string;
  tokenId: string;
  operationId: string;
  serial: string;
  caId: string;
  userId: string;
  sessionId: string;
  invitationId: string;
  name: string;
}

const NONEXISTENT: Fixture = {
  tenantId: 'ten_00000000000000000000',
  deviceId: 'dev_00000000000000000000',
  accessKeyId: 'acc_00000000000000000000',
  commandId: 'cmd_00000000000000000000',
  keyId: 'key_00000000000000000000',
  tokenId: 'ptk_00000000000000000000',
  operationId: 'pop_00000000000000000000',
  serial: '0badc0ffee',
  caId: 'ca_00000000000000000000',
  userId: 'usr_00000000000000000000',
  sessionId: 'ses_00000000000000000000',
  invitationId: 'inv_00000000000000000000',
  name: 'no-such-role',
};

let t: TestPlatform;
let api: MooringClient;
const work = mkdtempSync(join(tmpdir(), 'mooring-matrix-'));

/** One request on the shared kept-alive client; the body parsed when it is JSON. */
async function call(method: string, path: string, token?: string, body?: unknown) {
  const r = await api.raw(method, path, { token: token ?? null, ...(body !== undefined ? { body } : {}) });
  const text = r.body.toString('utf8');
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: r.status, body: parsed as any };
}

async function must(method: string, path: string, token: string, body?: unknown, status = 201) {
  const r = await call(method, path, token, body);
  assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Makes one object of each kind in a tenant, with its owner key. */
async function makeMakers(tenantId: string, owner: string) {
  let n = 0;
  const make = {
    deviceId: async () => (await must('POST', '/v1/devices', owner, { name: `d${++n}` })).id as string,
    userId: async () =>
      (
        await must('POST', `/v1/tenants/${tenantId}/users`, await t.adminToken(), {
          username: `u${++n}-${Math.random().toString(36).slice(2, 8)}-${tenantId}`,
          password: 'tidal harbour rope',
          grants: [{ role: 'viewer' }],
        })
      ).id as string,
    invitationId: async () =>
      (await must('POST', '/v1/invitations', owner, { grants: [{ role: 'viewer' }] })).invitation
        .id as string,
    name: async () =>
      (
        await must('POST', '/v1/roles', owner, {
          name: `role-${++n}-${Math.random().toString(36).slice(2, 8)}`,
          permissions: ['devices:read'],
        })
      ).name as string,
    keyId: async () =>
      (await must('POST', '/v1/api-keys', owner, { name: `k${++n}`, role: 'viewer' })).apiKey.id as string,
  };
  return make;
}

async function login(username: string) {
  const r = await must('POST', '/v1/auth/login', '', { username, password: 'tidal harbour rope' }, 200);
  return r.token as string;
}

async function sessionOf(userId: string, owner: string) {
  const sessions = await must('GET', `/v1/users/${userId}/sessions`, owner, undefined, 200);
  return sessions.items[0].id as string;
}

async function makeFixture(tenantId: string, owner: string): Promise<Fixture> {
  const make = await makeMakers(tenantId, owner);
  const deviceId = await make.deviceId();
  const accessKeyId = (await must('POST', `/v1/devices/${deviceId}/access-keys`, owner)).accessKey.id;
  const commandId = (await must('POST', `/v1/devices/${deviceId}/commands`, owner, { name: 'reboot' })).id;
  const pt = await must('POST', '/v1/provisioning-tokens', owner, {
    name: 'pt',
    kind: 'batch',
    maxUses: 10,
    approval: 'manual',
  });
  const op = await must(
    'POST',
    '/v1/device/provisioning/operations',
    pt.secret,
    { serial: `OP-${tenantId}` },
    202,
  );
  const batch = await must('POST', '/v1/provisioning/batches', owner, {
    batchId: `fixture-${tenantId}`,
    items: [{ serial: `CERT-${tenantId}`, csr: deviceKeyAndCsr(work).csr }],
  });
  const cas = await must('GET', '/v1/pki/cas', owner, undefined, 200);
  const userId = await make.userId();
  const user = await must('GET', `/v1/users/${userId}`, owner, undefined, 200);
  await login(user.username);
  return {
    tenantId,
    deviceId,
    accessKeyId,
    commandId,
    keyId: await make.keyId(),
    tokenId: pt.provisioningToken.id,
    operationId: op.operationId,
    serial: batch.items[0].certificateSerial,
    caId: cas.items[0].id,
    userId,
    sessionId: await sessionOf(userId, owner),
    invitationId: await make.invitationId(),
    name: await make.name(),
  };
}

function fill(path: string, f: Fixture): string {
  return path
    .replace('/access-keys/{keyId}', '/access-keys/{accessKeyId}')
    .replace(/\{(\w+)\}/g, (_m, p: string) => encodeURIComponent(f[p as keyof Fixture]));
}

interface Principal {
  name: string;
  token: string;
  kind: 'tenant' | 'session-user' | 'platform';
  permissions: ReadonlySet<string>;
}

let own: Fixture;
let other: Fixture;
let ownerKey: string;
let principals: Principal[];
let makers: Awaited<ReturnType<typeof makeMakers>>;

before(async () => {
  t = await startTestPlatform();
  api = new MooringClient({ baseUrl: `https://localhost:${t.platform.httpPort}`, ca: t.platform.caCert });
  const a = await t.tenant();
  const b = await t.tenant();
  ownerKey = a.apiKey;
  own = await makeFixture(a.tenantId, a.apiKey);
  other = await makeFixture(b.tenantId, b.apiKey);
  makers = await makeMakers(a.tenantId, a.apiKey);
  principals = [];
  for (const role of Object.keys(BUILT_IN_ROLES)) {
    const key = await must('POST', '/v1/api-keys', a.apiKey, { name: `as-${role}`, role });
    principals.push({
      name: `api-key:${role}`,
      token: key.secret,
      kind: 'tenant',
      permissions: new Set(BUILT_IN_ROLES[role]!.permissions),
    });
  }
  const custom = await must('POST', '/v1/api-keys', a.apiKey, {
    name: 'custom',
    permissions: ['devices:read', 'audit:read'],
  });
  principals.push({
    name: 'api-key:[devices:read,audit:read]',
    token: custom.secret,
    kind: 'tenant',
    permissions: new Set(['devices:read', 'audit:read']),
  });
  const opUser = await must('POST', `/v1/tenants/${a.tenantId}/users`, await t.adminToken(), {
    username: `operator-${a.tenantId}`,
    password: 'tidal harbour rope',
    grants: [{ role: 'operator' }],
  });
  principals.push({
    name: 'session:operator',
    token: await login(opUser.username),
    kind: 'session-user',
    permissions: new Set(BUILT_IN_ROLES.operator!.permissions),
  });
  principals.push({
    name: 'platform-admin',
    token: await t.adminToken(),
    kind: 'platform',
    permissions: new Set(),
  });
});

after(async () => {
  api?.close();
  await t?.stop();
});

test('every route has a row in the matrix, and every row is a route', async () => {
  const spec = await call('GET', '/openapi.json');
  const routes = Object.entries<Record<string, unknown>>(spec.body.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map(
      (m) => `${m.toUpperCase()} ${path.replace('/access-keys/{keyId}', '/access-keys/{accessKeyId}')}`,
    ),
  );
  assert.ok(routes.length > 90, `the route table has ${routes.length} routes`);
  assert.deepEqual(
    routes.filter((r) => !ROUTES[r]),
    [],
    'routes without a row: add them to the matrix',
  );
  assert.deepEqual(
    Object.keys(ROUTES).filter((r) => !routes.includes(r)),
    [],
    'rows without a route',
  );
});

function allowed(p: Principal, need: Need): boolean {
  if (need === 'platform') return p.kind === 'platform';
  // Self-service routes take any login session, a platform administrator's too.
  if (need === 'session') return p.kind === 'session-user' || p.kind === 'platform';
  if (p.kind === 'platform') return false;
  return p.permissions.has(need);
}

test('every management route answers every caller as its grants say: allowed, 403, or 404 across tenants', async () => {
  const failures: string[] = [];
  let calls = 0;
  for (const [route, row] of Object.entries(ROUTES)) {
    if (['public', 'device', 'provisioning'].includes(row.need)) continue;
    const [method, template] = route.split(' ') as [string, string];
    const hasTarget = /\{/.test(template) && !template.startsWith('/v1/auth/');
    for (const p of principals) {
      const may = allowed(p, row.need);
      const targets: [string, Fixture][] = hasTarget
        ? [
            ['own', own],
            ['other tenant', other],
            ['nonexistent', NONEXISTENT],
          ]
        : [['own', own]];
      for (const [targetName, base] of targets) {
        let f = base;
        if (may && targetName === 'own' && row.fresh) {
          f = { ...own };
          for (const param of row.fresh) {
            if (param === 'sessionId') {
              const user = await must('GET', `/v1/users/${f.userId}`, ownerKey, undefined, 200);
              await login(user.username);
              f.sessionId = await sessionOf(f.userId, ownerKey);
            } else f = { ...f, [param]: await makers[param as keyof typeof makers]() };
          }
        }
        const path = fill(template, f) + (row.query ?? '');
        const r = await call(method, path, p.token, row.body?.(f));
        calls++;
        const where = `${route} as ${p.name} on ${targetName} object`;
        if (r.status >= 500) failures.push(`${where}: ${r.status} ${JSON.stringify(r.body)}`);
        else if (!may) {
          if (r.status !== 403) failures.push(`${where}: expected 403, got ${r.status} ${r.body?.code}`);
        } else if (targetName === 'own') {
          if ([401, 403, 404].includes(r.status) && !(row.ok ?? []).includes(r.status))
            failures.push(`${where}: expected to be allowed, got ${r.status} ${r.body?.code}`);
        } else if (r.status !== 404 && !(template.startsWith('/v1/tenants/') && p.kind === 'platform')) {
          failures.push(`${where}: expected 404, got ${r.status} ${r.body?.code}`);
        }
        // Nothing of the other tenant leaks into any answer (platform administrators manage every tenant).
        if (
          targetName === 'other tenant' &&
          p.kind !== 'platform' &&
          JSON.stringify(r.body ?? '').includes(other.tenantId)
        )
          failures.push(`${where}: the answer names the other tenant`);
      }
    }
  }
  assert.deepEqual(failures, [], `${failures.length} of ${calls} calls answered wrongly`);
});

test('a tenant credential is not a device or provisioning credential, and device routes refuse it', async () => {
  for (const [route, row] of Object.entries(ROUTES)) {
    if (row.need !== 'device' && row.need !== 'provisioning') continue;
    const [method, template] = route.split(' ') as [string, string];
    const r = await call(method, fill(template, own), ownerKey, method === 'GET' ? undefined : {});
    assert.ok([400, 401].includes(r.status), `${route} with an API key: ${r.status} ${r.body?.code}`);
    assert.notEqual(r.status, 200);
  }
});
