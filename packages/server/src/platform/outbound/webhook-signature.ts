/**
 * Webhook signatures as Standard Webhooks defines them (https://www.standardwebhooks.com/), so a
 * receiver can check deliveries with any of that specification's libraries:
 * - a secret is `whsec_` followed by the base64 of 24 to 64 random bytes;
 * - the signed content is `${id}.${timestamp}.${body}`, the timestamp in whole seconds, so a captured
 *   delivery cannot be replayed later (receivers refuse timestamps far from their clock) nor its body
 *   reused under another id;
 * - `webhook-signature` holds `v1,<base64 HMAC-SHA256>` once per secret, space-separated: while a
 *   secret is rotated, deliveries are signed with the old and the new one, and a receiver holding
 *   either accepts them.
 * The body must be signed as the exact bytes sent: sign the serialised JSON, then send that string.
 */
import { createHmac, randomBytes } from 'node:crypto';

const PREFIX = 'whsec_';
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;
/** Seconds at or past this look like milliseconds (year 5138 in seconds). */
const MAX_TIMESTAMP_SECONDS = 1e11;
/** A header value must stay one token: visible ASCII, no spaces, no separators a receiver splits on. */
const MESSAGE_ID = /^[\x21-\x7e]{1,256}$/;

export interface WebhookSignatureInput {
  /** The message id, stable across retries of one delivery (receivers deduplicate on it). */
  id: string;
  /** Unix time in whole seconds (not milliseconds) at which this attempt is signed. */
  timestamp: number;
  /** The exact body sent. */
  body: string | Uint8Array;
  /** One secret, or several during a rotation; each adds one signature. */
  secrets: readonly string[];
}

export interface WebhookSignatureHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** A new secret: 32 random bytes (256 bits, the HMAC-SHA256 key size), as `whsec_<base64>`. */
export function generateWebhookSecret(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < MIN_SECRET_BYTES || bytes > MAX_SECRET_BYTES)
    throw new RangeError(`a webhook secret has ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes`);
  return PREFIX + randomBytes(bytes).toString('base64');
}

/**
 * The key bytes of a `whsec_` secret. Strict (canonical base64, 24 to 64 bytes): a secret mangled in
 * storage or pasted short would otherwise sign with a different key and every delivery would fail
 * verification with no hint why.
 */
export function webhookSecretKey(secret: string): Buffer {
  if (!secret.startsWith(PREFIX)) throw new TypeError('a webhook secret starts with whsec_');
  const encoded = secret.slice(PREFIX.length);
  const key = Buffer.from(encoded, 'base64');
  if (key.toString('base64') !== encoded) throw new TypeError('a webhook secret is whsec_ and base64');
  if (key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES)
    throw new TypeError(`a webhook secret has ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes`);
  return key;
}

/** The headers that sign one delivery: `webhook-id`, `webhook-timestamp` and `webhook-signature`. */
export function signWebhook(input: WebhookSignatureInput): WebhookSignatureHeaders {
  const { id, timestamp, body, secrets } = input;
  if (!MESSAGE_ID.test(id)) throw new TypeError('a webhook id is 1 to 256 visible ASCII characters');
  if (!Number.isSafeInteger(timestamp) || timestamp < 0 || timestamp >= MAX_TIMESTAMP_SECONDS)
    throw new TypeError('a webhook timestamp is whole seconds since the epoch, not milliseconds');
  if (secrets.length === 0) throw new TypeError('a webhook is signed with at least one secret');
  const prefix = `${id}.${timestamp}.`;
  const signatures = secrets.map((secret) => {
    const hmac = createHmac('sha256', webhookSecretKey(secret));
    hmac.update(prefix);
    hmac.update(body);
    return `v1,${hmac.digest('base64')}`;
  });
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatures.join(' '),
  };
}
