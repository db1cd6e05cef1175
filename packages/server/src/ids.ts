/** Prefixed, time-ordered opaque ids and high-entropy secrets. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

function timePart(ms: number): string {
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

/** Id prefixes. Never the prefix of a secret (`mk_`, `dak_`, `mst_`), so that scanners flag only secrets. */
export type IdPrefix =
  | 'ten'
  | 'usr'
  | 'key'
  | 'dev'
  | 'acc'
  | 'cmd'
  | 'ses'
  | 'kid'
  | 'rtk'
  | 'ptk'
  | 'pop'
  | 'ca'
  | 'xfr'
  | 'inv'
  | 'pwr'
  | 'art'
  | 'uky'
  | 'dep'
  | 'brg'
  | 'alr'
  | 'alt'
  | 'whk'
  | 'whd'
  | 'blk';

const RANDOM_SPACE = 32 ** 8; // 40 bits in 8 base32 characters
let lastTime = 0;
let lastRandom = 0;

function randomPart(n: number): string {
  let out = '';
  for (let i = 0; i < 8; i++) {
    out = ALPHABET[n % 32] + out;
    n = Math.floor(n / 32);
  }
  return out;
}

/**
 * `dev_` + 10 time characters + 8 random characters: sorts by creation time (ids made in the same
 * millisecond by this process increase, as ULIDs do), and a device id stays within the 23 characters
 * MQTT 3.1.1 servers must accept as a client id [MQTT-3.1.3-5].
 */
export function newId(prefix: IdPrefix, now = Date.now()): string {
  if (now <= lastTime && lastRandom + 1 < RANDOM_SPACE) {
    now = lastTime;
    lastRandom += 1;
  } else {
    lastTime = now;
    lastRandom = randomBytes(5).readUIntBE(0, 5) % (RANDOM_SPACE / 2); // leave room to increment
  }
  return `${prefix}_${timePart(now)}${randomPart(lastRandom)}`;
}

/** A secret with 256 bits of entropy, prefixed so that leaked values are recognisable by scanners. */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** SHA-256 hex digest: how API keys, access keys and session tokens are stored and looked up. */
export function sha256Hex(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
