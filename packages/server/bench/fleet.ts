/**
 * The fleet phase: `mooring simulate` in its own process holds N devices (each provisioning itself
 * with an auto-approved batch token, then one MQTT/TLS connection with its registration token) and
 * sends telemetry at a fixed rate per device. Reported: the simulator's delivered readings per
 * second against the offered rate, readings still buffered at the end, reconnects; the server's RSS
 * growth per connected device; the simulator's RSS per device.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { procMemory } from './procs.js';
import type { Rest } from './rest.js';
import { round } from './stats.js';

const CLI = fileURLToPath(new URL('../../cli/bin/mooring.mjs', import.meta.url));

export interface FleetOptions {
  rest: Rest;
  apiKey: string;
  serverPid: number;
  httpPort: number;
  mqttPort: number;
  caFile: string;
  count: number;
  rate: number;
  seconds: number;
  /** Registers a cleanup step: the simulator is killed if the run ends while it still runs. */
  onCleanup(step: () => void): void;
}

export async function fleetPhase(o: FleetOptions) {
  const pt = await o.rest.expect<{ secret: string }>(201, 'POST', '/v1/provisioning-tokens', o.apiKey, {
    name: 'bench fleet',
    kind: 'batch',
    maxUses: o.count,
    approval: 'auto',
    deviceTags: ['bench-fleet'],
  });
  const before = procMemory(o.serverPid);
  const config = mkdtempSync(join(tmpdir(), 'mooring-bench-cli-'));
  const child = spawn(
    process.execPath,
    [
      CLI,
      '--server',
      `https://localhost:${o.httpPort}`,
      '--ca',
      o.caFile,
      'simulate',
      '-n',
      String(o.count),
      '--rate',
      String(o.rate),
      '--provisioning-token',
      pt.secret,
      '--mqtt',
      `mqtts://localhost:${o.mqttPort}`,
      '--duration',
      `${o.seconds}s`,
      '--json',
    ],
    { env: { ...process.env, MOORING_CONFIG_DIR: config }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  o.onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(config, { recursive: true, force: true });
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  let serverPeakKb = 0;
  let simPeakKb = 0;
  const sampler = setInterval(() => {
    serverPeakKb = Math.max(serverPeakKb, procMemory(o.serverPid)?.rssKb ?? 0);
    if (child.pid) simPeakKb = Math.max(simPeakKb, procMemory(child.pid)?.rssKb ?? 0);
  }, 500);
  const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
  clearInterval(sampler);
  rmSync(config, { recursive: true, force: true });
  if (code !== 0) throw new Error(`mooring simulate exited ${code}: ${err.slice(-500)}`);
  const summary = JSON.parse(out) as {
    devices: number;
    connected: number;
    buffered: number;
    reconnects: number;
    deliveredReadingsPerSec: number;
    seconds: number;
  };
  const connectSeconds = /connected in ([\d.]+) s/.exec(err)?.[1];
  const beforeKb = before?.rssKb ?? 0;
  return {
    devices: summary.devices,
    connected: summary.connected,
    connectAndProvisionSeconds: connectSeconds ? Number(connectSeconds) : null,
    offeredReadingsPerSec: o.count * o.rate,
    deliveredReadingsPerSec: summary.deliveredReadingsPerSec,
    bufferedAtEnd: summary.buffered,
    reconnects: summary.reconnects,
    windowSeconds: summary.seconds,
    serverRssMb: { before: round(beforeKb / 1024, 1), peak: round(serverPeakKb / 1024, 1) },
    serverKbPerConnectedDevice: round((serverPeakKb - beforeKb) / Math.max(1, summary.connected), 1),
    simulatorRssMb: round(simPeakKb / 1024, 1),
    simulatorKbPerDevice: round(simPeakKb / Math.max(1, summary.devices), 1),
  };
}
