/**
 * The MQTT bridge end to end: Mooring forwards a tenant's events to a mosquitto broker of the test's
 * own, on a free port. Events are spooled at about 100 per second over three topics, through the
 * domain's `BridgeSpool.enqueue` in a transaction of their own (what the event fan-out calls).
 * Mid-stream the broker stops; during its outage Mooring is restarted; then the broker starts again
 * on the same port. Twice: a real `mooring serve` process on PostgreSQL, restarted as a new process
 * (the events spooled over the test's own connection to the same database), and the platform on the
 * embedded store in this process, stopped and started again on its data directory. A subscriber
 * with a persistent session must receive every event, in order per topic; repeats are allowed only of
 * messages that were in flight when a connection ended (at-least-once delivery).
 *
 * mosquitto keeps its state in a temporary directory (`persistence true`) so that the subscriber's
 * session and its queued messages outlive the broker restart: without it the subscription would
 * vanish with the broker and whatever Mooring delivers before the subscriber resubscribes would have
 * no receiver, which would test the subscriber, not the bridge. Its per-client queue is unbounded
 * (`max_queued_messages 0`) for the same reason: the backlog the bridge delivers after the outage may
 * exceed mosquitto's default of 1000, which it would drop after acknowledging them.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import type { PlatformEvent } from '@mooring/protocol';
import { openPostgres } from '../src/store/postgres.js';
import { startPlatform, type Platform } from '../src/app.js';
import {
  bootstrapAdminToken,
  httpsCall,
  startServerProcess,
  startTestPlatform,
  testConfig,
  type ServerProcess,
} from './harness.js';
import { ALLOW, freePort, spoolOver, startMosquitto, stopProcess, until } from './mosquitto.js';
import { createTestDatabase } from './postgres.js';

const TOPICS = 3;

/** A plain-MQTT broker on `port` that keeps its sessions in `dir` across restarts. */
function startBroker(dir: string, port: number): Promise<ChildProcess> {
  return startMosquitto(
    dir,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${dir}/`,
      'log_dest none',
      // The subscriber's queue must hold the whole backlog of the outage: by default mosquitto keeps
      // 1000 messages per client and drops the rest, after acknowledging them to the bridge.
      'max_queued_messages 0',
    ],
    [port],
  );
}

/** A Mooring to bridge from: its API, a way to spool an event as the fan-out does, and a restart. */
interface Mooring {
  call: ServerProcess['call'];
  /** Spools one event in a transaction of its own; resolves to the number of bridges it went to. */
  enqueue(event: PlatformEvent): Promise<number>;
  restart(): Promise<void>;
  output(): string;
  close(): Promise<void>;
}

/** `mooring serve` processes on PostgreSQL; events spooled over a connection of the test's own. */
async function processOnPostgres(dataDir: string): Promise<Mooring> {
  const database = await createTestDatabase();
  const env = { ...ALLOW, MOORING_DATABASE_URL: database.url };
  let server = await startServerProcess(dataDir, env);
  const producerDb = await openPostgres({ url: database.url, maxConnections: 2 });
  const spool = spoolOver(producerDb);
  return {
    call: (...a) => server.call(...a),
    enqueue: (event) => spool.enqueue(event, []),
    async restart() {
      await stopProcess(server.child);
      server = await startServerProcess(dataDir, env);
    },
    output: () => server.output(),
    async close() {
      await stopProcess(server.child).catch(() => undefined);
      await producerDb.close();
      await database.drop();
    },
  };
}

/** The platform in this process on the embedded store, stopped and started again on its data directory. */
async function inProcessOnPglite(dataDir: string): Promise<Mooring> {
  const start = () => startPlatform(testConfig(dataDir, ALLOW));
  let platform: Platform | undefined = await start();
  let ready: Promise<Platform> = Promise.resolve(platform);
  let pending: Promise<unknown> = Promise.resolve();
  return {
    call: async (...a) => {
      const p = await ready;
      return httpsCall(p.httpPort, p.caCert, ...a);
    },
    // While it restarts no event is produced: events come from the platform itself.
    enqueue(event) {
      const p = ready.then((platform) => spoolOver(platform.db).enqueue(event, []));
      pending = p.catch(() => undefined);
      return p;
    },
    async restart() {
      const stopping = platform!;
      let started!: (p: Platform) => void;
      ready = new Promise((r) => (started = r));
      platform = undefined;
      await pending;
      await stopping.stop();
      platform = await start();
      started(platform);
    },
    output: () => '',
    async close() {
      await platform?.stop();
    },
  };
}

async function scenario(t: TestContext, open: (dataDir: string) => Promise<Mooring>) {
  const work = mkdtempSync(join(tmpdir(), 'mooring-bridge-'));
  const dataDir = join(work, 'data');
  const brokerDir = join(work, 'broker');
  mkdirSync(dataDir, { mode: 0o700 });
  // mosquitto started as root runs as its own user, which must be able to reach and write its state
  // here (mkdtemp makes the parent owner-only).
  chmodSync(work, 0o711);
  mkdirSync(brokerDir, { mode: 0o777 });
  chmodSync(brokerDir, 0o777);
  const port = await freePort();
  let broker = await startBroker(brokerDir, port);
  const mooring = await open(dataDir);
  const subscriber = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    clientId: `bridge-test-${randomBytes(3).toString('hex')}`,
    clean: false,
    reconnectPeriod: 250,
  });
  let producing = true;
  const log: string[] = [];
  const t0 = Date.now();
  subscriber.on('connect', (p) => log.push(`sub connect +${Date.now() - t0} present=${p.sessionPresent}`));
  subscriber.on('close', () => log.push(`sub close +${Date.now() - t0}`));
  try {
    const token = await bootstrapAdminToken(
      (path, body, t) => mooring.call('POST', path, { body, ...(t ? { token: t } : {}) }),
      dataDir,
    );
    const tenant = await mooring.call('POST', '/v1/tenants', { token, body: { name: 'bridge' } });
    const tenantId = tenant.body.id as string;
    const apiKey = (
      await mooring.call('POST', `/v1/tenants/${tenantId}/api-keys`, { token, body: { name: 'k' } })
    ).body.secret as string;

    // A refused address is a 400 naming the field, at create time.
    const refused = await mooring.call('POST', '/v1/bridges', {
      token: apiKey,
      body: { name: 'x', url: 'mqtt://10.1.2.3', topicTemplate: 't/{type}', eventTypes: ['device.event'] },
    });
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.body.errors[0].path, '/url');

    const created = await mooring.call('POST', '/v1/bridges', {
      token: apiKey,
      body: {
        name: 'customer broker',
        url: `mqtt://127.0.0.1:${port}`,
        topicTemplate: 'mooring/{tenantId}/{deviceId}/{type}',
        eventTypes: ['device.event'],
        qos: 1,
      },
    });
    assert.equal(created.status, 201, created.text);
    const bridgeId = created.body.id as string;
    const status = async () =>
      (await mooring.call('GET', `/v1/bridges/${bridgeId}`, { token: apiKey })).body.status;
    await until(async () => assert.equal((await status()).connected, true), 20_000);

    // The subscriber's persistent session, subscribed before anything is sent.
    const received: { topic: string; id: string; seq: number }[] = [];
    subscriber.on('message', (topic, payload) => {
      const e = JSON.parse(payload.toString()) as PlatformEvent<{ seq: number }>;
      received.push({ topic, id: e.id, seq: e.data.seq });
    });
    await new Promise<void>((resolve, reject) => {
      const go = () => subscriber.subscribe('mooring/#', { qos: 1 }, (e) => (e ? reject(e) : resolve()));
      if (subscriber.connected) go();
      else subscriber.once('connect', go);
    });

    // The producer: ~100 events a second through the spool, each in its own transaction.
    const sent: number[] = Array(TOPICS).fill(0);
    let n = 0;
    const producer = (async () => {
      const start = Date.now();
      while (producing) {
        const device = n % TOPICS;
        const event: PlatformEvent = {
          id: `evt_${String(n + 1).padStart(8, '0')}`,
          type: 'device.event',
          tenantId,
          deviceId: `dev_${device}`,
          occurredAt: Date.now(),
          data: { seq: sent[device]! + 1 },
        };
        assert.equal(await mooring.enqueue(event), 1);
        n++;
        sent[device]!++;
        await sleep(Math.max(0, start + n * 10 - Date.now()));
      }
    })();

    await sleep(2_000);
    log.push(`broker stop +${Date.now() - t0} n=${n}`);
    await stopProcess(broker); // the outage starts
    assert.ok(existsSync(join(brokerDir, 'mosquitto.db')), 'mosquitto saved its state (the sessions)');
    await sleep(1_000);
    await mooring.restart(); // Mooring restarts during it
    await sleep(2_000);
    assert.equal((await status()).connected, false);
    log.push(`broker start +${Date.now() - t0} n=${n}`);
    broker = await startBroker(brokerDir, port); // the outage ends
    log.push(`broker up +${Date.now() - t0} n=${n}`);
    await sleep(2_000);
    producing = false;
    await producer;
    const total = n;
    assert.ok(total >= 200, `only ${total} events were produced`);

    await until(() => assert.equal(new Set(received.map((r) => r.id)).size, total), 90_000, 500).catch(
      async (e: unknown) => {
        const tail = mooring.output().split('\n').slice(-20).join('\n');
        const got = new Set(received.map((r) => r.id));
        const missing: number[] = [];
        for (let i = 1; i <= total; i++) if (!got.has(`evt_${String(i).padStart(8, '0')}`)) missing.push(i);
        const missed = `missing ${missing.length}: ${missing.slice(0, 5).join(',')} … ${missing.slice(-5).join(',')}`;
        throw new Error(
          `${String(e)}\n${missed}; ${log.join(' ')}\nstatus: ${JSON.stringify(await status())}\n${tail}`,
        );
      },
    );
    // In order per topic: the first arrival of each event, per topic, is 1, 2, 3, …, with no gap.
    const firsts = new Map<string, number[]>();
    const seen = new Set<string>();
    for (const r of received) {
      if (seen.has(r.id)) continue;
      seen.add(r.id);
      firsts.set(r.topic, [...(firsts.get(r.topic) ?? []), r.seq]);
    }
    assert.equal(firsts.size, TOPICS);
    for (const [topic, seqs] of firsts)
      assert.deepEqual(
        seqs,
        Array.from({ length: seqs.length }, (_v, i) => i + 1),
        `order on ${topic}`,
      );
    const repeats = received.length - seen.size;
    // At most what was in flight at each of the two connection ends (the window is 64).
    assert.ok(repeats <= 2 * 64, `${repeats} repeats`);
    t.diagnostic(`${total} events over ${TOPICS} topics, ${repeats} delivered twice`);

    await until(async () => {
      const s = await status();
      assert.equal(s.spoolRows, 0);
      assert.equal(s.dropped, 0);
      assert.ok(s.forwarded >= total, `forwarded ${s.forwarded} of ${total}`);
      assert.equal(s.connected, true);
    }, 10_000);
  } finally {
    producing = false;
    subscriber.end(true);
    await mooring.close().catch(() => undefined);
    await stopProcess(broker).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

test(
  'every bridged event arrives in order per topic across a broker outage and a restart of the mooring serve process (PostgreSQL)',
  { timeout: 240_000 },
  (t) => scenario(t, processOnPostgres),
);

test(
  'the same on the embedded store, the platform stopped and started again in this process (PGlite)',
  { timeout: 240_000 },
  (t) => scenario(t, inProcessOnPglite),
);

test(
  'events the platform makes reach the bridge through the fan-out: a device connects, reports and sends telemetry',
  { timeout: 120_000 },
  async () => {
    const work = mkdtempSync(join(tmpdir(), 'mooring-bridge-fanout-'));
    chmodSync(work, 0o711);
    const port = await freePort();
    const broker = await startBroker(work, port);
    const t = await startTestPlatform(ALLOW);
    const subscriber = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
    try {
      const received: PlatformEvent[] = [];
      subscriber.on('message', (_topic, payload) => received.push(JSON.parse(payload.toString())));
      await new Promise<void>((resolve, reject) =>
        subscriber.once('connect', () =>
          subscriber.subscribe('fleet/#', { qos: 1 }, (e) => (e ? reject(e) : resolve())),
        ),
      );
      const { apiKey } = await t.tenant();
      const d = await t.device(apiKey, { name: 'bridged', tags: ['north'] });
      const created = await t.call('POST', '/v1/bridges', {
        token: apiKey,
        body: {
          name: 'fleet',
          url: `mqtt://127.0.0.1:${port}`,
          topicTemplate: 'fleet/{deviceId}/{type}',
          eventTypes: ['device.connected', 'device.event', 'telemetry.batch'],
          deviceTags: ['north'],
        },
      });
      assert.equal(created.status, 201, created.text);
      const client = await t.connectDevice(d.deviceId, d.accessKey);
      await client.publishAsync(`d/${d.deviceId}/telemetry`, JSON.stringify({ values: { t: 21.5 } }), {
        qos: 1,
      });
      await client.publishAsync(
        `d/${d.deviceId}/events`,
        JSON.stringify({ type: 'door', message: 'opened' }),
        {
          qos: 1,
        },
      );
      await until(() => {
        const types = new Set(received.map((e) => e.type));
        for (const type of ['device.connected', 'device.event', 'telemetry.batch'])
          assert.ok(types.has(type as PlatformEvent['type']), `${type} in ${[...types].join(', ')}`);
      }, 30_000);
      assert.ok(received.every((e) => e.deviceId === d.deviceId && e.id.startsWith('evt_')));
      await client.endAsync();
    } finally {
      subscriber.end(true);
      await t.stop();
      await stopProcess(broker);
      rmSync(work, { recursive: true, force: true });
    }
  },
);
