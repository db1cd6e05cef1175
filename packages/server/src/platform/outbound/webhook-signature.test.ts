/**
 * Webhook signatures verify with the Standard Webhooks reference library and with a verifier written
 * from the specification here, and only when the body, the time and the secret are right.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { generateWebhookSecret, signWebhook, webhookSecretKey } from './webhook-signature.js';

const TOLERANCE_S = 5 * 60;
const now = () => Math.floor(Date.now() / 1000);

/** A receiver, from the specification: any listed v1 signature that matches, a timestamp near now. */
function verify(secret: string, headers: Record<string, string>, body: string, nowS = now()): boolean {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || !timestamp || !signatures || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(nowS - Number(timestamp)) > TOLERANCE_S) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  return signatures.split(' ').some((entry) => {
    const [version, signature] = entry.split(',');
    if (version !== 'v1' || !signature) return false;
    const given = Buffer.from(signature, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

const body = JSON.stringify({ type: 'device.deleted', data: { deviceId: 'dev_1', note: 'größe ✓' } });

test('a generated secret is whsec_ and the base64 of 32 random bytes', () => {
  const secret = generateWebhookSecret();
  assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.equal(webhookSecretKey(secret).length, 32);
  assert.notEqual(generateWebhookSecret(), secret);
  assert.equal(webhookSecretKey(generateWebhookSecret(64)).length, 64);
  assert.throws(() => generateWebhookSecret(16), RangeError);
});

test('the reference library and an independent verifier accept a signed delivery', () => {
  const secret = generateWebhookSecret();
  const headers = signWebhook({ id: 'msg_1', timestamp: now(), body, secrets: [secret] });
  assert.equal(headers['webhook-id'], 'msg_1');
  assert.match(headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/);
  assert.deepEqual(new Webhook(secret).verify(body, { ...headers }), JSON.parse(body));
  assert.equal(verify(secret, { ...headers }, body), true);
  // The same bytes signed as a Buffer give the same signature.
  const fromBytes = signWebhook({
    id: 'msg_1',
    timestamp: Number(headers['webhook-timestamp']),
    body: Buffer.from(body),
    secrets: [secret],
  });
  assert.deepEqual(fromBytes, headers);
});

test('a known vector: the specification example signs to its published signature', () => {
  // The example of the Standard Webhooks specification and its libraries' tests.
  const headers = signWebhook({
    id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    timestamp: 1614265330,
    body: '{"test": 2432232314}',
    secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
  });
  assert.equal(headers['webhook-signature'], 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
});

test('a tampered body, an old or future timestamp and a wrong secret are rejected', () => {
  const secret = generateWebhookSecret();
  const headers = signWebhook({ id: 'msg_2', timestamp: now(), body, secrets: [secret] });
  const tampered = body.replace('dev_1', 'dev_2');
  assert.equal(verify(secret, { ...headers }, tampered), false);
  assert.throws(() => new Webhook(secret).verify(tampered, { ...headers }), /signature/i);

  const old = signWebhook({ id: 'msg_2', timestamp: now() - TOLERANCE_S - 60, body, secrets: [secret] });
  assert.equal(verify(secret, { ...old }, body), false);
  assert.throws(() => new Webhook(secret).verify(body, { ...old }), /timestamp/i);
  const future = signWebhook({ id: 'msg_2', timestamp: now() + TOLERANCE_S + 60, body, secrets: [secret] });
  assert.equal(verify(secret, { ...future }, body), false);

  // Moving the signature to another id or timestamp breaks it.
  assert.equal(verify(secret, { ...headers, 'webhook-id': 'msg_3' }, body), false);
  const other = generateWebhookSecret();
  assert.equal(verify(other, { ...headers }, body), false);
  assert.throws(() => new Webhook(other).verify(body, { ...headers }), /signature/i);
});

test('during a rotation both secrets verify; after it the old one does not', () => {
  const oldSecret = generateWebhookSecret();
  const newSecret = generateWebhookSecret();
  const overlap = signWebhook({ id: 'msg_4', timestamp: now(), body, secrets: [newSecret, oldSecret] });
  assert.equal(overlap['webhook-signature'].split(' ').length, 2);
  for (const secret of [oldSecret, newSecret]) {
    assert.equal(verify(secret, { ...overlap }, body), true);
    assert.deepEqual(new Webhook(secret).verify(body, { ...overlap }), JSON.parse(body));
  }
  const after = signWebhook({ id: 'msg_5', timestamp: now(), body, secrets: [newSecret] });
  assert.equal(verify(newSecret, { ...after }, body), true);
  assert.equal(verify(oldSecret, { ...after }, body), false, 'a rotated-out secret still verifies');
  assert.throws(() => new Webhook(oldSecret).verify(body, { ...after }), /signature/i);
});

test('malformed input is refused rather than signed wrongly', () => {
  const secret = generateWebhookSecret();
  const sign = (over: Partial<Parameters<typeof signWebhook>[0]>) =>
    signWebhook({ id: 'msg_6', timestamp: now(), body, secrets: [secret], ...over });
  assert.throws(() => sign({ timestamp: Date.now() }), /seconds/);
  assert.throws(() => sign({ timestamp: 1.5 }), /seconds/);
  assert.throws(() => sign({ id: 'msg 6' }), /id/);
  assert.throws(() => sign({ id: 'msg\r\nx: y' }), /id/);
  assert.throws(() => sign({ secrets: [] }), /at least one/);
  assert.throws(() => sign({ secrets: ['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] }), /whsec_/);
  assert.throws(() => sign({ secrets: ['whsec_c2hvcnQ='] }), /24 to 64/);
  assert.throws(() => sign({ secrets: ['whsec_not base64!'] }), /base64/);
});
