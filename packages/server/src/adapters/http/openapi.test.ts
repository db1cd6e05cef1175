import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import swagger from '@fastify/swagger';
import { API_OPERATIONS } from '@mooring/protocol';
import { OPENAPI_OPTIONS, api, registerOpenApi } from './openapi.js';
import { buildOpenApiDocument } from './openapi-document.js';

async function appAnswering(body: unknown, check: boolean) {
  const before = process.env.MOORING_CHECK_RESPONSES;
  process.env.MOORING_CHECK_RESPONSES = check ? '1' : '0';
  const app = Fastify({ logger: false });
  await app.register(swagger, OPENAPI_OPTIONS);
  registerOpenApi(app);
  app.get('/healthz', { schema: api('health', 'none') }, async () => body);
  await app.ready();
  process.env.MOORING_CHECK_RESPONSES = before;
  return app;
}

test('an answer is sent as the service returned it: the schema documents it and never drops or coerces', async () => {
  const app = await appAnswering({ status: 'ok', extra: 1, n: '2' }, false);
  const res = await app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { status: 'ok', extra: 1, n: '2' });
  await app.close();
});

test('in checking mode an answer that does not match its schema fails the request', async () => {
  const good = await appAnswering({ status: 'ok' }, true);
  assert.equal((await good.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  await good.close();
  const bad = await appAnswering({ status: 'ok', undocumented: true }, true);
  assert.equal((await bad.inject({ method: 'GET', url: '/healthz' })).statusCode, 500);
  await bad.close();
});

test('a route registered away from its operation is refused at startup', async () => {
  const app = Fastify({ logger: false });
  registerOpenApi(app);
  assert.throws(
    () => app.get('/v1/elsewhere', { schema: api('getDevice', 'tenant') }, async () => ({})),
    /does not match operation getDevice/,
  );
  await app.close();
});

test('the document names every operation once, with its answers and problem answers', async () => {
  const doc = (await buildOpenApiDocument()) as {
    paths: Record<string, Record<string, { operationId?: string; responses: Record<string, unknown> }>>;
    servers: unknown[];
  };
  const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
  assert.deepEqual([...ids].sort(), Object.keys(API_OPERATIONS).sort());
  for (const ops of Object.values(doc.paths))
    for (const op of Object.values(ops)) {
      assert.ok(
        Object.keys(op.responses).some((s) => s.startsWith('2')),
        `${op.operationId}: no 2xx answer`,
      );
      assert.ok(op.responses['4XX'] && op.responses['5XX'], `${op.operationId}: no problem answers`);
    }
  assert.ok(doc.servers.length > 0);
});
