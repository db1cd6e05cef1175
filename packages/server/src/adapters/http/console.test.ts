import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { AppError } from '../../errors.js';
import { CONSOLE_CSP, loadConsole, registerConsole } from './console.js';
import { sendProblem } from './problem.js';

let root: string;
let app: FastifyInstance;
let unbuilt: FastifyInstance;
const INDEX =
  '<!doctype html><title>Mooring</title><script type="module" src="/console/assets/index-Ab12.js"></script>';
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(2000))});`;

before(async () => {
  // The build sits in <root>/dist; a file beside it must never be reachable.
  root = mkdtempSync(join(tmpdir(), 'mooring-console-'));
  const dist = join(root, 'dist');
  mkdirSync(join(dist, 'assets'), { recursive: true });
  writeFileSync(join(dist, 'index.html'), INDEX);
  writeFileSync(join(dist, 'assets', 'index-Ab12.js'), SCRIPT);
  writeFileSync(join(dist, 'assets', 'index-Cd34.css'), 'body{color:#111}');
  writeFileSync(join(dist, '.built'), 'stamp');
  writeFileSync(join(root, 'secret.txt'), 'not for the web');
  app = Fastify();
  // As the server does: a path that leaves /console (the client's URL parser resolved its `..`) is
  // no route at all.
  app.setNotFoundHandler((request, reply) => sendProblem(request, reply, new AppError('NOT_FOUND')));
  registerConsole(app, loadConsole(dist));
  unbuilt = Fastify();
  registerConsole(unbuilt, loadConsole(join(root, 'nothing-here')));
});
after(async () => {
  await app.close();
  await unbuilt.close();
  rmSync(root, { recursive: true, force: true });
});

function assertSecured(headers: Record<string, unknown>) {
  assert.equal(headers['content-security-policy'], CONSOLE_CSP);
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['referrer-policy'], 'no-referrer');
}

test('the page and its assets, with their types, the security headers and caching', async () => {
  assert.equal(
    CONSOLE_CSP,
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  );
  for (const url of ['/console', '/console/', '/console/approvals', '/console/a/b?x=1']) {
    const r = await app.inject({ method: 'GET', url });
    assert.equal(r.statusCode, 200, url);
    assert.equal(r.body, INDEX, url);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(r.headers['cache-control'], 'no-cache');
    assertSecured(r.headers);
  }
  const js = await app.inject({ method: 'GET', url: '/console/assets/index-Ab12.js' });
  assert.equal(js.statusCode, 200);
  assert.equal(js.body, SCRIPT);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  assertSecured(js.headers);
  const css = await app.inject({ method: 'GET', url: '/console/assets/index-Cd34.css' });
  assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');

  // Compressed when the client takes it; revalidated by ETag; HEAD without a body.
  const zipped = await app.inject({
    method: 'GET',
    url: '/console/assets/index-Ab12.js',
    headers: { 'accept-encoding': 'br, gzip' },
  });
  assert.equal(zipped.headers['content-encoding'], 'gzip');
  assert.equal(gunzipSync(zipped.rawPayload).toString(), SCRIPT);
  const refused = await app.inject({
    method: 'GET',
    url: '/console/assets/index-Ab12.js',
    headers: { 'accept-encoding': 'gzip;q=0' },
  });
  assert.equal(refused.headers['content-encoding'], undefined);
  const page = await app.inject({ method: 'GET', url: '/console/' });
  assert.match(String(page.headers.etag), /^"[\w-]+"$/);
  const again = await app.inject({
    method: 'GET',
    url: '/console/',
    headers: { 'if-none-match': String(page.headers.etag) },
  });
  assert.equal(again.statusCode, 304);
  assert.equal(again.body, '');
  const head = await app.inject({ method: 'HEAD', url: '/console/' });
  assert.equal(head.statusCode, 200);
  assert.equal(head.body, '');
});

test('only the built files: a missing asset, the build stamp and anything outside are 404 problems', async () => {
  for (const url of [
    '/console/assets/nope-1234.js',
    '/console/favicon.ico',
    '/console/.built',
    '/console/../secret.txt',
    '/console/../../etc/passwd',
    '/console/..%2fsecret.txt',
    '/console/%2e%2e/secret.txt',
    '/console/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/console/assets/..%5c..%5csecret.txt',
    '/console//etc/passwd.txt',
  ]) {
    const r = await app.inject({ method: 'GET', url });
    assert.ok(r.statusCode === 404, `${url}: ${r.statusCode}`);
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/, url);
    assert.equal(r.json().code, 'NOT_FOUND', url);
    assert.doesNotMatch(r.body, /not for the web|root:/, url);
  }
});

test('a server without a console build answers a problem that says so', async () => {
  for (const url of ['/console', '/console/', '/console/assets/index-Ab12.js']) {
    const r = await unbuilt.inject({ method: 'GET', url });
    assert.equal(r.statusCode, 503, url);
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
    assert.equal(r.json().code, 'CONSOLE_NOT_BUILT');
    assert.match(r.json().detail, /npm run build/);
    assertSecured(r.headers);
  }
});
