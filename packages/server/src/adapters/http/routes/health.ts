/** Liveness, readiness and metrics for orchestrators and Prometheus (no credential). */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../../errors.js';
import { sendProblem, STORE_RETRY_AFTER_MS, storeUnavailable } from '../problem.js';
import { api } from '../openapi.js';
import type { RouteContext } from '../context.js';

export function healthRoutes(
  app: FastifyInstance,
  ctx: Pick<RouteContext, 'db' | 'metrics'> & { isReady(): boolean },
): void {
  app.get(
    '/healthz',
    {
      config: { auth: 'none' },
      schema: { ...api('health', 'none'), tags: ['operations'], summary: 'Liveness' },
    },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      config: { auth: 'none' },
      schema: { ...api('ready', 'none'), tags: ['operations'], summary: 'Readiness' },
    },
    async (request, reply) => {
      if (!ctx.isReady())
        return sendProblem(
          request,
          reply,
          new AppError('NOT_READY', 'starting or shutting down', {
            details: { retryAfterMs: STORE_RETRY_AFTER_MS },
          }),
        );
      try {
        await ctx.db.query('SELECT 1');
      } catch {
        return sendProblem(request, reply, storeUnavailable());
      }
      return { status: 'ready' };
    },
  );
  app.get(
    '/metrics',
    {
      config: { auth: 'none' },
      schema: { ...api('getMetrics', 'none'), tags: ['operations'], summary: 'Prometheus metrics' },
    },
    async (_request, reply) => {
      reply.type(ctx.metrics.registry.contentType);
      return ctx.metrics.registry.metrics();
    },
  );
}
