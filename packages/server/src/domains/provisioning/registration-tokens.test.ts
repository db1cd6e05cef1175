import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SignJWT, generateKeyPair } from 'jose';
import { openTestPglite } from '../../../test/pglite-template.js';
import { migrate } from '../../store/migrate.js';
import { createSecretBox } from '../../platform/secret-box.js';
import { isAppError } from '../../errors.js';
import { createRegistrationTokens } from './registration-tokens.js';
import { provisioningStore } from './store.js';
import { transactionOf } from '../../store/db.js';

const refused = (e: unknown) => isAppError(e) && e.code === 'INVALID_CREDENTIALS';

test('registration tokens: lifetime, skew, grace for refresh, rotation and forgery', async () => {
  const db = await openTestPglite();
  await migrate(db);
  const box = createSecretBox(randomBytes(32));
  let clock = Date.UTC(2030, 0, 1);
  const rts = await createRegistrationTokens({
    store: provisioningStore(db),
    transaction: transactionOf(db, provisioningStore),
    box,
    ttlSeconds: 3600,
    skewSeconds: 60,
    now: () => clock,
  });
  const device = { tenantId: 'ten_a', deviceId: 'dev_a' };
  const { token, expiresAt } = await rts.issue(device);
  assert.equal(expiresAt, clock + 3600_000);
  const claims = await rts.verify(token);
  assert.deepEqual(
    { tenantId: claims.tenantId, deviceId: claims.deviceId, issuedAt: claims.issuedAt },
    { ...device, issuedAt: clock },
  );

  clock += 3600_000 + 30_000; // expired 30 s ago: within the skew
  await rts.verify(token);
  clock += 60_000; // past the skew
  await assert.rejects(rts.verify(token), refused);
  await rts.verify(token, { allowExpiredForMs: 86_400_000 }); // refresh accepts a recently expired token

  // Rotation: new tokens name the new key; old ones still verify until they expire.
  const before = rts.jwks().keys.length;
  const kid = await rts.rotate();
  assert.equal(rts.jwks().keys.length, before + 1);
  const fresh = await rts.issue(device);
  assert.equal(JSON.parse(Buffer.from(fresh.token.split('.')[0]!, 'base64url').toString()).kid, kid);
  await rts.verify(token, { allowExpiredForMs: 86_400_000 });

  // A second instance over the same store (a restart, another node) loads the sealed keys.
  const again = await createRegistrationTokens({
    store: provisioningStore(db),
    transaction: transactionOf(db, provisioningStore),
    box,
    ttlSeconds: 3600,
    skewSeconds: 60,
    now: () => clock,
  });
  await again.verify(fresh.token);

  // Forged: signed by a key the platform never had, with a kid it knows.
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const forged = await new SignJWT({ tid: 'ten_a', ims: clock })
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'mooring-rt+jwt' })
    .setIssuer('mooring')
    .setSubject('dev_a')
    .setJti('x')
    .setIssuedAt(Math.floor(clock / 1000))
    .setExpirationTime(Math.floor(clock / 1000) + 60)
    .sign(privateKey);
  await assert.rejects(rts.verify(forged), refused);
  await assert.rejects(rts.verify('eyJhbGciOiJub25lIn0.e30.'), refused);
  await assert.rejects(rts.verify('not-a-token'), refused);

  // The private keys are sealed at rest.
  const rows = await db.query<{ sealed_private_jwk: string }>('SELECT sealed_private_jwk FROM signing_keys');
  for (const r of rows) assert.match(r.sealed_private_jwk, /^v1\./);
  await db.close();
});
