/**
 * One bridge's connection to the remote broker, on the node that holds the bridge's lease. It
 * publishes the spool strictly in seq order with at most `WINDOW` messages in flight, and deletes a
 * row only once the broker acknowledged it (PUBACK at QoS 1; written to the socket at QoS 0). Order
 * per topic follows: one connection, publishes in seq order, and after a reconnect the spool is
 * published again from its oldest row, so the only repeats are messages that were in flight (sent,
 * not yet acknowledged) when the connection ended.
 *
 * The session is persistent (clean session off, a client id stable per bridge), so the remote
 * broker keeps QoS 1 state across reconnects. The socket goes to the address the guarded lookup
 * checked (never loopback, private or metadata ranges unless the operator's allow-list names them),
 * over TLS 1.2+ with the server certificate checked against the bridge's CA or the public ones.
 */
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { MqttClient } from 'mqtt';
import type { AddressPolicy } from '../../platform/outbound/address-policy.js';
import { createGuardedLookup, type Resolver } from '../../platform/outbound/guarded-lookup.js';
import { TLS_ERROR_CODE } from '../../platform/outbound/outbound-error.js';
import { checkTargetUrl } from '../../platform/outbound/url-policy.js';
import type { SecretBox } from '../../platform/secret-box.js';
import type { Db } from '../../store/db.js';
import type { BridgeColumns, BridgeStore } from './store.js';
import { bridgeStore } from './store.js';

/** Messages published and not yet acknowledged, at most. */
export const WINDOW = 64;
/** How often an idle forwarder looks for new spool rows. */
const IDLE_POLL_MS = 200;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;

export interface ForwarderSettings extends BridgeColumns {
  id: string;
  tenant_id: string;
  revision: number;
}

export interface ForwarderDeps {
  db: Db;
  store: BridgeStore;
  box: SecretBox;
  policy: AddressPolicy;
  /** This node's lease holder name: status is written only while the lease is this node's. */
  holder: string;
  resolve?: Resolver;
  logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  now?: () => number;
}

export interface Forwarder {
  readonly revision: number;
  /** New rows were spooled: an idle forwarder looks now instead of at its next poll. */
  wake(): void;
  stop(): Promise<void>;
}

/** Doubling delay with jitter: 0.5 s, 1 s, 2 s … 30 s, each between 50 % and 100 % of its step. */
export function backoffMs(attempt: number): number {
  const step = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 16));
  return Math.round(step / 2 + (Math.random() * step) / 2);
}

/**
 * A connection error as the bridge's status shows it. OpenSSL's own messages carry a thread id, a
 * source path and a newline (`80EC…:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert
 * certificate required:../deps/openssl/…`), so they are shown by their reason alone; a failed
 * handshake or certificate check says it is TLS, as a webhook's does.
 */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const { code, reason } = e as { code?: unknown; reason?: unknown };
  const openssl = typeof reason === 'string' && /^[0-9A-F]*:?error:[0-9A-F]+:/.test(e.message);
  const text = openssl ? reason : e.message;
  return typeof code === 'string' && TLS_ERROR_CODE.test(code) ? `TLS failed: ${text}` : text;
}

export function startForwarder(b: ForwarderSettings, deps: ForwarderDeps): Forwarder {
  const now = deps.now ?? Date.now;
  const stopping = new AbortController();
  const lookup = createGuardedLookup({
    policy: deps.policy,
    ...(deps.resolve ? { resolve: deps.resolve } : {}),
  });
  let current: MqttClient | undefined;
  /** Something to look at (rows spooled, an acknowledgement, the end): the session does not wait. */
  let woken = false;
  let endWait: (() => void) | undefined;
  const wake = () => {
    woken = true;
    endWait?.();
  };

  /** Deletes acknowledged rows, a batch per transaction, one flush at a time, in order. */
  const acked: string[] = [];
  let flushing: Promise<void> = Promise.resolve();
  function flush(): Promise<void> {
    flushing = flushing.then(async () => {
      while (acked.length > 0) {
        const seqs = acked.splice(0, 500);
        await deps.db.transaction((tx) => bridgeStore(tx).acknowledge(b.id, seqs), { ambient: false });
      }
    });
    return flushing;
  }

  /** One connection: resolves when it ends (cleanly or not) with the error that ended it, if any. */
  async function session(): Promise<{ connected: boolean; error?: string }> {
    const target = checkTargetUrl(b.url, { schemes: ['mqtts', 'mqtt'], policy: deps.policy });
    const tls = target.scheme === 'mqtts';
    const client = new MqttClient(
      () =>
        tls
          ? tlsConnect({
              host: target.host,
              port: target.port,
              lookup,
              minVersion: 'TLSv1.2',
              ...(target.isIpAddress ? {} : { servername: target.host }),
              ...(b.ca ? { ca: b.ca } : {}),
              ...(b.client_cert && b.client_key_sealed
                ? { cert: b.client_cert, key: deps.box.open(b.client_key_sealed) }
                : {}),
            })
          : netConnect({ host: target.host, port: target.port, lookup }),
      {
        protocolVersion: 4,
        clientId: `mooring-${b.id}`,
        clean: false,
        keepalive: 30,
        connectTimeout: 10_000,
        reconnectPeriod: 0,
        resubscribe: false,
        ...(b.username !== null ? { username: b.username } : {}),
        ...(b.password_sealed !== null ? { password: deps.box.open(b.password_sealed) } : {}),
      },
    );
    current = client;
    let connected = false;
    let error: string | undefined;
    const ended = new Promise<void>((resolve) => {
      client.on('error', (e) => {
        error ??= describeError(e);
        client.end(true);
      });
      client.on('close', () => resolve());
      stopping.signal.addEventListener('abort', () => client.end(true, () => resolve()), { once: true });
    });
    await new Promise<void>((resolve) => {
      client.once('connect', () => resolve());
      void ended.then(() => resolve());
    });
    if (!client.connected || stopping.signal.aborted) {
      await ended;
      return { connected: false, ...(error ? { error } : {}) };
    }
    connected = true;
    await deps.store.connected(b.id, deps.holder, now());
    deps.logger.info({ bridge: b.id }, 'bridge connected');

    // Publish in seq order from the oldest unacknowledged row; a row is deleted once acknowledged.
    await flush();
    let cursor = '0';
    let inFlight = 0;
    const nudge = wake;
    void ended.then(nudge);
    while (client.connected && !stopping.signal.aborted) {
      woken = false;
      const rows = inFlight < WINDOW ? await deps.store.pending(b.id, cursor, WINDOW - inFlight) : [];
      for (const row of rows) {
        if (!client.connected) break;
        cursor = row.seq;
        inFlight++;
        client.publish(row.topic, Buffer.from(row.payload), { qos: b.qos === 0 ? 0 : 1 }, (err) => {
          inFlight--;
          if (!err && current === client) {
            acked.push(row.seq);
            void flush().catch((e: unknown) =>
              deps.logger.warn({ err: e, bridge: b.id }, 'deleting forwarded spool rows failed'),
            );
          }
          nudge();
        });
      }
      if ((rows.length === 0 || inFlight >= WINDOW) && !woken)
        await new Promise<void>((resolve) => {
          endWait = resolve;
          setTimeout(resolve, IDLE_POLL_MS).unref();
        });
      endWait = undefined;
    }
    await ended;
    return { connected, ...(error ? { error } : {}) };
  }

  const loop = (async () => {
    let attempt = 0;
    while (!stopping.signal.aborted) {
      let outcome: { connected: boolean; error?: string };
      try {
        outcome = await session();
      } catch (e) {
        outcome = { connected: false, error: describeError(e) };
      }
      current = undefined;
      if (stopping.signal.aborted) break;
      const why = outcome.error ?? 'connection closed';
      deps.logger.warn({ bridge: b.id, error: why }, 'bridge connection ended');
      await deps.store.failed(b.id, deps.holder, why, now()).catch(() => undefined);
      attempt = outcome.connected ? 0 : attempt + 1;
      await sleep(backoffMs(attempt), undefined, { signal: stopping.signal }).catch(() => undefined);
    }
    await flush().catch(() => undefined);
  })();

  return {
    revision: b.revision,
    wake,
    async stop() {
      stopping.abort();
      await loop;
    },
  };
}
