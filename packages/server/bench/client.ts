/**
 * A lean MQTT 3.1.1 client for the benchmark: mqtt-packet for parsing and the rare packets, a
 * pre-encoded template for the hot QoS 1 PUBLISH, and one socket write per connection per tick. The
 * `mqtt` package keeps a store, timers and callbacks per message, which on a 2-core machine makes the
 * load generator, not the server, the bottleneck.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { generate, parser, type IPublishPacket, type Packet } from 'mqtt-packet';

export type Transport = { kind: 'tls'; port: number; ca: string } | { kind: 'tcp'; port: number };

export interface ClientOptions {
  transport: Transport;
  clientId: string;
  username?: string;
  password?: string;
  /** Seconds; the client answers nothing itself, so the benchmark keeps it long. */
  keepalive?: number;
  connectTimeoutMs?: number;
  /** Packet ids cycle through 1..idSpace, so callers can index per-id state in a small array. */
  idSpace?: number;
}

const HOST = '127.0.0.1';

/** Bytes of an MQTT "remaining length" varint. */
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** A QoS 1 PUBLISH with the packet id left at zero; `idOffset` is where its two bytes go. */
export function publishTemplate(topic: string, payload: Buffer): { bytes: Buffer; idOffset: number } {
  const topicBytes = Buffer.from(topic, 'utf8');
  const remaining = 2 + topicBytes.length + 2 + payload.length;
  const header = [0x32, ...varint(remaining)];
  const bytes = Buffer.alloc(header.length + remaining);
  bytes.set(header, 0);
  bytes.writeUInt16BE(topicBytes.length, header.length);
  topicBytes.copy(bytes, header.length + 2);
  const idOffset = header.length + 2 + topicBytes.length;
  payload.copy(bytes, idOffset + 2);
  return { bytes, idOffset };
}

export class LeanClient {
  /** Called with the packet id of every PUBACK. */
  onPuback: (id: number) => void = () => undefined;
  /** Called for every PUBLISH the server sends; QoS 1 ones are acknowledged before this runs. */
  onMessage: (topic: string, payload: Buffer) => void = () => undefined;
  /** Set once the socket has closed, with the reason if it was not `end()`. */
  closedReason: string | undefined;

  private socket: Socket | undefined;
  private readonly parser = parser({ protocolVersion: 4 });
  private template: { bytes: Buffer; idOffset: number } | undefined;
  private nextId = 1;
  private readonly maxId: number;
  private pending: Buffer[] = [];
  private flushQueued = false;
  private connack: ((err?: Error) => void) | undefined;
  private readonly subacks = new Map<number, (granted: number[]) => void>();
  private ending = false;

  constructor(private readonly opts: ClientOptions) {
    this.maxId = Math.min(opts.idSpace ?? 0xffff, 0xffff);
    this.parser.on('packet', (p: Packet) => this.handle(p));
    this.parser.on('error', (err: Error) => this.fail(`protocol error: ${err.message}`));
  }

  /** Opens the socket and resolves on CONNACK 0; rejects on refusal, close or timeout. */
  connect(): Promise<void> {
    const { transport } = this.opts;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.fail('connect timeout'), this.opts.connectTimeoutMs ?? 15_000);
      this.connack = (err) => {
        clearTimeout(timer);
        this.connack = undefined;
        if (err) reject(err);
        else resolve();
      };
      const socket =
        transport.kind === 'tls'
          ? tlsConnect({
              host: HOST,
              port: transport.port,
              ca: transport.ca,
              servername: 'localhost',
              minVersion: 'TLSv1.2',
            })
          : netConnect({ host: HOST, port: transport.port });
      this.socket = socket;
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => this.parser.parse(chunk));
      socket.on('error', (err) => this.fail(err.message));
      socket.on('close', () => this.fail('connection closed'));
      // TLS sockets may be written before the handshake; the bytes go out once it completes.
      socket.write(
        generate({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clean: true,
          clientId: this.opts.clientId,
          keepalive: this.opts.keepalive ?? 600,
          ...(this.opts.username !== undefined ? { username: this.opts.username } : {}),
          ...(this.opts.password !== undefined ? { password: Buffer.from(this.opts.password) } : {}),
        }),
      );
    });
  }

  /** Fixes the topic and payload of later `publish()` calls, so each one is a 2-byte patch. */
  setPublish(topic: string, payload: Buffer): void {
    this.template = publishTemplate(topic, payload);
  }

  /** Queues one QoS 1 PUBLISH of the template; returns its packet id. Written at the end of the tick. */
  publish(): number {
    const t = this.template;
    if (!t) throw new Error('setPublish first');
    const id = this.takeId();
    const b = Buffer.allocUnsafe(t.bytes.length);
    t.bytes.copy(b);
    b.writeUInt16BE(id, t.idOffset);
    this.queue(b);
    return id;
  }

  /** Any QoS 1 PUBLISH (commands' results); returns its packet id. */
  publishOnce(topic: string, payload: Buffer): number {
    const id = this.takeId();
    const packet: IPublishPacket = {
      cmd: 'publish',
      topic,
      payload,
      qos: 1,
      messageId: id,
      retain: false,
      dup: false,
    };
    this.queue(generate(packet));
    return id;
  }

  subscribe(topic: string, qos: 0 | 1): Promise<number[]> {
    const id = this.takeId();
    return new Promise((resolve) => {
      this.subacks.set(id, resolve);
      this.queue(generate({ cmd: 'subscribe', messageId: id, subscriptions: [{ topic, qos }] }));
    });
  }

  private takeId(): number {
    const id = this.nextId;
    this.nextId = id >= this.maxId ? 1 : id + 1;
    return id;
  }

  /** Sends DISCONNECT and closes; resolves once the socket is gone. */
  end(): Promise<void> {
    const socket = this.socket;
    this.ending = true;
    if (!socket || socket.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => socket.destroy(), 2_000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.flush();
      socket.end(generate({ cmd: 'disconnect' }));
    });
  }

  // Coalescing: every packet queued in this tick leaves in one write, i.e. one TLS record, the way a
  // pipelining device would send them; acks arriving in one chunk refill the window in one write.
  private queue(b: Buffer) {
    this.pending.push(b);
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(() => this.flush());
    }
  }

  private flush() {
    this.flushQueued = false;
    const socket = this.socket;
    if (this.pending.length === 0 || !socket || socket.destroyed) return;
    const out = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    socket.write(out);
  }

  private handle(p: Packet) {
    switch (p.cmd) {
      case 'puback':
        this.onPuback(p.messageId ?? 0);
        break;
      case 'connack':
        if (p.returnCode === 0) this.connack?.();
        else this.fail(`CONNACK refused with return code ${p.returnCode ?? '?'}`);
        break;
      case 'suback': {
        const done = this.subacks.get(p.messageId ?? 0);
        this.subacks.delete(p.messageId ?? 0);
        done?.(p.granted as number[]);
        break;
      }
      case 'publish':
        if (p.qos === 1) this.queue(generate({ cmd: 'puback', messageId: p.messageId ?? 0 }));
        this.onMessage(p.topic, typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload);
        break;
      default:
        break;
    }
  }

  private fail(reason: string) {
    if (this.closedReason !== undefined) return;
    this.closedReason = this.ending ? 'ended' : reason;
    this.connack?.(new Error(`${this.opts.clientId}: ${reason}`));
    this.socket?.destroy();
  }
}
