/**
 * The session cookie of the web console. A console login (`"session": "cookie"`) puts the session
 * token where the page's scripts cannot read it: HttpOnly, Secure, SameSite=Strict, and sent only to
 * the API (`Path=/v1`), never with the console's own files. The authentication hook takes it as a
 * session credential only when no Authorization header is sent, and then asks every change for the
 * session's CSRF token (`X-CSRF-Token`, `platform/csrf.ts`).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../errors.js';

export const SESSION_COOKIE = 'mooring_session';
export const CSRF_HEADER = 'x-csrf-token';
/** What a browser may send without a CSRF token: reads, which change nothing. */
export const SAFE_METHODS = new Set(['GET', 'HEAD']);

const ATTRIBUTES = 'Path=/v1; HttpOnly; Secure; SameSite=Strict';

/**
 * The session cookie the request carries, if any. Two of them (one set for a parent domain by a
 * sibling site, say) are refused rather than one picked: which one the browser sent first says
 * nothing about which is ours.
 */
export function sessionCookieOf(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    values.push(part.slice(eq + 1).trim());
  }
  if (values.length > 1)
    throw new AppError('INVALID_CREDENTIALS', `more than one ${SESSION_COOKIE} cookie was sent`);
  const value = values[0];
  return value === undefined || value === '' ? undefined : value;
}

/** Sets the session cookie, for as long as the session lives. */
export function setSessionCookie(reply: FastifyReply, token: string, expiresAt: number): void {
  const maxAge = Math.max(0, Math.floor((expiresAt - Date.now()) / 1000));
  reply.header('set-cookie', `${SESSION_COOKIE}=${token}; Max-Age=${maxAge}; ${ATTRIBUTES}`);
}

/** Tells the browser to drop the session cookie (its session is over). */
export function clearSessionCookie(reply: FastifyReply): void {
  reply.header('set-cookie', `${SESSION_COOKIE}=; Max-Age=0; ${ATTRIBUTES}`);
}
