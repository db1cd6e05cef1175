/**
 * Durable facts through the outbox, on both stores, with the platform's own wiring: deleting a device
 * revokes its certificates soon after the commit; and when the process dies between the delete's
 * commit and the hand-on, the fact is still there after a restart on the same data, and the restarted
 * platform revokes the certificate and marks the fact done.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startPlatform, type Platform } from '../src/index.js';
import { createDeviceService } from '../src/domains/devices/service.js';
import { createLocalNotifier } from '../src/platform/bus.js';
import { createOutbox } from '../src/platform/outbox.js';
import { createCursors } from '../src/platform/pagination.js';
import { openPglite } from '../src/store/pglite.js';
import { openPostgres } from '../src/store/postgres.js';
import { transactionOf, type Db } from '../src/store/db.js';
import { deviceStore } from '../src/domains/devices/store.js';
import { bootstrapAdminToken, httpsCall, testConfig } from './harness.js';
import { deviceKeyAndCsr } from './openssl.js';
import { openTestPostgres, TEST_DATABASE_URL } from './postgres.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Store {
  /** The db to hand to the platform (PostgreSQL), or undefined: the platform opens its data dir's. */
  platformDb(): Promise<Db | undefined>;
  /** The store opened directly, while no platform runs on it (the "other process"). */
  openDirect(): Promise<Db>;
  cleanup(): Promise<void>;
}

async function pgliteStore(dataDir: string): Promise<Store> {
  return {
    platformDb: async () => undefined,
    openDirect: () => openPglite(join(dataDir, 'db')),
    cleanup: async () => undefined,
  };
}

async function postgresStore(): Promise<Store> {
  const t = await openTestPostgres();
  const opened: Db[] = [];
  const open = async () => {
    const db = await openPostgres({ url: TEST_DATABASE_URL, schema: t.schema, maxConnections: 4 });
    opened.push(db);
    return db;
  };
  return {
    platformDb: open,
    openDirect: open,
    async cleanup() {
      for (const db of opened) await db.close().catch(() => undefined);
      await t.drop();
    },
  };
}

async function start(dataDir: string, store: Store): Promise<Platform> {
  const db = await store.platformDb();
  return startPlatform(testConfig(dataDir), db ? { db } : {});
}

/** A tenant and a device provisioned with a CSR: its certificate is active. */
async function deviceWithCertificate(platform: Platform, dataDir: string, work: string) {
  const call = (method: string, path: string, opts: { token?: string; body?: unknown } = {}) =>
    httpsCall(platform.httpPort, platform.caCert, method, path, opts);
  const admin = await bootstrapAdminToken(
    (path, body, token) => call('POST', path, { body, ...(token ? { token } : {}) }),
    dataDir,
  );
  const tenant = await call('POST', '/v1/tenants', { token: admin, body: { name: `facts-${Date.now()}` } });
  const apiKey = (
    await call('POST', `/v1/tenants/${tenant.body.id}/api-keys`, { token: admin, body: { name: 'k' } })
  ).body.secret as string;
  const serial = `FACT-${randomBytes(4).toString('hex')}`;
  const pt = await call('POST', '/v1/provisioning-tokens', {
    token: apiKey,
    body: { name: 'facts', kind: 'device', serial, approval: 'auto' },
  });
  const { csr } = deviceKeyAndCsr(work);
  const op = await call('POST', '/v1/device/provisioning/operations', {
    token: pt.body.secret,
    body: { serial, csr },
  });
  assert.equal(op.body.status, 'approved', op.text);
  return { tenantId: tenant.body.id as string, deviceId: op.body.deviceId as string, apiKey, call };
}

const activeCertificates = async (db: Db, deviceId: string) =>
  (
    await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM device_certificates WHERE device_id = $1 AND revoked_at IS NULL',
      [deviceId],
    )
  )[0]!.n;

const factOf = async (db: Db, deviceId: string) =>
  (
    await db.query<{ done: boolean; attempts: number }>(
      `SELECT done_at IS NOT NULL AS done, attempts FROM outbox
        WHERE type = 'device.deleted' AND payload->>'deviceId' = $1`,
      [deviceId],
    )
  )[0];

async function eventually(what: string, check: () => Promise<boolean>, withinMs = 10_000) {
  const until = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > until) assert.fail(`${what} did not happen within ${withinMs} ms`);
    await sleep(50);
  }
}

for (const kind of ['pglite', 'postgres'] as const) {
  test(
    `deleting a device revokes its certificates through the outbox (${kind})`,
    { timeout: 60_000 },
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'mooring-facts-'));
      const store = kind === 'pglite' ? await pgliteStore(dataDir) : await postgresStore();
      const platform = await start(dataDir, store);
      try {
        const d = await deviceWithCertificate(platform, dataDir, dataDir);
        assert.equal(await activeCertificates(platform.db, d.deviceId), 1);
        assert.equal((await d.call('DELETE', `/v1/devices/${d.deviceId}`, { token: d.apiKey })).status, 204);
        await eventually(
          'the revocation',
          async () => (await activeCertificates(platform.db, d.deviceId)) === 0,
        );
        await eventually(
          'the fact being done',
          async () => (await factOf(platform.db, d.deviceId))?.done === true,
        );
      } finally {
        await platform.stop();
        await store.cleanup();
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  );

  test(
    `a fact committed just before a crash is handed on after the restart (${kind})`,
    { timeout: 60_000 },
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'mooring-facts-'));
      const store = kind === 'pglite' ? await pgliteStore(dataDir) : await postgresStore();
      try {
        let platform = await start(dataDir, store);
        const d = await deviceWithCertificate(platform, dataDir, dataDir);
        await platform.stop();

        // The process that deletes the device dies once the delete has committed, before any worker
        // handed the fact on: here, a process with no outbox worker and no handler at all.
        const direct = await store.openDirect();
        const devices = createDeviceService({
          store: deviceStore(direct),
          transaction: transactionOf(direct, deviceStore),
          bus: createLocalNotifier(),
          outbox: createOutbox({ db: direct }),
          cursors: createCursors(randomBytes(32)),
        });
        const caller = {
          tenantId: d.tenantId,
          principal: { kind: 'api-key' as const, keyId: 'k', tenantId: d.tenantId, grants: [] },
        };
        await devices.delete(caller, d.deviceId);
        assert.equal(await activeCertificates(direct, d.deviceId), 1, 'revoked before the crash');
        assert.deepEqual(await factOf(direct, d.deviceId), { done: false, attempts: 0 });
        await direct.close();

        platform = await start(dataDir, store);
        try {
          await eventually(
            'the revocation after the restart',
            async () => (await activeCertificates(platform.db, d.deviceId)) === 0,
          );
          await eventually(
            'the fact being done',
            async () => (await factOf(platform.db, d.deviceId))?.done === true,
          );
          const [cert] = await platform.db.query<{ reason: string }>(
            'SELECT revocation_reason AS reason FROM device_certificates WHERE device_id = $1',
            [d.deviceId],
          );
          assert.equal(cert?.reason, 'device deleted');
        } finally {
          await platform.stop();
        }
      } finally {
        await store.cleanup();
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  );
}
