/**
 * The HTTPS listener against slow and greedy clients, and what every answer carries: slowloris
 * connections (a handshake never started, headers dripped, a body dripped after complete headers)
 * are closed at their deadlines while another client is served; a large upload at a reasonable rate
 * is not cut off, one below the minimum rate is; a JSON object with too many members is refused; the
 * security headers are on API, problem and console answers; security.txt follows RFC 9116.
 *
 * The deadlines are short here (1 s for the handshake and headers, 2 s for a body) and the same rules
 * as the defaults (10 s, 10 s, 30 s).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { CONSOLE_CSP } from '../src/adapters/http/console.js';
import { API_CSP, registerSecurityHeaders } from '../src/adapters/http/security-headers.js';
import { registerSecurityTxt } from '../src/adapters/http/security-txt.js';
import { sendProblem, toAppError } from '../src/adapters/http/problem.js';
import { startTestPlatform, type TestPlatform } from './harness.js';

const HEADERS_S = 1;
const REQUEST_S = 2;
const MIN_RATE = 4096;

let t: TestPlatform;
let apiKey: string;

before(async () => {
  t = await startTestPlatform({
    MOORING_HTTP_HANDSHAKE_TIMEOUT_SECONDS: '1',
    MOORING_HTTP_HEADERS_TIMEOUT_SECONDS: String(HEADERS_S),
    MOORING_HTTP_REQUEST_TIMEOUT_SECONDS: String(REQUEST_S),
    MOORING_HTTP_UPLOAD_MIN_BYTES_PER_SECOND: String(MIN_RATE),
    MOORING_SECURITY_CONTACT: 'mailto:security@example.com,https://example.com/security',
  });
  ({ apiKey } = await t.tenant());
});
after(() => t.stop());

/**
 * A connection that resolves with how long after its deadline started (`from`: the connection, the
 * handshake's end, the head's end) the server closed it.
 */
interface Slow {
  socket: Socket;
  from: number;
  closedAfter: Promise<number>;
  stop(): void;
}

function tracked(socket: Socket, timer?: NodeJS.Timeout): Slow {
  socket.on('error', () => {});
  // Read (and drop) what comes, so that the end of the connection is seen.
  socket.resume();
  const slow: Slow = {
    socket,
    from: performance.now(),
    closedAfter: new Promise<number>((resolve) =>
      socket.once('close', () => {
        if (timer) clearInterval(timer);
        resolve(performance.now() - slow.from);
      }),
    ),
    stop: () => {
      if (timer) clearInterval(timer);
      socket.destroy();
    },
  };
  return slow;
}

const tls = () =>
  tlsConnect({
    host: '127.0.0.1',
    port: t.platform.httpPort,
    ca: t.platform.caCert,
    servername: 'localhost',
  });

/**
 * Writes `head` at once (after the handshake), then one byte of `drip` every `everyMs`; the deadline
 * counts from the handshake's end, when the head is written.
 */
function dripper(head: string, drip: string, everyMs: number): Slow {
  const socket = tls();
  let i = 0;
  let timer: NodeJS.Timeout | undefined;
  const slow = tracked(socket);
  socket.once('secureConnect', () => {
    slow.from = performance.now();
    socket.write(head);
    timer = setInterval(() => {
      if (!socket.destroyed) socket.write(drip[i++ % drip.length]!);
    }, everyMs);
  });
  socket.once('close', () => clearInterval(timer));
  return slow;
}

async function probe(path = '/healthz'): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const r = await t.call('GET', path);
  return { status: r.status, ms: performance.now() - t0 };
}

test('slowloris connections are closed at their deadlines while a probe client is served', async () => {
  const slow: Slow[] = [];
  const kinds: { kind: string; slow: Slow; deadlineS: number }[] = [];
  const add = (kind: string, s: Slow, deadlineS: number) => {
    slow.push(s);
    kinds.push({ kind, slow: s, deadlineS });
  };
  // A TCP connection that never starts the TLS handshake.
  for (let i = 0; i < 5; i++) add('no handshake', tracked(netConnect(t.platform.httpPort, '127.0.0.1')), 1);
  // A TLS connection that sends nothing at all.
  for (let i = 0; i < 5; i++) {
    const silent = tracked(tls());
    silent.socket.once('secureConnect', () => (silent.from = performance.now()));
    add('silent after TLS', silent, HEADERS_S);
  }
  // Headers dripped a byte at a time, never complete.
  for (let i = 0; i < 30; i++)
    add(
      'headers dripped',
      dripper('GET /healthz HTTP/1.1\r\nHost: localhost\r\n', 'X-Drip: a\r\n', 100),
      HEADERS_S,
    );
  // Complete headers, then the body dripped (an ordinary route, no credential needed).
  for (let i = 0; i < 10; i++)
    add(
      'body dripped',
      dripper(
        'POST /v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"username":"',
        'a',
        100,
      ),
      REQUEST_S,
    );

  // Meanwhile a probe client is served, every 100 ms, for longer than the longest deadline.
  const probes: { status: number; ms: number }[] = [];
  const until = performance.now() + (REQUEST_S + 1.5) * 1000;
  while (performance.now() < until) {
    probes.push(await probe());
    await new Promise((r) => setTimeout(r, 100));
  }
  const open = new Set(kinds);
  const closed = await Promise.race([
    Promise.all(
      kinds.map(async (k) => {
        const after = await k.slow.closedAfter;
        open.delete(k);
        return { ...k, after };
      }),
    ),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`still open: ${[...open].map((k) => k.kind).join(', ')}`)), 5000),
    ),
  ]).finally(() => slow.forEach((s) => s.stop()));

  for (const c of closed) {
    // Closed once its deadline passed (checked every quarter of it), and not long after (a loaded
    // machine may be late by a few seconds).
    assert.ok(
      c.after >= c.deadlineS * 1000 - 150,
      `${c.kind} closed after ${Math.round(c.after)} ms: too early`,
    );
    assert.ok(c.after <= c.deadlineS * 1000 + 4000, `${c.kind} closed after ${Math.round(c.after)} ms`);
  }
  assert.ok(probes.length >= 10, `only ${probes.length} probes`);
  assert.ok(
    probes.every((p) => p.status === 200),
    `probes: ${probes.map((p) => p.status).join(',')}`,
  );
  // Served, and promptly: the median probe, since a loaded shared machine may delay any single one.
  const median = probes.map((p) => p.ms).sort((x, y) => x - y)[Math.floor(probes.length / 2)]!;
  assert.ok(median < 1000, `the median probe took ${Math.round(median)} ms`);
});

/** Uploads `total` bytes to /v1/artifacts in `chunk`-byte writes every `everyMs`. */
function paced(total: number, chunk: number, everyMs: number, version: string) {
  const qs = new URLSearchParams({ version, hardwareClass: 'hw-slow', sequence: version.split('.')[0]! });
  const image = randomBytes(total);
  return new Promise<{ status: number; body: string } | { error: string }>((resolve) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: t.platform.httpPort,
        ca: t.platform.caCert,
        method: 'POST',
        path: `/v1/artifacts?${qs.toString()}`,
        agent: false,
        headers: {
          authorization: `Bearer ${apiKey}`,
          'content-type': 'application/octet-stream',
          'content-length': String(total),
        },
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', (e) => resolve({ error: e.message }));
    let sent = 0;
    const timer = setInterval(() => {
      if (req.destroyed) return clearInterval(timer);
      req.write(image.subarray(sent, sent + chunk));
      sent += chunk;
      if (sent >= total) {
        clearInterval(timer);
        req.end();
      }
    }, everyMs);
    req.on('close', () => clearInterval(timer));
  });
}

test('an upload at a reasonable rate outlasts the body deadline; one below the minimum rate is cut off', async () => {
  // 64 KiB at 32 KiB/s: twice the 2 s body deadline, eight times the 4 KiB/s minimum rate.
  const fine = await paced(64 * 1024, 8 * 1024, 250, '1.0.0');
  assert.ok('status' in fine, JSON.stringify(fine));
  assert.equal(fine.status, 201, fine.body);
  // 16 KiB at 1 KiB/s: a quarter of the minimum rate, cut off after the first window.
  const t0 = performance.now();
  const slow = await paced(16 * 1024, 256, 250, '2.0.0');
  const took = performance.now() - t0;
  assert.ok('error' in slow, `a slow upload was answered: ${JSON.stringify(slow)}`);
  assert.ok(took < REQUEST_S * 1000 + 2000, `cut off after ${Math.round(took)} ms`);
  const list = await t.call('GET', '/v1/artifacts', { token: apiKey });
  assert.deepEqual(
    list.body.items.map((a: { manifest: { version: string } }) => a.manifest.version),
    ['1.0.0'],
    'the upload that was cut off is not kept',
  );
});

test('an object with too many members is refused with JSON_TOO_DEEP before anything is created', async () => {
  const before = await t.call('GET', '/v1/devices', { token: apiKey });
  for (const n of [1001, 20_000]) {
    const metadata = Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 1]));
    const r = await t.call('POST', '/v1/devices', { token: apiKey, body: { name: `wide-${n}`, metadata } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(r.body.code, 'JSON_TOO_DEEP');
    assert.match(r.body.detail, /more than 1000 members/);
  }
  const afterwards = await t.call('GET', '/v1/devices', { token: apiKey });
  assert.equal(afterwards.body.items.length, before.body.items.length);
});

function assertHardened(headers: Record<string, unknown>, what: string) {
  assert.equal(headers['x-content-type-options'], 'nosniff', what);
  assert.equal(headers['referrer-policy'], 'no-referrer', what);
  assert.equal(headers['x-frame-options'], 'DENY', what);
  assert.equal(headers['strict-transport-security'], 'max-age=31536000', what);
}

/** As a browser reaching the platform by its name does (HSTS is not sent to addresses). */
const named = { host: 'iot.example.com' };

test('every answer carries the security headers: API, problem, console, unauthenticated', async () => {
  const answers = {
    'an API answer': await t.call('GET', '/v1/devices', { token: apiKey, headers: named }),
    'a 404 problem': await t.call('GET', '/v1/nothing-here', { token: apiKey, headers: named }),
    'a 400 problem': await t.call('POST', '/v1/devices', { token: apiKey, raw: '{"name":', headers: named }),
    'a 401 problem': await t.call('GET', '/v1/devices', { headers: named }),
    'a login': await t.call('POST', '/v1/auth/login', {
      body: { username: 'nobody', password: 'x'.repeat(12) },
      headers: named,
    }),
    'the OpenAPI document': await t.call('GET', '/openapi.json', { headers: named }),
  };
  assert.equal(answers['an API answer'].status, 200);
  assert.equal(answers['a 404 problem'].status, 404);
  assert.equal(answers['a 400 problem'].status, 400);
  for (const [what, r] of Object.entries(answers)) {
    assertHardened(r.headers, what);
    assert.equal(r.headers['content-security-policy'], API_CSP, what);
    assert.equal(r.headers['cache-control'], 'no-store', what);
  }
  // The console keeps its own policy and caching, and gets the rest.
  const page = await t.call('GET', '/console', { headers: named });
  assertHardened(page.headers, 'the console');
  assert.equal(page.headers['content-security-policy'], CONSOLE_CSP);
  assert.notEqual(page.headers['cache-control'], undefined);
  if (page.status === 200) assert.equal(page.headers['cache-control'], 'no-cache');
  // No HSTS for an address or localhost (a browser ignores it for the one, and it would hold every
  // port of the other); the other headers are the same.
  for (const host of [undefined, 'localhost:8443', 'dev.localhost', '[::1]:8443']) {
    const r = await t.call('GET', '/v1/devices', { token: apiKey, ...(host ? { headers: { host } } : {}) });
    assert.equal(r.status, 200);
    assert.equal(r.headers['strict-transport-security'], undefined, host ?? '127.0.0.1');
    assert.equal(r.headers['x-frame-options'], 'DENY');
  }
});

test('security.txt follows RFC 9116 when a contact is configured', async () => {
  const r = await t.call('GET', '/.well-known/security.txt', { headers: named });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
  assertHardened(r.headers, 'security.txt');
  const lines = r.text.trimEnd().split('\n');
  assert.deepEqual(lines.slice(0, 2), [
    'Contact: mailto:security@example.com',
    'Contact: https://example.com/security',
  ]);
  const expires = lines.find((l) => l.startsWith('Expires: '))!.slice('Expires: '.length);
  assert.match(expires, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  const ahead = Date.parse(expires) - Date.now();
  assert.ok(ahead > 100 * 86_400_000 && ahead < 365 * 86_400_000, `Expires ${expires}`);
  for (const line of lines) assert.match(line, /^(Contact|Expires|Preferred-Languages): \S/);
});

test('without a contact, security.txt is 404; HSTS can be turned off; a set Expires is served as set', async () => {
  const app = Fastify();
  app.setErrorHandler((err: Error, request, reply) => sendProblem(request, reply, toAppError(err).error));
  registerSecurityHeaders(app, { httpStrictTransportSecurity: 'off' });
  registerSecurityTxt(app, { securityContact: [], securityTxtExpires: '' });
  const missing = await app.inject({ method: 'GET', url: '/.well-known/security.txt', headers: named });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().code, 'NOT_FOUND');
  assert.equal(missing.headers['strict-transport-security'], undefined);
  assert.equal(missing.headers['x-content-type-options'], 'nosniff');
  await app.close();

  const set = Fastify();
  registerSecurityTxt(set, {
    securityContact: ['tel:+1-201-555-0123'],
    securityTxtExpires: '2031-01-01T00:00:00Z',
  });
  const r = await set.inject({ method: 'GET', url: '/.well-known/security.txt' });
  assert.equal(
    r.body,
    'Contact: tel:+1-201-555-0123\nExpires: 2031-01-01T00:00:00Z\nPreferred-Languages: en\n',
  );
  await set.close();
});
