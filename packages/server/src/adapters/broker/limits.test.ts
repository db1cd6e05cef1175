/**
 * The broker's MQTT limits over real sockets on loopback, with stub services (no store): CONNECTs per
 * listener are refused before any credential lookup; the tenant's count of open connections comes back
 * to 0 whichever way a connection ends, a takeover needs no second place, and a refusal after the place
 * was taken gives it back; a SUBSCRIBE past the cap closes the connection without SUBACK, its reason
 * recorded first; a packet too large is kept as a limit event once the device is known.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { createLocalNotifier } from '../../platform/notifier.js';
import { createLogger, createMetrics } from '../../platform/observability.js';
import type { LimitName } from '../../platform/limits/catalogue.js';
import type { LimitDecision, Limiter } from '../../platform/limits/limits.js';
import { createMemoryLimiter } from '../../platform/limits/memory.js';
import type { LimitEventSubject } from '../../domains/limits/event-log.js';
import { Errors } from '../../errors.js';
import type { DeviceIdentity } from '../../platform/caller.js';
import { createBroker, type Broker, type Transport } from './broker.js';

const TENANT_CAP = 'mqtt.connections_per_tenant';
const GOOD = 'good-key';

interface Rig {
  broker: Broker;
  port(transport?: Transport): number;
  limiter: Limiter;
  authCalls: number;
  events: { who: LimitEventSubject; d: LimitDecision }[];
  disconnects: { deviceId: string; reason: string }[];
  /** While set, each tenant place taken waits for it before the CONNECT goes on. */
  gate?: Promise<void> | undefined;
}

const rigs: { broker: Broker; servers: Server[] }[] = [];
after(async () => {
  for (const r of rigs) {
    for (const s of r.servers) s.close();
    await r.broker.close();
  }
});

/** Device ids are `<tenant>.<name>`; the key `good-key` is right for every one. */
async function rig(values: Partial<Record<LimitName, number>>, maxPacketBytes?: number): Promise<Rig> {
  const inner = createMemoryLimiter((limit, ctx) => {
    const v = values[limit];
    // Values given here apply to tenant `ten_a` (and to limits counted before any tenant is known).
    if (v !== undefined && (ctx.tenantId === undefined || ctx.tenantId === 'ten_a')) return v;
    return 1000;
  });
  const r: Rig = {
    limiter: inner,
    authCalls: 0,
    events: [],
    disconnects: [],
    broker: undefined as never,
    port: () => 0,
  };
  const limiter: Limiter = {
    ...inner,
    async acquire(limit, subject, options) {
      const hold = await inner.acquire(limit, subject, options);
      if (r.gate) await r.gate;
      return hold;
    },
  };
  const broker = await createBroker({
    async authenticateDevice(secret, claimed) {
      r.authCalls++;
      if (secret !== GOOD) throw Errors.unauthenticated();
      return {
        tenantId: claimed.split('.')[0]!,
        deviceId: claimed,
        credential: 'access-key',
        credentialId: `key_${claimed}`,
      };
    },
    authenticateCertificate: () => Promise.reject(new Error('no certificates here')),
    provisioning: {} as never,
    telemetry: {} as never,
    fleet: {} as never,
    // Nothing is waiting for any device.
    commands: { openForDevice: async () => [] } as never,
    ota: { messagesFor: async () => [] } as never,
    config: { pushFor: async () => undefined } as never,
    presence: {
      connected: async () => undefined,
      async disconnected(device: DeviceIdentity, _session: string, reason: string) {
        r.disconnects.push({ deviceId: device.deviceId, reason });
      },
    } as never,
    bus: createLocalNotifier(),
    metrics: createMetrics(),
    logger: createLogger(process.env.DBG ? 'debug' : 'silent'),
    limiter,
    limitEvents: { exceeded: (who, d) => (r.events.push({ who, d }), true) },
    ...(maxPacketBytes !== undefined ? { maxPacketBytes } : {}),
  });
  const servers = new Map<Transport, Server>();
  for (const transport of ['mqtts', 'wss'] as const) {
    const server = createServer((socket) =>
      broker.handle(socket, { transport, remoteAddress: socket.remoteAddress ?? null }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.set(transport, server);
  }
  rigs.push({ broker, servers: [...servers.values()] });
  r.broker = broker;
  r.port = (transport = 'mqtts') => (servers.get(transport)!.address() as AddressInfo).port;
  return r;
}

interface RawClient {
  socket: Socket;
  /** The CONNACK return code, or null when the connection closed without one. */
  connack: Promise<number | null>;
  closed: Promise<void>;
  packets: mqttPacket.Packet[];
}

function connect(
  r: Rig,
  deviceId: string,
  opts: { password?: string; transport?: Transport; clean?: boolean } = {},
): RawClient {
  const socket = netConnect({ host: '127.0.0.1', port: r.port(opts.transport) });
  socket.on('error', () => {});
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const packets: mqttPacket.Packet[] = [];
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const connack = new Promise<number | null>((resolve) => {
    parser.on('packet', (p) => {
      packets.push(p);
      if (p.cmd === 'connack') resolve(p.returnCode ?? -1);
    });
    void closed.then(() => resolve(null));
  });
  socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  socket.write(
    mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: deviceId,
      username: deviceId,
      password: Buffer.from(opts.password ?? GOOD),
      clean: opts.clean ?? true,
      keepalive: 60,
    }),
  );
  return { socket, connack, closed, packets };
}

async function connected(r: Rig, deviceId: string): Promise<RawClient> {
  const c = connect(r, deviceId);
  assert.equal(await c.connack, 0, `${deviceId} connects`);
  return c;
}

/** Places the tenant holds now, read through the limiter's own interface. */
async function held(r: Rig, tenantId: string): Promise<number> {
  const probe = await r.limiter.acquire(TENANT_CAP, { key: tenantId, tenantId });
  probe.release();
  return probe.decision.observed - 1;
}

async function eventually(check: () => Promise<boolean> | boolean, what: string) {
  const end = Date.now() + 3000;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

test('CONNECTs over the listener rate get CONNACK 3 before any credential lookup; each listener counts its own', async () => {
  const r = await rig({ 'mqtt.connects_per_listener': 3 });
  const clients = Array.from({ length: 5 }, (_, i) => connect(r, `ten_a.l${i}`));
  const codes = await Promise.all(clients.map((c) => c.connack));
  assert.deepEqual(
    codes.toSorted((a, b) => a! - b!),
    [0, 0, 0, 3, 3],
  );
  assert.equal(r.authCalls, 3, 'no credential was looked up for the refused ones');
  // The address's other listener has a count of its own.
  const other = connect(r, 'ten_a.l5', { transport: 'wss' });
  assert.equal(await other.connack, 0);
  // No tenant is known yet: nothing is kept as a limit event.
  assert.deepEqual(r.events, []);
  for (const c of [...clients, other]) c.socket.destroy();
});

test('the tenant count comes back to 0 after every kind of close, and the cap holds in between', async () => {
  const r = await rig({ [TENANT_CAP]: 2 });
  // Two fit, the third is refused with CONNACK 3 and kept as a limit event of the tenant.
  const a = await connected(r, 'ten_a.d1');
  const b = await connected(r, 'ten_a.d2');
  const third = connect(r, 'ten_a.d3');
  assert.equal(await third.connack, 3);
  assert.equal(r.events.length, 1);
  assert.deepEqual(r.events[0]!.who, { tenantId: 'ten_a', subject: 'tenant:ten_a' });
  assert.deepEqual(
    { limit: r.events[0]!.d.limit, configured: r.events[0]!.d.configured, observed: r.events[0]!.d.observed },
    { limit: TENANT_CAP, configured: 2, observed: 3 },
  );
  // Another tenant is not held back.
  const other = await Promise.all([
    connected(r, 'ten_b.x1'),
    connected(r, 'ten_b.x2'),
    connected(r, 'ten_b.x3'),
  ]);

  // A takeover at the cap: the device's own new connection fits, and the old one closes.
  const a2 = await connected(r, 'ten_a.d1');
  await a.closed;
  assert.equal(await held(r, 'ten_a'), 2);
  assert.equal(await connect(r, 'ten_a.d3').connack, 3, 'still at the cap after the takeover');

  // A clean DISCONNECT and an abrupt close.
  a2.socket.end(mqttPacket.generate({ cmd: 'disconnect' }));
  b.socket.destroy();
  await eventually(async () => (await held(r, 'ten_a')) === 0, 'the count to come back to 0');

  // Refused by authentication: no place is taken.
  assert.equal(await connect(r, 'ten_a.d4', { password: 'wrong' }).connack, 4);
  assert.equal(await held(r, 'ten_a'), 0);

  // Gone after its place was taken and before it was registered: the place is given back.
  let open!: () => void;
  r.gate = new Promise<void>((resolve) => (open = resolve));
  const lost = connect(r, 'ten_a.d5');
  await eventually(async () => (await held(r, 'ten_a')) === 1, 'the place to be taken');
  lost.socket.destroy();
  await lost.closed;
  r.gate = undefined;
  open();
  assert.equal(await lost.connack, null);
  await eventually(async () => (await held(r, 'ten_a')) === 0, 'the place to be given back');

  // Exactly two again: nothing leaked either way.
  const again = [await connected(r, 'ten_a.d6'), await connected(r, 'ten_a.d7')];
  assert.equal(await connect(r, 'ten_a.d8').connack, 3);
  for (const c of [...again, ...other, third]) c.socket.destroy();
  await eventually(async () => (await held(r, 'ten_a')) === 0, 'the count to come back to 0');
  assert.equal(await held(r, 'ten_b'), 0);
});

function subscribe(c: RawClient, messageId: number, ...topics: string[]) {
  c.socket.write(
    mqttPacket.generate({
      cmd: 'subscribe',
      messageId,
      subscriptions: topics.map((topic) => ({ topic, qos: 1 as const })),
    }),
  );
}

/** Waits for the SUBACK or UNSUBACK of `messageId` (aedes handles pipelined packets in parallel). */
async function acked(c: RawClient, messageId: number) {
  await eventually(
    () => c.packets.some((p) => (p.cmd === 'suback' || p.cmd === 'unsuback') && p.messageId === messageId),
    `the answer to ${messageId}`,
  );
}

const subacks = (c: RawClient) =>
  c.packets.filter((p): p is mqttPacket.ISubackPacket => p.cmd === 'suback').map((p) => p.granted);

test('a SUBSCRIBE past the cap closes the connection without SUBACK, its reason recorded first', async () => {
  const r = await rig({ 'mqtt.subscriptions_per_connection': 3 });
  const id = 'ten_a.s1';
  const c = await connected(r, id);
  // Refused filters count as well: two allowed and one not.
  subscribe(c, 1, `d/${id}/commands/+`, `d/${id}/errors`);
  await acked(c, 1);
  subscribe(c, 2, 'd/+/telemetry');
  await acked(c, 2);
  // The same filter again, and one unsubscribed and replaced, stay within three.
  subscribe(c, 3, `d/${id}/errors`);
  await acked(c, 3);
  c.socket.write(
    mqttPacket.generate({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['d/+/telemetry'] }),
  );
  await acked(c, 4);
  subscribe(c, 5, `d/${id}/ota/+`);
  await acked(c, 5);
  assert.deepEqual(subacks(c), [[1, 1], [0x80], [1], [1]]);

  subscribe(c, 6, `d/${id}/config/desired`);
  await c.closed;
  assert.equal(subacks(c).length, 4, 'no SUBACK for the one past the cap');
  assert.equal(r.events.length, 1);
  assert.deepEqual(r.events[0]!.who, { tenantId: 'ten_a', subject: `device:${id}`, deviceId: id });
  assert.equal(r.events[0]!.d.limit, 'mqtt.subscriptions_per_connection');
  assert.equal(r.events[0]!.d.observed, 4);
  await eventually(() => r.disconnects.length > 0, 'the disconnect');
  assert.deepEqual(r.disconnects, [{ deviceId: id, reason: 'too_many_subscriptions' }]);

  // One SUBSCRIBE of many filters is cut at once; a device of another tenant keeps its own value.
  const many = await connected(r, 'ten_a.s2');
  subscribe(many, 1, ...Array.from({ length: 10 }, (_, i) => `x/${i}`));
  await many.closed;
  assert.deepEqual(subacks(many), []);
  const fine = await connected(r, 'ten_b.s3');
  subscribe(fine, 1, ...Array.from({ length: 10 }, (_, i) => `x/${i}`));
  await eventually(() => subacks(fine).length === 1, 'its SUBACK');
  fine.socket.destroy();
});

test('long filters count once each by their digest, and an UNSUBSCRIBE of one frees its place', async () => {
  const r = await rig({ 'mqtt.subscriptions_per_connection': 2 }, 256 * 1024);
  const c = await connected(r, 'ten_a.f1');
  const long = (ch: string) => `x/${ch.repeat(60_000)}`;
  subscribe(c, 1, long('a'));
  await acked(c, 1);
  subscribe(c, 2, long('a'));
  await acked(c, 2);
  subscribe(c, 3, long('b'));
  await acked(c, 3);
  c.socket.write(mqttPacket.generate({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: [long('a')] }));
  await acked(c, 4);
  subscribe(c, 5, long('c'));
  await acked(c, 5);
  assert.deepEqual(subacks(c), [[0x80], [0x80], [0x80], [0x80]]);
  subscribe(c, 6, long('d'));
  await c.closed;
  assert.equal(r.events.at(-1)!.d.observed, 3);
});

test('a packet too large is kept as a limit event of the device once it is known', async () => {
  const r = await rig({}, 1024);
  const id = 'ten_a.p1';
  const c = await connected(r, id);
  c.socket.write(
    mqttPacket.generate({
      cmd: 'publish',
      topic: `d/${id}/telemetry`,
      payload: Buffer.alloc(4096),
      qos: 0,
      retain: false,
      dup: false,
    }),
  );
  await c.closed;
  assert.equal(r.events.length, 1);
  assert.deepEqual(r.events[0]!.who, { tenantId: 'ten_a', subject: `device:${id}`, deviceId: id });
  assert.deepEqual(
    { limit: r.events[0]!.d.limit, configured: r.events[0]!.d.configured },
    { limit: 'mqtt.bytes_per_packet', configured: 1024 },
  );
  assert.ok(r.events[0]!.d.observed > 4096);
  // Before CONNECT nobody is known: counted in the metric only.
  const early = netConnect({ host: '127.0.0.1', port: r.port() });
  early.on('error', () => {});
  early.write(Buffer.from([0x10, 0xff, 0xff, 0x03]));
  await new Promise((resolve) => early.once('close', resolve));
  assert.equal(r.events.length, 1);
});
