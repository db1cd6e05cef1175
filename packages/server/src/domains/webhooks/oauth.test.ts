/**
 * The OAuth token cache: one fetch for deliveries that need a token at once, a token kept until shortly
 * before it expires (a short-lived one for half its life, not thrown away at once), fetched again after
 * `forget` or a change of credentials, and failures that say they are the token endpoint's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { GuardedRequestOptions, GuardedResponse } from '../../platform/outbound/http.js';
import { OutboundError } from '../../platform/outbound/outbound-error.js';
import { createSecretBox } from '../../platform/secret-box.js';
import { createTokenCache } from './oauth.js';
import type { EndpointRow } from './store.js';

const box = createSecretBox(randomBytes(32));

function endpoint(secret = 'client-secret'): EndpointRow {
  return {
    id: 'whk_1',
    tenant_id: 'ten_1',
    name: 'x',
    url: 'https://hooks.example.com/h',
    event_types: ['config.desired.changed'],
    device_tags: [],
    auth: {
      type: 'oauth2',
      tokenUrl: 'https://auth.example.com/token',
      clientId: 'client id',
      clientSecret: box.seal(secret),
      scope: 'a b',
    },
    ca_pem: null,
    secret: box.seal('whsec_x'),
    previous_secret: null,
    previous_until: null,
    status: 'active',
    status_reason: null,
    verify_due_at: null,
    verify_attempts: 0,
    verified_at: null,
    last_error: null,
    created_at: 0,
    updated_at: 0,
  };
}

function tokenServer(answer: (n: number) => Partial<GuardedResponse> & { json?: unknown } = () => ({})) {
  const calls: { url: string; options: GuardedRequestOptions }[] = [];
  let clock = 1_000_000;
  const cache = createTokenCache({
    box,
    allowList: [],
    now: () => clock,
    async request(url, options) {
      calls.push({ url, options });
      const n = calls.length;
      await new Promise((r) => setTimeout(r, 5));
      const a = answer(n);
      return {
        status: a.status ?? 200,
        headers: {},
        bodyExcerpt: a.bodyExcerpt ?? JSON.stringify(a.json ?? { access_token: `tok${n}`, expires_in: 3600 }),
        truncated: false,
        latencyMs: 1,
      };
    },
  });
  return { cache, calls, advance: (ms: number) => (clock += ms) };
}

test('deliveries that need a token at once share one fetch; it is kept, and fetched again after forget', async () => {
  const s = tokenServer();
  const e = endpoint();
  const tokens = await Promise.all(Array.from({ length: 5 }, () => s.cache.tokenFor(e)));
  assert.deepEqual(tokens, Array(5).fill('tok1'));
  assert.equal(s.calls.length, 1);
  const [call] = s.calls;
  assert.equal(call!.url, 'https://auth.example.com/token');
  assert.equal(call!.options.body, 'grant_type=client_credentials&scope=a+b');
  // Form-encoded as RFC 6749 §2.3.1 asks: a space is `+`.
  const basic = Buffer.from('client+id:client-secret').toString('base64');
  assert.equal(call!.options.headers?.authorization, `Basic ${basic}`);
  assert.equal(await s.cache.tokenFor(e), 'tok1');
  s.cache.forget(e.id);
  assert.equal(await s.cache.tokenFor(e), 'tok2');
  // New credentials: the held token is not theirs.
  assert.equal(await s.cache.tokenFor(endpoint('another secret')), 'tok3');
});

test('a token is kept until 30 s before it expires; a short-lived one for half its life', async () => {
  const s = tokenServer((n) => ({ json: { access_token: `tok${n}`, expires_in: n === 1 ? 3600 : 10 } }));
  const e = endpoint();
  assert.equal(await s.cache.tokenFor(e), 'tok1');
  s.advance(3569_000);
  assert.equal(await s.cache.tokenFor(e), 'tok1');
  s.advance(2_000);
  assert.equal(await s.cache.tokenFor(e), 'tok2', 'refreshed 30 s before it expires');
  s.advance(4_000);
  assert.equal(await s.cache.tokenFor(e), 'tok2', 'a 10 s token is not thrown away at once');
  s.advance(2_000);
  assert.equal(await s.cache.tokenFor(e), 'tok3');
  assert.equal(s.calls.length, 3);
});

test('a failing token endpoint says so; the next call tries again', async () => {
  const s = tokenServer((n) =>
    n === 1 ? { status: 503 } : n === 2 ? { bodyExcerpt: '<html>' } : n === 3 ? { json: {} } : {},
  );
  const e = endpoint();
  await assert.rejects(s.cache.tokenFor(e), /the OAuth token endpoint answered 503/);
  await assert.rejects(s.cache.tokenFor(e), /OAuth token endpoint answered something other than JSON/);
  await assert.rejects(s.cache.tokenFor(e), /OAuth token endpoint answered no access_token/);
  assert.equal(await s.cache.tokenFor(e), 'tok4');

  const refused = createTokenCache({
    box,
    allowList: [],
    request: () => Promise.reject(new OutboundError('OUTBOUND_ADDRESS_REFUSED', 'refused: loopback')),
  });
  await assert.rejects(
    refused.tokenFor(e),
    /^Error: the OAuth token request failed: OUTBOUND_ADDRESS_REFUSED: refused: loopback$/,
  );
});
