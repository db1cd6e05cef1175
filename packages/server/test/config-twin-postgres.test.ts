/**
 * The configuration twin on PostgreSQL, where writes really run side by side: concurrent writers based
 * on one version get exactly one success, unconditional ones each get their own version with none lost,
 * and devices churning over MQTT end on the final document.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestPlatform, type TestPlatform } from './harness.js';
import { createTestDatabase } from './postgres.js';
import { runTwinChurn, seeded } from './twin-churn.js';

let t: TestPlatform;
let drop: () => Promise<void>;
before(async () => {
  const created = await createTestDatabase();
  drop = created.drop;
  // The churn test reconnects its devices 1,000 times on purpose, far above mqtt.connects_per_client_id.
  t = await startTestPlatform({
    MOORING_DATABASE_URL: created.url,
    MOORING_LIMIT_MQTT_CONNECTS_PER_CLIENT_ID: '100000',
    // Desired configuration changes every 50 ms among 10 devices: past 60 writes per device a minute.
    MOORING_LIMIT_CONFIG_WRITES_PER_DEVICE: '100000',
  });
});
after(async () => {
  await t.stop();
  await drop();
});

const patchDesired = (
  apiKey: string,
  deviceId: string,
  body: unknown,
  headers: Record<string, string> = {},
) => t.call('PATCH', `/v1/devices/${deviceId}/config/desired`, { token: apiKey, body, headers });

test('ten writers on one version: one succeeds, nine get CONFIG_VERSION_CONFLICT; twenty without If-Match lose nothing', async () => {
  const { apiKey } = await t.tenant();
  const d = await t.device(apiKey);
  const racing = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      patchDesired(apiKey, d.deviceId, { [`w${i}`]: i }, { 'if-match': '0' }),
    ),
  );
  const statuses = racing.map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, ...Array(9).fill(409)], JSON.stringify(racing.map((r) => r.body.code)));
  const all = await Promise.all(
    Array.from({ length: 20 }, (_, i) => patchDesired(apiKey, d.deviceId, { [`u${i}`]: i })),
  );
  assert.ok(all.every((r) => r.status === 200));
  const twin = await t.call('GET', `/v1/devices/${d.deviceId}/config`, { token: apiKey });
  assert.equal(twin.body.desired.version, 21);
  for (let i = 0; i < 20; i++) assert.equal(twin.body.desired.document[`u${i}`], i);
  const history = await t.call('GET', `/v1/devices/${d.deviceId}/config/history?side=desired&limit=100`, {
    token: apiKey,
  });
  assert.deepEqual(
    history.body.items.map((e: { version: number }) => e.version),
    Array.from({ length: 21 }, (_, i) => 21 - i),
  );
  // Each entry's before is the previous entry's after: no write saw a stale document.
  const items = [...history.body.items].reverse();
  for (let i = 1; i < items.length; i++) assert.deepEqual(items[i].before, items[i - 1].after);
});

test('churn on PostgreSQL: 300 reconnect cycles while desired changes every 50 ms', async (ctx) => {
  const { apiKey } = await t.tenant();
  const devices = [];
  for (let i = 0; i < 10; i++) devices.push(await t.device(apiKey));
  const result = await runTwinChurn({
    devices,
    cycles: 300,
    writeEveryMs: 50,
    random: seeded(11),
    connect: (d) => t.connectDevice(d.deviceId, d.accessKey, { clean: true, reconnectPeriod: 0 }),
    writeDesired: async (deviceId, patch) => {
      const r = await patchDesired(apiKey, deviceId, patch);
      assert.equal(r.status, 200, r.text);
      return r.body.desired.version as number;
    },
    readDesired: async (deviceId) => {
      const r = await t.call('GET', `/v1/devices/${deviceId}/config`, { token: apiKey });
      return { version: r.body.desired.version, document: r.body.desired.document };
    },
  });
  const ms = [...result.convergeMs].sort((a, b) => a - b);
  const pct = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))];
  ctx.diagnostic(
    `churn (PostgreSQL): ${result.cycles} cycles, ${result.writes} writes, ${result.messages} messages; ` +
      `catch-up after reconnect p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${ms.at(-1)} ms over ${ms.length}`,
  );
  assert.equal(result.cycles, 300);
  assert.deepEqual(result.staleDeltas, []);
  assert.deepEqual(result.diverged, []);
});
