/**
 * The same store tests against both back ends: embedded PGlite and the PostgreSQL server. They drive
 * the domain services directly so every query the services issue runs on both dialect engines.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { migrate, listMigrations, splitStatements } from './migrate.js';
import { StoreError, transactionOf, type Db } from './db.js';
import { createLogger } from '../platform/observability.js';
import { storeBackends } from '../../test/postgres.js';
import { createLocalNotifier } from '../platform/notifier.js';
import { createOutbox } from '../platform/outbox.js';
import { createCursors } from '../platform/pagination.js';
import { enqueue, inTransaction, outsideTransaction, type CommitHook } from './ambient.js';
import { createDeviceService } from '../domains/devices/service.js';
import { deviceStore } from '../domains/devices/store.js';
import { createTenancyService } from '../domains/tenancy/service.js';
import { tenancyStore } from '../domains/tenancy/store.js';
import { createUserService } from '../domains/users/service.js';
import { userStore } from '../domains/users/store.js';
import { createApiKeyService } from '../domains/api-keys/service.js';
import { apiKeyStore } from '../domains/api-keys/store.js';
import { createRoleService } from '../domains/access/service.js';
import { roleStore } from '../domains/access/store.js';
import { createSecretBox } from '../platform/secret-box.js';
import { totpCode } from '../domains/users/totp.js';
import { randomBytes } from 'node:crypto';
import { createBatchWriter } from '../domains/telemetry/batch-writer.js';
import { createTelemetryService } from '../domains/telemetry/service.js';
import { telemetryStore } from '../domains/telemetry/store.js';
import { createCommandService } from '../domains/commands/service.js';
import { commandStore } from '../domains/commands/store.js';
import { createPresenceService } from '../domains/presence/service.js';
import { presenceStore } from '../domains/presence/store.js';
import type { TenantCaller } from '../platform/caller.js';
import { isAppError } from '../errors.js';

const platform = { tenantId: '', principal: { kind: 'platform-admin' as const, userId: 'usr_admin' } };

async function rejectsWith(p: Promise<unknown>, code: string) {
  await assert.rejects(p, (e: unknown) => isAppError(e) && e.code === code);
}

for (const [name, open] of storeBackends) {
  describe(`store on ${name}`, () => {
    let db: Db;
    let close: () => Promise<void>;
    before(async () => {
      ({ db, close } = await open());
      await migrate(db);
    });
    after(async () => {
      await close();
    });

    function services(now = Date.now) {
      const bus = createLocalNotifier();
      const tenancy = createTenancyService({ store: tenancyStore(db), now });
      const roles = createRoleService({
        store: roleStore(db),
        transaction: transactionOf(db, roleStore),
        now,
      });
      const users = createUserService({
        store: userStore(db),
        box: createSecretBox(randomBytes(32)),
        roles,
        sessionTtlMs: 60_000,
        requireTenant: (id) => tenancy.require(id),
        now,
      });
      const apiKeys = createApiKeyService({
        store: apiKeyStore(db),
        roles,
        requireTenant: (id) => tenancy.require(id),
        now,
      });
      const cursors = createCursors(randomBytes(32));
      const devices = createDeviceService({
        store: deviceStore(db),
        transaction: transactionOf(db, deviceStore),
        bus,
        outbox: createOutbox({ db }),
        cursors,
        now,
      });
      const requireDevice = (c: TenantCaller, id: string) => devices.get(c, id);
      const writer = createBatchWriter(db, 1000);
      const telemetry = createTelemetryService({
        store: telemetryStore(db),
        writer,
        cursors,
        requireDevice,
        now,
      });
      const commands = createCommandService({
        store: commandStore(db),
        transaction: transactionOf(db, commandStore),
        outbox: createOutbox({ db }),
        bus,
        cursors,
        defaultTtlSeconds: 60,
        maxTtlSeconds: 3600,
        requireDevice,
        now,
      });
      const presence = createPresenceService({
        store: presenceStore(db),
        transaction: transactionOf(db, presenceStore),
        outbox: createOutbox({ db }),
        nodeId: 'n1',
        requireDevice,
        now,
      });
      return { bus, tenancy, users, apiKeys, roles, devices, telemetry, commands, presence, writer };
    }

    async function tenantCallers(s: ReturnType<typeof services>): Promise<[TenantCaller, TenantCaller]> {
      const a = await s.tenancy.createTenant(platform, `a-${Math.random()}`);
      const b = await s.tenancy.createTenant(platform, `b-${Math.random()}`);
      return [
        { tenantId: a.id, principal: { kind: 'api-key', keyId: 'k1', tenantId: a.id, grants: [] } },
        { tenantId: b.id, principal: { kind: 'api-key', keyId: 'k2', tenantId: b.id, grants: [] } },
      ];
    }

    test('migrations are recorded and a second run applies nothing', async () => {
      assert.deepEqual(await migrate(db), []);
      const rows = await db.query<{ version: number }>(
        'SELECT version FROM schema_migrations ORDER BY version',
      );
      assert.deepEqual(
        rows.map((r) => r.version),
        listMigrations().map((m) => m.version),
      );
    });

    test('a checkpoint runs (the housekeeping worker issues one every five minutes on PGlite)', async () => {
      await db.exec('CHECKPOINT');
    });

    test('a failed statement names itself and its SQLSTATE, never the values it was given', async () => {
      const secret = 'c0ffee5ecret-digest-of-a-provisioning-token';
      const lines: string[] = [];
      const logger = createLogger('error', { write: (line: string) => void lines.push(line) });
      const refused = await db.query('SELECT id FROM devices WHERE created_at = $1::bigint', [secret]).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(refused instanceof StoreError, String(refused));
      assert.equal(refused.code, '22P02');
      assert.equal(refused.statement, 'SELECT devices');
      // In a transaction, a unique violation whose detail quotes the key.
      const duplicate = await db
        .transaction(async (tx) => {
          await tx.query('CREATE TEMP TABLE log_probe (k text PRIMARY KEY) ON COMMIT DROP');
          await tx.query('INSERT INTO log_probe (k) VALUES ($1)', [secret]);
          await tx.query('INSERT INTO log_probe (k) VALUES ($1)', [secret]);
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(duplicate instanceof StoreError, String(duplicate));
      assert.equal(duplicate.code, '23505');
      assert.equal(duplicate.statement, 'INSERT log_probe');
      assert.equal(duplicate.constraint, 'log_probe_pkey');
      logger.error({ err: refused }, 'request failed');
      logger.error({ err: duplicate }, 'request failed');
      assert.equal(lines.length, 2);
      for (const line of lines) {
        assert.equal(line.includes(secret), false, line);
        assert.equal(line.includes('c0ffee'), false, line);
      }
      assert.match(lines[0]!, /SELECT devices failed: SQLSTATE 22P02/);
      assert.match(lines[1]!, /INSERT log_probe failed: SQLSTATE 23505 \(constraint log_probe_pkey\)/);
    });

    test('a database newer than the code is refused', async () => {
      await db.query(`INSERT INTO schema_migrations (version, name) VALUES (999, 'future')`);
      try {
        await assert.rejects(migrate(db), /newer than this build/);
      } finally {
        await db.query('DELETE FROM schema_migrations WHERE version = 999');
      }
    });

    test('tenant names are unique and users log in with the right password only', async () => {
      const s = services();
      const t = await s.tenancy.createTenant(platform, `acme-${Math.random()}`);
      await rejectsWith(s.tenancy.createTenant(platform, t.name), 'ALREADY_EXISTS');
      const as = { tenantId: t.id, principal: platform.principal };
      const user = await s.users.createUser(as, { username: `u-${t.id}`, password: 'tidal harbour rope' });
      await rejectsWith(
        s.users.createUser(as, { username: `short-${t.id}`, password: 'short' }),
        'PASSWORD_TOO_WEAK',
      );
      await rejectsWith(
        s.users.login({ username: `u-${t.id}`, password: 'wrong password here' }, 'a', null),
        'INVALID_CREDENTIALS',
      );
      await rejectsWith(
        s.users.login({ username: 'nobody', password: 'whatever whatever' }, 'a', null),
        'INVALID_CREDENTIALS',
      );
      const session = await s.users.login(
        { username: `u-${t.id}`, password: 'tidal harbour rope' },
        'a',
        null,
      );
      const p = await s.users.authenticate(session.token);
      assert.equal(p.kind, 'user');
      assert.ok(p.kind === 'user' && p.tenantId === t.id && p.userId === user.id);
      assert.ok(p.kind === 'user' && p.grants[0]?.permissions.has('tenant:manage'), 'default grant is owner');
      await s.users.logout(session.token);
      await rejectsWith(s.users.authenticate(session.token), 'INVALID_CREDENTIALS');
    });

    test('lockout, one-time codes and recovery codes use each store statement on this back end', async () => {
      let clock = Date.now();
      const s = services(() => clock);
      const t = await s.tenancy.createTenant(platform, `totp-${Math.random()}`);
      const as = { tenantId: t.id, principal: platform.principal };
      const username = `t-${t.id}`;
      const user = await s.users.createUser(as, { username, password: 'tidal harbour rope' });
      const session = await s.users.login({ username, password: 'tidal harbour rope' }, 'a', null);
      const self = {
        userId: user.id,
        sessionId: (await s.users.mySessions({ userId: user.id, sessionId: '' }))[0]!.id,
      };
      assert.equal(session.totpEnrollmentRequired, false);
      const { secret } = await s.users.beginTotp(self);
      const { recoveryCodes } = await s.users.confirmTotp(self, totpCode(secret, clock));
      assert.equal(recoveryCodes.length, 10);
      await rejectsWith(s.users.authenticate(session.token), 'INVALID_CREDENTIALS');
      await rejectsWith(
        s.users.login({ username, password: 'tidal harbour rope' }, 'a', null),
        'TOTP_REQUIRED',
      );
      clock += 30_000;
      const code = totpCode(secret, clock);
      await s.users.login({ username, password: 'tidal harbour rope', totp: code }, 'a', null);
      await rejectsWith(
        s.users.login({ username, password: 'tidal harbour rope', totp: code }, 'a', null),
        'TOTP_INVALID',
      );
      await s.users.login(
        { username, password: 'tidal harbour rope', recoveryCode: recoveryCodes[0]!.toUpperCase() },
        'a',
        null,
      );
      await rejectsWith(
        s.users.login(
          { username, password: 'tidal harbour rope', recoveryCode: recoveryCodes[0]! },
          'a',
          null,
        ),
        'TOTP_INVALID',
      );
      clock += 30_000;
      // A successful login clears the failures counted so far.
      await s.users.login(
        { username, password: 'tidal harbour rope', totp: totpCode(secret, clock) },
        'a',
        null,
      );
      for (let i = 0; i < 5; i++)
        await rejectsWith(
          s.users.login({ username, password: 'wrong password!!' }, `b${i}`, null),
          'INVALID_CREDENTIALS',
        );
      await rejectsWith(
        s.users.login({ username, password: 'tidal harbour rope' }, 'c', null),
        'ACCOUNT_LOCKED',
      );
      clock += 15 * 60_000 + 1;
      await rejectsWith(
        s.users.login({ username, password: 'tidal harbour rope' }, 'c', null),
        'TOTP_REQUIRED',
      );
    });

    test('API keys are stored as digests, resolve to their tenant and stop working when revoked', async () => {
      const s = services();
      const t = await s.tenancy.createTenant(platform, `keys-${Math.random()}`);
      const as = { tenantId: t.id, principal: platform.principal };
      const { apiKey, secret } = await s.apiKeys.create(as, { name: 'ci', role: 'viewer' });
      const stored = await db.query<{ key_hash: string }>('SELECT key_hash FROM api_keys WHERE id = $1', [
        apiKey.id,
      ]);
      assert.notEqual(stored[0]!.key_hash, secret);
      assert.match(stored[0]!.key_hash, /^[0-9a-f]{64}$/);
      const p = await s.apiKeys.authenticate(secret, '10.0.0.1');
      assert.ok(p.kind === 'api-key' && p.keyId === apiKey.id && p.tenantId === t.id);
      assert.ok(
        p.kind === 'api-key' &&
          p.grants[0]!.permissions.has('devices:read') &&
          !p.grants[0]!.permissions.has('devices:write'),
      );
      const rotated = await s.apiKeys.rotate(as, apiKey.id, 60);
      await s.apiKeys.authenticate(secret, '10.0.0.1');
      await s.apiKeys.authenticate(rotated.secret, '10.0.0.2');
      assert.equal((await s.apiKeys.get(as, apiKey.id)).lastUsedAddress, '10.0.0.2');
      await s.apiKeys.revoke(as, apiKey.id);
      await rejectsWith(s.apiKeys.authenticate(secret, null), 'INVALID_CREDENTIALS');
      await rejectsWith(s.apiKeys.authenticate(rotated.secret, null), 'INVALID_CREDENTIALS');
      await rejectsWith(s.apiKeys.revoke({ ...as, tenantId: 'ten_other' }, apiKey.id), 'API_KEY_NOT_FOUND');
    });

    test('devices are tenant-scoped, paginated and filtered', async () => {
      const s = services();
      const [a, b] = await tenantCallers(s);
      for (let i = 0; i < 5; i++)
        await s.devices.create(a, { name: `d${i}`, tags: i % 2 === 0 ? ['even'] : ['odd'] });
      const other = await s.devices.create(b, { name: 'theirs' });
      await rejectsWith(s.devices.get(a, other.id), 'DEVICE_NOT_FOUND');
      await rejectsWith(s.devices.update(a, other.id, { name: 'stolen' }), 'DEVICE_NOT_FOUND');
      await rejectsWith(s.devices.delete(a, other.id), 'DEVICE_NOT_FOUND');
      const p1 = await s.devices.list(a, { limit: 2 });
      assert.equal(p1.items.length, 2);
      const p2 = await s.devices.list(a, { limit: 2, cursor: p1.nextCursor! });
      const p3 = await s.devices.list(a, { limit: 2, cursor: p2.nextCursor! });
      assert.equal(p3.nextCursor, null);
      assert.deepEqual(
        [...p1.items, ...p2.items, ...p3.items].map((d) => d.name),
        ['d0', 'd1', 'd2', 'd3', 'd4'],
      );
      assert.deepEqual(
        (await s.devices.list(a, { tag: 'even' })).items.map((d) => d.name),
        ['d0', 'd2', 'd4'],
      );
      await s.devices.update(a, p1.items[0]!.id, { status: 'disabled' });
      assert.deepEqual(
        (await s.devices.list(a, { status: 'disabled' })).items.map((d) => d.name),
        ['d0'],
      );
      await rejectsWith(s.devices.list(a, { cursor: 'not-a-cursor' }), 'INVALID_CURSOR');
      // a well-formed cursor that this platform did not issue, and an issued one altered
      const madeUp = Buffer.from(JSON.stringify(p1.items[0]!.id)).toString('base64url');
      await rejectsWith(s.devices.list(a, { cursor: madeUp }), 'INVALID_CURSOR');
      const [body, tag] = p1.nextCursor!.split('.');
      const elsewhere = Buffer.from(JSON.stringify(p2.items[0]!.id)).toString('base64url');
      await rejectsWith(s.devices.list(a, { cursor: `${elsewhere}.${tag}` }), 'INVALID_CURSOR');
      await rejectsWith(s.devices.list(a, { cursor: `${body}.${tag}x` }), 'INVALID_CURSOR');
    });

    test('access keys authenticate their device until revoked or the device is disabled', async () => {
      const s = services();
      const [a] = await tenantCallers(s);
      const d = await s.devices.create(a, { name: 'k' });
      const disconnects: string[] = [];
      s.bus.subscribe('device.disconnect', (e) => disconnects.push(e.reason));
      const k1 = await s.devices.createAccessKey(a, d.id);
      const k2 = await s.devices.createAccessKey(a, d.id);
      assert.equal((await s.devices.authenticate(k1.secret, d.id)).deviceId, d.id);
      await rejectsWith(s.devices.authenticate(k1.secret, 'dev_someoneelse'), 'INVALID_CREDENTIALS');
      await s.devices.revokeAccessKey(a, d.id, k1.accessKey.id);
      await rejectsWith(s.devices.authenticate(k1.secret), 'INVALID_CREDENTIALS');
      assert.equal((await s.devices.authenticate(k2.secret)).credentialId, k2.accessKey.id);
      await s.devices.update(a, d.id, { status: 'disabled' });
      await rejectsWith(s.devices.authenticate(k2.secret), 'DEVICE_DISABLED');
      assert.deepEqual(disconnects, ['access_key_revoked', 'device_disabled']);
    });

    test('batched telemetry is committed, queryable and aggregated', async () => {
      const s = services();
      const [a, b] = await tenantCallers(s);
      const d = await s.devices.create(a, { name: 't' });
      const id = { tenantId: a.tenantId, deviceId: d.id };
      const base = Date.UTC(2030, 0, 1);
      const now = base + 3_600_000;
      // Many messages queued in one tick share a group commit and all resolve.
      await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          s.telemetry.ingest(id, { ts: base + i * 1000, values: { v: i, s: 'x' } }, now),
        ),
      );
      const page = await s.telemetry.range(a, d.id, { from: base, to: now, key: 'v', limit: 500 });
      assert.equal(page.items.length, 200);
      assert.deepEqual(
        page.items.slice(0, 3).map((p) => p.value),
        [0, 1, 2],
      );
      const agg = await s.telemetry.aggregate(a, d.id, {
        key: 'v',
        from: base,
        to: base + 120_000,
        bucketMs: 60_000,
      });
      assert.deepEqual(agg, [
        { start: base, count: 60, min: 0, max: 59, avg: 29.5 },
        { start: base + 60_000, count: 60, min: 60, max: 119, avg: 89.5 },
      ]);
      const latest = await s.telemetry.latest(a, d.id);
      assert.deepEqual(latest, [
        { key: 's', ts: base + 199_000, value: 'x' },
        { key: 'v', ts: base + 199_000, value: 199 },
      ]);
      await rejectsWith(s.telemetry.range(b, d.id, { from: base, to: now }), 'DEVICE_NOT_FOUND');
      await rejectsWith(
        s.telemetry.aggregate(a, d.id, { key: 'v', from: now, to: base, bucketMs: 60_000 }),
        'INVALID_TIME_RANGE',
      );
    });

    test('drain waits until every queued message is committed', async () => {
      const s = services();
      const [a] = await tenantCallers(s);
      const d = await s.devices.create(a, { name: 'drain' });
      const id = { tenantId: a.tenantId, deviceId: d.id };
      const pending = Array.from({ length: 300 }, (_, i) => s.telemetry.ingest(id, { values: { n: i } }));
      assert.ok(s.writer.queuedRows > 0);
      await s.writer.drain();
      assert.equal(s.writer.queuedRows, 0);
      const rows = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM telemetry WHERE device_id = $1',
        [d.id],
      );
      assert.equal(rows[0]!.n, 300);
      await Promise.all(pending);
    });

    test('invalid telemetry is refused before anything is queued', async () => {
      const s = services();
      const [a] = await tenantCallers(s);
      const d = await s.devices.create(a, { name: 'bad' });
      const id = { tenantId: a.tenantId, deviceId: d.id };
      assert.throws(
        () => s.telemetry.ingest(id, { values: { t: 1 }, extra: 1 }),
        (e: unknown) => isAppError(e) && e.code === 'INVALID_TELEMETRY',
      );
      assert.throws(
        () => s.telemetry.ingest(id, { ts: Date.now() + 3_600_000, values: { t: 1 } }),
        (e: unknown) => isAppError(e) && e.code === 'TIMESTAMP_OUT_OF_RANGE',
      );
      assert.equal(s.writer.queuedRows, 0);
      const rows = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM telemetry WHERE device_id = $1',
        [d.id],
      );
      assert.equal(rows[0]!.n, 0);
    });

    test('commands move from pending to delivered to a result, once', async () => {
      let clock = Date.UTC(2030, 0, 1);
      const s = services(() => clock);
      const [a, b] = await tenantCallers(s);
      const d = await s.devices.create(a, { name: 'c' });
      const id = { tenantId: a.tenantId, deviceId: d.id };
      const c = await s.commands.create(a, d.id, { name: 'reboot', params: { x: 1 }, ttlSeconds: 30 });
      await rejectsWith(s.commands.get(b, d.id, c.id), 'DEVICE_NOT_FOUND');
      assert.equal((await s.commands.get(a, d.id, c.id)).status, 'pending');
      assert.deepEqual(
        (await s.commands.fetchForDevice(id)).map((x) => x.id),
        [c.id],
      );
      assert.equal((await s.commands.get(a, d.id, c.id)).status, 'delivered');
      await s.commands.markDelivered(id, [c.id]);
      assert.equal((await s.commands.get(a, d.id, c.id)).status, 'delivered');
      assert.deepEqual(
        (await s.commands.openForDevice(id)).map((x) => x.id),
        [c.id],
      );
      const done = await s.commands.reportResult(id, c.id, { status: 'succeeded', result: { ok: true } });
      assert.equal(done.status, 'succeeded');
      await rejectsWith(s.commands.reportResult(id, c.id, { status: 'failed' }), 'COMMAND_NOT_OPEN');
      const late = await s.commands.create(a, d.id, { name: 'late', ttlSeconds: 1 });
      clock += 2000;
      assert.equal(await s.commands.expireDue(), 1);
      assert.equal((await s.commands.get(a, d.id, late.id)).status, 'expired');
      await rejectsWith(
        s.commands.create(a, d.id, { name: 'too-long', ttlSeconds: 7200 }),
        'VALIDATION_FAILED',
      );
    });

    test('presence ignores the late disconnect of a taken-over session and resets after a restart', async () => {
      const s = services();
      const [a] = await tenantCallers(s);
      const d = await s.devices.create(a, { name: 'p' });
      const id = { tenantId: a.tenantId, deviceId: d.id };
      const first = { remoteAddress: '127.0.0.1', transport: 'mqtts' };
      const second = { remoteAddress: '127.0.0.2', transport: 'wss' };
      await s.presence.connected(id, 'ses_1', first);
      await s.presence.connected(id, 'ses_2', second);
      await s.presence.disconnected(id, 'ses_1', 'session_taken_over', first);
      assert.equal((await s.devices.get(a, d.id)).presence.connected, true);
      assert.equal(await s.presence.resetNode('n1', 'server_restart'), 1);
      const after = await s.devices.get(a, d.id);
      assert.equal(after.presence.connected, false);
      assert.equal(after.presence.lastDisconnectReason, 'server_restart');
      // Disconnect records keep the address and transport of the session they end.
      const [last] = await s.presence.history(a, d.id, 1);
      assert.deepEqual(
        { event: last!.event, remoteAddress: last!.remoteAddress, transport: last!.transport },
        { event: 'disconnected', remoteAddress: '127.0.0.2', transport: 'wss' },
      );
    });

    test('a disconnect record carries the address and transport of its session', async () => {
      const s = services();
      const [a] = await tenantCallers(s);
      const d = await s.devices.create(a, { name: 'p2' });
      const id = { tenantId: a.tenantId, deviceId: d.id };
      const info = { remoteAddress: '10.1.2.3', transport: 'mqtts-mtls' };
      await s.presence.connected(id, 'ses_9', info);
      await s.presence.disconnected(id, 'ses_9', 'client_disconnect', info);
      const [last] = await s.presence.history(a, d.id, 1);
      assert.deepEqual(
        { event: last!.event, remoteAddress: last!.remoteAddress, transport: last!.transport },
        { event: 'disconnected', remoteAddress: '10.1.2.3', transport: 'mqtts-mtls' },
      );
    });

    test('queries inside a transaction join it; a nested transaction is a savepoint; queued work follows the outcome', async () => {
      await db.exec('CREATE TABLE IF NOT EXISTS ambient_probe (v text PRIMARY KEY)');
      const seen: string[] = [];
      const hook: CommitHook<string> = {
        beforeCommit: async (items) => {
          // Written in the transaction: a rollback after this point would drop it too.
          for (const v of items) await db.query('INSERT INTO ambient_probe (v) VALUES ($1)', [v]);
        },
        afterCommit: (items) => void seen.push(...items),
      };
      await db.transaction(async () => {
        // `db` (not the transaction's handle) joins the transaction: on PGlite, one connection, a
        // query outside it would wait for it for ever.
        await db.query("INSERT INTO ambient_probe (v) VALUES ('outer')");
        assert.ok(enqueue(hook, 'queued'));
        await assert.rejects(
          db.transaction(async () => {
            await db.query("INSERT INTO ambient_probe (v) VALUES ('inner')");
            enqueue(hook, 'rolled-back-with-savepoint');
            await db.query("INSERT INTO ambient_probe (v) VALUES ('outer')"); // unique violation
          }),
        );
        // The failed savepoint left the transaction usable, and so does a failed statement made
        // through `db` and caught, as it would outside a transaction.
        await assert.rejects(db.query("INSERT INTO ambient_probe (v) VALUES ('outer')"));
        // Side by side, statements through `db` do not interleave their savepoints.
        const [a, b] = await Promise.all([
          db.query<{ n: number }>('SELECT 1 AS n'),
          db.query<{ n: number }>('SELECT 2 AS n'),
        ]);
        assert.deepEqual([a[0]!.n, b[0]!.n], [1, 2]);
        assert.equal((await db.query('SELECT v FROM ambient_probe ORDER BY v')).length, 1);
        assert.deepEqual(seen, [], 'nothing after-commit runs before the commit');
      });
      assert.deepEqual(seen, ['queued']);
      assert.deepEqual(
        (await db.query<{ v: string }>('SELECT v FROM ambient_probe ORDER BY v')).map((r) => r.v),
        ['outer', 'queued'],
      );

      await assert.rejects(
        db.transaction(async () => {
          await db.query("INSERT INTO ambient_probe (v) VALUES ('rolled-back')");
          enqueue(hook, 'dropped');
          throw new Error('abandon');
        }),
        /abandon/,
      );
      assert.deepEqual(seen, ['queued'], 'work queued in a rolled-back transaction is dropped');
      assert.equal((await db.query("SELECT v FROM ambient_probe WHERE v = 'rolled-back'")).length, 0);
      assert.equal(enqueue(hook, 'no transaction'), false, 'outside a transaction the caller acts at once');

      // A continuation that outlives its transaction never uses it again.
      let late: Promise<unknown> | undefined;
      await db.transaction(async () => {
        late = new Promise((resolve) => setTimeout(resolve, 20)).then(() =>
          db.query("INSERT INTO ambient_probe (v) VALUES ('late')"),
        );
      });
      await late;
      assert.equal((await db.query("SELECT v FROM ambient_probe WHERE v = 'late'")).length, 1);
      // Scheduled work run outside the transaction neither joins nor waits for it.
      await db.transaction(async () => {
        await outsideTransaction(async () => assert.equal(inTransaction(), false));
        assert.equal(inTransaction(), true);
      });
      await db.exec('DROP TABLE ambient_probe');
    });

    test('bus notices published in a transaction go out after its commit, and never after a rollback', async () => {
      const bus = createLocalNotifier();
      const got: string[] = [];
      bus.subscribe('device.disconnect', (e) => void got.push(e.deviceId));
      await db.transaction(async () => {
        bus.publish('device.disconnect', { deviceId: 'dev_committed', reason: 'test' });
        assert.deepEqual(got, []);
      });
      await assert.rejects(
        db.transaction(async () => {
          bus.publish('device.disconnect', { deviceId: 'dev_rolled_back', reason: 'test' });
          throw new Error('abandon');
        }),
      );
      bus.publish('device.disconnect', { deviceId: 'dev_now', reason: 'test' });
      assert.deepEqual(got, ['dev_committed', 'dev_now']);
    });
  });
}

test('migration scripts split into statements without losing any', () => {
  assert.deepEqual(splitStatements('CREATE TABLE a (x int);\n-- note; here\nCREATE INDEX b ON a (x);\n'), [
    'CREATE TABLE a (x int)',
    'CREATE INDEX b ON a (x)',
  ]);
});
