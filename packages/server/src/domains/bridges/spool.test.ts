/**
 * A bridge's spool on both store back ends: events matched by type and tag, the byte cap (cap + 1
 * message gives exactly one counted drop, the oldest), the age cap at enqueue and in the periodic
 * pass, drops audited once per batch, and acknowledged rows counted as forwarded.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { PlatformEvent } from '@mooring/protocol';
import { storeBackends } from '../../../test/postgres.js';
import { migrate } from '../../store/migrate.js';
import { transactionOf, type Db } from '../../store/db.js';
import { createSecretBox } from '../../platform/secret-box.js';
import { createAddressPolicy } from '../../platform/outbound/address-policy.js';
import { isAppError } from '../../errors.js';
import { createTenancyService } from '../tenancy/service.js';
import { tenancyStore } from '../tenancy/store.js';
import type { AuditEvent } from '../audit/audit.js';
import type { TenantCaller } from '../../platform/caller.js';
import { createBridgeService } from './service.js';
import { bridgeStore } from './store.js';

let n = 0;
function event(tenantId: string, over: Partial<PlatformEvent> = {}): PlatformEvent {
  return {
    id: `evt_${String(++n).padStart(6, '0')}`,
    type: 'device.event',
    tenantId,
    deviceId: 'dev_a',
    occurredAt: 1_700_000_000_000 + n,
    data: { n },
    ...over,
  };
}

for (const [name, open] of storeBackends) {
  describe(`bridge spool (${name})`, () => {
    let db: Db;
    let close: () => Promise<void>;
    let caller: TenantCaller;
    let clock = 1_800_000_000_000;
    const audits: AuditEvent[] = [];
    let service: ReturnType<typeof createBridgeService>;

    before(async () => {
      ({ db, close } = await open());
      await migrate(db);
      const tenant = await createTenancyService({ store: tenancyStore(db) }).createTenant(
        { principal: { kind: 'platform-admin', userId: 'usr_admin' } } as never,
        `bridges-${name}`,
      );
      caller = {
        tenantId: tenant.id,
        principal: { kind: 'api-key', keyId: 'key_x', tenantId: tenant.id, grants: [] },
      };
      service = createBridgeService({
        store: bridgeStore(db),
        storeOn: bridgeStore,
        transaction: transactionOf(db, bridgeStore),
        box: createSecretBox(randomBytes(32)),
        policy: createAddressPolicy({ allowList: ['127.0.0.1/32'] }),
        audit: (e) => audits.push(e),
        now: () => clock,
      });
    });
    after(() => close());

    const base = {
      url: 'mqtt://127.0.0.1:18830',
      topicTemplate: 'mooring/{tenantId}/{deviceId}/{type}',
      eventTypes: ['device.event' as const],
      enabled: false,
    };

    test('refuses addresses, wildcards and lone secrets with the field named', async () => {
      for (const [input, path] of [
        [{ ...base, url: 'mqtt://10.0.0.1' }, '/url'],
        [{ ...base, url: 'https://broker.example.com' }, '/url'],
        [{ ...base, url: 'mqtt://169.254.169.254' }, '/url'],
        [{ ...base, topicTemplate: 'a/+/b' }, '/topicTemplate'],
        [{ ...base, topicTemplate: 'a//{type}' }, '/topicTemplate'],
        [{ ...base, topicTemplate: 'a/{nope}' }, '/topicTemplate'],
        [{ ...base, password: 'x' }, '/username'],
      ] as const) {
        await assert.rejects(service.create(caller, { name: 'x', ...input }), (e) => {
          assert.ok(isAppError(e) && e.code === 'VALIDATION_FAILED', String(e));
          assert.equal(e.errors?.[0]?.path, path);
          return true;
        });
      }
    });

    test('never returns secrets; an update keeps them unless replaced', async () => {
      const b = await service.create(caller, { name: 's', ...base, username: 'u', password: 'pw' });
      assert.equal(b.hasPassword, true);
      assert.ok(!JSON.stringify(b).includes('pw"'));
      const u = await service.update(caller, b.id, { name: 's2' });
      assert.equal(u.hasPassword, true);
      assert.equal(
        (await service.update(caller, b.id, { password: null, username: null })).hasPassword,
        false,
      );
      await service.delete(caller, b.id);
    });

    test('cap + 1 message gives exactly one counted drop, the oldest, audited once', async () => {
      const one = event(caller.tenantId, { data: { n: 0 } });
      const per = Buffer.byteLength(JSON.stringify(one));
      const cap = Math.ceil(1024 / per) + 1;
      const b = await service.create(caller, {
        name: 'exact',
        ...base,
        enabled: true,
        spoolMaxBytes: per * cap,
      });
      const ids: string[] = [];
      for (let i = 0; i <= cap; i++) {
        // Same length ids and data, so every message has exactly `per` bytes.
        const e = event(caller.tenantId, { data: { n: 0 } });
        assert.equal(Buffer.byteLength(JSON.stringify(e)), per);
        ids.push(e.id);
        await service.enqueue(e, []);
      }
      const s = (await service.get(caller, b.id)).status;
      assert.equal(s.dropped, 1);
      assert.equal(s.spoolRows, cap);
      assert.equal(s.spoolBytes, per * cap);
      assert.ok(s.lastDroppedAt !== null);
      const kept = await db.query<{ payload: Uint8Array }>(
        'SELECT payload FROM bridge_spool WHERE bridge_id = $1 ORDER BY seq',
        [b.id],
      );
      assert.deepEqual(
        kept.map((r) => JSON.parse(Buffer.from(r.payload).toString()).id),
        ids.slice(1),
      );
      const audited = audits.filter((a) => a.target === b.id);
      assert.equal(audited.length, 1);
      assert.equal(audited[0]!.action, 'bridges.spool-dropped');
      assert.equal(audited[0]!.changes?.dropped, 1);
      await service.delete(caller, b.id);
    });

    test('type and tag filters; a deviceless event renders _', async () => {
      const b = await service.create(caller, {
        name: 'filters',
        ...base,
        enabled: true,
        eventTypes: ['device.event', 'certificate.issued'],
        deviceTags: ['north'],
      });
      assert.equal(await service.enqueue(event(caller.tenantId), ['south']), 0);
      assert.equal(await service.enqueue(event(caller.tenantId, { type: 'alert.fired' }), ['north']), 0);
      assert.equal(await service.enqueue(event(caller.tenantId), ['north']), 1);
      assert.equal(
        await service.enqueue(event(caller.tenantId, { type: 'certificate.issued', deviceId: null }), []),
        1,
      );
      const rows = await db.query<{ topic: string }>(
        'SELECT topic FROM bridge_spool WHERE bridge_id = $1 ORDER BY seq',
        [b.id],
      );
      assert.deepEqual(
        rows.map((r) => r.topic),
        [`mooring/${caller.tenantId}/dev_a/device.event`, `mooring/${caller.tenantId}/_/certificate.issued`],
      );
      // Acknowledged rows leave the spool and count as forwarded.
      const seqs = await db.query<{ seq: string }>(
        'SELECT seq::text AS seq FROM bridge_spool WHERE bridge_id = $1',
        [b.id],
      );
      await db.transaction((tx) =>
        bridgeStore(tx).acknowledge(
          b.id,
          seqs.map((r) => r.seq),
        ),
      );
      const s = (await service.get(caller, b.id)).status;
      assert.deepEqual([s.spoolRows, s.spoolBytes, s.forwarded], [0, 0, 2]);
      await service.delete(caller, b.id);
    });

    test('the age cap drops old rows at enqueue and in the periodic pass', async () => {
      const b = await service.create(caller, { name: 'age', ...base, enabled: true, spoolMaxAgeSeconds: 60 });
      audits.length = 0;
      await service.enqueue(event(caller.tenantId), []);
      await service.enqueue(event(caller.tenantId), []);
      clock += 61_000;
      assert.equal(await service.expireSpools(), 2);
      let s = (await service.get(caller, b.id)).status;
      assert.deepEqual([s.spoolRows, s.dropped], [0, 2]);
      await service.enqueue(event(caller.tenantId), []);
      clock += 61_000;
      await service.enqueue(event(caller.tenantId), []);
      s = (await service.get(caller, b.id)).status;
      assert.deepEqual([s.spoolRows, s.dropped], [1, 3]);
      // One record per batch, at most one per minute per bridge: both batches were a minute apart.
      assert.deepEqual(
        audits.filter((a) => a.target === b.id).map((a) => a.changes?.dropped),
        [2, 1],
      );
      await service.delete(caller, b.id);
    });
  });
}
