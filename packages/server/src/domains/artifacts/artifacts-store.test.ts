/**
 * The artifact service and its chunk storage on both back ends (embedded PGlite and a PostgreSQL
 * server): images across several chunks and transactions, ranged reads, the anti-rollback check,
 * paging, deletion, and the cleanup of a refused upload.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { storeBackends } from '../../../test/postgres.js';
import { migrate } from '../../store/migrate.js';
import { transactionOf, type Db } from '../../store/db.js';
import { createCursors } from '../../platform/pagination.js';
import { createSecretBox } from '../../platform/secret-box.js';
import { isAppError } from '../../errors.js';
import { createTenancyService } from '../tenancy/service.js';
import { tenancyStore } from '../tenancy/store.js';
import { createArtifactService } from './service.js';
import { artifactStore } from './store.js';
import { CHUNK_BYTES, chunkStorage } from './chunk-storage.js';

const platform = { tenantId: '', principal: { kind: 'platform-admin' as const, userId: 'usr_admin' } };

async function* pieces(bytes: Buffer, size = 100_000) {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function collect(it: AsyncIterable<Buffer>) {
  const parts: Buffer[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

for (const [name, open] of storeBackends) {
  describe(`artifacts on ${name}`, () => {
    let db: Db;
    let close: () => Promise<void>;
    before(async () => {
      ({ db, close } = await open());
      await migrate(db);
    });
    after(async () => close());

    test('chunks are read once into a bounded cache, shared by concurrent reads and dropped with their image', async () => {
      let reads = 0;
      const counting = new Proxy(db, {
        get(target, prop, receiver) {
          if (prop === 'query')
            return (sql: string, params?: unknown[]) => {
              if (sql.includes("encode(data, 'hex')")) reads++;
              return target.query(sql, params as never);
            };
          return Reflect.get(target, prop, receiver) as unknown;
        },
      });
      // Room for two chunks.
      const storage = chunkStorage(counting, Date.now, 2 * CHUNK_BYTES);
      const id = `art_cache_${name}`;
      const image = randomBytes(3 * CHUNK_BYTES);
      await storage.write(id, pieces(image), 4 * CHUNK_BYTES);
      const whole = () => collect(storage.read(id, 0, image.length - 1));
      const [a, b] = await Promise.all([whole(), whole()]);
      assert.ok(a.equals(image) && b.equals(image));
      assert.equal(reads, 3, 'two concurrent reads load each chunk once');
      assert.ok(
        (await collect(storage.read(id, CHUNK_BYTES, 3 * CHUNK_BYTES - 1))).equals(
          image.subarray(CHUNK_BYTES),
        ),
      );
      assert.equal(reads, 3, 'the last two chunks came from memory');
      await collect(storage.read(id, 0, 10));
      assert.equal(reads, 4, 'the first chunk had made room for them');
      await storage.remove(id);
      await assert.rejects(
        collect(storage.read(id, 0, 10)),
        (e: unknown) => isAppError(e) && e.code === 'ARTIFACT_NOT_FOUND',
      );
    });

    test('the chunks of an upload its server abandoned are removed once old; live ones are kept', async () => {
      const tenant = await createTenancyService({ store: tenancyStore(db) }).createTenant(
        platform,
        `artifacts-abandoned-${name}`,
      );
      const caller = {
        tenantId: tenant.id,
        principal: { kind: 'api-key' as const, keyId: 'key_y', tenantId: tenant.id, grants: [] },
      } as never;
      let clock = 1_000_000_000;
      const storage = chunkStorage(db, () => clock);
      const service = createArtifactService({
        store: artifactStore(db),
        transaction: transactionOf(db, artifactStore),
        storage,
        box: createSecretBox(randomBytes(32)),
        cursors: createCursors(randomBytes(32)),
        maxBytes: 4 * CHUNK_BYTES,
        mayDownload: async () => false,
        deployedIn: async () => [],
      });
      // An artifact that was stored completely, long ago.
      const kept = await service.upload(
        caller,
        { version: '2.0.0', hardwareClass: 'hw-abandoned', sequence: 1 },
        pieces(randomBytes(CHUNK_BYTES + 1)),
      );
      // An upload whose server died: its chunks were written, its artifact row never was.
      const dead = `art_dead_${name}`;
      await storage.write(dead, pieces(randomBytes(2 * CHUNK_BYTES)), 4 * CHUNK_BYTES);
      clock += 2 * 3600_000;
      // An upload still running: its last chunk is recent.
      const running = `art_running_${name}`;
      await storage.write(running, pieces(randomBytes(CHUNK_BYTES)), 4 * CHUNK_BYTES);

      const count = async (id: string) =>
        (await db.query('SELECT 1 FROM artifact_chunks WHERE artifact_id = $1', [id])).length;
      assert.equal(await count(dead), 2);
      assert.equal(await storage.removeAbandoned(3600_000), 1);
      assert.equal(await count(dead), 0, 'the abandoned upload is gone');
      assert.equal(await count(running), 1, 'an upload written within the hour stays');
      assert.equal(await count(kept.id), 2, 'a stored artifact stays, however old');
      assert.equal(await storage.removeAbandoned(3600_000), 0, 'nothing more to remove');
      await storage.remove(running);
      await service.delete(caller, kept.id);
    });

    test('an image over several chunks is stored, read by range, listed, and deleted', async () => {
      const tenant = await createTenancyService({ store: tenancyStore(db) }).createTenant(
        platform,
        `artifacts-${name}`,
      );
      const caller = {
        tenantId: tenant.id,
        principal: { kind: 'api-key' as const, keyId: 'key_x', tenantId: tenant.id, grants: [] },
      } as never;
      // Whether a deployment offers the image to the device.
      let offered = true;
      const service = createArtifactService({
        store: artifactStore(db),
        transaction: transactionOf(db, artifactStore),
        storage: chunkStorage(db),
        box: createSecretBox(randomBytes(32)),
        cursors: createCursors(randomBytes(32)),
        maxBytes: 6 * CHUNK_BYTES,
        mayDownload: async () => offered,
        deployedIn: async () => [],
      });
      const image = randomBytes(5 * CHUNK_BYTES + 123);
      const a = await service.upload(
        caller,
        { version: '1.0.0', hardwareClass: 'hw', sequence: 3 },
        pieces(image),
      );
      assert.equal(a.manifest.size, image.length);
      assert.equal(a.manifest.sha256, createHash('sha256').update(image).digest('hex'));
      const chunks = await db.query('SELECT seq FROM artifact_chunks WHERE artifact_id = $1', [a.id]);
      assert.equal(chunks.length, 6);

      const device = {
        tenantId: tenant.id,
        deviceId: 'dev_x',
        credential: 'access-key',
        credentialId: 'acc',
      };
      offered = false;
      await assert.rejects(
        service.openForDevice(device as never, a.id),
        (e: unknown) => isAppError(e) && e.code === 'ARTIFACT_NOT_FOUND',
        'a device no deployment offers the image to cannot download it',
      );
      offered = true;
      const download = await service.openForDevice(device as never, a.id);
      assert.ok((await collect(download.read(0, image.length - 1))).equals(image));
      const from = CHUNK_BYTES - 5;
      const to = 3 * CHUNK_BYTES + 7;
      assert.ok((await collect(download.read(from, to))).equals(image.subarray(from, to + 1)));

      await assert.rejects(
        service.upload(caller, { version: '1.0.1', hardwareClass: 'hw', sequence: 3 }, pieces(image)),
        (e: unknown) => isAppError(e) && e.code === 'ARTIFACT_SEQUENCE_NOT_NEWER',
      );
      await assert.rejects(
        service.upload(
          caller,
          { version: '1.0.1', hardwareClass: 'hw', sequence: 4 },
          pieces(randomBytes(7 * CHUNK_BYTES)),
        ),
        (e: unknown) => isAppError(e) && e.code === 'PAYLOAD_TOO_LARGE',
      );
      const all = await db.query<{ n: string | number }>('SELECT count(*) AS n FROM artifact_chunks');
      assert.equal(Number(all[0]!.n), 6, 'the refused upload left no chunks');

      const b = await service.upload(
        caller,
        { version: '1.0.1', hardwareClass: 'hw', sequence: 4, minVersion: '1.0.0' },
        pieces(Buffer.from('small')),
      );
      const page = await service.list(caller, { limit: 1 });
      assert.deepEqual(
        page.items.map((x) => x.id),
        [b.id],
      );
      const next = await service.list(caller, { limit: 1, cursor: page.nextCursor ?? '' });
      assert.deepEqual(
        next.items.map((x) => x.id),
        [a.id],
      );

      await service.delete(caller, a.id);
      assert.equal(
        (await db.query('SELECT 1 FROM artifact_chunks WHERE artifact_id = $1', [a.id])).length,
        0,
      );
      await assert.rejects(
        service.openForDevice(device as never, a.id),
        (e: unknown) => isAppError(e) && e.code === 'ARTIFACT_NOT_FOUND',
      );
      const rotated = await service.rotateKey(caller);
      const keys = await service.listKeys(caller);
      assert.deepEqual(
        keys.map((k) => k.status),
        ['retired', 'active'],
      );
      assert.equal(keys[1]!.id, rotated.id);
      assert.ok(!('privateKeySealed' in keys[0]!));
    });
  });
}
