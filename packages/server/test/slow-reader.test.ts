/**
 * A device that stops reading its socket must not be able to grow the server without bound or end the
 * process. Found by an attack: ~40 commands of ~15 KB each, a client that never reads and sends 200
 * SUBSCRIBEs to its command topic (each used to push every open command again), then closes: the
 * server grew by hundreds of MB and died with "Maximum call stack size exceeded" on the close.
 *
 * These run against a server process, so that a crash shows as an exit, and then check that it still
 * serves: HTTPS answers and another device can connect, publish and receive its commands.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import {
  bootstrapAdminToken,
  connectMqtt,
  eventually,
  startServerProcess,
  type ServerProcess,
} from './harness.js';

interface Setup {
  server: ServerProcess;
  dataDir: string;
  apiKey: string;
  device(name: string): Promise<{ id: string; key: string }>;
  stop(): Promise<void>;
}

async function setup(): Promise<Setup> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mooring-slow-'));
  // A client that reads nothing is cut off after 5 s here (30 s by default): the same rule, sooner.
  // Thousands of commands are queued with one key, to two devices, in seconds: more than the REST
  // limit per key and the command limit per device allow.
  const server = await startServerProcess(dataDir, {
    MOORING_MQTT_DRAIN_TIMEOUT_SECONDS: '5',
    MOORING_LIMIT_REST_REQUESTS_PER_KEY: '1000000',
    MOORING_LIMIT_COMMANDS_CREATED_PER_DEVICE: '1000000',
  });
  const token = await bootstrapAdminToken(
    (path, body, bearer) => server.call('POST', path, { body, ...(bearer ? { token: bearer } : {}) }),
    dataDir,
  );
  const tenant = await server.call('POST', '/v1/tenants', { token, body: { name: 'slow' } });
  const apiKey = (
    await server.call('POST', `/v1/tenants/${tenant.body.id}/api-keys`, { token, body: { name: 'k' } })
  ).body.secret as string;
  return {
    server,
    dataDir,
    apiKey,
    async device(name) {
      const d = await server.call('POST', '/v1/devices', { token: apiKey, body: { name } });
      const k = await server.call('POST', `/v1/devices/${d.body.id}/access-keys`, { token: apiKey });
      return { id: d.body.id, key: k.body.secret };
    },
    async stop() {
      server.child.kill('SIGTERM');
      await new Promise((r) => server.child.once('exit', r));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function createCommands(s: Setup, deviceId: string, count: number, paramBytes: number) {
  const blob = 'x'.repeat(paramBytes);
  let next = 0;
  // A few requests in flight at a time: thousands of commands in seconds, not minutes.
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const r = await s.server.call('POST', `/v1/devices/${deviceId}/commands`, {
        token: s.apiKey,
        body: { name: 'load', params: { i, blob }, ttlSeconds: 900 },
      });
      assert.equal(r.status, 201, r.text);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/** Resident memory of the server process, from /proc. */
function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/**
 * A raw MQTT client over TLS that sends CONNECT, waits for CONNACK, and then never reads again: the
 * TLS socket is paused, so the kernel's receive buffer fills and the server's writes back up.
 */
async function neverReadingClient(port: number, ca: string, deviceId: string, key: string) {
  const socket: TLSSocket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const connack = new Promise<number>((resolve) =>
    parser.on('packet', (p) => {
      if (p.cmd === 'connack') resolve(p.returnCode ?? -1);
    }),
  );
  socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  socket.write(
    mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: deviceId,
      username: deviceId,
      password: Buffer.from(key),
      clean: true,
      keepalive: 0,
    }),
  );
  assert.equal(await connack, 0, 'CONNACK accepted');
  socket.removeAllListeners('data');
  socket.pause();
  return {
    socket,
    subscribe(times: number) {
      for (let i = 0; i < times; i++) {
        socket.write(
          mqttPacket.generate({
            cmd: 'subscribe',
            messageId: (i % 65_000) + 1,
            subscriptions: [{ topic: `d/${deviceId}/commands/+`, qos: 1 }],
          }),
        );
      }
    },
  };
}

/** The server still serves: HTTPS answers, a new device connects, publishes and gets a command. */
async function assertStillServing(s: Setup) {
  assert.equal(s.server.child.exitCode, null, `the server exited:\n${s.server.output().slice(-2000)}`);
  assert.equal((await s.server.call('GET', '/healthz')).status, 200);
  const probe = await s.device(`probe-${Date.now()}`);
  const client = await connectMqtt(s.server.mqttPort, s.server.ca, {
    clientId: probe.id,
    username: probe.id,
    password: probe.key,
  });
  try {
    await new Promise<void>((resolve, reject) =>
      client.subscribe(`d/${probe.id}/commands/+`, { qos: 1 }, (err) => (err ? reject(err) : resolve())),
    );
    const got = new Promise<string>((resolve) => client.once('message', (topic) => resolve(topic)));
    await createCommands(s, probe.id, 1, 10);
    assert.match(await got, new RegExp(`^d/${probe.id}/commands/`));
    await new Promise<void>((resolve, reject) =>
      client.publish(`d/${probe.id}/telemetry`, '{"values":{"t":1}}', { qos: 1 }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  } finally {
    client.end(true);
  }
}

test(
  'a client that never reads and re-subscribes 200 times neither grows the server nor ends it',
  {
    timeout: 120_000,
  },
  async () => {
    const s = await setup();
    try {
      const victim = await s.device('never-reads');
      await createCommands(s, victim.id, 40, 15_000);
      const before = rssBytes(s.server.child.pid!);
      const client = await neverReadingClient(s.server.mqttPort, s.server.ca, victim.id, victim.key);
      client.subscribe(200);
      // Give the server time to push (and, before the fix, to push each command 200 times).
      await new Promise((r) => setTimeout(r, 3_000));
      const grown = rssBytes(s.server.child.pid!) - before;
      assert.ok(grown < 64 * 1024 * 1024, `the server grew by ${Math.round(grown / 1048576)} MB`);
      client.socket.destroy();
      await new Promise((r) => setTimeout(r, 1_000));
      await assertStillServing(s);
    } finally {
      await s.stop();
    }
  },
);

test(
  '2,000 queued commands: a reader gets them all, a client that never reads is cut off',
  {
    timeout: 300_000,
  },
  async () => {
    const s = await setup();
    try {
      const reader = await s.device('reads');
      const stuck = await s.device('stuck');
      // 2,000 small ones for the reader (twice what may wait written toward one connection); 1,000
      // of 15 KB (15 MB, more than the kernel's socket buffers take of a connection whose reader
      // never reads) for the client that never reads.
      await createCommands(s, reader.id, 2_000, 1_000);
      await createCommands(s, stuck.id, 1_000, 15_000);

      const before = rssBytes(s.server.child.pid!);
      const slow = await neverReadingClient(s.server.mqttPort, s.server.ca, stuck.id, stuck.key);
      slow.subscribe(20);

      const client = await connectMqtt(s.server.mqttPort, s.server.ca, {
        clientId: reader.id,
        username: reader.id,
        password: reader.key,
      });
      const seen = new Set<string>();
      client.on('message', (topic) => seen.add(topic));
      await new Promise<void>((resolve, reject) =>
        client.subscribe(`d/${reader.id}/commands/+`, { qos: 1 }, (err) => (err ? reject(err) : resolve())),
      );
      await eventually(() => seen.size === 2_000, 60_000, `2,000 commands (got ${seen.size})`);
      client.end(true);

      const grown = rssBytes(s.server.child.pid!) - before;
      assert.ok(grown < 96 * 1024 * 1024, `the server grew by ${Math.round(grown / 1048576)} MB`);
      // The client that never reads is disconnected once it has read nothing for the drain timeout.
      const presence = await eventually(
        async () => {
          const d = await s.server.call('GET', `/v1/devices/${stuck.id}`, { token: s.apiKey });
          return d.body.presence.connected === false && d.body.presence;
        },
        60_000,
        'the never-reading client to be disconnected',
      );
      assert.equal(presence.lastDisconnectReason, 'slow_consumer');
      slow.socket.destroy();
      await assertStillServing(s);
    } finally {
      await s.stop();
    }
  },
);
