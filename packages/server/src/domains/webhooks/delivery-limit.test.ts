/**
 * Webhook deliveries per tenant and minute (`webhooks.deliveries_per_tenant`): a tenant over its rate
 * has its next deliveries given back unsent (no attempt counted, due again when its window ends) and
 * its refusal recorded as a limit event, while another tenant's deliveries go out in the same run.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { PlatformEvent } from '@mooring/protocol';
import { openTestPglite } from '../../../test/pglite-template.js';
import type { Db } from '../../store/db.js';
import { migrate } from '../../store/migrate.js';
import { createSecretBox } from '../../platform/secret-box.js';
import { generateWebhookSecret } from '../../platform/outbound/webhook-signature.js';
import { createMemoryLimiter } from '../../platform/limits/memory.js';
import type { LimitDecision } from '../../platform/limits/limits.js';
import { createDeliveryWorker } from './delivery.js';
import { webhookStore, type EndpointRow } from './store.js';

const T0 = Date.now();
const box = createSecretBox(randomBytes(32));
let db: Db;

before(async () => {
  db = await openTestPglite();
  await migrate(db);
  for (const t of ['ten_a', 'ten_b'])
    await db.query('INSERT INTO tenants (id, name, created_at) VALUES ($1, $1, $2)', [t, T0]);
});
after(() => db.close());

function endpoint(tenantId: string): EndpointRow {
  return {
    id: `whk_${tenantId}`,
    tenant_id: tenantId,
    name: tenantId,
    url: `https://hooks.example.com/${tenantId}`,
    event_types: ['device.event'],
    device_tags: [],
    auth: { type: 'none' },
    ca_pem: null,
    secret: box.seal(generateWebhookSecret()),
    previous_secret: null,
    previous_until: null,
    status: 'active',
    status_reason: null,
    verify_due_at: null,
    verify_attempts: 0,
    verified_at: null,
    last_error: null,
    created_at: T0,
    updated_at: T0,
  };
}

test('a tenant over its delivery rate waits, unsent and with no attempt counted; another tenant is delivered', async () => {
  const store = webhookStore(db);
  for (const [tenant, n] of [
    ['ten_a', 5],
    ['ten_b', 2],
  ] as const) {
    const e = endpoint(tenant);
    await store.insertEndpoint(e);
    await db.query(`UPDATE webhook_endpoints SET status = 'active' WHERE id = $1`, [e.id]);
    for (let i = 0; i < n; i++) {
      const event: PlatformEvent = {
        id: `evt_${tenant}_${i}`,
        type: 'device.event',
        tenantId: tenant,
        deviceId: null,
        occurredAt: T0,
        data: { i },
      };
      await store.addDeliveries([e.id], event, [`whd_${tenant}_${i}`], T0 - 1000 + i);
    }
  }

  const sent: string[] = [];
  const events: { tenantId: string; decision: LimitDecision }[] = [];
  const worker = createDeliveryWorker({
    store,
    nodeId: 'node-test',
    box,
    allowList: [],
    logger: { warn: () => undefined },
    request: async (url) => {
      sent.push(url);
      return { status: 204, headers: {}, bodyExcerpt: '', truncated: false, latencyMs: 1 };
    },
    limits: createMemoryLimiter(() => 2),
    limitEvents: { exceeded: (who, decision) => (events.push({ tenantId: who.tenantId, decision }), true) },
  });
  try {
    const result = await worker.run();
    assert.equal(result.delivered, 4, 'two of each tenant');
    assert.equal(sent.filter((u) => u.endsWith('/ten_a')).length, 2);
    assert.equal(sent.filter((u) => u.endsWith('/ten_b')).length, 2);

    const waiting = await db.query<{ id: string; status: string; attempts: number; next_attempt_at: string }>(
      `SELECT id, status, attempts, next_attempt_at FROM webhook_deliveries
        WHERE tenant_id = 'ten_a' AND status = 'pending' ORDER BY id`,
    );
    assert.equal(waiting.length, 3, 'three of ten_a wait');
    for (const d of waiting)
      assert.equal(Number(d.attempts), 0, `${d.id}: a refused claim is not an attempt`);
    // The delivery the limit refused, and any claimed with it, are due again when the window ends.
    assert.ok(
      waiting.some(
        (d) => Number(d.next_attempt_at) > Date.now() && Number(d.next_attempt_at) <= Date.now() + 60_000,
      ),
      'due again when the window ends',
    );
    const attempts = await db.query('SELECT 1 FROM webhook_attempts WHERE delivery_id LIKE $1', [
      'whd_ten_a_%',
    ]);
    assert.equal(attempts.length, 2, 'only the sent ones are logged as attempts');

    assert.equal(events.length, 1, 'one refusal recorded, the rest of the batch waits with it');
    assert.equal(events[0]!.tenantId, 'ten_a');
    assert.equal(events[0]!.decision.limit, 'webhooks.deliveries_per_tenant');
    assert.equal(events[0]!.decision.configured, 2);
    assert.equal(events[0]!.decision.observed, 3);

    // A second run in the same window sends nothing of ten_a and asks the limiter nothing more of it.
    const again = await worker.run();
    assert.equal(again.attempted, 0);
    assert.equal(events.length, 1);
  } finally {
    await worker.close();
  }
});
