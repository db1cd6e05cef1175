/**
 * The slowloris phase: N connections to the HTTPS port that each complete the TLS handshake and then
 * send as slowly as they can (four in five drip a request head a byte a second, one in five sends a
 * whole head for a 100 kB login body and drips the body), reopened as soon as the server closes them,
 * for the whole window: a persistent attacker. Meanwhile a probe client makes one request at a time,
 * each on a new connection (TLS handshake included, as a new client would), and its latency is
 * recorded; the same probe runs alone first, as the baseline. The server runs with its default
 * deadlines (docs/operations.md "HTTPS hygiene settings"): 10 s for the first request head, 30 s for
 * an ordinary body.
 */
import { request } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { round, Samples, sleep, type Percentiles } from './stats.js';

export interface SlowlorisOptions {
  port: number;
  ca: string;
  connections: number;
  seconds: number;
  baselineSeconds: number;
  log: (msg: string) => void;
}

export interface SlowlorisResult {
  description: string;
  connections: number;
  windowSeconds: number;
  /** The probe alone, before the attack. */
  baseline: Percentiles & { failed: number };
  /** The probe while the slow connections are held open. */
  underAttack: Percentiles & { failed: number };
  /** Slow connections opened in all (the first N and every reopening), and closed by the server. */
  slowOpened: number;
  slowClosedByServer: number;
  /** How long the server let a slow connection live before closing it (ms). */
  heldMs: Percentiles;
  /** Slow connections open at the end of the window (the attack held its level). */
  slowOpenAtEnd: number;
}

const HEAD = 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n';
const DRIP_HEAD = 'X-Slow: aaaaaaaa\r\n';
const BODY_HEAD =
  'POST /v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"username":"';

/** One request on a new connection; resolves with its time in ms, or undefined when it failed. */
function probeOnce(port: number, ca: string): Promise<number | undefined> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        ca,
        path: '/healthz',
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - t0 : undefined));
      },
    );
    req.on('timeout', () => req.destroy(new Error('probe timed out')));
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

async function probeFor(port: number, ca: string, ms: number) {
  const samples = new Samples();
  let failed = 0;
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const took = await probeOnce(port, ca);
    if (took === undefined) failed++;
    else samples.add(took);
    await sleep(50);
  }
  return { ...samples.percentiles(), failed };
}

export async function slowlorisPhase(o: SlowlorisOptions): Promise<SlowlorisResult> {
  o.log(`slowloris: baseline probe for ${o.baselineSeconds} s`);
  const baseline = await probeFor(o.port, o.ca, o.baselineSeconds * 1000);

  let running = true;
  let opened = 0;
  let closedByServer = 0;
  const held = new Samples();
  const open = new Set<TLSSocket>();

  const openSlow = (i: number): void => {
    if (!running) return;
    opened++;
    const body = i % 5 === 4;
    const socket = tlsConnect({ host: '127.0.0.1', port: o.port, ca: o.ca, servername: 'localhost' });
    open.add(socket);
    let timer: NodeJS.Timeout | undefined;
    let since = 0;
    socket.on('error', () => {});
    socket.resume();
    socket.once('secureConnect', () => {
      since = performance.now();
      socket.write(body ? BODY_HEAD : HEAD);
      let n = 0;
      // Spread over the second, so that the writes do not come in one burst.
      timer = setInterval(() => socket.write(body ? 'a' : DRIP_HEAD[n++ % DRIP_HEAD.length]!), 1000);
    });
    socket.once('close', () => {
      clearInterval(timer);
      open.delete(socket);
      if (!running) return;
      closedByServer++;
      if (since) held.add(performance.now() - since);
      // The attacker comes back at once.
      setImmediate(() => openSlow(i));
    });
  };

  o.log(`slowloris: opening ${o.connections} slow connections`);
  for (let i = 0; i < o.connections; i++) {
    openSlow(i);
    // Open them over about a second, as the handshakes cost the server CPU.
    if (i % 50 === 49) await sleep(100);
  }
  o.log(`slowloris: probing for ${o.seconds} s under attack`);
  const underAttack = await probeFor(o.port, o.ca, o.seconds * 1000);
  const slowOpenAtEnd = open.size;
  running = false;
  for (const s of open) s.destroy();
  await sleep(200);

  const result: SlowlorisResult = {
    description:
      `${o.connections} HTTPS connections held open by dripping a request head (4 in 5) or a login body ` +
      '(1 in 5) a byte a second, each reopened when the server closes it; a probe client makes one GET ' +
      '/healthz at a time on a new connection (handshake included), 50 ms apart; the server has its ' +
      'default deadlines (10 s handshake, 10 s head, 30 s body).',
    connections: o.connections,
    windowSeconds: o.seconds,
    baseline,
    underAttack,
    slowOpened: opened,
    slowClosedByServer: closedByServer,
    heldMs: held.percentiles(),
    slowOpenAtEnd,
  };
  o.log(
    `slowloris: probe p50 ${underAttack.p50} ms, p99 ${underAttack.p99} ms (baseline p99 ${baseline.p99} ms), ` +
      `${underAttack.failed} failed; ${closedByServer} slow connections closed by the server, ` +
      `held ${round(held.percentiles().p50 / 1000, 1)} s (median)`,
  );
  return result;
}
