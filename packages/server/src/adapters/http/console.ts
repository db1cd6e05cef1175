/**
 * The web console (`packages/console`): the static files Vite built, served at `/console` on the API's
 * HTTPS port. The console talks to the REST API only; this serves its files and nothing else.
 *
 * The build is read once, at start, into memory (it is small, and changes only with a new build, seen
 * at the next start). Only the names it holds are served: no path a client sends reaches any other
 * file, whatever `..`, encoding or separator it holds. A path that names no built file gets
 * `index.html` when it is a route of the single page (`/console/approvals`: plain segments), and
 * `404 NOT_FOUND` as problem+json otherwise (a missing asset is an error, not a page).
 *
 * Every answer carries a strict Content-Security-Policy (scripts and styles from the console's own
 * files only, no inline code, no other origin to connect to, no framing), `nosniff` and no referrer.
 * Hashed assets are cached for a year; `index.html` is revalidated every time, so a new build is
 * picked up at once.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../errors.js';
import { sendProblem } from './problem.js';

export const CONSOLE_PATH = '/console';

export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  // For browsers that predate `frame-ancestors`.
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = /^(text\/|application\/json|image\/svg)/;

/** Vite names what it builds under `assets/` by content hash: such a name never changes content. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

interface ConsoleFile {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
  cacheControl: string;
  etag: string;
}

/** A console build as loaded at start: its files by path under `/console/`, or why there are none. */
export type ConsoleBuild =
  | { built: true; dir: string; files: ReadonlyMap<string, ConsoleFile> }
  | { built: false; dir: string | undefined };

/** Where the `@mooring/console` package keeps its build, when the package is installed. */
export function defaultConsoleDir(): string | undefined {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('@mooring/console/package.json')), 'dist');
  } catch {
    return undefined;
  }
}

function walk(dir: string, prefix: string, out: [string, string][]): void {
  for (const name of readdirSync(dir)) {
    // Dot files (the build stamp) are the build's bookkeeping, not the console's.
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, `${prefix}${name}/`, out);
    else out.push([`${prefix}${name}`, path]);
  }
}

/** Reads the console build in `dir` (no `index.html` there: not built). */
export function loadConsole(dir: string | undefined): ConsoleBuild {
  if (!dir || !existsSync(join(dir, 'index.html'))) return { built: false, dir };
  const files = new Map<string, ConsoleFile>();
  const found: [string, string][] = [];
  walk(dir, '', found);
  for (const [name, path] of found) {
    const body = readFileSync(path);
    const type = TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
    const zipped = COMPRESSIBLE.test(type) ? gzipSync(body, { level: 9 }) : undefined;
    files.set(name, {
      body,
      gzip: zipped && zipped.length < body.length ? zipped : undefined,
      type,
      cacheControl: name.startsWith('assets/') ? IMMUTABLE : REVALIDATE,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    });
  }
  return { built: true, dir, files };
}

/** Whether the client takes gzip (`Accept-Encoding`, a `q=0` refusing it). */
function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)).find(Boolean);
    return !q || Number(q[1]) > 0;
  });
}

/**
 * A route of the single page (`approvals`, `devices/dev_1`): plain segments only. Anything else that
 * names no built file (a dot, `..`, a backslash, an empty segment, `assets/`) is a file that is not
 * there.
 */
const isPageRoute = (path: string) => !path.startsWith('assets/') && /^[\w-]+(?:\/[\w-]+)*\/?$/.test(path);

export function registerConsole(app: FastifyInstance, build: ConsoleBuild): void {
  const secure = (reply: FastifyReply) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
    return reply;
  };

  function serve(request: FastifyRequest<{ Params: { '*'?: string } }>, reply: FastifyReply) {
    secure(reply);
    if (!build.built)
      return sendProblem(
        request,
        reply,
        new AppError(
          'CONSOLE_NOT_BUILT',
          `there is no console build${build.dir ? ` in ${build.dir}` : ''}: run npm run build, then restart`,
        ),
      );
    const path = request.params['*'] ?? '';
    let file = path === '' ? build.files.get('index.html') : build.files.get(path);
    if (!file) {
      if (!isPageRoute(path))
        return sendProblem(request, reply, new AppError('NOT_FOUND', 'the console has no such file'));
      file = build.files.get('index.html')!;
    }
    reply.header('content-type', file.type);
    reply.header('cache-control', file.cacheControl);
    reply.header('etag', file.etag);
    reply.header('vary', 'accept-encoding');
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
    if (file.gzip && acceptsGzip(request.headers['accept-encoding'])) {
      reply.header('content-encoding', 'gzip');
      return reply.send(file.gzip);
    }
    return reply.send(file.body);
  }

  const options = { config: { auth: 'none' as const }, schema: { hide: true } };
  app.get(CONSOLE_PATH, options, serve);
  app.get(`${CONSOLE_PATH}/*`, options, serve);
}
