/**
 * Registration tokens (RT): EdDSA (Ed25519) JWTs naming a device and its tenant. Signing keys rotate;
 * each token names its key with `kid`, and `jwks()` publishes the public keys so that anyone can check
 * a token offline. A token is refused when its signature, times (with the configured skew) or type do
 * not hold, or when it was issued before the device's `tokens_valid_after` (revocation).
 */
import {
  SignJWT,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  decodeProtectedHeader,
  type JWK,
  type CryptoKey as JoseKey,
} from 'jose';
import { isCanonicalBase64url } from '@mooring/protocol';
import { AppError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { SecretBox } from '../../platform/secret-box.js';
import type { Transaction } from '../../store/db.js';
import type { ProvisioningStore } from './store.js';

export const RT_ALG = 'EdDSA';
export const RT_TYPE = 'mooring-rt+jwt';
export const RT_ISSUER = 'mooring';

export interface RegistrationTokenClaims {
  tenantId: string;
  deviceId: string;
  /** Issued at, epoch ms (from `iat`). */
  issuedAt: number;
  expiresAt: number;
  jti: string;
}

export interface RegistrationTokens {
  /** Signs a token for a device, valid for the configured lifetime. */
  issue(device: {
    tenantId: string;
    deviceId: string;
  }): Promise<{ token: string; expiresAt: number; jti: string }>;
  /** Checks signature, type and times; INVALID_CREDENTIALS otherwise. Revocation is the caller's check. */
  verify(token: string, opts?: { allowExpiredForMs?: number }): Promise<RegistrationTokenClaims>;
  /** Makes a new signing key the active one; older keys keep verifying. Returns its kid. */
  rotate(): Promise<string>;
  /** The public keys, as a JWK Set. */
  jwks(): { keys: JWK[] };
}

interface LoadedKey {
  kid: string;
  publicJwk: JWK;
  publicKey: JoseKey | Uint8Array;
  privateKey: JoseKey | Uint8Array;
  createdAt: number;
  retiredAt: number | null;
}

export function looksLikeJwt(value: string): boolean {
  return /^eyJ[\w-]*\.[\w-]+\.[\w-]+$/.test(value);
}

export async function createRegistrationTokens(deps: {
  store: ProvisioningStore;
  transaction: Transaction<ProvisioningStore>;
  box: SecretBox;
  ttlSeconds: number;
  skewSeconds: number;
  now?: () => number;
}): Promise<RegistrationTokens> {
  const now = deps.now ?? Date.now;
  const keys = new Map<string, LoadedKey>();
  let active: LoadedKey | undefined;

  async function load() {
    const rows = await deps.store.signingKeys();
    for (const r of rows) {
      let privateJwk: JWK;
      try {
        privateJwk = JSON.parse(deps.box.open(r.sealed_private_jwk)) as JWK;
      } catch {
        throw new Error(
          'cannot open the registration-token signing keys: the secret key (MOORING_SECRET_KEY or <dataDir>/secret.key) is not the one they were sealed with',
        );
      }
      const key: LoadedKey = {
        kid: r.kid,
        publicJwk: r.public_jwk,
        publicKey: await importJWK(r.public_jwk, RT_ALG),
        privateKey: await importJWK(privateJwk, RT_ALG),
        createdAt: r.created_at,
        retiredAt: r.retired_at,
      };
      keys.set(r.kid, key);
      if (r.retired_at === null) active = key;
    }
  }

  async function rotate(): Promise<string> {
    const { publicKey, privateKey } = await generateKeyPair(RT_ALG, { crv: 'Ed25519', extractable: true });
    const kid = newId('kid');
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: RT_ALG, use: 'sig' };
    const privateJwk = await exportJWK(privateKey);
    const t = now();
    await deps.transaction(async (tx) => {
      await tx.retireSigningKeys(t);
      await tx.insertSigningKey({
        kid,
        alg: RT_ALG,
        publicJwk,
        sealedPrivateJwk: deps.box.seal(JSON.stringify(privateJwk)),
        createdAt: t,
      });
    });
    for (const k of keys.values()) k.retiredAt ??= t;
    const key: LoadedKey = { kid, publicJwk, publicKey, privateKey, createdAt: t, retiredAt: null };
    keys.set(kid, key);
    active = key;
    return kid;
  }

  await load();
  if (!active) await rotate();

  const refuse = (why: string) => new AppError('INVALID_CREDENTIALS', `registration token refused: ${why}`);

  return {
    async issue(device) {
      const key = active!;
      const t = now();
      const expiresAt = t + deps.ttlSeconds * 1000;
      const jti = newId('rtk', t);
      // `ims`: issue time in ms, so a revocation in the same second as an issue is ordered exactly.
      const token = await new SignJWT({ tid: device.tenantId, ims: t })
        .setProtectedHeader({ alg: RT_ALG, kid: key.kid, typ: RT_TYPE })
        .setIssuer(RT_ISSUER)
        .setSubject(device.deviceId)
        .setJti(jti)
        .setIssuedAt(Math.floor(t / 1000))
        .setExpirationTime(Math.floor(expiresAt / 1000))
        .sign(key.privateKey);
      return { token, expiresAt: Math.floor(expiresAt / 1000) * 1000, jti };
    },

    async verify(token, opts = {}) {
      if (!looksLikeJwt(token)) throw refuse('not a token');
      // One spelling per token: base64url with non-zero unused bits decodes to the same bytes, so a
      // lenient decoder would accept several strings for one signature (RFC 7515 §2, RFC 4648 §3.5).
      if (!token.split('.').every(isCanonicalBase64url)) throw refuse('not canonical base64url');
      let kid: string | undefined;
      try {
        kid = decodeProtectedHeader(token).kid;
      } catch {
        throw refuse('malformed');
      }
      const key = kid ? keys.get(kid) : undefined;
      if (!key) throw refuse('unknown signing key');
      const t = now();
      try {
        const { payload } = await jwtVerify(token, key.publicKey, {
          algorithms: [RT_ALG],
          issuer: RT_ISSUER,
          typ: RT_TYPE,
          currentDate: new Date(t - (opts.allowExpiredForMs ?? 0)),
          clockTolerance: deps.skewSeconds,
          requiredClaims: ['sub', 'tid', 'ims', 'jti', 'iat', 'exp'],
        });
        if (
          typeof payload.tid !== 'string' ||
          typeof payload.sub !== 'string' ||
          typeof payload.ims !== 'number'
        )
          throw refuse('malformed claims');
        if (payload.ims > t + deps.skewSeconds * 1000) throw refuse('issued in the future');
        return {
          tenantId: payload.tid,
          deviceId: payload.sub,
          issuedAt: payload.ims,
          expiresAt: payload.exp! * 1000,
          jti: payload.jti!,
        };
      } catch (e) {
        if (e instanceof AppError) throw e;
        const code = (e as { code?: string }).code;
        throw refuse(code === 'ERR_JWT_EXPIRED' ? 'expired' : 'invalid');
      }
    },

    rotate,

    jwks() {
      return { keys: [...keys.values()].map((k) => k.publicJwk) };
    },
  };
}
