/**
 * The OTA phase: a 1,000-device rollout of a 1 MiB image, end to end over the device contract.
 *
 * Setup (not timed): N devices created over REST, each with an access key and reporting firmware
 * 1.0.0 on one hardware class (`PUT /v1/device/firmware`); N MQTT/TLS connections held by raw mqtt.js
 * clients (ota-devices.ts) in a child process of their own (BENCH_OTA_CLIENTS=inproc runs them in
 * this process instead); one 1 MiB artifact uploaded.
 *
 * Timed: `POST /v1/deployments` targeting all N, one phase of 100 %, health gate off. From the create
 * answer: until every client has received its offer; until `GET /v1/deployments/{id}` (polled every
 * 200 ms) says `completed`. Meanwhile the clients download through a pool of BENCH_OTA_DOWNLOADS (64)
 * downloads in flight; the download figures are theirs. Server CPU is read from /proc over the
 * rollout, RSS before, at its peak and after.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { request } from 'node:https';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  emptySummary,
  OtaFleet,
  type OtaDeviceSpec,
  type OtaFleetEvent,
  type OtaFleetOptions,
  type OtaFleetReply,
  type OtaFleetSummary,
} from './ota-devices.js';
import { machineCpu, procCpuMs, procMemory, REPO_ROOT } from './procs.js';
import type { Rest } from './rest.js';
import { mapLimit, round, sleep } from './stats.js';

const DEVICES_FILE = fileURLToPath(new URL('./ota-devices.ts', import.meta.url));
const HARDWARE_CLASS = 'bench-ota-board';
const TAG = 'bench-ota';
const OLD_VERSION = '1.0.0';
const NEW_VERSION = '2.0.0';
export const OTA_TARGETS = { offerSeconds: 10 };

export interface OtaPhaseDeps {
  rest: Rest;
  apiKey: string;
  ca: string;
  httpPort: number;
  mqttPort: number;
  serverPid: number;
  devices: number;
  imageBytes: number;
  downloads: number;
  /** 'child': the clients in a process of their own; 'inproc': in this one. */
  clients: 'child' | 'inproc';
  /** The phase gives up (with what it measured) after this long. */
  budgetMs: number;
  /** Records figures in the run's report as soon as they are measured. */
  set(figures: Record<string, unknown>): void;
  /** With BENCH_SERVER_CPU_PROF: profiles the server from the create request to the last offer ('ota-offers'), then to completion ('ota-rollout'). */
  profile?(at: 'start' | 'stop', name: string): void;
  /** Registers a cleanup step with the run, so that the clients go whatever ends it. */
  onCleanup(step: () => Promise<void> | void): void;
  log(line: string): void;
}

/** The device fleet, in a child process or in this one, behind one interface. */
type FleetError = { type: 'error'; message: string };
type FleetSignal = OtaFleetEvent | FleetError;

interface FleetHandle {
  pid: number | null;
  events: { on(fn: (e: FleetSignal) => void): void };
  summary(): Promise<OtaFleetSummary>;
  stop(): Promise<void>;
}

function childFleet(options: OtaFleetOptions): FleetHandle {
  const listeners: ((e: FleetSignal) => void)[] = [];
  const waiting: ((s: OtaFleetSummary) => void)[] = [];
  const child: ChildProcess = fork(DEVICES_FILE, [], {
    cwd: REPO_ROOT,
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, MOORING_BENCH_OTA_CHILD: '1' },
    stdio: ['ignore', 2, 'inherit', 'ipc'],
  });
  let exited = false;
  child.on('error', (err) => process.stderr.write(`bench: ota devices: ${err.message}\n`));
  child.on('message', (m: OtaFleetReply) => {
    if (m.type === 'summary') return waiting.shift()?.(m.summary);
    listeners.forEach((fn) => fn(m));
  });
  child.on('exit', (code, signal) => {
    exited = true;
    listeners.forEach((fn) =>
      fn({ type: 'error', message: `the devices process exited (${code ?? signal})` }),
    );
  });
  child.send({ type: 'start', options });
  return {
    pid: child.pid ?? null,
    events: { on: (fn) => listeners.push(fn) },
    summary: () =>
      exited || !child.connected
        ? Promise.resolve(emptySummary())
        : Promise.race([
            new Promise<OtaFleetSummary>((resolve) => {
              waiting.push(resolve);
              child.send({ type: 'summary' });
            }),
            sleep(5_000).then(() => emptySummary()),
          ]),
    async stop() {
      if (exited) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      if (child.connected) child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

function inprocFleet(options: OtaFleetOptions): FleetHandle {
  const listeners: ((e: FleetSignal) => void)[] = [];
  const fleet = new OtaFleet(options, (e) => listeners.forEach((fn) => fn(e)));
  queueMicrotask(() =>
    fleet
      .connect()
      .catch((err: unknown) => listeners.forEach((fn) => fn({ type: 'error', message: String(err) }))),
  );
  return {
    pid: null,
    events: { on: (fn) => listeners.push(fn) },
    summary: () => Promise.resolve(fleet.summary()),
    stop: async () => fleet.stop(),
  };
}

/** Resolves with the first event of `type`; rejects on a fleet error or when `deadline` (performance.now()) passes. */
function waitFor<T extends OtaFleetEvent['type']>(
  fleet: FleetHandle,
  seen: Map<string, FleetSignal>,
  type: T,
  deadline: number,
  what: string,
): Promise<Extract<OtaFleetEvent, { type: T }>> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const err = seen.get('error') as FleetError | undefined;
      if (err) return (reject(new Error(`ota devices: ${err.message}`)), true);
      const e = seen.get(type);
      if (e) return (resolve(e as Extract<OtaFleetEvent, { type: T }>), true);
      return false;
    };
    if (check()) return;
    const timer = setTimeout(
      () => reject(new Error(`${what}: not within the phase's time budget`)),
      Math.max(0, deadline - performance.now()),
    );
    timer.unref();
    fleet.events.on(() => {
      if (check()) clearTimeout(timer);
    });
  });
}

/** Uploads the image as the raw body of `POST /v1/artifacts`. */
function uploadArtifact(
  port: number,
  ca: string,
  apiKey: string,
  image: Buffer,
): Promise<{
  status: number;
  body: { id?: string; manifest?: { sha256: string; size: number } };
  text: string;
}> {
  const path = `/v1/artifacts?version=${NEW_VERSION}&hardwareClass=${HARDWARE_CLASS}&sequence=1`;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        ca,
        method: 'POST',
        path,
        headers: {
          authorization: `Bearer ${apiKey}`,
          'content-type': 'application/octet-stream',
          'content-length': image.length,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body = {};
          try {
            body = JSON.parse(text) as object;
          } catch {
            /* reported through text */
          }
          resolve({ status: res.statusCode ?? 0, body, text });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error(`POST ${path}: timed out`)));
    req.on('error', reject);
    req.end(image);
  });
}

interface DeploymentAnswer {
  id: string;
  status: string;
  total: number;
  counts: Record<string, number>;
  executions: number;
  failures: number;
  createdAt: number;
  finishedAt: number | null;
  excluded: Record<string, number>;
}

const abs = () => performance.timeOrigin + performance.now();
const secs = (ms: number | null | undefined) => (ms == null ? null : round(ms / 1000, 2));

export async function otaPhase(d: OtaPhaseDeps) {
  const t0 = performance.now();
  const deadline = t0 + d.budgetMs;
  const figures: Record<string, unknown> = {
    measures:
      `A rollout of one ${round(d.imageBytes / 2 ** 20, 2)} MiB image to ${d.devices} devices on PGlite: ` +
      `one deployment (target: the ${d.devices} devices by tag, one phase of 100 %, health gate off, other ` +
      'settings default) created over REST with an API key. Each device is a raw mqtt.js client on its own ' +
      `MQTT/TLS connection (${d.clients === 'child' ? 'all in one child process of the bench' : 'all in the bench process'}), ` +
      'subscribed to d/{id}/ota/+: on its offer it reports accepted, then waits for a slot of a client-side pool ' +
      `of ${d.downloads} downloads in flight, reports downloading, GETs the image over HTTPS (keep-alive) with its ` +
      'access key as Bearer and checks size and SHA-256, then reports downloaded, installing, rebooting and ' +
      `succeeded with ${NEW_VERSION} (QoS 1, each PUBACK awaited; no reconnect for the reboot). ` +
      'offerSeconds: from the create answer until every client has received its offer (target <= 10 s). ' +
      'rolloutSeconds: from the create answer until GET /v1/deployments/{id} (polled every 200 ms) answers ' +
      'completed. Download throughput: bytes the clients received / (last download end - first download ' +
      'start); per-device download time from sending the GET to the last byte. Server CPU: user + system ' +
      'time of the server process (all threads, /proc) from the create request to completed. MB = 10^6 bytes, MiB = 2^20.',
    devices: d.devices,
    imageBytes: d.imageBytes,
    downloadPool: d.downloads,
    clients: d.clients === 'child' ? 'child process (ota-devices.ts)' : 'bench process',
  };
  const publish = (more: Record<string, unknown> = {}) => {
    Object.assign(figures, more);
    d.set({ ota: { ...figures } });
  };
  publish();

  // --- Setup: devices with access keys and a firmware report.
  d.log(
    `ota: creating ${d.devices} devices with access keys, each reporting ${OLD_VERSION} on ${HARDWARE_CLASS}`,
  );
  const s0 = performance.now();
  const specs = await mapLimit(
    Array.from({ length: d.devices }, (_, i) => i),
    16,
    async (i): Promise<OtaDeviceSpec> => {
      if (performance.now() > deadline) throw new Error('ota setup: out of the time budget');
      const dev = await d.rest.expect<{ id: string }>(201, 'POST', '/v1/devices', d.apiKey, {
        name: `ota-${i}`,
        tags: [TAG],
      });
      const k = await d.rest.expect<{ secret: string }>(
        201,
        'POST',
        `/v1/devices/${dev.id}/access-keys`,
        d.apiKey,
      );
      await d.rest.expect(200, 'PUT', '/v1/device/firmware', k.secret, {
        version: OLD_VERSION,
        hardwareClass: HARDWARE_CLASS,
      });
      return { id: dev.id, accessKey: k.secret };
    },
  );
  publish({ setupDevicesSeconds: secs(performance.now() - s0) });

  // --- The clients: connected and subscribed before anything is deployed.
  const options: OtaFleetOptions = {
    mqttPort: d.mqttPort,
    httpPort: d.httpPort,
    ca: d.ca,
    devices: specs,
    downloads: d.downloads,
    connectConcurrency: 50,
    newVersion: NEW_VERSION,
  };
  d.log(
    `ota: connecting ${d.devices} MQTT/TLS clients (${d.clients === 'child' ? 'child process' : 'in process'})`,
  );
  const fleet = d.clients === 'child' ? childFleet(options) : inprocFleet(options);
  d.onCleanup(() => fleet.stop());
  const seen = new Map<string, FleetSignal>();
  let lastProgress: OtaFleetSummary | undefined;
  fleet.events.on((e) => {
    if (e.type === 'progress') lastProgress = e.summary;
    else if (!seen.has(e.type)) seen.set(e.type, e);
  });

  let created: { id: string; answeredAt: number; sentAt: number } | undefined;
  let cpu0: number | null = null;
  let clientCpu0: number | null = null;
  let benchCpu0: number | null = null;
  let machine0: ReturnType<typeof machineCpu> = null;
  let rssPeakKb = 0;
  let rolloutEnd: number | undefined;
  let final: DeploymentAnswer | undefined;
  const rollout: Record<string, unknown> = {};

  /** Everything the clients and the server showed so far, folded into the figures. */
  const collect = async () => {
    const s = (await fleet.summary().catch(() => undefined)) ?? lastProgress ?? emptySummary();
    const end = rolloutEnd ?? abs();
    const cpuMs = cpu0 === null ? null : (procCpuMs(d.serverPid) ?? NaN) - cpu0;
    // CPU is read from just before the create request: creating the deployment is part of the rollout.
    const wallMs = created ? end - created.sentAt : null;
    const clientCpuMs =
      clientCpu0 === null || fleet.pid === null ? null : (procCpuMs(fleet.pid) ?? NaN) - clientCpu0;
    const benchCpuMs = benchCpu0 === null ? null : (procCpuMs(process.pid) ?? NaN) - benchCpu0;
    const machine1 = machineCpu();
    const mem = procMemory(d.serverPid);
    if (mem) rssPeakKb = Math.max(rssPeakKb, mem.rssKb);
    const downloadWallMs =
      s.firstDownloadStartAt !== null && s.lastDownloadEndAt !== null
        ? s.lastDownloadEndAt - s.firstDownloadStartAt
        : null;
    let machineBusyPct = null;
    let otherProcessesCpuPct = null;
    if (machine0 && machine1 && wallMs) {
      const ticks = machine1.total - machine0.total;
      const busyFrac = (machine1.busy - machine0.busy) / ticks;
      machineBusyPct = round(busyFrac * 100, 1);
      const ours = (cpuMs ?? 0) + (clientCpuMs ?? 0) + (benchCpuMs ?? 0);
      otherProcessesCpuPct = round(
        Math.max(0, ((busyFrac * wallMs * availableParallelism() - ours) / wallMs) * 100),
        1,
      );
    }
    Object.assign(rollout, {
      offerSeconds:
        created && s.offered === d.devices && s.lastOfferAt !== null
          ? secs(Math.max(0, s.lastOfferAt - created.answeredAt))
          : null,
      firstOfferAfterAnswerMs:
        created && s.firstOfferAt !== null ? round(s.firstOfferAt - created.answeredAt, 0) : null,
      createRequestMs: created ? round(created.answeredAt - created.sentAt, 0) : null,
      rolloutSeconds:
        created && final?.status === 'completed' && rolloutEnd ? secs(rolloutEnd - created.answeredAt) : null,
      serverRolloutSeconds: final?.finishedAt ? secs(final.finishedAt - final.createdAt) : null,
      offered: s.offered,
      downloaded: s.downloaded,
      succeeded: s.succeeded,
      clientFailures: s.failed,
      refusals: s.refusals,
      ...(s.errors.length ? { errors: s.errors } : {}),
      duplicateOffers: s.duplicateOffers,
      download: {
        bytes: s.bytesDownloaded,
        wallSeconds: secs(downloadWallMs),
        throughputMBps: downloadWallMs ? round(s.bytesDownloaded / 1e6 / (downloadWallMs / 1000), 1) : null,
        perDeviceMs: s.downloadMs,
        maxConcurrent: s.maxConcurrentDownloads,
      },
      offerToSucceededMs: s.offerToSucceededMs,
      serverCpu:
        cpuMs === null || wallMs === null
          ? null
          : { seconds: round(cpuMs / 1000, 2), avgPctOfOneCore: round((cpuMs / wallMs) * 100, 1) },
      clientsCpu:
        clientCpuMs === null || wallMs === null
          ? null
          : {
              seconds: round(clientCpuMs / 1000, 2),
              avgPctOfOneCore: round((clientCpuMs / wallMs) * 100, 1),
            },
      /** This process: the REST polling, and with BENCH_OTA_CLIENTS=inproc the clients too. */
      benchProcessCpu:
        benchCpuMs === null || wallMs === null
          ? null
          : { seconds: round(benchCpuMs / 1000, 2), avgPctOfOneCore: round((benchCpuMs / wallMs) * 100, 1) },
      machineBusyPct,
      otherProcessesCpuPct,
      serverRssMb: {
        peakDuringRollout: round(rssPeakKb / 1024, 1),
        end: mem ? round(mem.rssKb / 1024, 1) : null,
        hwm: mem ? round(mem.hwmKb / 1024, 1) : null,
      },
      deployment: final
        ? {
            status: final.status,
            total: final.total,
            counts: final.counts,
            executions: final.executions,
            failures: final.failures,
            excluded: final.excluded,
          }
        : null,
    });
    publish({
      ...rollout,
      offerTargetMet:
        rollout.offerSeconds === null ? false : (rollout.offerSeconds as number) <= OTA_TARGETS.offerSeconds,
    });
  };

  try {
    const conn = await waitFor(fleet, seen, 'connected', deadline, 'connecting the clients');
    publish({ connectSeconds: secs(conn.ms) });
    d.log(`ota: ${conn.count} clients connected and subscribed in ${conn.ms} ms`);

    // --- The image.
    const image = randomBytes(d.imageBytes);
    const u0 = performance.now();
    const up = await uploadArtifact(d.httpPort, d.ca, d.apiKey, image);
    if (up.status !== 201 || !up.body.id)
      throw new Error(`artifact upload: ${up.status} ${up.text.slice(0, 300)}`);
    if (up.body.manifest?.sha256 !== createHash('sha256').update(image).digest('hex'))
      throw new Error('artifact upload: the manifest digest is not the image digest');
    publish({ uploadSeconds: secs(performance.now() - u0) });

    // --- The rollout, timed from the create answer.
    const before = procMemory(d.serverPid);
    rssPeakKb = before?.rssKb ?? 0;
    publish({ serverRssMbBefore: before ? round(before.rssKb / 1024, 1) : null });
    d.log(`ota: deploying ${NEW_VERSION} to ${d.devices} devices`);
    const sentAt = abs();
    machine0 = machineCpu();
    const c0 = procCpuMs(d.serverPid);
    const cc0 = fleet.pid === null ? null : procCpuMs(fleet.pid);
    const b0 = procCpuMs(process.pid);
    d.profile?.('start', 'ota-offers');
    const answer = await d.rest.call('POST', '/v1/deployments', d.apiKey, {
      artifactId: up.body.id,
      name: 'bench ota',
      target: { tags: [TAG] },
      phases: [{ percent: 100 }],
      healthGate: { enabled: false },
    });
    const answeredAt = abs();
    if (answer.status !== 201)
      throw new Error(`POST /v1/deployments: ${answer.status} ${answer.text.slice(0, 300)}`);
    const dep = answer.body as DeploymentAnswer;
    if (dep.total !== d.devices)
      throw new Error(`the deployment targets ${dep.total} devices, not ${d.devices}`);
    created = { id: dep.id, sentAt, answeredAt };
    // CPU from the request: the create itself is part of the rollout's cost.
    cpu0 = c0;
    clientCpu0 = cc0;
    benchCpu0 = b0;

    const offers = waitFor(fleet, seen, 'all-offered', deadline, 'every offer');
    offers.catch(() => undefined);
    void offers.then(async () => {
      if (d.profile) {
        d.profile('stop', 'ota-offers');
        await sleep(500); // the profile is written before the next one starts
        d.profile('start', 'ota-rollout');
      }
      await collect();
      d.log(`ota: every device offered ${rollout.offerSeconds} s after the create answer`);
    });
    let lastLog = performance.now();
    for (;;) {
      const r = await d.rest.call('GET', `/v1/deployments/${dep.id}`, d.apiKey);
      const at = abs();
      const mem = procMemory(d.serverPid);
      if (mem) rssPeakKb = Math.max(rssPeakKb, mem.rssKb);
      if (r.status !== 200)
        throw new Error(`GET /v1/deployments/${dep.id}: ${r.status} ${r.text.slice(0, 300)}`);
      final = r.body as DeploymentAnswer;
      if (final.status === 'completed') {
        rolloutEnd = at;
        d.profile?.('stop', 'ota-rollout');
        break;
      }
      if (final.status !== 'active')
        throw new Error(`the deployment is ${final.status}: ${JSON.stringify(final.counts)}`);
      if (performance.now() > deadline)
        throw new Error(
          `the rollout did not complete within the phase's budget (${JSON.stringify(final.counts)})`,
        );
      if (performance.now() - lastLog > 5_000) {
        lastLog = performance.now();
        d.log(`ota: ${JSON.stringify(final.counts)}`);
        await collect();
      }
      await sleep(200);
    }
    await collect();
    d.log(
      `ota: completed in ${rollout.rolloutSeconds} s; offers ${rollout.offerSeconds} s; ` +
        `download ${(rollout.download as { throughputMBps: number }).throughputMBps} MB/s; ` +
        `server CPU ${JSON.stringify(rollout.serverCpu)}`,
    );
    if ((rollout.offered as number) !== d.devices)
      throw new Error(`completed, but only ${String(rollout.offered)} clients received an offer`);
    return { ...figures };
  } finally {
    await collect().catch(() => undefined);
    await fleet.stop();
  }
}
