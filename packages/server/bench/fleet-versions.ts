/**
 * The fleet-versions phase: 100,000 device rows with firmware versions, hardware classes and tags are
 * written straight into the measured server's store (`seedFleetVersions`, run inside the server
 * process on its own `Db` when the orchestrator asks over IPC: one bulk INSERT … SELECT per chunk, no
 * REST path creates devices this fast), a minimum-version policy is set over REST, then
 * `GET /v1/fleet/versions` is timed: p50/p99 over 20 sequential calls after 3 warm-up calls, and the
 * same for `?by=tag` and for the first page of `GET /v1/devices?belowMinimum=true`.
 */
import { performance } from 'node:perf_hooks';
import type { Db } from '../src/store/db.js';
import type { Rest } from './rest.js';
import { round, Samples, type Percentiles } from './stats.js';

const CHUNK = 10_000;

/**
 * Inserts `count` devices into the tenant: 4 hardware classes, 1.0.0 to 3.11.3 with every 50th a
 * release candidate, every 20th never reported, one of 10 site tags each. Runs in the server process.
 */
export async function seedFleetVersions(db: Db, tenantId: string, count: number): Promise<number> {
  const t0 = performance.now();
  const now = Date.now();
  for (let from = 1; from <= count; from += CHUNK) {
    const to = Math.min(count, from + CHUNK - 1);
    await db.query(
      `INSERT INTO devices (id, tenant_id, name, tags, created_at, updated_at, firmware_version,
                            hardware_class, firmware_reported_at, fw_major, fw_minor, fw_patch, fw_pre)
       SELECT 'dev_fleetbench' || lpad(i::text, 8, '0'), $1::text, 'fleet-' || i, ARRAY['site-' || (i % 10)], $2::bigint, $2::bigint,
              CASE WHEN silent THEN NULL ELSE major || '.' || minor || '.' || patch || CASE WHEN rc THEN '-rc.1' ELSE '' END END,
              CASE WHEN silent THEN NULL ELSE 'hw-' || (i % 4) END,
              CASE WHEN silent THEN NULL ELSE $2::bigint END,
              CASE WHEN silent THEN NULL ELSE major END,
              CASE WHEN silent THEN NULL ELSE minor END,
              CASE WHEN silent THEN NULL ELSE patch END,
              CASE WHEN silent THEN NULL WHEN rc THEN '1rc 00000000001' ELSE '~' END
         FROM (SELECT i, i % 20 = 0 AS silent, i % 50 = 1 AS rc, 1 + (i % 3) AS major,
                      (i / 7) % 12 AS minor, (i / 3) % 4 AS patch
                 FROM generate_series($3::int, $4::int) AS i) s`,
      [tenantId, now, from, to],
    );
  }
  await db.query('ANALYZE devices');
  return performance.now() - t0;
}

async function timed(rest: Rest, path: string, apiKey: string, calls: number): Promise<Percentiles> {
  for (let i = 0; i < 3; i++) await rest.expect(200, 'GET', path, apiKey);
  const samples = new Samples();
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await rest.expect(200, 'GET', path, apiKey);
    samples.add(performance.now() - t0);
  }
  return samples.percentiles();
}

export interface FleetVersionsDeps {
  rest: Rest;
  apiKey: string;
  devices: number;
  /** Asks the server process to seed its store; resolves with the time it took (ms). */
  seed(tenantId: string, devices: number): Promise<number>;
  log(line: string): void;
}

export async function fleetVersionsPhase(d: FleetVersionsDeps) {
  const tenant = await d.rest.expect<{ id: string }>(200, 'GET', '/v1/tenant', d.apiKey);
  d.log(`fleet versions: seeding ${d.devices} devices in the server's store`);
  const seedMs = await d.seed(tenant.id, d.devices);
  await d.rest.expect(200, 'PUT', '/v1/fleet/policy', d.apiKey, {
    hardwareClass: 'hw-1',
    minVersion: '2.5.0',
  });
  const answer = await d.rest.expect<{ total: number; belowMinimum: number; items: unknown[] }>(
    200,
    'GET',
    '/v1/fleet/versions',
    d.apiKey,
  );
  const calls = 20;
  const versions = await timed(d.rest, '/v1/fleet/versions', d.apiKey, calls);
  const byTag = await timed(d.rest, '/v1/fleet/versions?by=tag', d.apiKey, calls);
  const belowMinimumPage = await timed(d.rest, '/v1/devices?belowMinimum=true&limit=100', d.apiKey, calls);
  d.log(
    `fleet versions: ${answer.total} devices, ${answer.items.length} rows; p50 ${versions.p50} ms, p99 ${versions.p99} ms (by tag p99 ${byTag.p99} ms)`,
  );
  return {
    measures:
      `GET /v1/fleet/versions on PGlite with ${d.devices} devices of one tenant (4 hardware classes, ` +
      'versions 1.0.0 to 3.11.3 with release candidates, 10 tags, 5 % never reported, one minimum-version ' +
      'policy): latency of sequential ' +
      `calls over HTTPS with an API key, ${calls} after 3 warm-up calls; the target is under 200 ms.`,
    devices: answer.total,
    rows: answer.items.length,
    belowMinimum: answer.belowMinimum,
    seedSeconds: round(seedMs / 1000, 1),
    versionsMs: versions,
    byTagMs: byTag,
    belowMinimumFirstPageMs: belowMinimumPage,
    met: versions.p99 < 200,
  };
}
