/**
 * Provisioning rules under concurrency, on both stores: parallel starts on one unit's token cannot
 * slip past the burst limit, and parallel approvals cannot check more than MAX_WRONG_CODES codes.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { migrate } from '../../store/migrate.js';
import { transactionOf, type Db, type Queryable } from '../../store/db.js';
import { storeBackends } from '../../../test/postgres.js';
import { createLocalBus } from '../../platform/bus.js';
import { createCursors } from '../../platform/pagination.js';
import { createSecretBox } from '../../platform/secret-box.js';
import type { TenantCaller } from '../../platform/caller.js';
import { isAppError } from '../../errors.js';
import { createRegistrationTokens } from './registration-tokens.js';
import { createProvisioningService } from './service.js';
import { provisioningStore } from './store.js';
import { deviceStore } from '../devices/store.js';
import { DEVICE_TOKEN_BURST, MAX_WRONG_CODES } from './provisioning.js';
import type { PkiService } from '../pki/pki.js';

/** No CSRs in these tests: the PKI is never reached. */
const noPki = new Proxy(
  {},
  { get: () => () => Promise.reject(new Error('not used')) },
) as unknown as PkiService;

for (const [name, open] of storeBackends) {
  describe(`provisioning under concurrency on ${name}`, () => {
    let db: Db;
    let close: () => Promise<void>;
    before(async () => {
      ({ db, close } = await open());
      await migrate(db);
    });
    after(async () => {
      await close();
    });

    const box = createSecretBox(randomBytes(32));
    async function setup() {
      const bus = createLocalBus();
      const tokens = await createRegistrationTokens({
        store: provisioningStore(db),
        transaction: transactionOf(db, provisioningStore),
        box,
        ttlSeconds: 3600,
        skewSeconds: 60,
      });
      const service = createProvisioningService({
        store: provisioningStore(db),
        transaction: transactionOf(db, provisioningStore),
        deviceRecords: (tx?: Queryable) => deviceStore(tx ?? db),
        bus,
        cursors: createCursors(randomBytes(32)),
        box,
        tokens,
        pki: noPki,
        operationTtlSeconds: 600,
        refreshGraceMs: 0,
      });
      const tenantId = `ten_${randomBytes(6).toString('hex')}`;
      await db.query('INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)', [
        tenantId,
        tenantId,
        Date.now(),
      ]);
      const caller: TenantCaller = {
        tenantId,
        principal: { kind: 'api-key', keyId: 'k', tenantId, grants: [] },
      };
      return { service, caller };
    }

    test('parallel starts on one device token stop at the burst limit and flag the token', async () => {
      const { service, caller } = await setup();
      const { provisioningToken, secret } = await service.createToken(caller, {
        name: 'x',
        kind: 'device',
        serial: 'S-1',
        approval: 'manual',
      });
      const results = await Promise.allSettled(
        Array.from({ length: 12 }, () => service.start(secret, { serial: 'S-1' })),
      );
      const accepted = results.filter((r) => r.status === 'fulfilled').length;
      const refused = results.filter(
        (r) => r.status === 'rejected' && isAppError(r.reason) && r.reason.code === 'TOO_MANY_OPERATIONS',
      ).length;
      assert.equal(accepted, DEVICE_TOKEN_BURST);
      assert.equal(refused, 12 - DEVICE_TOKEN_BURST);
      const pending = await service.listOperations(caller, { status: 'pending', serial: 'S-1' });
      assert.equal(pending.items.length, 1, 'one pending operation per unit');
      assert.ok((await service.getToken(caller, provisioningToken.id)).suspicious);
    });

    test('parallel approvals check at most MAX_WRONG_CODES codes, then the operation is locked', async () => {
      const { service, caller } = await setup();
      const { secret } = await service.createToken(caller, {
        name: 'x',
        kind: 'batch',
        maxUses: 5,
        approval: 'manual',
      });
      const op = await service.start(secret, { serial: 'S-2', verificationCode: 'RIGHT1' });
      const guesses = Array.from({ length: 20 }, (_, i) => (i === 19 ? 'RIGHT1' : `WRONG${i}`));
      const results = await Promise.allSettled(
        guesses.map((code) => service.approve(caller, op.operationId, { verificationCode: code })),
      );
      const codes = results.map((r) =>
        r.status === 'rejected' && isAppError(r.reason) ? r.reason.code : 'approved',
      );
      const wrong = codes.filter((c) => c === 'VERIFICATION_CODE_WRONG').length;
      assert.ok(wrong <= MAX_WRONG_CODES, `${wrong} wrong codes were checked`);
      const state = await service.getOperation(caller, op.operationId);
      if (codes.includes('approved')) assert.equal(state.status, 'approved');
      else assert.equal(state.status, 'locked');
      assert.equal(codes.filter((c) => c === 'approved').length <= 1, true);
    });
  });
}
