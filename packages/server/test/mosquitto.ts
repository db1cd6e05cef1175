/**
 * A mosquitto of a test's own, for the MQTT bridge tests: started on free ports with a configuration
 * the test writes, waited for until every listener accepts connections, stopped with SIGTERM. Also
 * the polling and spooling helpers those tests share.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBridgeService } from '../src/domains/bridges/service.js';
import { bridgeStore } from '../src/domains/bridges/store.js';
import { createAddressPolicy } from '../src/platform/outbound/address-policy.js';
import { createSecretBox } from '../src/platform/secret-box.js';
import { transactionOf, type Db } from '../src/store/db.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';

/** Runs `check` until it neither throws nor returns false; its last error after `timeoutMs`. */
export async function until<T>(check: () => Promise<T> | T, timeoutMs: number, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    await sleep(intervalMs);
  }
}

/** A free port on 127.0.0.1, never the shared broker's 1883 or 8883. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    if (port !== 1883 && port !== 8883) return port;
  }
}

function accepts(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}

/**
 * Starts mosquitto with `config` (written to `dir`/mosquitto.conf) and resolves once every port in
 * `ports` accepts a TCP connection: mosquitto opens its listeners only after it has loaded its
 * persisted state and its certificates. Rejects with what it printed when it exits first (a
 * configuration it refuses).
 */
export async function startMosquitto(dir: string, config: string[], ports: number[]): Promise<ChildProcess> {
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [...config, ''].join('\n'));
  const child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  try {
    await until(async () => {
      if (child.exitCode !== null) return;
      for (const port of ports) await accepts(port);
    }, 10_000);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`mosquitto did not start: ${String(e)}\n${output}`);
  }
  if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}:\n${output}`);
  return child;
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** The platform's outbound allow-list in the bridge tests: the test's broker on 127.0.0.1. */
export const ALLOW = { MOORING_OUTBOUND_ALLOW_LIST: '127.0.0.1/32' };

/**
 * The bridge domain over `db`, to spool events the way the event fan-out does
 * (`BridgeSpool.enqueue` in a transaction of its own); spooling opens no secret.
 */
export const spoolOver = (db: Db) =>
  createBridgeService({
    store: bridgeStore(db),
    storeOn: bridgeStore,
    transaction: transactionOf(db, bridgeStore),
    box: createSecretBox(randomBytes(32)),
    policy: createAddressPolicy(),
    audit: () => undefined,
  });
