/** The audit trail: query, export as JSON lines, and verify the hash chain. */
import type { FastifyRequest } from 'fastify';
import type { AuditQuerySchema } from '@mooring/protocol';
import { parseTime, platformCaller, tenantCaller, type RoutePlugin } from '../context.js';
import { api } from '../openapi.js';
import type { AuditQuery } from '../../../domains/audit/audit.js';

type Q = typeof AuditQuerySchema.static;

function toQuery(q: Q): AuditQuery {
  return {
    ...(q.action ? { action: q.action } : {}),
    ...(q.actor ? { actor: q.actor } : {}),
    ...(q.target ? { target: q.target } : {}),
    ...(q.deviceId ? { deviceId: q.deviceId } : {}),
    ...(q.from ? { from: parseTime(q.from, 0, 'from') } : {}),
    ...(q.to ? { to: parseTime(q.to, 0, 'to') } : {}),
    ...(q.order ? { order: q.order } : {}),
    ...(q.cursor ? { cursor: q.cursor } : {}),
    ...(q.limit ? { limit: q.limit } : {}),
  };
}

export const auditRoutes: RoutePlugin = (app, { services }) => {
  const tags = ['audit'];
  const chains = [
    {
      prefix: '/v1/audit',
      config: { auth: 'tenant' as const },
      names: { list: 'listAudit', export: 'exportAudit', verify: 'verifyAudit' } as const,
      list: (r: FastifyRequest, q: AuditQuery) => services.audit.list(tenantCaller(r), q),
      verify: (r: FastifyRequest) => services.audit.verify(tenantCaller(r)),
      who: "the tenant's",
    },
    {
      prefix: '/v1/platform/audit',
      config: { auth: 'platform-admin' as const },
      names: {
        list: 'listPlatformAudit',
        export: 'exportPlatformAudit',
        verify: 'verifyPlatformAudit',
      } as const,
      list: (r: FastifyRequest, q: AuditQuery) => services.audit.listPlatform(platformCaller(r), q),
      verify: (r: FastifyRequest) => services.audit.verifyPlatform(platformCaller(r)),
      who: 'the platform',
    },
  ];
  for (const c of chains) {
    app.get<{ Querystring: Q }>(
      c.prefix,
      {
        config: c.config,
        schema: {
          ...api(c.names.list, c.config.auth),
          tags,
          summary: `Query ${c.who} audit records, oldest first (or newest first)`,
        },
      },
      async (request) => c.list(request, toQuery(request.query)),
    );
    app.get<{ Querystring: Q }>(
      `${c.prefix}/export`,
      {
        config: c.config,
        schema: {
          ...api(c.names.export, c.config.auth),
          tags,
          summary: `Export ${c.who} audit records as JSON lines`,
        },
      },
      async (request, reply) => {
        const lines: string[] = [];
        let cursor: string | undefined = request.query.cursor;
        for (;;) {
          const page = await c.list(request, {
            ...toQuery(request.query),
            limit: 500,
            ...(cursor ? { cursor } : {}),
          });
          for (const r of page.items) lines.push(JSON.stringify(r));
          if (!page.nextCursor) break;
          cursor = page.nextCursor;
        }
        return reply.type('application/x-ndjson').send(lines.join('\n') + (lines.length ? '\n' : ''));
      },
    );
    app.get(
      `${c.prefix}/verify`,
      {
        config: c.config,
        schema: {
          ...api(c.names.verify, c.config.auth),
          tags,
          summary: `Verify ${c.who} audit hash chain`,
        },
      },
      async (request) => c.verify(request),
    );
  }
};
