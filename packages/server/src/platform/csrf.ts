/**
 * CSRF tokens for cookie sessions (the web console). A browser sends the session cookie with every
 * request to the origin, whichever page caused it; a change made with the cookie must also carry this
 * token, which only a page of the origin can have read (from the login answer or `GET /v1/auth/me`).
 * The token is an HMAC of the session id under a key derived from the platform secret key: nothing to
 * store, the same on every node, ending with its session, and worthless without the key although
 * session ids are listed (`GET /v1/auth/sessions`).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface CsrfTokens {
  /** The CSRF token of a session. */
  tokenFor(sessionId: string): string;
  /** Whether `given` is the CSRF token of the session (constant time). */
  matches(sessionId: string, given: string | undefined): boolean;
}

export function createCsrfTokens(secretKey: Buffer): CsrfTokens {
  const key = createHmac('sha256', secretKey).update('mooring csrf token v1').digest();
  const tokenFor = (sessionId: string) => createHmac('sha256', key).update(sessionId).digest('base64url');
  return {
    tokenFor,
    matches(sessionId, given) {
      if (typeof given !== 'string') return false;
      const want = Buffer.from(tokenFor(sessionId));
      const got = Buffer.from(given);
      return got.length === want.length && timingSafeEqual(got, want);
    },
  };
}
