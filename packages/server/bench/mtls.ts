/**
 * Mutual-TLS handshakes against the MQTT mTLS listener: one at a time (the accept/refuse controls) or
 * as many as the server completes with a bounded number in flight (the load generator's `mtls` phase).
 *
 * When has the server accepted the client certificate? Node's TLS server lets OpenSSL finish the
 * handshake whatever the certificate, then checks the verification result (chain, CRLs) in JavaScript
 * and destroys the socket if it failed. So a refused client may still see the handshake complete:
 * - TLS 1.3: `secureConnect` comes before the server has read the client's certificate at all; the
 *   server's NewSessionTicket (the `session` event) comes after its Finished processing.
 * - TLS 1.2: `secureConnect` follows the server's Finished, which OpenSSL writes just before Node's
 *   check; whether it leaves before the socket is destroyed is a race (observed both ways).
 * A handshake therefore counts as accepted when it completed (TLS 1.2: `secureConnect`; TLS 1.3: the
 * first `session` event) and the server has not closed the socket `holdMs` later; a refusal closes it
 * within a millisecond or two. The socket is then destroyed (before any MQTT CONNECT). The controls in
 * run.ts (a revoked and a foreign certificate, under both versions) check the criterion.
 */
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { Samples, sleep, type Percentiles } from './stats.js';

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

export interface MtlsClientOptions {
  port: number;
  /** The platform root (trust for the server certificate). */
  ca: string;
  /** PKCS#8 PEM of the device key. */
  key: string;
  /** The device certificate followed by its chain. */
  cert: string;
}

export interface HandshakeOutcome {
  accepted: boolean;
  /** Connect → handshake complete (TLS 1.2 `secureConnect`, TLS 1.3 first `session`), or → failure. */
  ms: number;
  /** Why it was not accepted. */
  reason?: string;
}

const HOST = '127.0.0.1';
/** How long a completed handshake must stay open to count as accepted. */
export const HOLD_MS = 100;

/** One client context for every connection: the key, certificate and CA are parsed once. */
export function clientContext(o: MtlsClientOptions): SecureContext {
  return createSecureContext({ ca: o.ca, key: o.key, cert: o.cert });
}

/**
 * One full handshake (no session resumption). `completed` resolves when the handshake completes (true)
 * or fails first (false): where a closed-loop client moves on; `outcome` once the verdict is known.
 */
export function handshake(
  port: number,
  context: SecureContext,
  version: TlsVersion,
  holdMs = HOLD_MS,
  timeoutMs = 10_000,
): { completed: Promise<boolean>; outcome: Promise<HandshakeOutcome> } {
  const t0 = performance.now();
  const socket = tlsConnect({
    host: HOST,
    port,
    servername: 'localhost',
    secureContext: context,
    minVersion: version,
    maxVersion: version,
  });
  let complete: (handshakeCompleted: boolean) => void = () => undefined;
  const completed = new Promise<boolean>((r) => (complete = r));
  const outcome = new Promise<HandshakeOutcome>((resolve) => {
    let ms: number | undefined;
    let settled = false;
    const done = (accepted: boolean, reason?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      complete(false); // no-op when the handshake had completed
      resolve({ accepted, ms: ms ?? performance.now() - t0, ...(reason !== undefined ? { reason } : {}) });
    };
    const timer = setTimeout(() => done(false, 'timeout'), timeoutMs);
    socket.once(version === 'TLSv1.3' ? 'session' : 'secureConnect', () => {
      ms = performance.now() - t0;
      complete(true);
      setTimeout(() => done(true), holdMs);
    });
    socket.once('error', (err) => done(false, err.message.split('\n')[0]));
    socket.once('close', () =>
      done(false, ms === undefined ? 'closed by the server' : 'closed after the handshake'),
    );
  });
  return { completed, outcome };
}

export interface HandshakeLoadResult {
  tlsVersion: TlsVersion;
  handshakesPerSec: number;
  acceptedInWindow: number;
  windowMs: number;
  /** Handshakes that did not complete as accepted (over the whole phase), by reason. */
  refused: number;
  refusedReasons: Record<string, number>;
  /** Connect → handshake complete, for accepted handshakes that completed in the window. */
  handshakeMs: Percentiles;
}

/**
 * `concurrency` lanes, each opening a connection, waiting for its handshake to complete and opening the
 * next (closed loop; the hold of the finished one runs alongside). Accepted handshakes that completed
 * inside the window are counted.
 */
export async function handshakeLoad(
  o: MtlsClientOptions & {
    version: TlsVersion;
    concurrency: number;
    warmupMs: number;
    durationMs: number;
    mark: (at: 'start' | 'end') => void;
  },
): Promise<HandshakeLoadResult> {
  const context = clientContext(o);
  const samples = new Samples();
  const refusedReasons: Record<string, number> = {};
  const verdicts = new Set<Promise<void>>();
  let refused = 0;
  let acceptedInWindow = 0;
  let measuring = false;
  let stop = false;
  const lane = async () => {
    while (!stop) {
      const h = handshake(o.port, context, o.version);
      const handshakeCompleted = await h.completed;
      const inWindow = measuring;
      const verdict = h.outcome.then((r) => {
        verdicts.delete(verdict);
        if (r.accepted) {
          if (inWindow) {
            acceptedInWindow++;
            samples.add(r.ms);
          }
          return;
        }
        refused++;
        const why = r.reason ?? 'unknown';
        refusedReasons[why] = (refusedReasons[why] ?? 0) + 1;
      });
      verdicts.add(verdict);
      // A refusing or overloaded server must not turn the lanes into a busy loop.
      if (!handshakeCompleted) await sleep(10);
    }
  };
  const lanes = Array.from({ length: o.concurrency }, lane);
  await sleep(o.warmupMs);
  o.mark('start');
  const t0 = performance.now();
  measuring = true;
  await sleep(o.durationMs);
  measuring = false;
  const windowMs = performance.now() - t0;
  o.mark('end');
  stop = true;
  await Promise.all(lanes);
  await Promise.all([...verdicts]);
  return {
    tlsVersion: o.version,
    handshakesPerSec: Math.round((acceptedInWindow / windowMs) * 1000),
    acceptedInWindow,
    windowMs: Math.round(windowMs),
    refused,
    refusedReasons,
    handshakeMs: samples.percentiles(),
  };
}
