/**
 * Cookie sessions for the web console, over real HTTPS: the login that sets the cookie, the CSRF token
 * every cookie-authenticated change needs, the cookie ignored whenever an Authorization header is sent,
 * the same authorization as the bearer session (another tenant's operations stay out of reach), and
 * logout. Also the console's files as the real server serves them (raw `..` paths included).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ADMIN_TEST_PASSWORD,
  startTestPlatform,
  type HttpResponse,
  type RequestOptions,
  type TestPlatform,
} from './harness.js';

const PASSWORD = 'quiet lantern harbour 42';
const COOKIE_SHAPE =
  /^mooring_session=(mst_[A-Za-z0-9_-]+); Max-Age=(\d+); Path=\/v1; HttpOnly; Secure; SameSite=Strict$/;
const CLEARED = 'mooring_session=; Max-Age=0; Path=/v1; HttpOnly; Secure; SameSite=Strict';

let t: TestPlatform;
let consoleRoot: string;
let a: { tenantId: string; apiKey: string };
let b: { tenantId: string; apiKey: string };
let bOperation: string;

function setCookie(r: HttpResponse): string | undefined {
  const h = r.headers['set-cookie'];
  assert.ok(h === undefined || h.length === 1, 'one Set-Cookie at most');
  return h?.[0];
}

/** A console login: the session cookie's token and the CSRF token. */
async function cookieLogin(username: string, password = PASSWORD) {
  const r = await t.call('POST', '/v1/auth/login', { body: { username, password, session: 'cookie' } });
  assert.equal(r.status, 200, r.text);
  const m = COOKIE_SHAPE.exec(setCookie(r) ?? '');
  assert.ok(m, `cookie attributes: ${setCookie(r)}`);
  return { cookie: m[1]!, maxAge: Number(m[2]), csrf: r.body.csrfToken as string, body: r.body };
}

/** A request with the session cookie (as a browser sends it: beside other cookies). */
function withCookie(
  cookie: string,
  method: string,
  path: string,
  opts: RequestOptions & { csrf?: string } = {},
): Promise<HttpResponse> {
  const { csrf, ...rest } = opts;
  return t.call(method, path, {
    ...rest,
    headers: {
      cookie: `theme=dark; mooring_session=${cookie}`,
      ...(csrf !== undefined ? { 'x-csrf-token': csrf } : {}),
      ...(rest.headers ?? {}),
    },
  });
}

async function tenantUser(tenantId: string, username: string) {
  const r = await t.call('POST', `/v1/tenants/${tenantId}/users`, {
    token: await t.adminToken(),
    body: { username, password: PASSWORD },
  });
  assert.equal(r.status, 201, r.text);
}

before(async () => {
  consoleRoot = mkdtempSync(join(tmpdir(), 'mooring-console-'));
  mkdirSync(join(consoleRoot, 'dist', 'assets'), { recursive: true });
  writeFileSync(join(consoleRoot, 'dist', 'index.html'), '<!doctype html><title>console</title>');
  writeFileSync(join(consoleRoot, 'dist', 'assets', 'app-1a2b.js'), 'export {};');
  writeFileSync(join(consoleRoot, 'secret.txt'), 'not for the web');
  t = await startTestPlatform({}, { consoleDir: join(consoleRoot, 'dist') });
});
after(async () => {
  await t.stop();
  rmSync(consoleRoot, { recursive: true, force: true });
});

let ready: Promise<void> | undefined;
/** Two tenants, a user of A, a pending operation of B; made after the bootstrap test spent the password. */
function setup(): Promise<void> {
  ready ??= (async () => {
    a = await t.tenant();
    b = await t.tenant();
    const pt = await t.call('POST', '/v1/provisioning-tokens', {
      token: b.apiKey,
      body: { name: 'b', kind: 'device', serial: 'B-1', approval: 'manual' },
    });
    const started = await t.call('POST', '/v1/device/provisioning/operations', {
      token: pt.body.secret,
      body: { serial: 'B-1', verificationCode: 'BBBB22' },
    });
    assert.equal(started.status, 202, started.text);
    bOperation = started.body.operationId;
    await tenantUser(a.tenantId, 'alice');
  })();
  return ready;
}

test('the bootstrap administrator through the console: the one-time password, changed with the CSRF token', async () => {
  // First, before the harness spends the one-time password; the new one is the harness's.
  const cred = JSON.parse(readFileSync(join(t.dataDir, 'bootstrap-admin.json'), 'utf8'));
  const login = await t.call('POST', '/v1/auth/login', { body: { ...cred, session: 'cookie' } });
  assert.equal(login.status, 200, login.text);
  assert.equal(login.body.passwordChangeRequired, true);
  const cookie = COOKIE_SHAPE.exec(setCookie(login) ?? '')![1]!;
  const headers = { cookie: `mooring_session=${cookie}` };
  const blocked = await t.call('GET', '/v1/tenants', { headers });
  assert.equal(blocked.body.code, 'PASSWORD_CHANGE_REQUIRED');
  const change = { currentPassword: cred.password, newPassword: ADMIN_TEST_PASSWORD };
  const noCsrf = await t.call('POST', '/v1/auth/password', { headers, body: change });
  assert.equal(noCsrf.body.code, 'CSRF_TOKEN_INVALID');
  const changed = await t.call('POST', '/v1/auth/password', {
    headers: { ...headers, 'x-csrf-token': login.body.csrfToken },
    body: change,
  });
  assert.equal(changed.status, 204, changed.text);
  assert.equal(setCookie(changed), CLEARED, 'the session ended with the change: the cookie goes');
  assert.equal((await t.call('GET', '/v1/auth/me', { headers })).status, 401);
});

test('a console login sets the session cookie, answers the CSRF token instead of the session token', async () => {
  await setup();
  const { cookie, maxAge, csrf, body } = await cookieLogin('alice');
  assert.equal(body.token, undefined, 'the page never sees the session token');
  assert.match(csrf, /^[A-Za-z0-9_-]{43}$/);
  assert.ok(maxAge > 43_000 && maxAge <= 43_200, `the cookie lives as long as the session: ${maxAge}`);

  // Reads need no CSRF token; /me gives it back to a page that was reloaded.
  const me = await withCookie(cookie, 'GET', '/v1/auth/me');
  assert.equal(me.status, 200, me.text);
  assert.equal(me.body.user.username, 'alice');
  assert.equal(me.body.csrfToken, csrf);
  const list = await withCookie(cookie, 'GET', '/v1/provisioning/operations?status=pending');
  assert.equal(list.status, 200, list.text);

  // A bearer login is unchanged: the token in the answer, no cookie, no CSRF token.
  const bearer = await t.call('POST', '/v1/auth/login', { body: { username: 'alice', password: PASSWORD } });
  assert.match(bearer.body.token, /^mst_/);
  assert.equal(bearer.body.csrfToken, undefined);
  assert.equal(setCookie(bearer), undefined);
  const bearerMe = await t.call('GET', '/v1/auth/me', { token: bearer.body.token });
  assert.equal(bearerMe.body.csrfToken, undefined);
});

test('a change made with the cookie needs its own session’s CSRF token; nothing is done without it', async () => {
  await setup();
  const { cookie, csrf } = await cookieLogin('alice');
  const other = await cookieLogin('alice');
  assert.notEqual(other.csrf, csrf, 'each session has its own token');
  const create = (token?: string) =>
    withCookie(cookie, 'POST', '/v1/provisioning-tokens', {
      ...(token !== undefined ? { csrf: token } : {}),
      body: { name: 'csrf-probe', kind: 'device', serial: 'CSRF-1', approval: 'manual' },
    });
  for (const [why, token] of [
    ['none', undefined],
    ['empty', ''],
    ['wrong', 'A'.repeat(43)],
    ["another session's", other.csrf],
  ] as const) {
    const r = await create(token);
    assert.equal(r.status, 403, `${why}: ${r.text}`);
    assert.equal(r.body.code, 'CSRF_TOKEN_INVALID', why);
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
  }
  const names = async () =>
    (await t.call('GET', '/v1/provisioning-tokens', { token: a.apiKey })).body.items.map(
      (p: { name: string }) => p.name,
    );
  assert.ok(!(await names()).includes('csrf-probe'), 'no refused request created anything');
  const ok = await create(csrf);
  assert.equal(ok.status, 201, ok.text);
  assert.ok((await names()).includes('csrf-probe'));
});

test('the cookie counts only when no Authorization header is sent, and only as a session', async () => {
  await setup();
  const { cookie } = await cookieLogin('alice');
  // Another scheme: the cookie is not used in its place.
  const basic = await withCookie(cookie, 'GET', '/v1/auth/me', { headers: { authorization: 'Basic eDp5' } });
  assert.equal(basic.status, 401);
  assert.equal(basic.body.code, 'UNAUTHENTICATED');
  // A bearer credential wins (and needs no CSRF token): here tenant B's key, with A's cookie beside it.
  const asB = await withCookie(cookie, 'GET', `/v1/provisioning/operations/${bOperation}`, {
    token: b.apiKey,
  });
  assert.equal(asB.status, 200, asB.text);
  const bToken = await withCookie(cookie, 'POST', '/v1/provisioning-tokens', {
    token: b.apiKey,
    body: { name: 'by-bearer', kind: 'device', serial: 'B-2', approval: 'manual' },
  });
  assert.equal(bToken.status, 201, bToken.text);
  // Device routes never take it.
  const device = await withCookie(cookie, 'GET', '/v1/device/commands');
  assert.equal(device.status, 401);
  // Not a session token: an API key, or two cookies of that name.
  const key = await t.call('GET', '/v1/provisioning-tokens', {
    headers: { cookie: `mooring_session=${a.apiKey}` },
  });
  assert.equal(key.body.code, 'INVALID_CREDENTIALS');
  const two = await t.call('GET', '/v1/auth/me', {
    headers: { cookie: `mooring_session=${cookie}; mooring_session=mst_other` },
  });
  assert.equal(two.body.code, 'INVALID_CREDENTIALS');
  const junk = await t.call('GET', '/v1/auth/me', { headers: { cookie: 'mooring_session=mst_nothing' } });
  assert.equal(junk.body.code, 'INVALID_CREDENTIALS');
});

test('a cookie session reaches no further than the bearer session of the same user', async () => {
  await setup();
  const { cookie, csrf } = await cookieLogin('alice');
  const bearer = (await t.call('POST', '/v1/auth/login', { body: { username: 'alice', password: PASSWORD } }))
    .body.token as string;
  const probes: [string, string, unknown?][] = [
    ['GET', `/v1/provisioning/operations/${bOperation}`],
    ['POST', `/v1/provisioning/operations/${bOperation}/approve`, { verificationCode: 'BBBB22' }],
    ['POST', `/v1/provisioning/operations/${bOperation}/reject`, {}],
    ['GET', `/v1/tenants`],
    ['POST', `/v1/tenants`, { name: 'not-by-alice' }],
    ['GET', `/v1/tenants/${b.tenantId}`],
  ];
  for (const [method, path, body] of probes) {
    const viaCookie = await withCookie(cookie, method, path, { csrf, ...(body ? { body } : {}) });
    const viaBearer = await t.call(method, path, { token: bearer, ...(body ? { body } : {}) });
    assert.ok(viaCookie.status >= 400, `${method} ${path}: ${viaCookie.text}`);
    assert.equal(viaCookie.status, viaBearer.status, `${method} ${path}`);
    assert.equal(viaCookie.body.code, viaBearer.body.code, `${method} ${path}`);
  }
  const still = await t.call('GET', `/v1/provisioning/operations/${bOperation}`, { token: b.apiKey });
  assert.equal(still.body.status, 'pending', "tenant B's operation was not decided");
});

test('logout with the cookie needs the CSRF token, ends the session and drops the cookie', async () => {
  await setup();
  const { cookie, csrf } = await cookieLogin('alice');
  const refused = await withCookie(cookie, 'POST', '/v1/auth/logout');
  assert.equal(refused.body.code, 'CSRF_TOKEN_INVALID');
  assert.equal(setCookie(refused), undefined);
  assert.equal((await withCookie(cookie, 'GET', '/v1/auth/me')).status, 200, 'still signed in');
  const out = await withCookie(cookie, 'POST', '/v1/auth/logout', { csrf });
  assert.equal(out.status, 204);
  assert.equal(setCookie(out), CLEARED);
  const after = await withCookie(cookie, 'GET', '/v1/auth/me');
  assert.equal(after.status, 401);
  assert.equal(after.body.code, 'INVALID_CREDENTIALS');
  // A cookie whose session is over is only dropped.
  const stale = await withCookie(cookie, 'POST', '/v1/auth/logout');
  assert.equal(stale.status, 204);
  assert.equal(setCookie(stale), CLEARED);
});

test('the console over HTTPS: the page with its headers; raw `..` paths reach nothing', async () => {
  await setup();
  const page = await t.call('GET', '/console/approvals');
  assert.equal(page.status, 200);
  assert.equal(page.text, '<!doctype html><title>console</title>');
  assert.match(String(page.headers['content-security-policy']), /^default-src 'self'; script-src 'self';/);
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  assert.equal(page.headers['referrer-policy'], 'no-referrer');
  assert.equal(page.headers['set-cookie'], undefined);
  for (const path of [
    '/console/../secret.txt',
    '/console/../../../../etc/passwd',
    '/console/%2e%2e/secret.txt',
    '/console/%2e%2e%2fsecret.txt',
    '/console/assets/..%2f..%2fsecret.txt',
    '/console/..\\secret.txt',
    '/console/assets/app-1a2b.js/..',
  ]) {
    const r = await t.call('GET', path);
    assert.ok(r.status === 404 || r.status === 400, `${path}: ${r.status}`);
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/, path);
    assert.doesNotMatch(r.text, /not for the web|root:/, path);
  }
});
