/**
 * The audit trail: one record per admin action and login attempt, no secrets in it, per-tenant
 * isolation, query and JSON-lines export — and a hash chain whose verification reports edited,
 * deleted and reordered records and where the chain breaks.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startTestPlatform, type TestPlatform } from './harness.js';
import { deviceKeyAndCsr } from './openssl.js';

let t: TestPlatform;
before(async () => {
  t = await startTestPlatform();
});
after(async () => {
  await t.stop();
});

test('each admin action and login attempt leaves exactly one record, without secrets', async () => {
  const { tenantId, apiKey } = await t.tenant();
  const admin = await t.adminToken();
  await t.call('POST', `/v1/tenants/${tenantId}/users`, {
    token: admin,
    body: { username: `auditor-${tenantId}`, password: 'a long password 123' },
  });
  await t.call('POST', '/v1/auth/login', {
    body: { username: `auditor-${tenantId}`, password: 'wrong password here' },
  });
  const d = await t.call('POST', '/v1/devices', { token: apiKey, body: { name: 'audited' } });
  await t.call('POST', `/v1/devices/${d.body.id}/disable`, { token: apiKey });
  await t.call('POST', `/v1/devices/${d.body.id}/access-keys`, { token: apiKey });
  await t.call('GET', '/v1/devices', { token: apiKey }); // reads are not admin actions
  await t.call('POST', '/v1/devices', { token: apiKey, body: { name: 'x', bogus: 1 } }); // refused: recorded as a failure

  // Each record is written before its response: the trail is complete at once.
  const page = await t.call('GET', '/v1/audit?limit=100', { token: apiKey });
  assert.equal(page.status, 200);
  const actions = page.body.items.map((r: { action: string; outcome: string }) => `${r.action} ${r.outcome}`);
  assert.deepEqual(actions, [
    // what the platform administrator did in this tenant is in the tenant's chain
    'POST /v1/tenants/:tenantId/api-keys success',
    'POST /v1/tenants/:tenantId/users success',
    // a login attempt for one of the tenant's users is in the tenant's chain
    'auth.login failure',
    // the key's first use (and each new source address) is recorded
    'api-key.used-from-new-address success',
    'POST /v1/devices success',
    'POST /v1/devices/:deviceId/disable success',
    'POST /v1/devices/:deviceId/access-keys success',
    'POST /v1/devices failure',
  ]);
  const disable = page.body.items[5];
  assert.equal(disable.target, d.body.id);
  assert.match(disable.actor, /^api-key:key_/);
  assert.ok(disable.source);

  const failedLogin = page.body.items[2];
  assert.equal(failedLogin.target, `auditor-${tenantId}`);
  assert.equal(failedLogin.actor, 'anonymous');
  assert.deepEqual(failedLogin.changes, { reason: 'wrong user name or password' });

  // The platform chain holds the tenant creation and logins for unknown user names.
  await t.call('POST', '/v1/auth/login', {
    body: { username: `ghost-${tenantId}`, password: 'wrong password here' },
  });
  const platform = await t.call('GET', '/v1/platform/audit?limit=500', { token: admin });
  const text = JSON.stringify(platform.body) + JSON.stringify(page.body);
  assert.match(text, /"action":"POST \/v1\/tenants"/);
  assert.ok(
    platform.body.items.some(
      (r: { action: string; target: string }) =>
        r.action === 'auth.login' && r.target === `ghost-${tenantId}`,
    ),
    'a login for an unknown user name is in the platform chain',
  );
  for (const secret of ['a long password 123', 'wrong password here', apiKey])
    assert.equal(text.includes(secret), false, 'no secret in the trail');
  assert.equal(JSON.stringify(page.body).includes('dak_'), false);

  // Isolation: another tenant sees only its own chain.
  const other = await t.tenant();
  // Its first request is also its key's first use, recorded just after it is answered.
  const theirs = await eventually(async () => {
    const r = await t.call('GET', '/v1/audit', { token: other.apiKey });
    return r.body.items.length === 2 ? r : undefined;
  });
  assert.deepEqual(
    theirs.body.items.map((r: { action: string }) => r.action),
    ['POST /v1/tenants/:tenantId/api-keys', 'api-key.used-from-new-address'],
    'only its own records',
  );
  assert.equal((await t.call('GET', '/v1/platform/audit', { token: apiKey })).body.code, 'FORBIDDEN');

  // Filters and export.
  const filtered = await t.call('GET', `/v1/audit?target=${d.body.id}`, { token: apiKey });
  assert.equal(filtered.body.items.length, 2);
  // Newest first (how the console shows the trail), paged on by its cursor in that order.
  const seqs = (r: { body: { items: { seq: number }[] } }) => r.body.items.map((x) => x.seq);
  const newest = await t.call('GET', '/v1/audit?order=newest&limit=5', { token: apiKey });
  assert.equal(newest.status, 200, newest.text);
  assert.deepEqual(seqs(newest), [8, 7, 6, 5, 4]);
  const older = await t.call(
    'GET',
    `/v1/audit?order=newest&limit=5&cursor=${encodeURIComponent(newest.body.nextCursor)}`,
    { token: apiKey },
  );
  assert.deepEqual(seqs(older), [3, 2, 1]);
  assert.equal(older.body.nextCursor, null);
  // The cursor holds its order: without `order` it still pages on newest first.
  const same = await t.call('GET', `/v1/audit?limit=5&cursor=${encodeURIComponent(newest.body.nextCursor)}`, {
    token: apiKey,
  });
  assert.deepEqual(seqs(same), [3, 2, 1]);
  const refused = await t.call('GET', '/v1/audit?order=sideways', { token: apiKey });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.code, 'VALIDATION_FAILED');
  const exported = await t.call('GET', '/v1/audit/export', { token: apiKey });
  assert.match(String(exported.headers['content-type']), /ndjson/);
  assert.equal(exported.text.trim().split('\n').length, 8);
  assert.deepEqual((await t.call('GET', '/v1/audit/verify', { token: apiKey })).body, {
    intact: true,
    records: 8,
    breaks: [],
  });
});

test('verification reports edited, deleted, reordered and truncated records and where the chain breaks', async () => {
  const { tenantId, apiKey } = await t.tenant();
  for (let i = 0; i < 6; i++) await t.call('POST', '/v1/devices', { token: apiKey, body: { name: `d${i}` } });
  const verify = async () => (await t.call('GET', '/v1/audit/verify', { token: apiKey })).body;
  // key created, its first use, six devices: all written before the tampering starts
  await eventually(async () => (await verify()).records === 8);
  assert.equal((await verify()).intact, true);
  const db = t.platform.db;

  // Edit one record's content.
  await db.query(
    `UPDATE audit_records SET changes = '{"status":201,"request":{"name":"forged"}}' WHERE tenant_id = $1 AND seq = 2`,
    [tenantId],
  );
  let v = await verify();
  assert.equal(v.intact, false);
  assert.deepEqual(
    v.breaks.map((b: { seq: number }) => b.seq),
    [2],
  );
  assert.match(v.breaks[0].reason, /altered/);
  // Re-hashing the edited record does not help: the next record's link breaks.
  const [r2] = await db.query<{
    prev_hash: string;
    at: number;
    actor: string;
    action: string;
    target: string;
    outcome: string;
    source: string;
    changes: unknown;
  }>('SELECT * FROM audit_records WHERE tenant_id = $1 AND seq = 2', [tenantId]);
  const { recordHash } = await import('../src/domains/audit/service.js');
  const forged = recordHash(r2!.prev_hash, {
    tenantId,
    seq: 2,
    at: Number(r2!.at),
    actor: r2!.actor,
    action: r2!.action,
    target: r2!.target,
    outcome: r2!.outcome as 'success',
    source: r2!.source,
    changes: r2!.changes as Record<string, unknown>,
  });
  await db.query('UPDATE audit_records SET hash = $2 WHERE tenant_id = $1 AND seq = 2', [tenantId, forged]);
  v = await verify();
  assert.deepEqual(
    v.breaks.map((b: { seq: number }) => b.seq),
    [3],
  );
  assert.match(v.breaks[0].reason, /link/);

  // Delete a record in the middle.
  await db.query('DELETE FROM audit_records WHERE tenant_id = $1 AND seq = 4', [tenantId]);
  v = await verify();
  assert.ok(v.breaks.some((b: { seq: number; reason: string }) => b.seq === 4 && /missing/.test(b.reason)));

  // Reorder: swap two records' positions.
  await db.query('UPDATE audit_records SET seq = -5 WHERE tenant_id = $1 AND seq = 5', [tenantId]);
  await db.query('UPDATE audit_records SET seq = 5 WHERE tenant_id = $1 AND seq = 6', [tenantId]);
  await db.query('UPDATE audit_records SET seq = 6 WHERE tenant_id = $1 AND seq = -5', [tenantId]);
  v = await verify();
  assert.ok(v.breaks.some((b: { seq: number }) => b.seq === 5 || b.seq === 6));

  // Truncate: remove the newest records (their head remembers them).
  const fresh = await t.tenant();
  for (let i = 0; i < 3; i++)
    await t.call('POST', '/v1/devices', { token: fresh.apiKey, body: { name: `e${i}` } });
  await db.query(
    'DELETE FROM audit_records WHERE tenant_id = $1 AND seq = (SELECT max(seq) FROM audit_records WHERE tenant_id = $1)',
    [fresh.tenantId],
  );
  const cut = (await t.call('GET', '/v1/audit/verify', { token: fresh.apiKey })).body;
  assert.equal(cut.intact, false);
  assert.match(cut.breaks[0].reason, /removed from the end/);
});

test('device-side credential events are recorded: provisioning start and completion, refresh, factory units', async () => {
  const { apiKey } = await t.tenant();
  const work = mkdtempSync(join(tmpdir(), 'mooring-audit-'));
  const pt = await t.call('POST', '/v1/provisioning-tokens', {
    token: apiKey,
    body: { name: 'line', kind: 'batch', maxUses: 5, approval: 'auto' },
  });
  const started = await t.call('POST', '/v1/device/provisioning/operations', {
    token: pt.body.secret,
    body: { serial: 'AUD-1', csr: deviceKeyAndCsr(work).csr },
  });
  assert.equal(started.body.status, 'approved', started.text);
  const refreshed = await t.call('POST', '/v1/device/provisioning/refresh', {
    token: pt.body.secret,
    body: { registrationToken: started.body.registrationToken },
  });
  assert.equal(refreshed.status, 200, refreshed.text);
  const batch = await t.call('POST', '/v1/provisioning/batches', {
    token: apiKey,
    body: {
      batchId: 'audit-batch',
      items: [{ serial: 'AUD-F1', csr: deviceKeyAndCsr(work).csr }, { serial: 'AUD-F2' }],
    },
  });
  assert.equal(batch.status, 201, batch.text);

  const records = await eventually(async () => {
    const page = await t.call('GET', '/v1/audit?limit=100', { token: apiKey });
    const items = page.body.items as { action: string; actor: string; target: string; changes: any }[];
    return items.filter((r) => r.action === 'factory.issue').length === 2 ? items : undefined;
  });
  const byAction = (a: string) => records.filter((r) => r.action === a);
  const [start] = byAction('provisioning.start');
  assert.equal(start!.actor, `provisioning-token:${pt.body.provisioningToken.id}`);
  assert.equal(start!.target, 'AUD-1');
  const [complete] = byAction('provisioning.complete');
  assert.equal(complete!.actor, 'policy:auto-approval');
  assert.equal(complete!.target, started.body.deviceId);
  assert.match(complete!.changes.certificateSerial, /^[0-9a-f]+$/);
  const [refresh] = byAction('registration-token.refresh');
  assert.equal(refresh!.actor, `device:${started.body.deviceId}`);
  const units = byAction('factory.issue');
  assert.deepEqual(units.map((u) => u.changes.serial).sort(), ['AUD-F1', 'AUD-F2']);
  assert.ok(units.every((u) => u.actor.startsWith('api-key:')));
  assert.ok(
    units.some((u) => u.changes.certificateSerial) && units.some((u) => u.changes.provisioningTokenId),
  );
  const text = JSON.stringify(records);
  for (const secret of [pt.body.secret, started.body.registrationToken, refreshed.body.registrationToken])
    assert.equal(text.includes(secret), false, 'no secret in the trail');
  assert.equal((await t.call('GET', '/v1/audit/verify', { token: apiKey })).body.intact, true);
});

test("a request whose members are named like an object's own is recorded as sent, not summarised", async () => {
  const { apiKey } = await t.tenant();
  const made = await t.call('POST', '/v1/devices', {
    token: apiKey,
    body: { name: 'ctor', metadata: { constructor: 'box', toString: 'north' } },
  });
  assert.equal(made.status, 201, made.text);
  const rec = await eventually(async () => {
    const all = await t.call('GET', '/v1/audit?order=newest&limit=50', { token: apiKey });
    return all.body.items.find((x: { action: string }) => x.action === 'POST /v1/devices');
  });
  assert.deepEqual(rec.changes.request, {
    name: 'ctor',
    metadata: { constructor: 'box', toString: 'north' },
  });
  assert.equal((await t.call('GET', '/v1/audit/verify', { token: apiKey })).body.intact, true);
});
