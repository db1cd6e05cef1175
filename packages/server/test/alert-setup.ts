/**
 * The alerts domain over a test store with an injected clock: a tenant with devices (tag `odd` or
 * `even` by their number), the services, and helpers that write readings and presence directly.
 */
import { randomBytes } from 'node:crypto';
import { transactionOf, type Db } from '../src/store/db.js';
import { createCursors } from '../src/platform/pagination.js';
import { createOutbox } from '../src/platform/outbox.js';
import { isAppError } from '../src/errors.js';
import { createTenancyService } from '../src/domains/tenancy/service.js';
import { tenancyStore } from '../src/domains/tenancy/store.js';
import type { AuditEvent } from '../src/domains/audit/audit.js';
import type { AlertRuleInput } from '../src/domains/alerts/alerts.js';
import { createAlertService } from '../src/domains/alerts/service.js';
import { createAlertEvaluator } from '../src/domains/alerts/evaluator.js';
import { alertEffects } from '../src/domains/alerts/effects.js';
import { alertStore } from '../src/domains/alerts/store.js';

const platform = { tenantId: '', principal: { kind: 'platform-admin' as const, userId: 'usr_admin' } };
export const T0 = Date.UTC(2026, 11, 7, 14, 0, 0);
export const MIN = 60_000;

/** The services over `db` with the shared clock: a new call is a restarted process. */
export function services(db: Db, clock: { now: number }, audits: AuditEvent[], pageSize?: number) {
  const effects = alertEffects({ outbox: createOutbox({ db }), audit: (e) => audits.push(e) });
  const now = () => clock.now;
  return {
    alerts: createAlertService({
      store: alertStore(db),
      transaction: transactionOf(db, alertStore),
      effects,
      cursors: createCursors(randomBytes(32)),
      now,
    }),
    evaluator: createAlertEvaluator({
      store: alertStore(db),
      transaction: transactionOf(db, alertStore),
      effects,
      now,
      ...(pageSize ? { pageSize } : {}),
    }),
  };
}

export async function setup(db: Db, name: string, devices = 3) {
  // Each test's clock is its own: the rules of earlier tests (other tenants) rest.
  await db.query('UPDATE alert_rules SET enabled = false');
  const tenant = await createTenancyService({ store: tenancyStore(db) }).createTenant(
    platform,
    `${name}-${randomBytes(3).toString('hex')}`,
  );
  const caller = {
    tenantId: tenant.id,
    principal: { kind: 'user' as const, userId: 'usr_op', tenantId: tenant.id, grants: [] },
  };
  const prefix = `dev_${name}${randomBytes(2).toString('hex')}_`;
  await db.query(
    `INSERT INTO devices (id, tenant_id, name, tags, created_at, updated_at)
     SELECT $1 || lpad(i::text, 4, '0'), $2, 'd' || i, CASE WHEN i % 2 = 0 THEN ARRAY['even'] ELSE ARRAY['odd'] END, $3, $3
       FROM generate_series(1, $4) AS i`,
    [prefix, tenant.id, T0, devices],
  );
  const ids = Array.from({ length: devices }, (_, i) => `${prefix}${String(i + 1).padStart(4, '0')}`);
  const clock = { now: T0 };
  const audits: AuditEvent[] = [];
  /** A reading of `key` as the latest value, stamped now. */
  async function reading(deviceId: string, key: string, value: number) {
    await db.query(
      `INSERT INTO telemetry_latest (tenant_id, device_id, key, ts, num) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (device_id, key) DO UPDATE SET ts = excluded.ts, num = excluded.num`,
      [tenant.id, deviceId, key, clock.now, value],
    );
  }
  async function presence(deviceId: string, connected: boolean) {
    await db.query(
      connected
        ? 'UPDATE devices SET connected = true, last_connected_at = $2, last_seen_at = $2 WHERE id = $1'
        : 'UPDATE devices SET connected = false, last_disconnected_at = $2 WHERE id = $1',
      [deviceId, clock.now],
    );
  }
  async function facts() {
    return db.query<{
      payload: { alertId: string; state: string; previous: string | null; deviceId: string };
    }>(`SELECT payload FROM outbox WHERE type = 'alert.changed' AND payload->>'tenantId' = $1 ORDER BY id`, [
      tenant.id,
    ]);
  }
  return { tenant, caller, ids, clock, audits, reading, presence, facts, ...services(db, clock, audits) };
}

export const hot = (extra: Partial<AlertRuleInput> = {}): AlertRuleInput => ({
  name: 'too hot',
  kind: 'threshold',
  severity: 'critical',
  threshold: { key: 'temp', op: '>', value: 80, clearValue: 70, forSeconds: 60 },
  ...extra,
});

export const code = (c: string) => (e: unknown) => isAppError(e) && e.code === c;
