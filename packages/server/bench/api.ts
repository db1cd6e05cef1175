/**
 * Authenticated REST requests per second with an API key: closed-loop lanes over kept-alive HTTPS
 * sockets, each request authenticated (SHA-256 digest lookup of the key, grants resolved) and
 * authorized by the access guard before the device is read. The client runs in the orchestrator
 * process, on the same two cores as the server: the figure is a lower bound for the server.
 */
import { Agent, request } from 'node:https';
import { performance } from 'node:perf_hooks';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from '../test/postgres.js';
import { findPid, procCpuMs, ServerProcess } from './procs.js';
import { Rest } from './rest.js';
import { bootstrapAdminToken } from '../test/harness.js';
import { round, Samples } from './stats.js';

export interface ApiBenchOptions {
  port: number;
  ca: string;
  /** An API key holding devices:read (the operator role). */
  apiKey: string;
  path: string;
  lanes: number;
  warmupSeconds: number;
  durationSeconds: number;
  serverPid: number;
}

function get(agent: Agent, o: ApiBenchOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: o.port,
        ca: o.ca,
        agent,
        method: 'GET',
        path: o.path,
        headers: { authorization: `Bearer ${o.apiKey}` },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export async function authenticatedRequests(o: ApiBenchOptions) {
  const agent = new Agent({ keepAlive: true, maxSockets: o.lanes, ca: o.ca, servername: 'localhost' });
  const latency = new Samples();
  const statuses: Record<string, number> = {};
  let measuring = false;
  let stop = false;
  let count = 0;
  const lane = async () => {
    while (!stop) {
      const t0 = performance.now();
      const status = await get(agent, o);
      if (!measuring) continue;
      count++;
      latency.add(performance.now() - t0);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  const lanes = Array.from({ length: o.lanes }, lane);
  await new Promise((r) => setTimeout(r, o.warmupSeconds * 1000));
  const cpu0 = procCpuMs(o.serverPid);
  const t0 = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, o.durationSeconds * 1000));
  measuring = false;
  const ms = performance.now() - t0;
  const cpu1 = procCpuMs(o.serverPid);
  stop = true;
  await Promise.all(lanes);
  agent.destroy();
  return {
    requestsPerSec: round((count / ms) * 1000, 0),
    latencyMs: latency.percentiles(),
    statuses,
    serverCpuCores: cpu0 !== null && cpu1 !== null ? round((cpu1 - cpu0) / ms, 2) : null,
    lanes: o.lanes,
    windowMs: round(ms, 0),
  };
}

/**
 * The same measurement against a server on the local PostgreSQL (the multi-node store), in its own
 * process with a fresh data dir and database; null with a reason when PostgreSQL cannot be reached.
 */
export async function authenticatedRequestsOnPostgres(
  baseEnv: NodeJS.ProcessEnv,
  opts: Pick<ApiBenchOptions, 'lanes' | 'durationSeconds'>,
) {
  let database: { url: string; drop(): Promise<void> };
  try {
    database = await createTestDatabase();
  } catch (err) {
    return { result: null, reason: `PostgreSQL not reachable: ${(err as Error).message}` };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'mooring-bench-pg-'));
  const server = await ServerProcess.start(
    { ...baseEnv, MOORING_DATA_DIR: dataDir, MOORING_DATABASE_URL: database.url },
    [],
  );
  const ca = readFileSync(server.ready.caFile, 'utf8');
  const rest = new Rest(server.ready.httpPort, ca);
  try {
    const token = await bootstrapAdminToken((path, body, t) => rest.call('POST', path, t, body), dataDir);
    const tenant = await rest.expect<{ id: string }>(201, 'POST', '/v1/tenants', token, { name: 'bench' });
    const owner = await rest.expect<{ secret: string }>(
      201,
      'POST',
      `/v1/tenants/${tenant.id}/api-keys`,
      token,
      {
        name: 'owner',
      },
    );
    const operator = await rest.expect<{ secret: string }>(201, 'POST', '/v1/api-keys', owner.secret, {
      name: 'operator',
      role: 'operator',
    });
    const device = await rest.expect<{ id: string }>(201, 'POST', '/v1/devices', owner.secret, { name: 'd' });
    const result = await authenticatedRequests({
      port: server.ready.httpPort,
      ca,
      apiKey: operator.secret,
      path: `/v1/devices/${device.id}`,
      lanes: opts.lanes,
      warmupSeconds: 2,
      durationSeconds: opts.durationSeconds,
      serverPid: server.pid,
    });
    const postgresPid = findPid('postgres');
    return {
      result: { ...result, note: postgresPid ? 'PostgreSQL runs on the same 2 cores' : undefined },
      reason: null,
    };
  } finally {
    rest.close();
    await server.stop();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
