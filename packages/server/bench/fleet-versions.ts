/**
 * The fleet-versions phase: 100,000 device rows with firmware versions, hardware classes and tags are
 * written straight into the measured server's store (`seedFleetVersions`, run inside the server
 * process on its own `Db` when the orchestrator asks over IPC: one bulk INSERT … SELECT per chunk, no
 * REST path creates devices this fast), a minimum-version policy is set over REST, then
 * `GET /v1/fleet/versions` is timed: p50/p99 over 20 sequential calls after 3 warm-up calls, and the
 * same for `?by=tag` and for the first page of `GET /v1/devices?belowMinimum=true`. Then the device list
 * the console's fleet screen reads (`deviceList`): the first page with each filter, a page 100 pages
 * deep, the bulk dry-run count, and one real bulk change of 10,000 devices and its undoing, metered for
 * the server's event-loop stalls.
 */
import { performance } from 'node:perf_hooks';
import type { Db } from '../src/store/db.js';
import type { Rest } from './rest.js';
import { round, Samples, type Percentiles } from './stats.js';

const CHUNK = 10_000;

/**
 * Inserts `count` devices into the tenant: 4 hardware classes, 1.0.0 to 3.11.3 with every 50th a
 * release candidate, every 20th never reported (and never seen: the others last seen within the past
 * 30 days), one of 10 site tags each; 7 in 10 with a certificate expiring between 10 days ago and 400
 * days on, every 10th of those renewed (a second one a year on), from a disabled CA of the seed's own
 * that no listener loads. Then analyses the tables unless `analyze` is false (the server never does:
 * PGlite has no autovacuum, so a PGlite store that grew by provisioning has no statistics). Runs in
 * the server process.
 */
export async function seedFleetVersions(
  db: Db,
  tenantId: string,
  count: number,
  analyze = true,
): Promise<number> {
  const t0 = performance.now();
  const now = Date.now();
  for (let from = 1; from <= count; from += CHUNK) {
    const to = Math.min(count, from + CHUNK - 1);
    await db.query(
      `INSERT INTO devices (id, tenant_id, name, tags, created_at, updated_at, firmware_version,
                            hardware_class, firmware_reported_at, fw_major, fw_minor, fw_patch, fw_pre, last_seen_at)
       SELECT 'dev_fleetbench' || lpad(i::text, 8, '0'), $1::text, 'fleet-' || i, ARRAY['site-' || (i % 10)], $2::bigint, $2::bigint,
              CASE WHEN silent THEN NULL ELSE major || '.' || minor || '.' || patch || CASE WHEN rc THEN '-rc.1' ELSE '' END END,
              CASE WHEN silent THEN NULL ELSE 'hw-' || (i % 4) END,
              CASE WHEN silent THEN NULL ELSE $2::bigint END,
              CASE WHEN silent THEN NULL ELSE major END,
              CASE WHEN silent THEN NULL ELSE minor END,
              CASE WHEN silent THEN NULL ELSE patch END,
              CASE WHEN silent THEN NULL WHEN rc THEN '1rc 00000000001' ELSE '~' END,
              CASE WHEN silent THEN NULL ELSE $2::bigint - ((i::bigint * 7919) % (30 * 86400)) * 1000 END
         FROM (SELECT i, i % 20 = 0 AS silent, i % 50 = 1 AS rc, 1 + (i % 3) AS major,
                      (i / 7) % 12 AS minor, (i / 3) % 4 AS patch
                 FROM generate_series($3::int, $4::int) AS i) s`,
      [tenantId, now, from, to],
    );
    await db.query(
      `INSERT INTO device_certificates (serial, tenant_id, device_id, ca_id, fingerprint, cert_pem, not_before, not_after, created_at)
       SELECT 'fb' || lpad(to_hex(i), 8, '0') || suffix, $1::text, 'dev_fleetbench' || lpad(i::text, 8, '0'), $5::text, 'seeded', '', $2::bigint,
              $2::bigint + CASE WHEN suffix = '01' THEN 365 ELSE (i::bigint * 104729) % 410 - 10 END * 86400000, $2::bigint
         FROM generate_series($3::int, $4::int) AS i, (VALUES ('00'), ('01')) AS v(suffix)
        WHERE i % 10 < 7 AND (suffix = '00' OR i % 10 = 1)`,
      [tenantId, now, from, to, await benchCa(db, tenantId, now)],
    );
  }
  if (analyze) for (const table of ['devices', 'device_certificates']) await db.query(`ANALYZE ${table}`);
  return performance.now() - t0;
}

/** A disabled manufacturer CA of the seed's own for the tenant (no listener loads a disabled one). */
async function benchCa(db: Db, tenantId: string, now: number): Promise<string> {
  const id = `ca_fleetbench_${tenantId}`;
  await db.query(
    `INSERT INTO certificate_authorities (id, tenant_id, kind, subject, cert_pem, status, registration_policy, created_at)
     VALUES ($1, $2, 'external', 'CN=fleet bench ' || $1, '', 'disabled', 'auto', $3) ON CONFLICT (id) DO NOTHING`,
    [id, tenantId, now],
  );
  return id;
}

async function timed(
  rest: Rest,
  path: string,
  apiKey: string,
  calls: number,
  method = 'GET',
  body?: unknown,
): Promise<Percentiles> {
  for (let i = 0; i < 3; i++) await rest.expect(200, method, path, apiKey, body);
  const samples = new Samples();
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await rest.expect(200, method, path, apiKey, body);
    samples.add(performance.now() - t0);
  }
  return samples.percentiles();
}

/** What the orchestrator's meter says about a window it marked (a part of run.ts `PhaseLoad`). */
export interface WindowLoad {
  serverCpuPct: number | null;
  serverEventLoopUtilization: number | null;
  otherProcessesCpuPct: number | null;
  serverLoopStallsMs: number[];
}

export interface FleetVersionsDeps {
  rest: Rest;
  apiKey: string;
  devices: number;
  /** Asks the server process to seed its store; resolves with the time it took (ms). */
  seed(tenantId: string, devices: number, analyze: boolean): Promise<number>;
  /** Whether the seed analyses the devices table (BENCH_FLEET_VERSIONS_ANALYZE, default yes). */
  analyze: boolean;
  /** Starts metering the server (CPU, other processes, event-loop stalls); call the answer at the end. */
  meter(): () => Promise<WindowLoad>;
  /** Sequential calls timed per device-list request, after 3 warm-up calls. */
  listCalls: number;
  log(line: string): void;
}

type Page = { items: { id: string }[]; nextCursor: string | null };
type BulkAnswer = { dryRun: boolean; matched: number; wouldChange: number; changed: number };

const pick = (l: WindowLoad) => ({
  serverCpuPct: l.serverCpuPct,
  serverEventLoopUtilization: l.serverEventLoopUtilization,
  otherProcessesCpuPct: l.otherProcessesCpuPct,
});

/**
 * The device list at fleet size, as the console's fleet screen reads it: the first page (50 and 500)
 * unfiltered and with each filter alone, a page 100 pages deep, the bulk dry-run count; then one real
 * bulk change over 10,000 devices and its undoing, with the server's longest event-loop stalls.
 */
async function deviceList(d: FleetVersionsDeps, firmwareVersion: string) {
  const calls = d.listCalls;
  const now = Date.now();
  const sevenDaysAgo = now - 7 * 86_400_000;
  const hourAgo = now - 3_600_000;
  const in30Days = now + 30 * 86_400_000;
  const filters: [string, Record<string, unknown>][] = [
    ['', {}],
    ['tag=site-3', { tag: 'site-3' }],
    ['status=enabled', { status: 'enabled' }],
    ['connected=false', { connected: false }],
    [`firmwareVersion=${firmwareVersion}`, { firmwareVersion }],
    ['hardwareClass=hw-2', { hardwareClass: 'hw-2' }],
    ['belowVersion=2.0.0', { belowVersion: '2.0.0' }],
    ['belowMinimum=true', { belowMinimum: true }],
    [`lastSeenBefore=${sevenDaysAgo}`, { lastSeenBefore: String(sevenDaysAgo) }],
    [`lastSeenAfter=${hourAgo}`, { lastSeenAfter: String(hourAgo) }],
    ['neverSeen=true', { neverSeen: true }],
    [`certificateExpiresBefore=${in30Days}`, { certificateExpiresBefore: String(in30Days) }],
  ];
  const reads = d.meter();
  const firstPage = [];
  for (const [query] of filters)
    for (const limit of [50, 500]) {
      const path = `/v1/devices?${query ? `${query}&` : ''}limit=${limit}`;
      const page = await d.rest.expect<Page>(200, 'GET', path, d.apiKey);
      firstPage.push({
        request: `GET ${path}`,
        items: page.items.length,
        ...(await timed(d.rest, path, d.apiKey, calls)),
      });
    }

  // 100 pages of 50 after the first, each fetch timed: keyset paging should not slow down with depth.
  for (let i = 0; i < 3; i++) await d.rest.expect(200, 'GET', '/v1/devices?limit=50', d.apiKey);
  let cursor = (await d.rest.expect<Page>(200, 'GET', '/v1/devices?limit=50', d.apiKey)).nextCursor;
  const deep = new Samples();
  for (let i = 0; i < 100 && cursor; i++) {
    const path = `/v1/devices?limit=50&cursor=${encodeURIComponent(cursor)}`;
    const t0 = performance.now();
    const page = await d.rest.expect<Page>(200, 'GET', path, d.apiKey);
    deep.add(performance.now() - t0);
    cursor = page.nextCursor;
  }

  const dryRun = [];
  for (const filter of [
    {},
    { tag: 'site-3' },
    { belowMinimum: true },
    { lastSeenBefore: String(sevenDaysAgo) },
    { certificateExpiresBefore: String(in30Days) },
  ]) {
    const body = { filter, action: { type: 'addTags', tags: ['x'] }, dryRun: true };
    const answer = await d.rest.expect<BulkAnswer>(200, 'POST', '/v1/devices/bulk', d.apiKey, body);
    dryRun.push({
      filter,
      matched: answer.matched,
      ...(await timed(d.rest, '/v1/devices/bulk', d.apiKey, calls, 'POST', body)),
    });
  }
  const readsLoad = await reads();

  // One real change of the 10,000 site-3 devices and its undoing: one statement on the server's event
  // loop (PGlite runs there), so every other client waits for it.
  const bulk = [];
  for (const type of ['addTags', 'removeTags'] as const) {
    const body = { filter: { tag: 'site-3' }, action: { type, tags: ['x'] } };
    const done = d.meter();
    const t0 = performance.now();
    const answer = await d.rest.expect<BulkAnswer>(200, 'POST', '/v1/devices/bulk', d.apiKey, body);
    const wallMs = round(performance.now() - t0);
    const load = await done();
    bulk.push({
      action: type,
      filter: body.filter,
      changed: answer.changed,
      wallMs,
      serverLoopStallsMs: load.serverLoopStallsMs,
      ...pick(load),
    });
  }
  const slow = [...firstPage, ...dryRun].filter((r) => r.p95 >= 200).length;
  d.log(
    `device list: ${firstPage.length} first pages, p95 ${Math.min(...firstPage.map((r) => r.p95))}-${Math.max(...firstPage.map((r) => r.p95))} ms; ` +
      `deep p95 ${deep.percentiles().p95} ms; dry runs p95 ${dryRun.map((r) => r.p95).join(' / ')} ms; ` +
      `bulk ${bulk.map((b) => `${b.action} ${b.wallMs} ms (stall ${b.serverLoopStallsMs[0] ?? 0} ms)`).join(', ')}`,
  );
  return {
    measures:
      `GET /v1/devices over the same devices: the first page (limit 50 and 500) unfiltered and with each ` +
      `filter alone, ${calls} sequential calls each after 3 warm-up calls; 100 pages of 50 following ` +
      'nextCursor from the first, each fetch timed; the dry-run count of POST /v1/devices/bulk (addTags) ' +
      `for five filters, ${calls} calls each; then one real bulk addTags over the devices of tag site-3 ` +
      `(${(d.devices / 10).toLocaleString('en')}) and the removeTags undoing it, each with its wall time ` +
      "and the longest times the server's " +
      'event loop was held during it (PGlite runs on that loop: every other client waits that long). ' +
      'The target is a p95 under 200 ms for every read.',
    met: slow === 0,
    firstPageMs: firstPage,
    deepPageMs: {
      pagesFollowed: deep.count,
      lastPageEndsAtDevice: (deep.count + 1) * 50,
      ...deep.percentiles(),
    },
    bulkDryRunMs: dryRun,
    reads: pick(readsLoad),
    bulk,
  };
}

export async function fleetVersionsPhase(d: FleetVersionsDeps) {
  const tenant = await d.rest.expect<{ id: string }>(200, 'GET', '/v1/tenant', d.apiKey);
  d.log(`fleet versions: seeding ${d.devices} devices in the server's store`);
  const seedMs = await d.seed(tenant.id, d.devices, d.analyze);
  await d.rest.expect(200, 'PUT', '/v1/fleet/policy', d.apiKey, {
    hardwareClass: 'hw-1',
    minVersion: '2.5.0',
  });
  const answer = await d.rest.expect<{
    total: number;
    belowMinimum: number;
    items: { version: string | null; count: number }[];
  }>(200, 'GET', '/v1/fleet/versions', d.apiKey);
  const calls = 20;
  const versions = await timed(d.rest, '/v1/fleet/versions', d.apiKey, calls);
  const byTag = await timed(d.rest, '/v1/fleet/versions?by=tag', d.apiKey, calls);
  const belowMinimumPage = await timed(d.rest, '/v1/devices?belowMinimum=true&limit=100', d.apiKey, calls);
  // The most common version, so that its filter returns full pages.
  const common = answer.items.reduce((a, b) => (b.version !== null && b.count > a.count ? b : a));
  d.log(
    `fleet versions: ${answer.total} devices, ${answer.items.length} rows; p50 ${versions.p50} ms, p99 ${versions.p99} ms (by tag p99 ${byTag.p99} ms)`,
  );
  return {
    measures:
      `GET /v1/fleet/versions on PGlite with ${d.devices} devices of one tenant (4 hardware classes, ` +
      'versions 1.0.0 to 3.11.3 with release candidates, 10 tags, 5 % never reported, one minimum-version ' +
      'policy): latency of sequential ' +
      `calls over HTTPS with an API key, ${calls} after 3 warm-up calls; the target is under 200 ms. ` +
      '`deviceList`: the device list and bulk operations over the same devices (its own `measures`).',
    devices: answer.total,
    rows: answer.items.length,
    belowMinimum: answer.belowMinimum,
    seedSeconds: round(seedMs / 1000, 1),
    devicesAnalyzed: d.analyze,
    versionsMs: versions,
    byTagMs: byTag,
    belowMinimumFirstPageMs: belowMinimumPage,
    met: versions.p99 < 200,
    deviceList: await deviceList(d, common.version ?? ''),
  };
}
