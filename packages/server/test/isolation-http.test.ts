/**
 * The HTTP isolation matrix, generated from the route table (the OpenAPI document lists every route
 * the server registered). Each route declares who may call it; every route is then called as every
 * built-in role (API keys), a tenant user's session and a platform administrator, against its own
 * tenant's object, another tenant's object and a nonexistent id. Expected: allowed where the role
 * holds the route's permission (and 404 for the other tenant's or a nonexistent object), 403 otherwise.
 * A route with no row here fails the test.
 *
 * Then delegation: every route that changes a role or a credential is tried by every built-in role
 * (and principals that hold the route's permission but less than the target) against a target more
 * powerful than itself; each is refused with FORBIDDEN naming the permission or the `missing`
 * grants (404 for a device outside a scoped caller's grants), and nothing changes. An owner, whom
 * nothing in a tenant outranks, takes the same actions as the control.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { Readable } from 'node:stream';
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

/** The fixture's alert rule: fires as soon as its device reports `matrix` above 0. */
const ALERT_RULE = (deviceId: string) => ({
  name: 'matrix',
  kind: 'threshold',
  target: { deviceIds: [deviceId] },
  threshold: { key: 'matrix', op: '>', value: 0 },
});

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
  'GET /v1/tenant/limits': { need: 'tenant:read' },
  'PUT /v1/tenant/limits': {
    need: 'tenant:manage',
    body: () => ({ items: [{ limit: 'rest.requests_per_key', value: null }] }),
  },
  'GET /v1/limit-events': { need: 'devices:read' },
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
  // Fresh: a change records its definer, and an owner's change would make the role the owner's.
  'PUT /v1/roles/{name}': {
    need: 'roles:manage',
    body: () => ({ permissions: ['devices:read'] }),
    fresh: ['name'],
  },
  'DELETE /v1/roles/{name}': { need: 'roles:manage', fresh: ['name'] },

  'GET /v1/api-keys': { need: 'keys:read' },
  'POST /v1/api-keys': { need: 'keys:manage', body: () => ({ name: 'k', permissions: ['devices:read'] }) },
  'GET /v1/api-keys/{keyId}': { need: 'keys:read' },
  'DELETE /v1/api-keys/{keyId}': { need: 'keys:manage', fresh: ['keyId'] },
  'POST /v1/api-keys/{keyId}/rotate': { need: 'keys:manage', body: () => ({ overlapSeconds: 0 }) },

  'POST /v1/devices': { need: 'devices:write', body: () => ({ name: 'matrix' }) },
  'GET /v1/devices': { need: 'devices:read' },
  // A filter reaches the whole fleet: tenant-wide grants only.
  'POST /v1/devices/bulk': {
    need: 'devices:write',
    body: () => ({ filter: { tag: 'matrix-none' }, action: { type: 'addTags', tags: ['x'] } }),
  },
  'GET /v1/devices/bulk/{jobId}': { need: 'devices:read' },
  'GET /v1/devices/{deviceId}': { need: 'devices:read' },
  'GET /v1/devices/{deviceId}/limits': { need: 'devices:read' },
  'PUT /v1/devices/{deviceId}/limits': {
    need: 'tenant:manage',
    body: () => ({ items: [{ limit: 'rest.requests_per_key', value: null }] }),
  },
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

  'GET /v1/fleet/versions': { need: 'devices:read' },
  'GET /v1/fleet/policy': { need: 'devices:read' },
  'GET /v1/fleet/problems': { need: 'devices:read' },
  'GET /v1/fleet/problems/counts': { need: 'devices:read' },
  'PUT /v1/fleet/policy': {
    need: 'devices:write',
    body: () => ({ hardwareClass: 'iso-hw', minVersion: '1.0.0' }),
  },

  'GET /v1/devices/{deviceId}/config': { need: 'devices:read' },
  'PATCH /v1/devices/{deviceId}/config/desired': { need: 'config:write', body: () => ({ matrix: 1 }) },
  'GET /v1/devices/{deviceId}/config/history': { need: 'devices:read' },
  'GET /v1/config-schemas': { need: 'devices:read' },
  'POST /v1/config-schemas': {
    need: 'config:manage',
    body: () => ({ name: `s-${Math.random().toString(36).slice(2, 10)}`, tag: 'matrix', schema: {} }),
  },
  'PUT /v1/config-schemas/{schemaName}': {
    need: 'config:manage',
    body: () => ({ tag: 'matrix', schema: { type: 'object' } }),
  },
  'DELETE /v1/config-schemas/{schemaName}': { need: 'config:manage', fresh: ['schemaName'] },

  'GET /v1/bridges': { need: 'integrations:read' },
  'POST /v1/bridges': { need: 'integrations:manage', body: () => BRIDGE_BODY },
  'GET /v1/bridges/{bridgeId}': { need: 'integrations:read' },
  'PATCH /v1/bridges/{bridgeId}': { need: 'integrations:manage', body: () => ({ name: 'renamed' }) },
  'DELETE /v1/bridges/{bridgeId}': { need: 'integrations:manage', fresh: ['bridgeId'] },
  'GET /v1/alert-rules': { need: 'alerts:read' },
  'POST /v1/alert-rules': {
    need: 'alerts:manage',
    body: () => ({
      name: 'matrix',
      kind: 'absence',
      enabled: false,
      absence: { minutes: 5, of: 'presence' },
    }),
  },
  'GET /v1/alert-rules/{ruleId}': { need: 'alerts:read' },
  // The same rule disabled: its open alert resolves (the acknowledge below may then answer 409).
  'PUT /v1/alert-rules/{ruleId}': {
    need: 'alerts:manage',
    body: (f) => ({ ...ALERT_RULE(f.deviceId), enabled: false }),
  },
  'DELETE /v1/alert-rules/{ruleId}': { need: 'alerts:manage', fresh: ['ruleId'] },
  'GET /v1/alerts': { need: 'alerts:read' },
  'GET /v1/alerts/{alertId}': { need: 'alerts:read' },
  'POST /v1/alerts/{alertId}/acknowledge': { need: 'alerts:manage', body: () => ({}) },
  'POST /v1/alerts/{alertId}/resolve': { need: 'alerts:manage', body: () => ({}) },

  'POST /v1/webhooks': {
    need: 'integrations:manage',
    body: () => ({ name: 'w', url: 'https://hooks.example.com/hook', eventTypes: ['device.deleted'] }),
  },
  'GET /v1/webhooks': { need: 'integrations:read' },
  'GET /v1/webhooks/{webhookId}': { need: 'integrations:read' },
  'PATCH /v1/webhooks/{webhookId}': { need: 'integrations:manage', body: () => ({ name: 'renamed' }) },
  'DELETE /v1/webhooks/{webhookId}': { need: 'integrations:manage', fresh: ['webhookId'] },
  'POST /v1/webhooks/{webhookId}/verify': { need: 'integrations:manage' },
  'POST /v1/webhooks/{webhookId}/rotate-secret': {
    need: 'integrations:manage',
    body: () => ({ overlapSeconds: 0 }),
  },
  'GET /v1/webhooks/{webhookId}/deliveries': { need: 'integrations:read' },
  // The fixture's webhook has no delivery: an allowed caller gets WEBHOOK_DELIVERY_NOT_FOUND (404 too).
  'GET /v1/webhooks/{webhookId}/deliveries/{deliveryId}': { need: 'integrations:read', ok: [404] },
  'POST /v1/webhooks/{webhookId}/deliveries/{deliveryId}/replay': { need: 'integrations:manage', ok: [404] },
  'POST /v1/webhooks/{webhookId}/replay': {
    need: 'integrations:manage',
    body: () => ({ from: 0, to: 1000 }),
  },

  'POST /v1/device/telemetry': { need: 'device' },
  'PUT /v1/device/firmware': { need: 'device' },
  'POST /v1/device/events': { need: 'device' },
  'GET /v1/device/commands': { need: 'device' },
  'GET /v1/device/config/desired': { need: 'device' },
  'POST /v1/device/config/reported': { need: 'device' },
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

  'POST /v1/artifacts': { need: 'firmware:manage', query: '?version=1.0.0&hardwareClass=matrix&sequence=1' },
  'GET /v1/artifacts': { need: 'firmware:read' },
  'GET /v1/artifacts/{artifactId}': { need: 'firmware:read' },
  'DELETE /v1/artifacts/{artifactId}': { need: 'firmware:manage', fresh: ['artifactId'] },
  'GET /v1/update-keys': { need: 'firmware:read' },
  'POST /v1/update-keys': {
    need: 'firmware:manage',
    body: () => ({ publicKey: generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x }),
  },
  'POST /v1/update-keys/rotate': { need: 'firmware:manage' },
  'DELETE /v1/update-keys/{updateKeyId}': { need: 'firmware:manage' },
  'GET /v1/device/update-keys': { need: 'device' },
  'GET /v1/device/artifacts/{artifactId}': { need: 'device' },

  'POST /v1/deployments': {
    need: 'firmware:deploy',
    // Every device of the fixture is in its deployment already: an allowed caller gets 422 (empty).
    body: (f) => ({ artifactId: f.deployArtifactId, target: {} }),
  },
  'GET /v1/deployments': { need: 'firmware:read' },
  'GET /v1/deployments/emergency-stop': { need: 'firmware:read' },
  'POST /v1/deployments/emergency-stop': { need: 'firmware:deploy', body: () => ({}) },
  'DELETE /v1/deployments/emergency-stop': { need: 'firmware:deploy' },
  'GET /v1/deployments/{deploymentId}': { need: 'firmware:read' },
  'GET /v1/deployments/{deploymentId}/devices': { need: 'firmware:read' },
  'POST /v1/deployments/{deploymentId}/pause': {
    need: 'firmware:deploy',
    body: () => ({}),
    fresh: ['deploymentId'],
  },
  'POST /v1/deployments/{deploymentId}/resume': { need: 'firmware:deploy', body: () => ({}) },
  'POST /v1/deployments/{deploymentId}/abort': {
    need: 'firmware:deploy',
    body: () => ({}),
    fresh: ['deploymentId'],
  },
  'POST /v1/deployments/{deploymentId}/stop': {
    need: 'firmware:deploy',
    body: () => ({}),
    fresh: ['deploymentId'],
  },
  'POST /v1/deployments/{deploymentId}/devices/{deviceId}/cancel': {
    need: 'firmware:deploy',
    body: () => ({}),
    fresh: ['deploymentId'],
    // The fixture's device is not in a fresh deployment (each has its own device).
    ok: [404],
  },
  'GET /v1/device/ota': { need: 'device' },
  'POST /v1/device/ota/{operationId}/progress': { need: 'device' },
};

/** A bridge that is never started (disabled), to a name: no connection is tried. */
const BRIDGE_BODY = {
  name: 'matrix',
  url: 'mqtts://broker.example.com',
  topicTemplate: 'mooring/{deviceId}/{type}',
  eventTypes: ['device.event'],
  enabled: false,
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
  artifactId: string;
  updateKeyId: string;
  deploymentId: string;
  deployArtifactId: string;
  schemaName: string;
  bridgeId: string;
  ruleId: string;
  alertId: string;
  webhookId: string;
  deliveryId: string;
  jobId: string;
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
  artifactId: 'art_00000000000000000000',
  updateKeyId: 'uky_00000000000000000000',
  deploymentId: 'dep_00000000000000000000',
  deployArtifactId: 'art_00000000000000000000',
  schemaName: 'no-such-schema',
  bridgeId: 'brg_00000000000000000000',
  ruleId: 'alr_00000000000000000000',
  alertId: 'alt_00000000000000000000',
  webhookId: 'whk_00000000000000000000',
  deliveryId: 'whd_00000000000000000000',
  jobId: 'blk_00000000000000000000',
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

/** A rule on a new device that reports a breach at once; its alert comes with the evaluator's next pass. */
async function alertRule(owner: string): Promise<string> {
  const name = `al-${Math.random().toString(36).slice(2, 8)}`;
  const device = (await must('POST', '/v1/devices', owner, { name })).id as string;
  const key = (await must('POST', `/v1/devices/${device}/access-keys`, owner)).secret as string;
  const rule = (await must('POST', '/v1/alert-rules', owner, ALERT_RULE(device))).id as string;
  await must('POST', '/v1/device/telemetry', key, { values: { matrix: 1 } }, 202);
  return rule;
}

/** Waits for the evaluator (every 5 s) to open the rule's alert. */
async function alertOf(owner: string, ruleId: string): Promise<string> {
  for (let i = 0; ; i++) {
    const page = await must('GET', `/v1/alerts?ruleId=${ruleId}`, owner, undefined, 200);
    if (page.items[0]) return page.items[0].id as string;
    if (i > 100) throw new Error(`no alert for ${ruleId}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Makes one object of each kind in a tenant, with its owner key. */
async function makeMakers(tenantId: string, owner: string) {
  let n = 0;
  // Roles are defined by an admin: a role an owner defined is the owner's (and the delegation matrix
  // below shows an admin refused on it), whereas every role holding roles:manage may change these.
  const roleDefiner = (await must('POST', '/v1/api-keys', owner, { name: 'role-definer', role: 'admin' }))
    .secret as string;
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
        await must('POST', '/v1/roles', roleDefiner, {
          name: `role-${++n}-${Math.random().toString(36).slice(2, 8)}`,
          permissions: ['devices:read'],
        })
      ).name as string,
    keyId: async () =>
      (await must('POST', '/v1/api-keys', owner, { name: `k${++n}`, role: 'viewer' })).apiKey.id as string,
    bridgeId: async () => (await must('POST', '/v1/bridges', owner, BRIDGE_BODY)).id as string,
    webhookId: async () =>
      (
        await must('POST', '/v1/webhooks', owner, {
          name: `w${++n}`,
          url: 'https://hooks.example.com/hook',
          eventTypes: ['device.deleted'],
        })
      ).webhook.id as string,
    schemaName: async () => {
      const name = `schema-${++n}-${Math.random().toString(36).slice(2, 8)}`;
      await must('POST', '/v1/config-schemas', owner, { name, tag: 'matrix', schema: { type: 'object' } });
      return name;
    },
    ruleId: async () =>
      (
        await must('POST', '/v1/alert-rules', owner, {
          name: `r${++n}`,
          kind: 'absence',
          enabled: false,
          absence: { minutes: 5, of: 'presence' },
        })
      ).id as string,
    artifactId: async () => {
      const r = await api.raw('POST', '/v1/artifacts', {
        token: owner,
        query: { version: '1.0.0', hardwareClass: `m${++n}`, sequence: 1 },
        bytes: { stream: Readable.from([Buffer.from('image')]), length: 5 },
      });
      assert.equal(r.status, 201, r.body.toString());
      return JSON.parse(r.body.toString()).id as string;
    },
    updateKeyId: async () =>
      (
        await must('POST', '/v1/update-keys', owner, {
          publicKey: generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x,
        })
      ).id as string,
    /** A deployment of a new artifact to a new device that reported its firmware. */
    deploymentId: async () => (await deployment()).deploymentId,
    deployArtifactId: async () => (await deployment()).artifactId,
  };
  async function deployment() {
    const hw = `dp${++n}`;
    const device = (await must('POST', '/v1/devices', owner, { name: `dp${n}` })).id as string;
    const key = (await must('POST', `/v1/devices/${device}/access-keys`, owner)).secret as string;
    await must('PUT', '/v1/device/firmware', key, { version: '1.0.0', hardwareClass: hw }, 200);
    const r = await api.raw('POST', '/v1/artifacts', {
      token: owner,
      query: { version: '2.0.0', hardwareClass: hw, sequence: 1 },
      bytes: { stream: Readable.from([Buffer.from('image')]), length: 5 },
    });
    assert.equal(r.status, 201, r.body.toString());
    const artifactId = JSON.parse(r.body.toString()).id as string;
    const dep = await must('POST', '/v1/deployments', owner, {
      artifactId,
      target: { deviceIds: [device] },
      maintenanceWindow: { cron: '0 3 1 1 *', durationMinutes: 1 },
    });
    return { deploymentId: dep.id as string, artifactId };
  }
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
  // Made first: the evaluator's pass comes while the rest of the fixture is made.
  const ruleId = await alertRule(owner);
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
    schemaName: await make.schemaName(),
    bridgeId: await make.bridgeId(),
    webhookId: await make.webhookId(),
    deliveryId: 'whd_00000000000000000000',
    // A job over no device: it ends at once, and its record stays readable.
    jobId: (
      await must(
        'POST',
        '/v1/devices/bulk',
        owner,
        {
          filter: { tag: 'matrix-none' },
          action: { type: 'revoke' },
        },
        202,
      )
    ).job.id,
    ruleId,
    alertId: await alertOf(owner, ruleId),
    artifactId: await make.artifactId(),
    updateKeyId: await make.updateKeyId(),
    ...(await (async () => {
      const d = await make.deploymentId();
      return {
        deploymentId: d,
        deployArtifactId: (await must('GET', `/v1/deployments/${d}`, owner, undefined, 200)).artifactId,
      };
    })()),
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

// ---------------------------------------------------------------------------------------------------
// Delegation: every route that changes a role or a credential, tried by every built-in role (and a
// few principals that hold the route's permission but less than the target) against a target more
// powerful than itself. Expected: 403 FORBIDDEN naming the permission the caller lacks for the route,
// or, where it holds that permission, `missing` listing exactly what it lacks of the target; 404
// for a device its scoped grants do not cover; and in every case nothing changed.
// ---------------------------------------------------------------------------------------------------

type Grant = { role?: string; permissions?: string[]; scope?: { tag: string } };

/** A caller of the delegation matrix. */
interface Delegator {
  name: string;
  token: string;
  /** A target holding more than the caller: the caller's own grants and something it lacks. */
  stronger: Grant[];
  /** What the caller lacks of `stronger`, as the refusal's `missing` lists it. */
  missing: string[];
  /** Permissions held over the whole tenant, and held only over some devices. */
  tenantWide: ReadonlySet<string>;
  scoped: ReadonlySet<string>;
}

/** Objects of a target stronger than one caller, made by the owner (roles: by whom the case says). */
interface Targets {
  stronger: Grant[];
  /** A permission the caller holds over the tenant. */
  weak: string;
  /** Holds `stronger`; defines S and D when it may. */
  strongKeyId: string;
  strongKeyPrefix: string;
  /** A role holding `stronger`'s permissions, defined by the strong key (or the owner). */
  strongRole: string;
  /** A role holding one permission the caller has, defined by the strong key (or the owner). */
  strongDefined: string;
  /** A role holding one permission the caller has, defined by the caller itself (or the owner), and held by a key. */
  ownRole: string;
  /** A user holding `stronger`, with a live session. */
  userId: string;
  userToken: string;
  sessionId: string;
  /** A user holding one permission the caller has. */
  weakUserId: string;
  weakGrants: Grant[];
  /** An open invitation carrying `stronger`. */
  invitationId: string;
  /** Names a refused create would have used. */
  newRole: string;
  newKey: string;
  newNote: string;
}

/** Device credentials of a device outside every scoped grant of the matrix (tag line:b). */
interface DeviceTargets {
  deviceId: string;
  accessKeyId: string;
  accessKey: string;
  accessKeyCount: number;
  rtDeviceId: string;
  registrationToken: string;
  certDeviceId: string;
  serial: string;
  tokenId: string;
  tokenCount: number;
  operationId: string;
  caId: string;
  caCount: number;
  deviceCount: number;
}

interface Case {
  route: string;
  label: string;
  need: Permission;
  /** The route acts on one device: a caller holding `need` only over other devices gets 404. */
  device?: true;
  /** The target carries grants: a caller holding `need` tenant-wide is refused by the delegation rule. */
  grants?: true;
  run(p: Delegator, g: Targets, d: DeviceTargets): Promise<{ status: number; body: any }>;
  /** What changed, or undefined. */
  changed(g: Targets, d: DeviceTargets): Promise<string | undefined>;
}

const permsOf = (grants: Grant[]) => [
  ...new Set(grants.flatMap((g) => g.permissions ?? BUILT_IN_ROLES[g.role ?? '']?.permissions ?? [])),
];
const weakOf = (p: Delegator) => [...p.tenantWide].sort()[0]!;
let uniq = 0;
const next = (what: string) => `dlg-${what}-${++uniq}-${Math.random().toString(36).slice(2, 8)}`;

async function roleState(name: string) {
  const roles = await must('GET', '/v1/roles', ownerKey, undefined, 200);
  const r = roles.items.find((x: { name: string }) => x.name === name);
  return r ? JSON.stringify([...r.permissions].sort()) : 'absent';
}

async function keyIntact(g: Targets) {
  const k = await must('GET', `/v1/api-keys/${g.strongKeyId}`, ownerKey, undefined, 200);
  if (k.revokedAt !== null || k.rotatedAt !== null || k.prefix !== g.strongKeyPrefix)
    return `the stronger key changed: revokedAt ${k.revokedAt}, rotatedAt ${k.rotatedAt}`;
  return undefined;
}

async function userIntact(g: Targets) {
  const u = await must('GET', `/v1/users/${g.userId}`, ownerKey, undefined, 200);
  if (u.disabled || JSON.stringify(u.grants) !== JSON.stringify(g.stronger))
    return `the stronger user changed: ${JSON.stringify(u)}`;
  const me = await call('GET', '/v1/auth/me', g.userToken);
  if (me.status !== 200) return `the stronger user's session ended: ${me.status}`;
  return undefined;
}

const deviceWorks = async (secret: string, what: string) => {
  const r = await call('GET', '/v1/device/commands', secret);
  return r.status === 200 ? undefined : `${what} no longer authenticates: ${r.status} ${r.body?.code}`;
};

async function deviceIntact(d: DeviceTargets) {
  const dev = await call('GET', `/v1/devices/${d.deviceId}`, ownerKey);
  if (dev.status !== 200 || dev.body.status !== 'enabled')
    return `device changed: ${dev.status} ${dev.body?.status}`;
  return deviceWorks(d.accessKey, "the device's access key");
}

async function count(path: string) {
  return (await must('GET', path, ownerKey, undefined, 200)).items.length as number;
}

const CASES: Case[] = [
  {
    route: 'POST /v1/roles',
    label: 'define a role holding the stronger permissions',
    need: 'roles:manage',
    grants: true,
    run: (p, g) => call('POST', '/v1/roles', p.token, { name: g.newRole, permissions: permsOf(p.stronger) }),
    changed: async (g) => ((await roleState(g.newRole)) === 'absent' ? undefined : 'the role was made'),
  },
  {
    route: 'PUT /v1/roles/{name}',
    label: 'widen a role of its own, held by a key, to the stronger permissions',
    need: 'roles:manage',
    grants: true,
    run: (p, g) => call('PUT', `/v1/roles/${g.ownRole}`, p.token, { permissions: permsOf(p.stronger) }),
    changed: async (g) => {
      const s = await roleState(g.ownRole);
      return s === JSON.stringify([g.weak]) ? undefined : `the role is now ${s}`;
    },
  },
  {
    route: 'PUT /v1/roles/{name}',
    label: 'narrow a role holding more than the caller',
    need: 'roles:manage',
    grants: true,
    run: (p, g) => call('PUT', `/v1/roles/${g.strongRole}`, p.token, { permissions: [weakOf(p)] }),
    changed: async (g) => {
      const s = await roleState(g.strongRole);
      return s === JSON.stringify(permsOf(g.stronger).sort()) ? undefined : `the role is now ${s}`;
    },
  },
  {
    route: 'PUT /v1/roles/{name}',
    label: 'change a weak role a stronger principal defined',
    need: 'roles:manage',
    grants: true,
    run: (p, g) =>
      call('PUT', `/v1/roles/${g.strongDefined}`, p.token, {
        permissions: [weakOf(p)],
        description: 'taken over',
      }),
    changed: async (g) => {
      const roles = await must('GET', '/v1/roles', ownerKey, undefined, 200);
      const r = roles.items.find((x: { name: string }) => x.name === g.strongDefined);
      return r && r.description === '' ? undefined : `the role is now ${JSON.stringify(r)}`;
    },
  },
  {
    route: 'DELETE /v1/roles/{name}',
    label: 'delete a role holding more than the caller',
    need: 'roles:manage',
    grants: true,
    run: (p, g) => call('DELETE', `/v1/roles/${g.strongRole}`, p.token),
    changed: async (g) => ((await roleState(g.strongRole)) === 'absent' ? 'the role was deleted' : undefined),
  },
  {
    route: 'DELETE /v1/roles/{name}',
    label: 'delete a weak role a stronger principal defined',
    need: 'roles:manage',
    grants: true,
    run: (p, g) => call('DELETE', `/v1/roles/${g.strongDefined}`, p.token),
    changed: async (g) =>
      (await roleState(g.strongDefined)) === 'absent' ? 'the role was deleted' : undefined,
  },
  {
    route: 'POST /v1/api-keys',
    label: 'create a key holding the stronger grants',
    need: 'keys:manage',
    grants: true,
    run: (p, g) => call('POST', '/v1/api-keys', p.token, { name: g.newKey, grants: p.stronger }),
    changed: async (g) => {
      const keys = await must('GET', '/v1/api-keys?limit=500', ownerKey, undefined, 200);
      return keys.items.some((k: { name: string }) => k.name === g.newKey) ? 'the key was made' : undefined;
    },
  },
  {
    route: 'POST /v1/api-keys/{keyId}/rotate',
    label: 'rotate a stronger key',
    need: 'keys:manage',
    grants: true,
    run: (p, g) => call('POST', `/v1/api-keys/${g.strongKeyId}/rotate`, p.token, { overlapSeconds: 0 }),
    changed: (g) => keyIntact(g),
  },
  {
    route: 'DELETE /v1/api-keys/{keyId}',
    label: 'revoke a stronger key',
    need: 'keys:manage',
    grants: true,
    run: (p, g) => call('DELETE', `/v1/api-keys/${g.strongKeyId}`, p.token),
    changed: (g) => keyIntact(g),
  },
  {
    route: 'POST /v1/invitations',
    label: 'invite with the stronger grants',
    need: 'users:manage',
    grants: true,
    run: (p, g) => call('POST', '/v1/invitations', p.token, { grants: p.stronger, note: g.newNote }),
    changed: async (g) => {
      const inv = await must('GET', '/v1/invitations', ownerKey, undefined, 200);
      return inv.items.some((i: { note: string | null }) => i.note === g.newNote)
        ? 'the invitation was made'
        : undefined;
    },
  },
  {
    route: 'DELETE /v1/invitations/{invitationId}',
    label: 'revoke an invitation carrying the stronger grants',
    need: 'users:manage',
    grants: true,
    run: (p, g) => call('DELETE', `/v1/invitations/${g.invitationId}`, p.token),
    changed: async (g) => {
      const inv = await must('GET', '/v1/invitations', ownerKey, undefined, 200);
      const i = inv.items.find((x: { id: string }) => x.id === g.invitationId);
      return i?.revokedAt === null ? undefined : 'the invitation was revoked';
    },
  },
  {
    route: 'PATCH /v1/users/{userId}',
    label: "narrow a stronger user's grants",
    need: 'users:manage',
    grants: true,
    run: (p, g) => call('PATCH', `/v1/users/${g.userId}`, p.token, { grants: g.weakGrants }),
    changed: (g) => userIntact(g),
  },
  {
    route: 'PATCH /v1/users/{userId}',
    label: 'disable a stronger user',
    need: 'users:manage',
    grants: true,
    run: (p, g) => call('PATCH', `/v1/users/${g.userId}`, p.token, { disabled: true }),
    changed: (g) => userIntact(g),
  },
  {
    route: 'PATCH /v1/users/{userId}',
    label: 'assign the stronger grants to a weak user',
    need: 'users:manage',
    grants: true,
    run: (p, g) => call('PATCH', `/v1/users/${g.weakUserId}`, p.token, { grants: p.stronger }),
    changed: async (g) => {
      const u = await must('GET', `/v1/users/${g.weakUserId}`, ownerKey, undefined, 200);
      return JSON.stringify(u.grants) === JSON.stringify(g.weakGrants)
        ? undefined
        : `the weak user now holds ${JSON.stringify(u.grants)}`;
    },
  },
  {
    route: 'DELETE /v1/users/{userId}',
    label: 'delete a stronger user',
    need: 'users:manage',
    grants: true,
    run: (p, g) => call('DELETE', `/v1/users/${g.userId}`, p.token),
    changed: (g) => userIntact(g),
  },
  {
    route: 'POST /v1/users/{userId}/password-reset',
    label: 'issue a reset link for a stronger user',
    need: 'users:manage',
    grants: true,
    run: (p, g) => call('POST', `/v1/users/${g.userId}/password-reset`, p.token),
    changed: (g) => userIntact(g),
  },
  {
    route: 'DELETE /v1/users/{userId}/sessions',
    label: "end a stronger user's sessions",
    need: 'users:manage',
    grants: true,
    run: (p, g) => call('DELETE', `/v1/users/${g.userId}/sessions`, p.token),
    changed: (g) => userIntact(g),
  },
  {
    route: 'DELETE /v1/users/{userId}/lockout',
    label: "lift a stronger user's lockout",
    need: 'users:manage',
    grants: true,
    run: (p, g) => call('DELETE', `/v1/users/${g.userId}/lockout`, p.token),
    changed: (g) => userIntact(g),
  },
  {
    route: 'DELETE /v1/users/{userId}/sessions/{sessionId}',
    label: "end one of a stronger user's sessions",
    need: 'users:manage',
    grants: true,
    run: (p, g) => call('DELETE', `/v1/users/${g.userId}/sessions/${g.sessionId}`, p.token),
    changed: (g) => userIntact(g),
  },
  {
    route: 'DELETE /v1/users/{userId}/totp',
    label: "remove a stronger user's second factor",
    need: 'users:manage',
    grants: true,
    run: (p, g) => call('DELETE', `/v1/users/${g.userId}/totp`, p.token),
    changed: (g) => userIntact(g),
  },

  {
    route: 'POST /v1/devices/{deviceId}/access-keys',
    label: 'issue an access key',
    need: 'devices:credentials',
    device: true,
    run: (p, _g, d) => call('POST', `/v1/devices/${d.deviceId}/access-keys`, p.token),
    changed: async (_g, d) =>
      (await count(`/v1/devices/${d.deviceId}/access-keys`)) === d.accessKeyCount
        ? undefined
        : 'an access key was issued',
  },
  {
    route: 'DELETE /v1/devices/{deviceId}/access-keys/{accessKeyId}',
    label: 'revoke an access key',
    need: 'devices:credentials',
    device: true,
    run: (p, _g, d) => call('DELETE', `/v1/devices/${d.deviceId}/access-keys/${d.accessKeyId}`, p.token),
    changed: (_g, d) => deviceWorks(d.accessKey, 'the access key'),
  },
  {
    route: 'POST /v1/devices/{deviceId}/registration-tokens/revoke',
    label: 'revoke registration tokens',
    need: 'devices:credentials',
    device: true,
    run: (p, _g, d) => call('POST', `/v1/devices/${d.rtDeviceId}/registration-tokens/revoke`, p.token),
    changed: (_g, d) => deviceWorks(d.registrationToken, 'the registration token'),
  },
  {
    route: 'POST /v1/devices/{deviceId}/disable',
    label: 'disable a device (its credentials stop working)',
    need: 'devices:write',
    device: true,
    run: (p, _g, d) => call('POST', `/v1/devices/${d.deviceId}/disable`, p.token),
    changed: (_g, d) => deviceIntact(d),
  },
  {
    route: 'POST /v1/devices/{deviceId}/enable',
    label: 'enable a device',
    need: 'devices:write',
    device: true,
    run: (p, _g, d) => call('POST', `/v1/devices/${d.deviceId}/enable`, p.token),
    changed: (_g, d) => deviceIntact(d),
  },
  {
    route: 'DELETE /v1/devices/{deviceId}',
    label: 'delete a device (and its credentials)',
    need: 'devices:delete',
    device: true,
    run: (p, _g, d) => call('DELETE', `/v1/devices/${d.deviceId}`, p.token),
    changed: (_g, d) => deviceIntact(d),
  },
  {
    route: 'POST /v1/certificates/{serial}/revoke',
    label: 'revoke a device certificate',
    need: 'certificates:manage',
    run: (p, _g, d) => call('POST', `/v1/certificates/${d.serial}/revoke`, p.token, {}),
    changed: async (_g, d) => {
      const certs = await must('GET', `/v1/devices/${d.certDeviceId}/certificates`, ownerKey, undefined, 200);
      return certs.items.every((c: { revokedAt: number | null }) => c.revokedAt === null)
        ? undefined
        : 'the certificate was revoked';
    },
  },
  {
    route: 'POST /v1/certificates/{serial}/approve',
    label: 'approve a certificate',
    need: 'certificates:manage',
    run: (p, _g, d) => call('POST', `/v1/certificates/${d.serial}/approve`, p.token),
    changed: async (_g, d) =>
      (await count(`/v1/devices/${d.certDeviceId}/certificates`)) === 1 ? undefined : 'certificates changed',
  },
  {
    route: 'POST /v1/pki/registration-codes',
    label: 'create a CA registration code',
    need: 'certificates:manage',
    run: (p) => call('POST', '/v1/pki/registration-codes', p.token),
    changed: async (_g, d) => ((await count('/v1/pki/cas')) === d.caCount ? undefined : 'CAs changed'),
  },
  {
    route: 'POST /v1/pki/cas',
    label: 'register a manufacturer CA',
    need: 'certificates:manage',
    run: (p) =>
      call('POST', '/v1/pki/cas', p.token, {
        caCertificate: 'x',
        verificationCertificate: 'x',
        crl: 'x',
        registrationPolicy: 'auto',
      }),
    changed: async (_g, d) =>
      (await count('/v1/pki/cas')) === d.caCount ? undefined : 'a CA was registered',
  },
  ...(['disable', 'enable'] as const).map((action): Case => ({
    route: `POST /v1/pki/cas/{caId}/${action}`,
    label: `${action} a CA`,
    need: 'certificates:manage',
    run: (p, _g, d) => call('POST', `/v1/pki/cas/${d.caId}/${action}`, p.token),
    changed: async (_g, d) => {
      const cas = await must('GET', '/v1/pki/cas', ownerKey, undefined, 200);
      const ca = cas.items.find((c: { id: string }) => c.id === d.caId);
      return ca?.status === 'active' ? undefined : `the CA is ${ca?.status}`;
    },
  })),
  {
    route: 'PUT /v1/pki/cas/{caId}/crl',
    label: "replace a CA's CRL",
    need: 'certificates:manage',
    run: (p, _g, d) => call('PUT', `/v1/pki/cas/${d.caId}/crl`, p.token, { crl: 'x' }),
    changed: async (_g, d) => ((await count('/v1/pki/cas')) === d.caCount ? undefined : 'CAs changed'),
  },
  {
    route: 'POST /v1/provisioning-tokens',
    label: 'create a provisioning token',
    need: 'provisioning:manage',
    run: (p) =>
      call('POST', '/v1/provisioning-tokens', p.token, {
        name: 'dlg',
        kind: 'batch',
        maxUses: 5,
        approval: 'auto',
      }),
    changed: async (_g, d) =>
      (await count('/v1/provisioning-tokens?limit=500')) === d.tokenCount ? undefined : 'a token was made',
  },
  {
    route: 'DELETE /v1/provisioning-tokens/{tokenId}',
    label: 'revoke a provisioning token',
    need: 'provisioning:manage',
    run: (p, _g, d) => call('DELETE', `/v1/provisioning-tokens/${d.tokenId}`, p.token),
    changed: async (_g, d) => {
      const pt = await must('GET', `/v1/provisioning-tokens/${d.tokenId}`, ownerKey, undefined, 200);
      return pt.revokedAt === null ? undefined : 'the token was revoked';
    },
  },
  ...(['approve', 'reject'] as const).map((action): Case => ({
    route: `POST /v1/provisioning/operations/{operationId}/${action}`,
    label: `${action} a provisioning operation (issues or refuses a credential)`,
    need: 'provisioning:approve',
    run: (p, _g, d) => call('POST', `/v1/provisioning/operations/${d.operationId}/${action}`, p.token, {}),
    changed: async (_g, d) => {
      const op = await must('GET', `/v1/provisioning/operations/${d.operationId}`, ownerKey, undefined, 200);
      return op.status === 'pending' ? undefined : `the operation is ${op.status}`;
    },
  })),
  {
    route: 'POST /v1/provisioning/batches',
    label: 'run a factory batch (issues credentials)',
    need: 'factory:provision',
    run: (p) =>
      call('POST', '/v1/provisioning/batches', p.token, {
        batchId: next('batch'),
        items: [{ serial: next('S') }],
      }),
    changed: async (_g, d) =>
      (await count('/v1/devices?limit=500')) === d.deviceCount ? undefined : 'devices were made',
  },
];

/** The routes that change a role or a credential: the rows the delegation matrix must cover. */
const CHANGING_NEEDS = new Set<Need>([
  'roles:manage',
  'keys:manage',
  'users:manage',
  'devices:credentials',
  'certificates:manage',
  'provisioning:manage',
  'provisioning:approve',
  'factory:provision',
]);
const CREDENTIAL_DEVICE_ROUTES = [
  'POST /v1/devices/{deviceId}/disable',
  'POST /v1/devices/{deviceId}/enable',
  'DELETE /v1/devices/{deviceId}',
];

test('the delegation matrix covers every route that changes a role or a credential', () => {
  const changing = Object.entries(ROUTES)
    .filter(
      ([route, row]) =>
        (CHANGING_NEEDS.has(row.need) && !route.startsWith('GET ')) ||
        CREDENTIAL_DEVICE_ROUTES.includes(route),
    )
    .map(([route]) => route)
    .sort();
  assert.deepEqual([...new Set(CASES.map((c) => c.route))].sort(), changing);
  for (const c of CASES) assert.equal(c.need, ROUTES[c.route]!.need, `${c.route}: the need of its row`);
});

const MANAGERS = [
  'roles:manage',
  'users:read',
  'users:manage',
  'keys:read',
  'keys:manage',
  'devices:read',
  'devices:write',
  'devices:delete',
  'devices:credentials',
  'certificates:read',
  'certificates:manage',
  'provisioning:read',
  'provisioning:manage',
  'provisioning:approve',
  'factory:provision',
];
const SCOPED_MANAGER = ['roles:manage', 'users:read', 'users:manage', 'keys:read', 'keys:manage'];

/** Every built-in role but owner (nothing in a tenant holds more), an admin's session, and two principals holding the routes' permissions but less than their targets. */
async function makeDelegators(tenantId: string): Promise<Delegator[]> {
  const plus = (grants: Grant[], perms: string[], name: string, token: string): Delegator => ({
    name,
    token,
    stronger: [...grants, { permissions: ['tenant:manage'] }],
    missing: ['tenant:manage'],
    tenantWide: new Set(perms),
    scoped: new Set(),
  });
  const out: Delegator[] = [];
  for (const role of Object.keys(BUILT_IN_ROLES).filter((r) => r !== 'owner')) {
    const key = await must('POST', '/v1/api-keys', ownerKey, { name: `dlg-${role}`, role });
    out.push(plus([{ role }], BUILT_IN_ROLES[role]!.permissions, `api-key:${role}`, key.secret));
  }
  const adminUser = await must('POST', `/v1/tenants/${tenantId}/users`, await t.adminToken(), {
    username: next('admin'),
    password: 'tidal harbour rope',
    grants: [{ role: 'admin' }],
  });
  out.push(
    plus(
      [{ role: 'admin' }],
      BUILT_IN_ROLES.admin!.permissions,
      'session:admin',
      await login(adminUser.username),
    ),
  );
  const managers = await must('POST', '/v1/api-keys', ownerKey, {
    name: 'dlg-managers',
    permissions: MANAGERS,
  });
  out.push(plus([{ permissions: MANAGERS }], MANAGERS, `api-key:[managers]`, managers.secret));
  // Manages keys, users and roles over the tenant, but runs devices over line:a only; its target
  // holds the same with an operator over the whole tenant.
  const scopedGrants: Grant[] = [
    { permissions: SCOPED_MANAGER },
    { role: 'admin', scope: { tag: 'line:a' } },
  ];
  const scoped = await must('POST', '/v1/api-keys', ownerKey, { name: 'dlg-scoped', grants: scopedGrants });
  out.push({
    name: 'api-key:[managers, admin@line:a]',
    token: scoped.secret,
    stronger: [{ permissions: SCOPED_MANAGER }, { role: 'operator' }],
    missing: [...BUILT_IN_ROLES.operator!.permissions],
    tenantWide: new Set(SCOPED_MANAGER),
    scoped: new Set(BUILT_IN_ROLES.admin!.permissions.filter((p) => !SCOPED_MANAGER.includes(p))),
  });
  return out;
}

async function makeTargets(tenantId: string, p: Pick<Delegator, 'stronger' | 'tenantWide' | 'token'>) {
  const stronger = p.stronger;
  const weak = [...p.tenantWide].sort()[0]!;
  const strongKey = await must('POST', '/v1/api-keys', ownerKey, { name: next('strong'), grants: stronger });
  const strongDefiner = permsOf(stronger).includes('roles:manage') ? (strongKey.secret as string) : ownerKey;
  const role = async (token: string, what: string, permissions: string[]) =>
    (await must('POST', '/v1/roles', token, { name: next(what), permissions })).name as string;
  const ownRole = await role(p.tenantWide.has('roles:manage') ? p.token : ownerKey, 'own', [weak]);
  await must('POST', '/v1/api-keys', ownerKey, { name: next('holder'), role: ownRole });
  const adminToken = await t.adminToken();
  const username = next('user');
  const user = await must('POST', `/v1/tenants/${tenantId}/users`, adminToken, {
    username,
    password: 'tidal harbour rope',
    grants: stronger,
  });
  const userToken = await login(username);
  const weakGrants: Grant[] = [{ permissions: [weak] }];
  const weakUser = await must('POST', `/v1/tenants/${tenantId}/users`, adminToken, {
    username: next('weak'),
    password: 'tidal harbour rope',
    grants: weakGrants,
  });
  const inv = await must('POST', '/v1/invitations', ownerKey, { grants: stronger });
  const g: Targets = {
    stronger,
    weak,
    strongKeyId: strongKey.apiKey.id,
    strongKeyPrefix: strongKey.apiKey.prefix,
    strongRole: await role(strongDefiner, 'strong', permsOf(stronger)),
    strongDefined: await role(strongDefiner, 'defined', [weak]),
    ownRole,
    userId: user.id,
    userToken,
    sessionId: await sessionOf(user.id, ownerKey),
    weakUserId: weakUser.id,
    weakGrants,
    invitationId: inv.invitation.id,
    newRole: next('new'),
    newKey: next('key'),
    newNote: next('note'),
  };
  return g;
}

async function makeDeviceTargets(): Promise<DeviceTargets> {
  const tags = ['line:b'];
  const device = await must('POST', '/v1/devices', ownerKey, { name: 'dlg-device', tags });
  const key = await must('POST', `/v1/devices/${device.id}/access-keys`, ownerKey);
  const auto = await must('POST', '/v1/provisioning-tokens', ownerKey, {
    name: 'dlg-auto',
    kind: 'batch',
    maxUses: 5,
    approval: 'auto',
    deviceTags: tags,
  });
  const provisioned = await must(
    'POST',
    '/v1/device/provisioning/operations',
    auto.secret,
    { serial: next('RT') },
    200,
  );
  assert.equal(provisioned.status, 'approved', JSON.stringify(provisioned));
  const manual = await must('POST', '/v1/provisioning-tokens', ownerKey, {
    name: 'dlg-manual',
    kind: 'batch',
    maxUses: 5,
    approval: 'manual',
  });
  const pending = await must(
    'POST',
    '/v1/device/provisioning/operations',
    manual.secret,
    { serial: next('OP') },
    202,
  );
  const batch = await must('POST', '/v1/provisioning/batches', ownerKey, {
    batchId: next('batch'),
    deviceTags: tags,
    items: [{ serial: next('CERT'), csr: deviceKeyAndCsr(work).csr }],
  });
  const cas = await must('GET', '/v1/pki/cas', ownerKey, undefined, 200);
  return {
    deviceId: device.id,
    accessKeyId: key.accessKey.id,
    accessKey: key.secret,
    accessKeyCount: await count(`/v1/devices/${device.id}/access-keys`),
    rtDeviceId: provisioned.deviceId,
    registrationToken: provisioned.registrationToken,
    certDeviceId: batch.items[0].deviceId,
    serial: batch.items[0].certificateSerial,
    tokenId: auto.provisioningToken.id,
    tokenCount: await count('/v1/provisioning-tokens?limit=500'),
    operationId: pending.operationId,
    caId: cas.items[0].id,
    caCount: cas.items.length,
    deviceCount: await count('/v1/devices?limit=500'),
  };
}

type Refusal =
  { status: 403; permission: string } | { status: 403; missing: string[] } | { status: 404; code: string };

/** What a caller must get from a case, or undefined where nothing about the target is stronger than it. */
function refusal(c: Case, p: Delegator): Refusal | undefined {
  if (!p.tenantWide.has(c.need) && !(c.device && p.scoped.has(c.need)))
    return { status: 403, permission: c.need };
  if (!p.tenantWide.has(c.need)) return { status: 404, code: 'DEVICE_NOT_FOUND' };
  // A device credential or a provisioning token holds no grants: a tenant-wide holder of the
  // route's permission holds everything it does (and the matrix above shows it allowed).
  if (!c.grants) return undefined;
  return { status: 403, missing: p.missing };
}

function answerProblem(r: { status: number; body: any }, want: Refusal): string | undefined {
  if (r.status !== want.status) return `expected ${want.status}, got ${r.status} ${JSON.stringify(r.body)}`;
  if ('code' in want)
    return r.body?.code === want.code ? undefined : `expected ${want.code}, got ${r.body?.code}`;
  if (r.body?.code !== 'FORBIDDEN') return `expected FORBIDDEN, got ${r.body?.code}`;
  if ('permission' in want)
    return r.body.permission === want.permission
      ? undefined
      : `expected the missing permission ${want.permission}, got ${JSON.stringify(r.body)}`;
  const got = JSON.stringify([...(r.body.missing ?? [])].sort());
  return got === JSON.stringify([...want.missing].sort())
    ? undefined
    : `expected missing ${JSON.stringify(want.missing)}, got ${got}`;
}

test('delegation: every role- and credential-changing route, tried by every built-in role against a stronger target, is refused with FORBIDDEN naming what is missing (or 404 outside a scope), and changes nothing', async () => {
  const delegators = await makeDelegators(own.tenantId);
  const devices = await makeDeviceTargets();
  const failures: string[] = [];
  let tried = 0;
  for (const p of delegators) {
    const g = await makeTargets(own.tenantId, p);
    for (const c of CASES) {
      const want = refusal(c, p);
      if (!want) continue;
      const where = `${c.route} (${c.label}) as ${p.name}`;
      const r = await c.run(p, g, devices);
      tried++;
      const problem = answerProblem(r, want);
      if (problem) failures.push(`${where}: ${problem}`);
      const changed = await c.changed(g, devices);
      if (changed) failures.push(`${where}: ${changed}`);
    }
  }
  assert.deepEqual(failures, [], `${failures.length} problems in ${tried} refused calls`);
});

test('delegation, the control: an owner (nothing in the tenant holds more) may take every one of those actions on the same kind of target', async () => {
  const failures: string[] = [];
  const ownerP = {
    token: ownerKey,
    stronger: [{ role: 'owner' }],
    tenantWide: new Set<string>(BUILT_IN_ROLES.owner!.permissions),
  };
  for (const c of CASES.filter((x) => x.grants)) {
    const g = await makeTargets(own.tenantId, ownerP);
    const r = await c.run(
      { ...ownerP, name: 'owner', missing: [], scoped: new Set() },
      g,
      undefined as never,
    );
    if (r.status < 200 || r.status >= 300)
      failures.push(`${c.route} (${c.label}): ${r.status} ${JSON.stringify(r.body)}`);
  }
  assert.deepEqual(failures, []);
});
