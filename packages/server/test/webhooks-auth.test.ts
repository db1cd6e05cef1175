/**
 * Webhooks against a receiver that checks who calls it: HTTP Basic and OAuth 2.0 client credentials
 * on every request (challenges included), tokens kept, dropped after a 401 and refreshed when they
 * expire; secrets never shown; the device tag filter; a delivery that ends dead after its ten attempts
 * and is replayed; a redirect that is a failed attempt, never followed; a name that resolves to
 * loopback refused at delivery; text the store cannot hold, from a client or from a receiver.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as dns } from 'node:dns';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { eventually, startTestPlatform, type TestPlatform } from './harness.js';
import { startReceiver, type Receiver } from './webhook-receiver.js';

let t: TestPlatform;
let receiver: Receiver;
before(async () => {
  receiver = await startReceiver();
  // 0.00001: the whole three-day schedule is under 3 s; the worker's one-second cadence paces retries.
  t = await startTestPlatform({
    MOORING_OUTBOUND_ALLOW_LIST: '127.0.0.1/32',
    MOORING_WEBHOOK_RETRY_SCALE: '0.00001',
  });
});
after(async () => {
  await t.stop();
  await receiver.close();
});

/** Creates a webhook on the receiver and waits until it is verified. */
async function hook(apiKey: string, body: Record<string, unknown> = {}) {
  const r = await t.call('POST', '/v1/webhooks', {
    token: apiKey,
    body: {
      name: 'auth',
      url: receiver.url,
      eventTypes: ['config.desired.changed'],
      caPem: receiver.ca,
      ...body,
    },
  });
  assert.equal(r.status, 201, r.text);
  const id = r.body.webhook.id as string;
  await eventually(
    async () => (await t.call('GET', `/v1/webhooks/${id}`, { token: apiKey })).body.status === 'active',
    10_000,
    'the webhook to be verified',
  );
  return { id, created: r };
}

const change = async (apiKey: string, deviceId: string, patch: Record<string, unknown>) => {
  const r = await t.call('PATCH', `/v1/devices/${deviceId}/config/desired`, { token: apiKey, body: patch });
  assert.equal(r.status, 200, r.text);
};

/** Requests of events about this device (retries included). */
const eventsFor = (deviceId: string) => receiver.events().filter((e) => e.json.deviceId === deviceId);
const challengesFor = (webhookId: string) =>
  receiver.received.filter((x) => x.json.type === 'webhook.verification' && x.json.webhookId === webhookId);

async function deliveries(apiKey: string, id: string) {
  const r = await t.call('GET', `/v1/webhooks/${id}/deliveries`, { token: apiKey });
  assert.equal(r.status, 200, r.text);
  return r.body.items as {
    id: string;
    status: string;
    attempts: number;
    lastStatus: number | null;
    lastError: string | null;
  }[];
}

async function detail(apiKey: string, id: string, deliveryId: string) {
  const r = await t.call('GET', `/v1/webhooks/${id}/deliveries/${deliveryId}`, { token: apiKey });
  assert.equal(r.status, 200, r.text);
  return r.body as {
    status: string;
    attempts: number;
    lastStatus: number | null;
    lastError: string | null;
    attemptLog: { attempt: number; status: number | null; error: string | null; responseExcerpt: string }[];
  };
}

/** Waits until the only delivery of the webhook is in this status, and answers its detail. */
async function settled(apiKey: string, id: string, status: string, ms = 20_000) {
  const [d] = await eventually(
    async () => {
      const items = await deliveries(apiKey, id);
      return items.length === 1 && items[0]!.status === status && items;
    },
    ms,
    `the delivery to be ${status}`,
  );
  return { deliveryId: d!.id, ...(await detail(apiKey, id, d!.id)) };
}

/** Every text the API and the audit trail show about the webhook. */
async function everythingShown(apiKey: string, id: string) {
  const shown: string[] = [];
  for (const path of [
    '/v1/webhooks',
    `/v1/webhooks/${id}`,
    `/v1/webhooks/${id}/deliveries`,
    '/v1/audit?limit=500',
  ])
    shown.push((await t.call('GET', path, { token: apiKey })).text);
  for (const d of await deliveries(apiKey, id))
    shown.push((await t.call('GET', `/v1/webhooks/${id}/deliveries/${d.id}`, { token: apiKey })).text);
  return shown.join('\n');
}

test('HTTP Basic: the challenge and every event carry the credentials; the password is never shown', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  const password = `pw-${Math.random().toString(36).slice(2)}-é:x`;
  const expected = `Basic ${Buffer.from(`ops:${password}`).toString('base64')}`;
  receiver.requireAuthorization = () => [expected];
  try {
    const { id, created } = await hook(apiKey, { auth: { type: 'basic', username: 'ops', password } });
    assert.deepEqual(created.body.webhook.auth, { type: 'basic', username: 'ops' });
    await change(apiKey, d.deviceId, { a: 1 });
    await change(apiKey, d.deviceId, { a: 2 });
    await eventually(() => eventsFor(d.deviceId).length >= 2, 10_000, 'the events');
    const requests = [...challengesFor(id), ...eventsFor(d.deviceId)];
    assert.ok(challengesFor(id).length >= 1);
    for (const r of requests) assert.equal(r.headers.authorization, expected);

    // A new password: what is sent changes with it.
    const next = `${password}-2`;
    const changed = await t.call('PATCH', `/v1/webhooks/${id}`, {
      token: apiKey,
      body: { auth: { type: 'basic', username: 'ops', password: next } },
    });
    assert.equal(changed.status, 200, changed.text);
    receiver.requireAuthorization = () => [`Basic ${Buffer.from(`ops:${next}`).toString('base64')}`];
    await change(apiKey, d.deviceId, { a: 3 });
    await eventually(
      async () => {
        const items = await deliveries(apiKey, id);
        return items.length === 3 && items.every((x) => x.status === 'delivered');
      },
      10_000,
      'every delivery delivered',
    );
    const log = await deliveries(apiKey, id);
    assert.equal(log.length, 3);

    const shown = await everythingShown(apiKey, id);
    assert.ok(shown.includes('"username":"ops"'), 'the user name is shown');
    for (const secret of [password, next, Buffer.from(`ops:${password}`).toString('base64')])
      assert.ok(!shown.includes(secret), 'no password in any answer or audit record');
  } finally {
    receiver.requireAuthorization = undefined;
  }
});

test('OAuth 2.0 client credentials: one token for many deliveries, a new one after a 401, scope and audience sent', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  receiver.oauth.expiresIn = 3600;
  receiver.oauth.clientSecret = `cs-${Math.random().toString(36).slice(2)}`;
  const fetches = () => receiver.oauth.requests.length;
  const before = fetches();
  receiver.requireAuthorization = () => receiver.bearers();
  try {
    const { id, created } = await hook(apiKey, {
      auth: {
        type: 'oauth2',
        tokenUrl: receiver.tokenUrl,
        clientId: receiver.oauth.clientId,
        clientSecret: receiver.oauth.clientSecret,
        scope: 'hooks:write',
        audience: 'https://receiver.example',
      },
    });
    assert.deepEqual(created.body.webhook.auth, {
      type: 'oauth2',
      tokenUrl: receiver.tokenUrl,
      clientId: receiver.oauth.clientId,
      scope: 'hooks:write',
      audience: 'https://receiver.example',
    });
    assert.equal(fetches() - before, 1, 'the challenge fetched one token');
    const tokenRequest = receiver.oauth.requests.at(-1)!;
    assert.deepEqual(tokenRequest.form, {
      grant_type: 'client_credentials',
      scope: 'hooks:write',
      audience: 'https://receiver.example',
    });
    assert.equal(tokenRequest.headers['content-type'], 'application/x-www-form-urlencoded');
    const first = `Bearer ${receiver.oauth.issued.at(-1)!}`;
    assert.equal(challengesFor(id).at(-1)!.headers.authorization, first);

    for (let i = 0; i < 4; i++) await change(apiKey, d.deviceId, { n: i });
    await eventually(
      async () => {
        const items = await deliveries(apiKey, id);
        return items.length === 4 && items.every((x) => x.status === 'delivered');
      },
      10_000,
      'four deliveries',
    );
    assert.equal(fetches() - before, 1, 'the token was reused');
    for (const e of eventsFor(d.deviceId)) assert.equal(e.headers.authorization, first);

    // The receiver no longer takes the token: the 401 drops it, the next attempt fetches another.
    receiver.revokeTokens();
    await change(apiKey, d.deviceId, { n: 'after revocation' });
    await eventually(
      async () => {
        const items = await deliveries(apiKey, id);
        return items.length === 5 && items.every((x) => x.status === 'delivered');
      },
      10_000,
      'the delivery after the revocation',
    );
    const [latest] = await deliveries(apiKey, id);
    const log = await detail(apiKey, id, latest!.id);
    assert.deepEqual(
      log.attemptLog.map((a) => a.status),
      [401, 200],
    );
    assert.equal(fetches() - before, 2, 'one new token after the 401');
    assert.equal(
      eventsFor(d.deviceId).at(-1)!.headers.authorization,
      `Bearer ${receiver.oauth.issued.at(-1)!}`,
    );

    const shown = await everythingShown(apiKey, id);
    assert.ok(!shown.includes(receiver.oauth.clientSecret), 'the client secret is never shown');
    for (const token of receiver.oauth.issued) assert.ok(!shown.includes(token), 'no token is shown');
  } finally {
    receiver.requireAuthorization = undefined;
  }
});

test('OAuth: an expired token is fetched again; a failing token endpoint fails the attempt clearly, and it is retried', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  // 2 s: a token that short-lived is kept for half its life, a second.
  receiver.oauth.expiresIn = 2;
  receiver.requireAuthorization = () => receiver.bearers();
  try {
    const { id } = await hook(apiKey, {
      auth: {
        type: 'oauth2',
        tokenUrl: receiver.tokenUrl,
        clientId: receiver.oauth.clientId,
        clientSecret: receiver.oauth.clientSecret,
      },
    });
    const issuedBefore = receiver.oauth.issued.length;
    const form = receiver.oauth.requests.at(-1)!.form;
    assert.deepEqual(form, { grant_type: 'client_credentials' }, 'no scope or audience when none is set');
    await new Promise((r) => setTimeout(r, 1500));
    await change(apiKey, d.deviceId, { n: 1 });
    const delivered = await settled(apiKey, id, 'delivered');
    assert.deepEqual(
      delivered.attemptLog.map((a) => a.status),
      [200],
      'no attempt was spent on the expired token',
    );
    assert.equal(receiver.oauth.issued.length, issuedBefore + 1, 'a fresh token was fetched');
    assert.equal(
      eventsFor(d.deviceId).at(-1)!.headers.authorization,
      `Bearer ${receiver.oauth.issued.at(-1)!}`,
    );

    // The token endpoint fails: the attempt fails without a request to the endpoint, and is retried.
    receiver.oauth.expiresIn = 3600;
    receiver.oauth.failWith = 503;
    await new Promise((r) => setTimeout(r, 1500));
    const seen = eventsFor(d.deviceId).length;
    const d2 = await t.device(apiKey);
    await change(apiKey, d2.deviceId, { n: 2 });
    const failing = await eventually(
      async () => {
        const items = await deliveries(apiKey, id);
        const x = items.find((i) => i.status === 'pending' && i.attempts >= 2);
        return x && (await detail(apiKey, id, x.id));
      },
      15_000,
      'two failed attempts',
    );
    assert.match(failing.lastError ?? '', /token endpoint answered 503/);
    assert.equal(failing.lastStatus, null, 'the endpoint itself got no request');
    assert.equal(eventsFor(d2.deviceId).length, 0);
    assert.equal(eventsFor(d.deviceId).length, seen);
    receiver.oauth.failWith = undefined;
    await eventually(
      async () => (await deliveries(apiKey, id)).every((x) => x.status === 'delivered') && true,
      15_000,
      'the retried delivery delivered',
    );
    assert.equal(eventsFor(d2.deviceId).length, 1);
  } finally {
    receiver.oauth.failWith = undefined;
    receiver.oauth.expiresIn = 3600;
    receiver.requireAuthorization = undefined;
  }
});

test('a device tag filter: events of devices with the tag arrive, those of others do not', async () => {
  const { apiKey } = await t.tenant();
  const tagged = await t.device(apiKey, { name: 'tagged', tags: ['a', 'x'] });
  const other = await t.device(apiKey, { name: 'other', tags: ['b'] });
  const bare = await t.device(apiKey, { name: 'bare' });
  const filtered = await hook(apiKey, { name: 'only a', deviceTags: ['a'] });
  const all = await hook(apiKey, { name: 'all' });
  for (const dev of [tagged, other, bare]) await change(apiKey, dev.deviceId, { n: 1 });
  // The unfiltered webhook got all three: every fact has been fanned out by then.
  await eventually(
    async () => {
      const items = await deliveries(apiKey, all.id);
      return items.length === 3 && items.every((x) => x.status === 'delivered');
    },
    10_000,
    'the three events on the unfiltered webhook',
  );
  const items = await deliveries(apiKey, filtered.id);
  assert.equal(items.length, 1);
  const one = await t.call('GET', `/v1/webhooks/${filtered.id}/deliveries/${items[0]!.id}`, {
    token: apiKey,
  });
  assert.equal(one.body.event.deviceId, tagged.deviceId);
  await eventually(() => eventsFor(tagged.deviceId).length === 2, 10_000, 'the tagged device’s events');
  assert.equal(eventsFor(other.deviceId).length, 1, 'only the unfiltered webhook');
  assert.equal(eventsFor(bare.deviceId).length, 1, 'only the unfiltered webhook');
});

test('a deleted device’s event passes the tag filter by the tags it had', async () => {
  const { apiKey } = await t.tenant();
  const tagged = await t.device(apiKey, { name: 'tagged', tags: ['a'] });
  const other = await t.device(apiKey, { name: 'other', tags: ['b'] });
  const filtered = await hook(apiKey, { name: 'only a', deviceTags: ['a'], eventTypes: ['device.deleted'] });
  const all = await hook(apiKey, { name: 'all', eventTypes: ['device.deleted'] });
  for (const dev of [tagged, other])
    assert.equal((await t.call('DELETE', `/v1/devices/${dev.deviceId}`, { token: apiKey })).status, 204);
  await eventually(
    async () => (await deliveries(apiKey, all.id)).filter((x) => x.status === 'delivered').length === 2,
    10_000,
    'both deletions on the unfiltered webhook',
  );
  const items = await deliveries(apiKey, filtered.id);
  assert.equal(items.length, 1, 'the tagged device’s deletion only');
  const one = await t.call('GET', `/v1/webhooks/${filtered.id}/deliveries/${items[0]!.id}`, {
    token: apiKey,
  });
  assert.equal(one.body.event.type, 'device.deleted');
  assert.equal(one.body.event.deviceId, tagged.deviceId);
});

test('replaying a delivery while it is being sent does not send it a second time', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  const { id } = await hook(apiKey);
  receiver.stallIf = (r) => r.json.deviceId === d.deviceId;
  try {
    await change(apiKey, d.deviceId, { n: 1 });
    await eventually(() => eventsFor(d.deviceId).length === 1, 10_000, 'the request in flight');
    const [inFlight] = await deliveries(apiKey, id);
    const one = await t.call('POST', `/v1/webhooks/${id}/deliveries/${inFlight!.id}/replay`, {
      token: apiKey,
    });
    assert.equal(one.status, 202, one.text);
    assert.equal(one.body.status, 'pending');
    assert.equal(one.body.attempts, 1, 'its schedule is not started again');
    const range = await t.call('POST', `/v1/webhooks/${id}/replay`, {
      token: apiKey,
      body: { from: 0, to: Date.now() + 60_000 },
    });
    assert.equal(range.status, 200, range.text);
    assert.equal(range.body.replayed, 0, 'the delivery in flight is not made due again');
    await new Promise((r) => setTimeout(r, 1_500)); // a worker run or two
    assert.equal(eventsFor(d.deviceId).length, 1, 'no second request beside the one in flight');
  } finally {
    receiver.release();
  }
  const done = await settled(apiKey, id, 'delivered');
  assert.equal(done.attemptLog.length, 1);
});

test('a redirect is a failed attempt and is not followed', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  const { id } = await hook(apiKey);
  receiver.answer = { status: 302, headers: { location: `https://127.0.0.1:${receiver.port}/elsewhere` } };
  try {
    await change(apiKey, d.deviceId, { n: 1 });
    // Two answered attempts recorded (the attempt count goes up when one is claimed, before it is sent).
    await eventually(
      async () => {
        const [one] = await deliveries(apiKey, id);
        if (!one) return false;
        const log = (await detail(apiKey, id, one.id)).attemptLog;
        return log.filter((a) => a.status === 302).length >= 2;
      },
      10_000,
      'two redirected attempts',
    );
  } finally {
    receiver.answer = { status: 200 };
  }
  const done = await settled(apiKey, id, 'delivered');
  const redirected = done.attemptLog.filter((a) => a.status === 302);
  assert.ok(redirected.length >= 2, JSON.stringify(done.attemptLog));
  for (const a of redirected) assert.match(a.error ?? '', /302/);
  assert.equal(done.attemptLog.at(-1)!.status, 200);
  assert.equal(eventsFor(d.deviceId).length, done.attemptLog.length, 'one request per attempt');
  assert.ok(eventsFor(d.deviceId).every((e) => e.path === '/hook'));
  assert.equal(receiver.received.filter((x) => x.path === '/elsewhere').length, 0, 'never followed');
});

test('an answer the store cannot hold as text (a NUL byte) is still recorded, and the delivery settles', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  const { id } = await hook(apiKey);
  receiver.answer = { status: 200, body: Buffer.from('ok\u0000fine\u0000') };
  try {
    await change(apiKey, d.deviceId, { n: 1 });
    const done = await settled(apiKey, id, 'delivered', 10_000);
    assert.equal(done.attemptLog.length, 1);
    assert.equal(done.attemptLog[0]!.status, 200);
    assert.ok(!done.attemptLog[0]!.responseExcerpt.includes('\u0000'));
    assert.match(done.attemptLog[0]!.responseExcerpt, /^ok.fine.$/);
  } finally {
    receiver.answer = { status: 200 };
  }
  assert.equal(eventsFor(d.deviceId).length, 1);
});

test('an endpoint that never answers its challenge does not hold the deliveries of others', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  const { id } = await hook(apiKey);
  receiver.stallIf = (r) => r.path === '/silent';
  try {
    const silent = await t.call('POST', '/v1/webhooks', {
      token: apiKey,
      body: {
        name: 'silent',
        url: `https://127.0.0.1:${receiver.port}/silent`,
        eventTypes: ['device.deleted'],
        caPem: receiver.ca,
      },
    });
    assert.equal(silent.status, 201, silent.text);
    await eventually(() => receiver.held() === 1, 10_000, 'the challenge held');
    const sent = Date.now();
    await change(apiKey, d.deviceId, { n: 1 });
    const [event] = await eventually(
      () => eventsFor(d.deviceId).length === 1 && eventsFor(d.deviceId),
      10_000,
      'the event',
    );
    // A request holds for 15 s: arriving well before, the event did not wait for the challenge.
    assert.ok(event!.at - sent < 5_000, `the event came ${event!.at - sent} ms after the change`);
    assert.equal(receiver.held(), 1, 'the challenge is still unanswered');
  } finally {
    receiver.release();
  }
  await settled(apiKey, id, 'delivered');
});

test('no more than four requests in flight to one endpoint, however the deliveries come due', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  const { id } = await hook(apiKey);
  receiver.stall = true;
  try {
    await change(apiKey, d.deviceId, { n: 0 });
    await eventually(() => receiver.held() === 1, 10_000, 'the first request held');
    for (let i = 1; i < 9; i++) await change(apiKey, d.deviceId, { n: i });
    await new Promise((r) => setTimeout(r, 2000));
    assert.ok(receiver.held() <= 4, `${receiver.held()} requests in flight to one endpoint`);
    assert.equal(receiver.held(), 4);
  } finally {
    receiver.release();
  }
  await eventually(
    async () => {
      const items = await deliveries(apiKey, id);
      return items.length === 9 && items.every((x) => x.status === 'delivered');
    },
    20_000,
    'every delivery',
  );
});

test('text the store cannot hold (NUL, lone surrogates) in names, URLs and auth is refused with 400', async () => {
  const { apiKey } = await t.tenant();
  const base = { name: 'x', url: 'https://hooks.example.com/h', eventTypes: ['device.deleted'] };
  const oauth = { type: 'oauth2', tokenUrl: 'https://auth.example.com/t', clientId: 'c', clientSecret: 's' };
  const bodies: Record<string, unknown>[] = [
    { ...base, name: 'a\u0000b' },
    { ...base, name: 'a\ud800' },
    { ...base, url: 'https://hooks.example.com/\u0000' },
    { ...base, url: 'https://hooks.example.com/\udc00' },
    { ...base, deviceTags: ['a\u0000'] },
    { ...base, auth: { type: 'basic', username: 'u\u0000', password: 'p' } },
    { ...base, auth: { type: 'basic', username: 'u', password: 'p\ud800' } },
    { ...base, auth: { ...oauth, clientSecret: 's\u0000' } },
    { ...base, auth: { ...oauth, clientId: '\udfff' } },
    { ...base, auth: { ...oauth, scope: 'a\u0000' } },
    { ...base, auth: { ...oauth, audience: '\ud800x' } },
    { ...base, auth: { ...oauth, tokenUrl: 'https://auth.example.com/\u0000' } },
    { ...base, caPem: '-----BEGIN CERTIFICATE-----\u0000' },
  ];
  for (const body of bodies) {
    const r = await t.call('POST', '/v1/webhooks', { token: apiKey, body });
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
  }
  const created = await t.call('POST', '/v1/webhooks', { token: apiKey, body: base });
  assert.equal(created.status, 201, created.text);
  for (const body of bodies) {
    const { eventTypes: _e, ...patch } = body;
    const r = await t.call('PATCH', `/v1/webhooks/${created.body.webhook.id}`, {
      token: apiKey,
      body: patch,
    });
    assert.equal(r.status, 400, `${JSON.stringify(patch)}: ${r.text}`);
  }
  // Too long, too many, or not a certificate: refused, never a 500.
  for (const body of [
    { ...base, name: 'n'.repeat(129) },
    { ...base, url: `https://hooks.example.com/${'p'.repeat(2048)}` },
    { ...base, deviceTags: Array.from({ length: 33 }, (_, i) => `t${i}`) },
    { ...base, caPem: 'not a certificate' },
    { ...base, caPem: 'x'.repeat(16_385) },
    { ...base, auth: { type: 'basic', username: 'u', password: 'p'.repeat(1025) } },
  ]) {
    const r = await t.call('POST', '/v1/webhooks', { token: apiKey, body });
    assert.ok(r.status === 400 || r.status === 422, `${r.status}: ${r.text.slice(0, 300)}`);
  }
});

test('dead after exactly ten attempts; a replay sends it again', { timeout: 90_000 }, async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  const { id } = await hook(apiKey);
  receiver.answer = { status: 500 };
  let dead: Awaited<ReturnType<typeof settled>>;
  try {
    await change(apiKey, d.deviceId, { n: 1 });
    dead = await settled(apiKey, id, 'dead', 60_000);
  } finally {
    receiver.answer = { status: 200 };
  }
  assert.equal(dead.attempts, 10);
  assert.deepEqual(
    dead.attemptLog.map((a) => a.attempt),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  assert.ok(dead.attemptLog.every((a) => a.status === 500));
  assert.equal(dead.lastStatus, 500);
  assert.equal(eventsFor(d.deviceId).length, 10);
  const deadLetters = await t.call('GET', `/v1/webhooks/${id}/deliveries?status=dead`, { token: apiKey });
  assert.deepEqual(
    deadLetters.body.items.map((x: { id: string }) => x.id),
    [dead.deliveryId],
  );
  // Nothing more is tried once it is dead.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(eventsFor(d.deviceId).length, 10);

  const replay = await t.call('POST', `/v1/webhooks/${id}/deliveries/${dead.deliveryId}/replay`, {
    token: apiKey,
  });
  assert.equal(replay.status, 202, replay.text);
  assert.equal(replay.body.status, 'pending');
  const again = await settled(apiKey, id, 'delivered');
  assert.equal(eventsFor(d.deviceId).length, 11);
  assert.equal(again.attemptLog.length, 11);
  assert.equal(again.attemptLog.at(-1)!.status, 200);
  const [last, previous] = eventsFor(d.deviceId).reverse();
  assert.equal(last!.headers['webhook-id'], previous!.headers['webhook-id'], 'the same event id');
});

/** A name of this machine from the hosts file (no outside DNS) that resolves to loopback. */
async function loopbackName(): Promise<string | undefined> {
  let hosts = '';
  try {
    hosts = readFileSync('/etc/hosts', 'utf8');
  } catch {
    /* none */
  }
  const names = new Set([hostname()]);
  for (const line of hosts.split('\n')) {
    const [address, ...aliases] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (address?.startsWith('127.')) for (const a of aliases) names.add(a);
  }
  for (const name of names) {
    if (!name || name === 'localhost' || name.endsWith('.localhost') || !hosts.includes(name)) continue;
    try {
      const found = await dns.lookup(name, { all: true });
      if (found.length > 0 && found.every((a) => a.address.startsWith('127.'))) return name;
    } catch {
      /* not resolvable here */
    }
  }
  return undefined;
}

test('a name that resolves to loopback is refused when the challenge and a delivery are sent', async (ctx) => {
  const name = await loopbackName();
  if (!name) {
    ctx.skip('no name in the hosts file resolves to loopback');
    return;
  }
  // A platform that allows no private address (the receiver on 127.0.0.1 among them).
  const strict = await startTestPlatform({ MOORING_WEBHOOK_RETRY_SCALE: '0.00001' });
  try {
    const { apiKey } = await strict.tenant();
    const d = await strict.device(apiKey);
    const url = `https://${name}:${receiver.port}/hook`;
    const created = await strict.call('POST', '/v1/webhooks', {
      token: apiKey,
      body: { name: 'loop', url, eventTypes: ['config.desired.changed'], caPem: receiver.ca },
    });
    assert.equal(created.status, 201, 'a name is judged when it is resolved, not when it is saved');
    const id = created.body.webhook.id as string;
    const refused = await eventually(
      async () => {
        const w = await strict.call('GET', `/v1/webhooks/${id}`, { token: apiKey });
        return w.body.lastError && w.body;
      },
      10_000,
      'the challenge to fail',
    );
    assert.equal(refused.status, 'pending');
    assert.match(refused.lastError, /^OUTBOUND_ADDRESS_REFUSED: .*127\./);
    // Made active behind the API's back: a delivery to it is refused the same way.
    await strict.platform.db.query(`UPDATE webhook_endpoints SET status = 'active' WHERE id = $1`, [id]);
    await strict.call('PATCH', `/v1/devices/${d.deviceId}/config/desired`, { token: apiKey, body: { n: 1 } });
    const attempt = await eventually(
      async () => {
        const items = (await strict.call('GET', `/v1/webhooks/${id}/deliveries`, { token: apiKey })).body
          .items;
        if (!items[0] || items[0].attempts < 1) return undefined;
        const one = await strict.call('GET', `/v1/webhooks/${id}/deliveries/${items[0].id}`, {
          token: apiKey,
        });
        return one.body.attemptLog[0];
      },
      10_000,
      'a delivery attempt',
    );
    assert.equal(attempt.status, null);
    assert.match(attempt.error, /^OUTBOUND_ADDRESS_REFUSED: /);
    assert.equal(challengesFor(id).length, 0, 'the receiver got no challenge');
    assert.equal(eventsFor(d.deviceId).length, 0, 'nor an event');
  } finally {
    await strict.stop();
  }
});
