/**
 * Signed time for a device without a clock: ask the platform for its time with a fresh nonce and
 * check the Ed25519 signature with the public key pinned in the firmware, before any certificate
 * can be validated. The answer bounds the clock: the true time is within the request's round trip.
 */
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { httpJson, type HttpTarget } from './http.js';

export async function signedTime(
  http: HttpTarget,
  pinnedPublicKeyPem: string,
): Promise<{ serverTime: number; roundTripMs: number }> {
  const nonce = randomBytes(16).toString('base64url');
  const sent = Date.now();
  const r = await httpJson<{ nonce: string; serverTime: number; signature: string }>(
    http,
    'GET',
    `/v1/time?nonce=${nonce}`,
  );
  const roundTripMs = Date.now() - sent;
  const message = `mooring-time:v1:${nonce}:${r.serverTime}`;
  const ok =
    r.nonce === nonce &&
    verify(
      null,
      Buffer.from(message),
      createPublicKey(pinnedPublicKeyPem),
      Buffer.from(r.signature, 'base64url'),
    );
  if (!ok) throw new Error('the time answer is not signed by the pinned key, or answers another nonce');
  return { serverTime: r.serverTime, roundTripMs };
}
