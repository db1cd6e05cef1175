/**
 * The OpenAPI document without a running platform: the routes registered on a bare app whose
 * services are never called. `scripts/lint-openapi.ts` lints it; `/openapi.json` serves the same.
 */
import Fastify from 'fastify';
import swagger from '@fastify/swagger';
import { OPENAPI_OPTIONS, registerOpenApi } from './openapi.js';
import { registerRoutes } from './routes/index.js';
import { healthRoutes } from './routes/health.js';
import type { RouteContext } from './context.js';

export async function buildOpenApiDocument(): Promise<unknown> {
  const app = Fastify({ logger: false });
  await app.register(swagger, OPENAPI_OPTIONS);
  registerOpenApi(app);
  // Routes read their services only when a request comes; none does here.
  const unused: object = new Proxy(
    {},
    {
      get: (_t, key) => (key === 'then' ? undefined : unused),
    },
  );
  const ctx = { services: unused, db: unused, metrics: unused, isReady: () => false };
  healthRoutes(app, ctx as unknown as RouteContext & { isReady(): boolean });
  registerRoutes(app, ctx as unknown as RouteContext);
  await app.ready();
  const doc = app.swagger();
  await app.close();
  return doc;
}
