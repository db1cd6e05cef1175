/**
 * Durability under a crash: a server process is killed with SIGKILL in the middle of QoS 1 ingest from
 * several devices. After a restart on the same data directory, every message that had been PUBACKed
 * is in the store (messages committed but not yet acknowledged may be there too: at least once).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from './postgres.js';
import {
  bootstrapAdminToken,
  connectMqtt,
  startServerProcess,
  type HttpResponse,
  type ServerProcess,
} from './harness.js';

const DEVICES = 4;
const WINDOW = 20; // QoS 1 messages in flight per device
const KILL_AFTER_ACKS = 3_000;

async function bootstrap(server: ServerProcess, dataDir: string) {
  const token = await bootstrapAdminToken(
    (path, body, t) => server.call('POST', path, { body, ...(t ? { token: t } : {}) }),
    dataDir,
  );
  const tenant = await server.call('POST', '/v1/tenants', { token, body: { name: 'crash' } });
  const apiKey = (
    await server.call('POST', `/v1/tenants/${tenant.body.id}/api-keys`, { token, body: { name: 'k' } })
  ).body.secret as string;
  const devices: { id: string; key: string }[] = [];
  for (let i = 0; i < DEVICES; i++) {
    const d = await server.call('POST', '/v1/devices', { token: apiKey, body: { name: `crash-${i}` } });
    const k = await server.call('POST', `/v1/devices/${d.body.id}/access-keys`, { token: apiKey });
    devices.push({ id: d.body.id, key: k.body.secret });
  }
  return { apiKey, devices };
}

async function storedSeqs(server: ServerProcess, apiKey: string, deviceId: string): Promise<Set<number>> {
  const seen = new Set<number>();
  let cursor: string | null = '';
  while (cursor !== null) {
    const r: HttpResponse = await server.call(
      'GET',
      `/v1/devices/${deviceId}/telemetry?key=seq&from=0&limit=500${cursor ? `&cursor=${cursor}` : ''}`,
      { token: apiKey },
    );
    assert.equal(r.status, 200, r.text);
    for (const p of r.body.items) seen.add(p.value);
    cursor = r.body.nextCursor;
  }
  return seen;
}

/**
 * Both stores. On PGlite the check is that a commit is on disk when it returns (its WAL survives the
 * kill). On PostgreSQL, whose commits are asynchronous network round trips, a PUBACK sent before its
 * batch commits would show up as a loss: the test fails if the acknowledgement is moved ahead of the
 * write. Small batches keep a queue of uncommitted messages behind the writer to widen that window.
 */
for (const store of ['pglite', 'postgres'] as const) {
  test(`every PUBACKed message survives SIGKILL of the server (${store})`, { timeout: 120_000 }, async () => {
    await crashAndCheck(store);
  });
}

async function crashAndCheck(store: 'pglite' | 'postgres') {
  const dataDir = mkdtempSync(join(tmpdir(), 'mooring-crash-'));
  const env: Record<string, string> = { MOORING_TELEMETRY_BATCH_MAX_ROWS: '5' };
  let dropDatabase = async () => undefined as void;
  if (store === 'postgres') {
    const created = await createTestDatabase();
    env.MOORING_DATABASE_URL = created.url;
    dropDatabase = created.drop;
  }
  let server = await startServerProcess(dataDir, env);
  try {
    const { apiKey, devices } = await bootstrap(server, dataDir);
    const acked = devices.map(() => new Set<number>());
    let totalAcked = 0;
    let killed = false;
    const killedAt = new Promise<void>((resolve) => {
      const clients = devices.map(async (d, i) => {
        const client = await connectMqtt(server.mqttPort, server.ca, {
          clientId: d.id,
          username: d.id,
          password: d.key,
        });
        client.on('error', () => undefined);
        let seq = 0;
        // Keep WINDOW publishes in flight until the connection dies with the server.
        const lane = async () => {
          while (!killed) {
            const n = seq++;
            try {
              await client.publishAsync(`d/${d.id}/telemetry`, JSON.stringify({ values: { seq: n } }), {
                qos: 1,
              });
            } catch {
              return;
            }
            // Every PUBACK that arrived was sent by the server, even one that raced the kill: count it.
            acked[i]!.add(n);
            if (++totalAcked === KILL_AFTER_ACKS) {
              killed = true;
              server.child.kill('SIGKILL');
              resolve();
            }
          }
        };
        await Promise.all(Array.from({ length: WINDOW }, lane));
        client.end(true);
      });
      void Promise.all(clients);
    });
    await killedAt;
    await new Promise((r) => server.child.once('exit', r));
    assert.equal(server.child.signalCode, 'SIGKILL');

    server = await startServerProcess(dataDir, env);
    let missing = 0;
    let stored = 0;
    for (let i = 0; i < devices.length; i++) {
      const seqs = await storedSeqs(server, apiKey, devices[i]!.id);
      stored += seqs.size;
      for (const n of acked[i]!) if (!seqs.has(n)) missing++;
    }
    const ackedCount = acked.reduce((s, a) => s + a.size, 0);
    assert.ok(ackedCount >= KILL_AFTER_ACKS - 1, `acked ${ackedCount}`);
    assert.equal(missing, 0, `${missing} of ${ackedCount} acknowledged messages were lost`);
    assert.ok(stored >= ackedCount);
    // Presence: the devices' sessions died with the process and are not shown as online after restart.
    const d = await server.call('GET', `/v1/devices/${devices[0]!.id}`, { token: apiKey });
    assert.equal(d.body.presence.connected, false);
    assert.equal(d.body.presence.lastDisconnectReason, 'server_restart');
  } finally {
    server.child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    await dropDatabase();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
