/**
 * Guarded outbound HTTP against real local receivers: the SSRF vectors are refused before any
 * connection, a redirect is returned and not followed, an allow-listed HTTPS receiver with its own CA
 * answers, a wrong CA fails TLS, a slow server hits the deadline and a large answer is cut.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { authority, leaf, type Authority } from '../../../test/test-pki.js';
import { createOutboundPool, guardedRequest, type GuardedRequestOptions } from './http.js';
import type { Resolver } from './guarded-lookup.js';

const LOOPBACK = ['127.0.0.1/32'];
const toLoopback: Resolver = async () => [{ address: '127.0.0.1', family: 4 }];

const createCa = (name: string) => authority(`CN=${name}`);
const createLeaf = (ca: Authority) =>
  leaf(ca, 'CN=receiver.test', 'server', [
    { type: 'dns', value: 'receiver.test' },
    { type: 'ip', value: '127.0.0.1' },
  ]);

const listen = (server: Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
const close = (server: Server) => {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
};

/** Asserts the call fails with the code, and returns the error for further checks. */
async function failsWith(code: string, url: string, options: GuardedRequestOptions = {}) {
  let caught: (Error & { code?: string }) | undefined;
  await assert.rejects(guardedRequest(url, options), (e: Error & { code?: string }) => {
    caught = e;
    return true;
  });
  assert.equal(caught?.code, code, `${url}: ${caught?.message}`);
  return caught!;
}

describe('guarded outbound HTTP', () => {
  let http: Server;
  let httpPort: number;
  let https: Server;
  let httpsPort: number;
  let ca: Awaited<ReturnType<typeof createCa>>;
  let otherCa: Awaited<ReturnType<typeof createCa>>;
  const hits: string[] = [];
  let tlsConnections = 0;
  let lastSocket: Socket | undefined;

  before(async () => {
    http = createHttpServer((req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/redirect') {
        res.writeHead(302, { location: `http://127.0.0.1:${httpPort}/internal` }).end();
      } else if (req.url === '/large') {
        res.end('x'.repeat(100_000));
      } else if (req.url === '/drip') {
        // Headers at once, then a byte every 100 ms, for ever.
        res.writeHead(200, { 'content-type': 'text/plain' });
        const timer = setInterval(() => res.write('.'), 100);
        res.on('close', () => clearInterval(timer));
      } else if (req.url === '/silent') {
        // Never answers.
      } else {
        let body = '';
        req.on('data', (chunk: Buffer) => (body += chunk.toString()));
        req.on('end', () => res.end(`${req.method} ${body}`));
      }
    });
    httpPort = await listen(http);
    ca = await createCa('Receiver CA');
    otherCa = await createCa('Other CA');
    https = createHttpsServer(await createLeaf(ca), (req, res) => {
      if (req.url === '/large' || req.url === '/silent') lastSocket = req.socket;
      if (req.url === '/large') res.end('y'.repeat(100_000));
      else if (req.url === '/silent') return;
      else res.end(`secure ${req.method}`);
    });
    https.on('secureConnection', () => tlsConnections++);
    httpsPort = await listen(https);
  });
  after(async () => {
    await close(http);
    await close(https);
  });

  test('the SSRF vectors are refused before any connection', async () => {
    const before = hits.length;
    const vectors = [
      `http://127.0.0.1:${httpPort}/`,
      `http://[::1]:${httpPort}/`,
      'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.1/',
      'http://192.168.1.1/',
      'http://[fd00::1]/',
      `http://2130706433:${httpPort}/`,
      `http://[::ffff:127.0.0.1]:${httpPort}/`,
      `http://[::ffff:7f00:1]:${httpPort}/`,
      'http://0.0.0.0/',
      'http://100.64.0.1/',
      'http://172.16.0.1/',
      'http://[fe80::1]/',
    ];
    for (const url of vectors) {
      const error = await failsWith('OUTBOUND_ADDRESS_REFUSED', url, { allowHttp: true });
      assert.match(error.message, /^refused: /);
    }
    // Without the allow-list even the test receiver is refused, under https too.
    await failsWith('OUTBOUND_ADDRESS_REFUSED', `https://127.0.0.1:${httpsPort}/`, { ca: ca.pem });
    assert.equal(hits.length, before, 'a refused target was contacted');
  });

  test('a name resolving to loopback is refused, naming host and address', async () => {
    const before = hits.length;
    const error = await failsWith('OUTBOUND_ADDRESS_REFUSED', `http://evil.example:${httpPort}/`, {
      allowHttp: true,
      resolve: toLoopback,
    });
    assert.match(error.message, /evil\.example resolves to 127\.0\.0\.1/);
    assert.equal(hits.length, before);
  });

  test('a redirect to loopback is returned, not followed', async () => {
    const before = hits.length;
    const response = await guardedRequest(`http://127.0.0.1:${httpPort}/redirect`, {
      allowHttp: true,
      allowList: LOOPBACK,
    });
    assert.equal(response.status, 302);
    assert.equal(response.headers.location, `http://127.0.0.1:${httpPort}/internal`);
    assert.deepEqual(hits.slice(before), ['/redirect'], 'the redirect was followed');
  });

  test('plain http is refused unless allowed', async () => {
    await failsWith('OUTBOUND_URL_REFUSED', `http://127.0.0.1:${httpPort}/`, { allowList: LOOPBACK });
    await failsWith('OUTBOUND_URL_REFUSED', `https://user:pw@127.0.0.1:${httpsPort}/`, {
      allowList: LOOPBACK,
    });
  });

  test('an allow-listed HTTPS receiver with its own CA answers, by address and by name', async () => {
    const response = await guardedRequest(`https://127.0.0.1:${httpsPort}/hook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
      ca: ca.pem,
      allowList: LOOPBACK,
    });
    assert.equal(response.status, 200);
    assert.equal(response.bodyExcerpt, 'secure POST');
    assert.equal(response.truncated, false);
    assert.ok(response.latencyMs >= 0 && response.latencyMs < 5000);
    const byName = await guardedRequest(`https://receiver.test:${httpsPort}/hook`, {
      method: 'GET',
      ca: ca.pem,
      allowList: LOOPBACK,
      resolve: toLoopback,
    });
    assert.equal(byName.bodyExcerpt, 'secure GET');
  });

  test('a wrong CA, or none, fails with the TLS code', async () => {
    const url = `https://receiver.test:${httpsPort}/`;
    const options = { allowList: LOOPBACK, resolve: toLoopback };
    await failsWith('OUTBOUND_TLS_FAILED', url, { ...options, ca: otherCa.pem });
    await failsWith('OUTBOUND_TLS_FAILED', url, options);
    // The right CA but a name the certificate does not carry.
    await failsWith('OUTBOUND_TLS_FAILED', `https://elsewhere.test:${httpsPort}/`, {
      ...options,
      ca: ca.pem,
    });
  });

  test('a slow server hits the overall deadline, headers or body', async () => {
    for (const path of ['/drip', '/silent']) {
      const started = Date.now();
      const error = await failsWith('OUTBOUND_TIMEOUT', `http://127.0.0.1:${httpPort}${path}`, {
        allowHttp: true,
        allowList: LOOPBACK,
        timeoutMs: 400,
      });
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 350 && elapsed < 2000, `${path} took ${elapsed} ms`);
      assert.match(error.message, /did not answer within 400 ms/);
    }
  });

  test('a response larger than the excerpt is cut', async () => {
    const response = await guardedRequest(`http://127.0.0.1:${httpPort}/large`, {
      allowHttp: true,
      allowList: LOOPBACK,
    });
    assert.equal(response.status, 200);
    assert.equal(response.bodyExcerpt, 'x'.repeat(4096));
    assert.equal(response.truncated, true);
    const small = await guardedRequest(`http://127.0.0.1:${httpPort}/large`, {
      allowHttp: true,
      allowList: LOOPBACK,
      maxResponseBytes: 10,
    });
    assert.equal(small.bodyExcerpt, 'x'.repeat(10));
  });

  test('a refused connection or an unknown name fails with the connection code', async () => {
    const closed = createHttpServer();
    const port = await listen(closed);
    await close(closed);
    await failsWith('OUTBOUND_CONNECTION_FAILED', `http://127.0.0.1:${port}/`, {
      allowHttp: true,
      allowList: LOOPBACK,
    });
    await failsWith('OUTBOUND_CONNECTION_FAILED', 'https://nx.example/', { resolve: async () => [] });
  });

  test('a pool keeps one connection per target for the next request, never across a changed CA', async () => {
    const pool = createOutboundPool();
    try {
      const url = `https://receiver.test:${httpsPort}/hook`;
      const options = { ca: ca.pem, allowList: LOOPBACK, resolve: toLoopback };
      const before = tlsConnections;
      for (let i = 0; i < 20; i++)
        assert.equal((await pool.request(url, options)).bodyExcerpt, 'secure POST');
      // undici may open a second connection while the first is being handed back: not one per request.
      assert.ok(tlsConnections - before <= 2, `${tlsConnections - before} handshakes for 20 requests`);
      assert.equal(pool.connectionsMade, tlsConnections - before);
      // Another CA is another pool entry: it is checked on a connection of its own, and fails.
      await assert.rejects(pool.request(url, { ...options, ca: otherCa.pem }), {
        code: 'OUTBOUND_TLS_FAILED',
      });
      // The pool checks every target as guardedRequest does.
      await assert.rejects(pool.request(url, { ca: ca.pem, resolve: toLoopback }), {
        code: 'OUTBOUND_ADDRESS_REFUSED',
      });
      assert.equal((await pool.request(url, options)).bodyExcerpt, 'secure POST');
    } finally {
      await pool.close();
    }
  });

  test('a pooled connection whose answer was cut, or timed out, is not reused', async () => {
    const pool = createOutboundPool();
    try {
      const options = { ca: ca.pem, allowList: LOOPBACK, resolve: toLoopback };
      const base = `https://receiver.test:${httpsPort}`;
      /** The server sees the connection of the last /large or /silent request closed. */
      const closedSoon = async (what: string) => {
        const socket = lastSocket!;
        if (socket.destroyed) return;
        await Promise.race([
          new Promise((resolve) => socket.once('close', resolve)),
          new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: still open`)), 2000)),
        ]);
      };
      const cut = await pool.request(`${base}/large`, options);
      assert.equal(cut.truncated, true);
      await closedSoon('the cut answer');
      assert.equal((await pool.request(`${base}/`, options)).bodyExcerpt, 'secure POST');
      await assert.rejects(pool.request(`${base}/silent`, { ...options, timeoutMs: 300 }), {
        code: 'OUTBOUND_TIMEOUT',
      });
      await closedSoon('the timed-out request');
      assert.equal((await pool.request(`${base}/`, options)).bodyExcerpt, 'secure POST');
    } finally {
      await pool.close();
    }
  });
});
