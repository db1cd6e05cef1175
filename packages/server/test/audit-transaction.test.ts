/**
 * An admin action and its audit record are one transaction: when the record cannot be written the
 * action does not take effect (no credential, no deletion, no notice to the broker) and the client
 * gets AUDIT_FAILED; a successful action's record is in the chain before its response. Runs on both
 * store back ends.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { ADMIN_TEST_PASSWORD, startTestPlatform, type TestPlatform } from './harness.js';
import { storeBackends } from './postgres.js';

/**
 * Makes the store itself refuse some audit records, as a full disk or a value the store cannot hold
 * would: a successful action's record whose content names `unrecordable`, or whose target is listed.
 */
const REFUSE_SOME_RECORDS = `
  CREATE TABLE refused_audit_targets (target text PRIMARY KEY);
  CREATE FUNCTION refuse_some_audit_records() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF NEW.outcome = 'success' AND (NEW.changes::text LIKE '%unrecordable%'
        OR NEW.target IN (SELECT target FROM refused_audit_targets)) THEN
      RAISE EXCEPTION 'the audit store refuses this record';
    END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER refuse_some_audit_records BEFORE INSERT ON audit_records
    FOR EACH ROW EXECUTE FUNCTION refuse_some_audit_records();
`;

for (const [backend, open] of storeBackends) {
  describe(`audit records with their actions on ${backend}`, () => {
    let t: TestPlatform;
    let close: () => Promise<void>;
    const clients: MqttClient[] = [];
    before(async () => {
      const store = await open();
      close = store.close;
      t = await startTestPlatform({}, { db: store.db });
      await t.platform.db.exec(REFUSE_SOME_RECORDS);
    });
    after(async () => {
      for (const c of clients) c.end(true);
      await t.stop();
      await close();
    });

    const keyNames = async (apiKey: string) =>
      (await t.call('GET', '/v1/api-keys', { token: apiKey })).body.items.map(
        (k: { name: string }) => k.name,
      );

    function assertAuditFailed(r: {
      status: number;
      headers: Record<string, unknown>;
      body: any;
      text: string;
    }) {
      assert.equal(r.status, 500, r.text);
      assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
      assert.equal(r.body.code, 'AUDIT_FAILED');
      assert.equal(r.body.secret, undefined);
      assert.doesNotMatch(r.text, /\bat .*\.(ts|js):\d+|refuses this record|trigger/i);
    }

    test('an API key whose record the store refuses is not created, and the chain stays intact', async () => {
      const { apiKey } = await t.tenant();
      const r = await t.call('POST', '/v1/api-keys', {
        token: apiKey,
        body: { name: 'unrecordable', role: 'owner' },
      });
      assertAuditFailed(r);
      assert.deepEqual(await keyNames(apiKey), ['test']);
      assert.equal(
        (await t.platform.db.query("SELECT id FROM api_keys WHERE name = 'unrecordable'")).length,
        0,
      );
      const verify = (await t.call('GET', '/v1/audit/verify', { token: apiKey })).body;
      assert.equal(verify.intact, true, JSON.stringify(verify));
      // The refused attempt is recorded as a failure (without the fields the store refused).
      const records = (await t.call('GET', '/v1/audit?action=POST%20/v1/api-keys', { token: apiKey })).body
        .items;
      assert.deepEqual(
        records.map((x: { outcome: string; changes: { status: number } }) => [x.outcome, x.changes.status]),
        [['failure', 500]],
      );
    });

    test('a lone surrogate in a key name never yields a working key without its record', async () => {
      const { apiKey } = await t.tenant();
      const r = await t.call('POST', '/v1/api-keys', {
        token: apiKey,
        raw: '{"name":"stealth\\ud800","role":"owner"}',
      });
      // Refused at the edge (4xx), or refused with its record: never a key without a record.
      assert.notEqual(r.status, 201, r.text);
      assert.equal(r.body.secret, undefined);
      assert.doesNotMatch(r.text, /\bat .*\.(ts|js):\d+/);
      assert.deepEqual(await keyNames(apiKey), ['test']);
      assert.equal(
        (await t.platform.db.query("SELECT id FROM api_keys WHERE name LIKE 'stealth%'")).length,
        0,
      );
      assert.equal((await t.call('GET', '/v1/audit/verify', { token: apiKey })).body.intact, true);
    });

    test('a deletion whose record cannot be written is rolled back and disconnects nobody', async () => {
      const { apiKey } = await t.tenant();
      const d = await t.device(apiKey);
      const client = await t.connectDevice(d.deviceId, d.accessKey);
      clients.push(client);
      let closed = false;
      client.on('close', () => (closed = true));
      await t.platform.db.query('INSERT INTO refused_audit_targets (target) VALUES ($1)', [d.deviceId]);

      assertAuditFailed(await t.call('DELETE', `/v1/devices/${d.deviceId}`, { token: apiKey }));
      assert.equal((await t.call('GET', `/v1/devices/${d.deviceId}`, { token: apiKey })).status, 200);
      assertAuditFailed(await t.call('POST', `/v1/devices/${d.deviceId}/disable`, { token: apiKey }));
      assert.equal(
        (await t.call('GET', `/v1/devices/${d.deviceId}`, { token: apiKey })).body.status,
        'enabled',
      );
      // The session stays up and still publishes: no notice went out for the rolled-back change.
      await client.publishAsync(`d/${d.deviceId}/telemetry`, JSON.stringify({ temp: 21 }), { qos: 1 });
      assert.equal(closed, false);

      await t.platform.db.query('DELETE FROM refused_audit_targets WHERE target = $1', [d.deviceId]);
      assert.equal((await t.call('DELETE', `/v1/devices/${d.deviceId}`, { token: apiKey })).status, 204);
      assert.equal((await t.call('GET', `/v1/audit/verify`, { token: apiKey })).body.intact, true);
    });

    test('an invitation accepted without its record opens no account and stays unspent', async () => {
      const { apiKey } = await t.tenant();
      const inv = await t.call('POST', '/v1/invitations', {
        token: apiKey,
        body: { grants: [{ role: 'viewer' }] },
      });
      assert.equal(inv.status, 201, inv.text);
      const accept = (username: string) =>
        t.call('POST', '/v1/auth/invitations/accept', {
          body: { token: inv.body.token, username, password: 'a long enough password 42' },
        });
      const suffix = inv.body.invitation?.id ?? Date.now().toString(36);
      assertAuditFailed(await accept(`unrecordable-${suffix}`));
      const login = await t.call('POST', '/v1/auth/login', {
        body: { username: `unrecordable-${suffix}`, password: 'a long enough password 42' },
      });
      assert.equal(login.status, 401, 'no account was opened');
      const opened = await accept(`recorded-${suffix}`);
      assert.equal(opened.status, 201, opened.text);
      const records = (await t.call('GET', '/v1/audit?action=invitation.accept', { token: apiKey })).body
        .items;
      assert.equal(records.length, 1);
      assert.equal(records[0].changes.username, `recorded-${suffix}`);
    });

    test('a device provisioned by auto-approval exists only with its record', async () => {
      const { apiKey } = await t.tenant();
      const pt = await t.call('POST', '/v1/provisioning-tokens', {
        token: apiKey,
        body: { name: 'line', kind: 'batch', maxUses: 5, approval: 'auto' },
      });
      assert.equal(pt.status, 201, pt.text);
      const start = (serial: string) =>
        t.call('POST', '/v1/device/provisioning/operations', { token: pt.body.secret, body: { serial } });
      const refused = await start('unrecordable-unit');
      assert.equal(refused.status, 500, refused.text);
      assert.match(String(refused.headers['content-type']), /^application\/problem\+json/);
      assert.equal(refused.body.registrationToken, undefined);
      assert.doesNotMatch(refused.text, /\bat .*\.(ts|js):\d+|refuses this record/);
      const devices = (await t.call('GET', '/v1/devices', { token: apiKey })).body.items;
      assert.deepEqual(devices, [], 'no device was created without its record');

      const approved = await start('recorded-unit');
      assert.equal(approved.body.status, 'approved', approved.text);
      const records = (await t.call('GET', '/v1/audit?action=provisioning.complete', { token: apiKey })).body
        .items;
      assert.deepEqual(
        records.map((r: { changes: { serial: string } }) => r.changes.serial),
        ['recorded-unit'],
      );
      assert.equal((await t.call('GET', '/v1/audit/verify', { token: apiKey })).body.intact, true);
    });

    test('a login whose record cannot be written opens no session', async () => {
      await t.adminToken();
      const sessions = async () =>
        (await t.platform.db.query<{ n: number }>('SELECT count(*)::int AS n FROM sessions'))[0]!.n;
      const before = await sessions();
      await t.platform.db.query("INSERT INTO refused_audit_targets (target) VALUES ('admin')");
      try {
        const r = await t.call('POST', '/v1/auth/login', {
          body: { username: 'admin', password: ADMIN_TEST_PASSWORD },
        });
        assert.equal(r.status, 500, r.text);
        assert.equal(r.body.token, undefined);
        assert.doesNotMatch(r.text, /\bat .*\.(ts|js):\d+|refuses this record/);
        assert.equal(await sessions(), before, 'no session without its auth.login record');
      } finally {
        await t.platform.db.query("DELETE FROM refused_audit_targets WHERE target = 'admin'");
      }
      const ok = await t.call('POST', '/v1/auth/login', {
        body: { username: 'admin', password: ADMIN_TEST_PASSWORD },
      });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(await sessions(), before + 1);
    });

    test('a factory unit exists only with its record', async () => {
      const { apiKey } = await t.tenant();
      const r = await t.call('POST', '/v1/provisioning/batches', {
        token: apiKey,
        body: { batchId: 'line-audit', items: [{ serial: 'FA-001' }, { serial: 'unrecordable-002' }] },
      });
      assert.equal(r.status, 500, r.text);
      assert.doesNotMatch(r.text, /\bat .*\.(ts|js):\d+|refuses this record/);
      // The unit whose record was refused left no token behind; the one before it kept its record.
      const tokens = (await t.call('GET', '/v1/provisioning-tokens', { token: apiKey })).body.items;
      assert.deepEqual(
        tokens.map((x: { serial: string }) => x.serial),
        ['FA-001'],
      );
      const records = (await t.call('GET', '/v1/audit?action=factory.issue', { token: apiKey })).body.items;
      assert.deepEqual(
        records.map((x: { changes: { serial: string } }) => x.changes.serial),
        ['FA-001'],
      );
      assert.equal((await t.call('GET', '/v1/audit/verify', { token: apiKey })).body.intact, true);
    });

    test('a refusal inside the transaction keeps its answer and releases its Idempotency-Key', async () => {
      const { apiKey } = await t.tenant();
      const body = { name: 'twin', serial: 'SN-TWIN' };
      assert.equal((await t.call('POST', '/v1/devices', { token: apiKey, body })).status, 201);
      // The duplicate serial fails a statement of the transaction: the answer is still the refusal.
      const again = { token: apiKey, body, headers: { 'idempotency-key': 'twin-1' } };
      const refused = await t.call('POST', '/v1/devices', again);
      assert.equal(refused.status, 409, refused.text);
      assert.equal(refused.body.code, 'ALREADY_EXISTS');
      const retried = await t.call('POST', '/v1/devices', again);
      assert.equal(retried.body.code, 'ALREADY_EXISTS', 'the refused request did not keep the key');
      const records = (await t.call('GET', '/v1/audit?action=POST%20/v1/devices', { token: apiKey })).body
        .items;
      assert.deepEqual(
        records.map((x: { outcome: string; changes: { status: number } }) => [x.outcome, x.changes.status]),
        [
          ['success', 201],
          ['failure', 409],
          ['failure', 409],
        ],
      );
      assert.equal((await t.call('GET', '/v1/audit/verify', { token: apiKey })).body.intact, true);
    });

    test('a successful action is in the audit trail when its response arrives', async () => {
      const { apiKey } = await t.tenant();
      const created = await t.call('POST', '/v1/api-keys', {
        token: apiKey,
        body: { name: 'recorded-at-once', role: 'viewer' },
      });
      assert.equal(created.status, 201, created.text);
      // No waiting: the record was committed with the key.
      const records = (await t.call('GET', '/v1/audit?action=POST%20/v1/api-keys', { token: apiKey })).body
        .items;
      assert.equal(records.length, 1);
      assert.equal(records[0].outcome, 'success');
      assert.equal(records[0].changes.status, 201);
      assert.equal(records[0].changes.request.name, 'recorded-at-once');
      const d = await t.call('POST', '/v1/devices', { token: apiKey, body: { name: 'x', bogus: 1 } });
      assert.equal(d.status, 400);
      const refused = (await t.call('GET', '/v1/audit?action=POST%20/v1/devices', { token: apiKey })).body
        .items;
      assert.deepEqual(
        refused.map((x: { outcome: string; changes: { status: number } }) => [x.outcome, x.changes.status]),
        [['failure', 400]],
      );
    });
  });
}
