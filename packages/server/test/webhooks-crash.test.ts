/**
 * SIGKILL of Mooring in the middle of webhook deliveries loses nothing: deliveries in flight (their
 * requests held open by the receiver) and those still waiting are all delivered after a restart, at
 * most once more than needed for those that were in flight.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrapAdminToken, eventually, startServerProcess } from './harness.js';
import { startReceiver, verifyStandardWebhook } from './webhook-receiver.js';

const EVENTS = 20;

test('SIGKILL mid-delivery: every event arrives after the restart', { timeout: 120_000 }, async () => {
  const receiver = await startReceiver();
  const dataDir = mkdtempSync(join(tmpdir(), 'mooring-webhook-crash-'));
  const env = { MOORING_OUTBOUND_ALLOW_LIST: '127.0.0.1/32', MOORING_WEBHOOK_RETRY_SCALE: '0.001' };
  let server = await startServerProcess(dataDir, env);
  try {
    const token = await bootstrapAdminToken(
      (path, body, t) => server.call('POST', path, { body, ...(t ? { token: t } : {}) }),
      dataDir,
    );
    const tenant = await server.call('POST', '/v1/tenants', { token, body: { name: 'webhook-crash' } });
    const apiKey = (
      await server.call('POST', `/v1/tenants/${tenant.body.id}/api-keys`, { token, body: { name: 'k' } })
    ).body.secret as string;
    const device = (await server.call('POST', '/v1/devices', { token: apiKey, body: { name: 'd' } })).body.id;
    const created = await server.call('POST', '/v1/webhooks', {
      token: apiKey,
      body: { name: 'crash', url: receiver.url, eventTypes: ['config.desired.changed'], caPem: receiver.ca },
    });
    assert.equal(created.status, 201, created.text);
    const { id } = created.body.webhook;
    const secret = created.body.secret as string;
    await eventually(
      async () =>
        (await server.call('GET', `/v1/webhooks/${id}`, { token: apiKey })).body.status === 'active',
      10_000,
      'verified',
    );

    // The receiver takes requests and never answers: the deliveries in flight die with the server.
    receiver.stall = true;
    for (let i = 0; i < EVENTS; i++) {
      const r = await server.call('PATCH', `/v1/devices/${device}/config/desired`, {
        token: apiKey,
        body: { n: i },
      });
      assert.equal(r.status, 200, r.text);
    }
    await eventually(() => receiver.events().length >= 4, 10_000, 'deliveries in flight').catch((e) => {
      throw new Error(`${e.message}: ${receiver.received.length} requests; ${server.output().slice(-3000)}`);
    });
    const inFlight = receiver.events().length;
    server.child.kill('SIGKILL');
    await new Promise((r) => server.child.once('exit', r));

    receiver.stall = false;
    server = await startServerProcess(dataDir, env);
    const versions = await eventually(
      () => {
        const seen = new Set(
          receiver
            .events()
            .filter((e) => e.json.type === 'config.desired.changed')
            .map((e) => (e.json.data as { version: number }).version),
        );
        return seen.size === EVENTS && seen;
      },
      30_000,
      'every event after the restart',
    ).catch((e: Error) => {
      const seen = receiver.events().map((x) => (x.json.data as { version?: number } | undefined)?.version);
      throw new Error(
        `${e.message}: ${receiver.events().length} requests, versions ${JSON.stringify(seen)}; ${server.output().slice(-4000)}`,
      );
    });
    assert.deepEqual(
      [...versions].sort((a, b) => a - b),
      Array.from({ length: EVENTS }, (_, i) => i + 1),
    );
    const total = receiver.events().length;
    assert.ok(total <= EVENTS + inFlight, `${total} requests: at most the ${inFlight} in flight twice`);
    for (const e of receiver.events()) verifyStandardWebhook(secret, e.headers, e.body);
  } finally {
    server.child.kill('SIGKILL');
    await receiver.close();
  }
});
