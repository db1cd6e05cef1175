/**
 * REST request limits: every request counts against its source address before authentication
 * (`rest.requests_per_address`), so a flood is refused before it costs a credential lookup or a
 * password hash; an authenticated one also counts against its credential (`rest.requests_per_key`:
 * an API key, a login session, a device's credential), after authentication and before the body is
 * read. Over either, the answer is `429 RATE_LIMITED` naming the limit, with `Retry-After`.
 *
 * A refusal of an authenticated request is recorded as a limit event of its tenant (bounded, never
 * waited for: domains/limits/event-log.ts); one by address is not, having no tenant yet.
 *
 * Health, readiness and metrics are not counted (probes and scrapers must not be refused for the API's
 * traffic), and neither is MQTT over WebSocket, whose connections have limits of their own.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { principalName, type Principal } from '../../platform/caller.js';
import type { LimitEventLog } from '../../domains/limits/event-log.js';
import type { Limiter, LimitSubject } from '../../platform/limits/limits.js';
import { rateLimited } from '../../platform/limits/refusal.js';

const NOT_COUNTED = new Set(['/healthz', '/readyz', '/metrics', '/mqtt']);

/** The credential a principal authenticated with: its count's key, and the tenant for overrides. */
export function credentialSubject(p: Principal): LimitSubject {
  switch (p.kind) {
    case 'api-key':
      return { key: `api-key:${p.keyId}`, tenantId: p.tenantId };
    case 'device':
      return { key: `device:${p.deviceId}`, tenantId: p.tenantId, deviceId: p.deviceId };
    case 'user':
      return { key: p.sessionId ? `session:${p.sessionId}` : `user:${p.userId}`, tenantId: p.tenantId };
    case 'platform-admin':
      return { key: p.sessionId ? `session:${p.sessionId}` : `user:${p.userId}` };
  }
}

const counted = (request: FastifyRequest) => !NOT_COUNTED.has(request.routeOptions.url ?? '');

/**
 * Registered before the other hooks (wire rules, authentication), so that every request is counted
 * against its address first, a malformed one included.
 */
export function registerRequestLimits(
  app: FastifyInstance,
  limits: Limiter,
  events?: Pick<LimitEventLog, 'exceeded'>,
): void {
  app.addHook('onRequest', async (request) => {
    if (!counted(request)) return;
    const d = await limits.consume('rest.requests_per_address', { key: request.ip });
    if (!d.allowed) throw rateLimited(d, `from ${request.ip}`);
  });
  // preParsing runs after every onRequest hook (authentication included) and before the body is read.
  app.addHook('preParsing', async (request, _reply, payload) => {
    if (!request.principal || !counted(request)) return payload;
    const subject = credentialSubject(request.principal);
    const d = await limits.consume('rest.requests_per_key', subject);
    if (!d.allowed) {
      if (events && subject.tenantId !== undefined)
        events.exceeded(
          {
            tenantId: subject.tenantId,
            subject: principalName(request.principal),
            deviceId: subject.deviceId,
          },
          d,
        );
      throw rateLimited(d, 'with this credential');
    }
    return payload;
  });
}
