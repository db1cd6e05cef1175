/**
 * Signed time for devices without a clock. A device sends a random nonce; the server answers with its
 * time and an Ed25519 signature over `mooring-time:v1:{nonce}:{serverTimeMs}`. The firmware pins the
 * public key (`<dataDir>/pki/time.pub.pem`), so it can bound its clock before it can check TLS
 * certificate dates, and the nonce stops replays of old answers.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SignedTime {
  nonce: string;
  serverTime: number;
  /** RFC 3339 form of `serverTime`, for humans. */
  serverTimeIso: string;
  /** base64url Ed25519 signature over `message`. */
  signature: string;
  /** The exact signed string. */
  message: string;
  alg: 'Ed25519';
}

export interface TimeSigner {
  sign(nonce: string): SignedTime;
  publicKeyPem: string;
}

export { NONCE_PATTERN } from '@mooring/protocol';

export function timeMessage(nonce: string, serverTime: number): string {
  return `mooring-time:v1:${nonce}:${serverTime}`;
}

export function verifySignedTime(
  publicKeyPem: string,
  t: Pick<SignedTime, 'nonce' | 'serverTime' | 'signature'>,
): boolean {
  return verify(
    null,
    Buffer.from(timeMessage(t.nonce, t.serverTime)),
    createPublicKey(publicKeyPem),
    Buffer.from(t.signature, 'base64url'),
  );
}

/** Loads the time-signing key from the data directory, creating it on first start. */
export function loadTimeSigner(dataDir: string, now: () => number = Date.now): TimeSigner {
  const keyFile = join(dataDir, 'pki', 'time.key.pem');
  const pubFile = join(dataDir, 'pki', 'time.pub.pem');
  let privateKey: KeyObject;
  if (existsSync(keyFile)) {
    privateKey = createPrivateKey(readFileSync(keyFile, 'utf8'));
  } else {
    const pair = generateKeyPairSync('ed25519');
    privateKey = pair.privateKey;
    writeFileSync(keyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, {
      mode: 0o600,
    });
  }
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string;
  // Always rewritten from the key, so that it cannot drift from a replaced key file.
  writeFileSync(pubFile, publicKeyPem, { mode: 0o600 });
  return {
    publicKeyPem,
    sign(nonce) {
      const serverTime = now();
      const message = timeMessage(nonce, serverTime);
      return {
        nonce,
        serverTime,
        serverTimeIso: new Date(serverTime).toISOString(),
        signature: sign(null, Buffer.from(message), privateKey).toString('base64url'),
        message,
        alg: 'Ed25519',
      };
    },
  };
}
