/**
 * The security headers of every HTTPS answer: API results, problem answers, the OpenAPI document,
 * health, security.txt and the console's files alike (the console sets its stricter policy and its
 * own caching first; what a route set is kept).
 *
 * - `X-Content-Type-Options: nosniff`: a browser never guesses another type than the one declared.
 * - `Referrer-Policy: no-referrer`: no address of this origin leaks to another.
 * - `Content-Security-Policy: default-src 'none'; frame-ancestors 'none'` and `X-Frame-Options: DENY`
 *   (for browsers that predate `frame-ancestors`): an answer loads nothing and is framed nowhere.
 * - `Cache-Control: no-store` unless the route chose its caching: answers carry tenant data, tokens
 *   and secrets shown once, which no browser or shared cache should keep.
 * - `Strict-Transport-Security` as configured (`MOORING_HTTP_STRICT_TRANSPORT_SECURITY`, one year by
 *   default, `off` for none): every listener of the platform is HTTPS, so a browser that has reached it
 *   once refuses a downgraded plain-HTTP address of the same name (docs/threat-model.md). Not when
 *   the request names `localhost` or an IP address: browsers ignore it for addresses (RFC 6797 §8.1),
 *   and for `localhost` it would force HTTPS onto every other development server on the machine
 *   (HSTS holds for a host name, whatever the port).
 */
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../../config.js';

export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/** Whether the request names a host that HSTS is pointless or harmful for (see above). */
function isLocalOrAddress(request: FastifyRequest): boolean {
  const host = request.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return host === 'localhost' || host.endsWith('.localhost') || isIP(host) !== 0;
}

export function registerSecurityHeaders(
  app: FastifyInstance,
  settings: Pick<Config, 'httpStrictTransportSecurity'>,
): void {
  const always: [string, string][] = [
    ['x-content-type-options', 'nosniff'],
    ['referrer-policy', 'no-referrer'],
    ['x-frame-options', 'DENY'],
  ];
  const hsts = settings.httpStrictTransportSecurity;
  app.addHook('onSend', async (request, reply, payload) => {
    for (const [name, value] of always) reply.header(name, value);
    if (hsts !== 'off' && !isLocalOrAddress(request)) reply.header('strict-transport-security', hsts);
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', API_CSP);
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });
}
