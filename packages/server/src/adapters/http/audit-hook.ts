/**
 * One audit record per admin action: every state-changing request made with a person's or an API
 * key's credential (and every login attempt) is recorded once the response is sent — actor, tenant,
 * target, outcome, source address and the request's fields with secrets removed. Device data-plane
 * traffic (telemetry, provisioning by devices) is not an admin action and is not recorded here.
 */
import type { FastifyInstance } from 'fastify';
import { principalName } from '../../platform/caller.js';
import { SECRET_FIELDS, type AuditSink } from '../../domains/audit/audit.js';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const AUDITED_MODES = new Set(['tenant', 'platform-admin', 'session']);

/** The request's fields, secrets replaced, long values cut: a summary of what the action changed. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 3) return '…';
  if (Array.isArray(value))
    return value.length > 20 ? { items: value.length } : value.map((v) => redact(v, depth + 1));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [
        k,
        SECRET_FIELDS.test(k) ? '[redacted]' : redact(v, depth + 1),
      ]),
    );
  }
  if (typeof value === 'string' && value.length > 256) return `${value.slice(0, 64)}…`;
  return value;
}

export function registerAuditHook(app: FastifyInstance, record: AuditSink): void {
  app.addHook('onResponse', async (request, reply) => {
    const mode = request.routeOptions.config.auth;
    const url = request.routeOptions.url;
    if (!MUTATING.has(request.method) || !url || !mode || !AUDITED_MODES.has(mode)) return;
    // Requests refused before authentication (no credential) name no actor and no tenant: not recorded.
    // Logins, invitation acceptances and password resets are recorded by the users service.
    if (!request.principal) return;
    const p = request.principal;
    const params = (request.params ?? {}) as Record<string, string>;
    const tenantId = p && 'tenantId' in p ? p.tenantId : (params.tenantId ?? '');
    const body = redact(request.body ?? null) as Record<string, unknown> | null;
    const target = Object.values(params)[0] ?? null;
    record({
      tenantId,
      actor: principalName(request.principal),
      action: `${request.method} ${url}`,
      target,
      outcome: reply.statusCode < 400 ? 'success' : 'failure',
      source: request.ip,
      changes: { status: reply.statusCode, ...(body && typeof body === 'object' ? { request: body } : {}) },
    });
  });
}
