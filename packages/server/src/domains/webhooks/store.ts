/** SQL of webhooks: `webhook_endpoints`, `webhook_deliveries`, `webhook_attempts`. */
import type { PlatformEvent, PlatformEventType } from '@mooring/protocol';
import type { Queryable } from '../../store/db.js';
import type { Delivery, DeliveryAttempt, DeliveryStatus, WebhookStatus } from './webhooks.js';

/** The stored authentication: secrets sealed. */
export type StoredAuth =
  | { type: 'none' }
  | { type: 'basic'; username: string; password: string }
  | {
      type: 'oauth2';
      tokenUrl: string;
      clientId: string;
      clientSecret: string;
      scope?: string;
      audience?: string;
    };

export interface EndpointRow {
  id: string;
  tenant_id: string;
  name: string;
  url: string;
  event_types: PlatformEventType[];
  device_tags: string[];
  auth: StoredAuth;
  ca_pem: string | null;
  secret: string;
  previous_secret: string | null;
  previous_until: number | null;
  status: WebhookStatus;
  status_reason: string | null;
  verify_due_at: number | null;
  verify_attempts: number;
  verified_at: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

export interface DeliveryRow {
  id: string;
  endpoint_id: string;
  tenant_id: string;
  event_id: string;
  event_type: PlatformEventType;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: number;
  created_at: number;
  delivered_at: number | null;
  last_status: number | null;
  last_error: string | null;
}

const n = (v: number | string | null) => (v === null ? null : Number(v));

export const toDelivery = (r: DeliveryRow): Delivery => ({
  id: r.id,
  webhookId: r.endpoint_id,
  eventId: r.event_id,
  eventType: r.event_type,
  status: r.status,
  attempts: Number(r.attempts),
  nextAttemptAt: r.status === 'pending' ? Number(r.next_attempt_at) : null,
  createdAt: Number(r.created_at),
  deliveredAt: n(r.delivered_at),
  lastStatus: n(r.last_status),
  lastError: r.last_error,
});

const DELIVERY_COLUMNS = `id, endpoint_id, tenant_id, event_id, event_type, status, attempts,
  next_attempt_at, created_at, delivered_at, last_status, last_error`;

/** A delivery with its event: the JSON text that is signed and sent. */
export interface DeliveryWithEvent extends DeliveryRow {
  event: string;
}

/** What the fan-out needs of an active endpoint to match events against it. */
export interface MatchableEndpoint {
  id: string;
  event_types: string[];
  device_tags: string[];
}

/**
 * Matches events against a tenant's active endpoints: an endpoint takes an event when it takes the
 * event's type and has no tag filter or shares a tag with the device. Ids come sorted.
 */
export function endpointMatcher(endpoints: readonly MatchableEndpoint[]) {
  return (type: PlatformEventType, deviceTags: readonly string[]): string[] =>
    endpoints
      .filter(
        (e) =>
          e.event_types.includes(type) &&
          (e.device_tags.length === 0 || e.device_tags.some((tag) => deviceTags.includes(tag))),
      )
      .map((e) => e.id)
      .sort();
}

/** Small events of one `addDeliveriesOfEvents` call share a statement up to this much JSON. */
const SHARED_STATEMENT_BYTES = 64 * 1024;

export function webhookStore(db: Queryable) {
  /** One delivery per endpoint for an event; an event handed on twice makes none twice. */
  async function addDeliveries(
    endpointIds: readonly string[],
    event: PlatformEvent,
    ids: readonly string[],
    at: number,
    text = JSON.stringify(event),
  ): Promise<void> {
    if (endpointIds.length === 0) return;
    await db.query(
      `INSERT INTO webhook_deliveries (id, endpoint_id, tenant_id, event_id, event_type, event, status,
         next_attempt_at, created_at)
       SELECT d.id, d.endpoint_id, $3, $4, $5, $6, 'pending', $7, $7
         FROM unnest($1::text[], $2::text[]) AS d(id, endpoint_id)
       ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
      [ids, endpointIds, event.tenantId, event.id, event.type, text, at],
    );
  }

  return {
    async insertEndpoint(r: EndpointRow): Promise<void> {
      await db.query(
        `INSERT INTO webhook_endpoints (id, tenant_id, name, url, event_types, device_tags, auth, ca_pem,
           secret, status, verify_due_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)`,
        [
          r.id,
          r.tenant_id,
          r.name,
          r.url,
          r.event_types,
          r.device_tags,
          JSON.stringify(r.auth),
          r.ca_pem,
          r.secret,
          r.status,
          r.verify_due_at,
          r.created_at,
        ],
      );
    },
    async endpoint(tenantId: string, id: string, forUpdate = false): Promise<EndpointRow | undefined> {
      const rows = await db.query<EndpointRow>(
        `SELECT * FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2${forUpdate ? ' FOR UPDATE' : ''}`,
        [tenantId, id],
      );
      return rows[0];
    },
    async endpointById(id: string): Promise<EndpointRow | undefined> {
      const rows = await db.query<EndpointRow>('SELECT * FROM webhook_endpoints WHERE id = $1', [id]);
      return rows[0];
    },
    async endpoints(tenantId: string): Promise<EndpointRow[]> {
      return db.query<EndpointRow>('SELECT * FROM webhook_endpoints WHERE tenant_id = $1 ORDER BY id', [
        tenantId,
      ]);
    },
    /**
     * The tenant's webhooks, counted with the tenant row locked until the transaction ends: two
     * creations at once (on two nodes) cannot both see room for one more.
     */
    async countEndpoints(tenantId: string): Promise<number> {
      await db.query('SELECT id FROM tenants WHERE id = $1 FOR UPDATE', [tenantId]);
      const [r] = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM webhook_endpoints WHERE tenant_id = $1',
        [tenantId],
      );
      return r?.n ?? 0;
    },
    /** Writes the changeable columns of an endpoint row. */
    async saveEndpoint(r: EndpointRow): Promise<void> {
      await db.query(
        `UPDATE webhook_endpoints SET name = $2, url = $3, event_types = $4, device_tags = $5, auth = $6,
                ca_pem = $7, secret = $8, previous_secret = $9, previous_until = $10, status = $11,
                status_reason = $12, verify_due_at = $13, verify_attempts = $14, verified_at = $15,
                last_error = $16, updated_at = $17
          WHERE id = $1`,
        [
          r.id,
          r.name,
          r.url,
          r.event_types,
          r.device_tags,
          JSON.stringify(r.auth),
          r.ca_pem,
          r.secret,
          r.previous_secret,
          r.previous_until,
          r.status,
          r.status_reason,
          r.verify_due_at,
          r.verify_attempts,
          r.verified_at,
          r.last_error,
          r.updated_at,
        ],
      );
    },
    async deleteEndpoint(tenantId: string, id: string): Promise<boolean> {
      const rows = await db.query(
        'DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2 RETURNING id',
        [tenantId, id],
      );
      return rows.length > 0;
    },
    /** The tenant's active endpoints, for `endpointMatcher`. */
    async activeEndpoints(tenantId: string): Promise<MatchableEndpoint[]> {
      return db.query<MatchableEndpoint>(
        `SELECT id, event_types, device_tags FROM webhook_endpoints WHERE tenant_id = $1 AND status = 'active'`,
        [tenantId],
      );
    },
    addDeliveries,
    /**
     * One delivery per endpoint for each of several events; an event handed on twice makes none twice.
     * A large event (a telemetry batch) gets a statement of its own, its text one parameter: inside a
     * text array it would be escaped and quoted on its way in. Small events (device events, presence)
     * share statements, up to `SHARED_STATEMENT_BYTES` of JSON each.
     */
    async addDeliveriesOfEvents(
      items: readonly { endpointIds: readonly string[]; event: PlatformEvent; ids: readonly string[] }[],
      at: number,
    ): Promise<void> {
      let shared: { id: string; endpoint: string; event: PlatformEvent; text: string }[] = [];
      let bytes = 0;
      const flush = async () => {
        if (shared.length === 0) return;
        const rows = shared;
        shared = [];
        bytes = 0;
        await db.query(
          `INSERT INTO webhook_deliveries (id, endpoint_id, tenant_id, event_id, event_type, event, status,
             next_attempt_at, created_at)
           SELECT d.id, d.endpoint_id, d.tenant_id, d.event_id, d.event_type, d.event, 'pending', $7, $7
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                  AS d(id, endpoint_id, tenant_id, event_id, event_type, event)
           ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
          [
            rows.map((r) => r.id),
            rows.map((r) => r.endpoint),
            rows.map((r) => r.event.tenantId),
            rows.map((r) => r.event.id),
            rows.map((r) => r.event.type),
            rows.map((r) => r.text),
            at,
          ],
        );
      };
      for (const { endpointIds, event, ids } of items) {
        if (endpointIds.length === 0) continue;
        const text = JSON.stringify(event);
        if (text.length > SHARED_STATEMENT_BYTES / 4) {
          await addDeliveries(endpointIds, event, ids, at, text);
          continue;
        }
        if (bytes + text.length * endpointIds.length > SHARED_STATEMENT_BYTES) await flush();
        endpointIds.forEach((endpoint, i) => shared.push({ id: ids[i]!, endpoint, event, text }));
        bytes += text.length * endpointIds.length;
      }
      await flush();
    },
    /**
     * Due deliveries of active endpoints, claimed until `claimUntil` (a node that dies leaves them due
     * again then) and counted as an attempt: of each endpoint at most `perEndpoint` less what this node
     * has `inFlight` to it already. Safe with several nodes: the claim re-checks that each is still due.
     */
    async claimDue(q: {
      now: number;
      claimUntil: number;
      claimedBy: string;
      limit: number;
      perEndpoint: number;
      /** Requests this node has in flight, by endpoint id. */
      inFlight: ReadonlyMap<string, number>;
      /** Tenants whose deliveries wait (over `webhooks.deliveries_per_tenant`): none of theirs is claimed. */
      waitingTenants?: readonly string[];
    }): Promise<DeliveryWithEvent[]> {
      const busy = [...q.inFlight].filter(([, k]) => k > 0);
      const candidates = await db.query<{ id: string }>(
        `SELECT id FROM (
           SELECT d.id, row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS k,
                  coalesce(b.n, 0) AS busy, d.next_attempt_at
             FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
             LEFT JOIN unnest($4::text[], $5::int[]) AS b(endpoint_id, n) ON b.endpoint_id = d.endpoint_id
            WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND e.status = 'active'
              AND NOT (d.tenant_id = ANY($6::text[]))) c
          WHERE k + busy <= $3 ORDER BY next_attempt_at, id LIMIT $2`,
        [
          q.now,
          q.limit,
          q.perEndpoint,
          busy.map(([id]) => id),
          busy.map(([, k]) => k),
          q.waitingTenants ?? [],
        ],
      );
      if (candidates.length === 0) return [];
      return db.query<DeliveryWithEvent>(
        `UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $3, claimed_by = $4
          WHERE id = ANY($1::text[]) AND status = 'pending' AND next_attempt_at <= $2
          RETURNING ${DELIVERY_COLUMNS}, event`,
        [candidates.map((c) => c.id), q.now, q.claimUntil, q.claimedBy],
      );
    },
    /**
     * Due deliveries of active endpoints that have had every attempt they get (a 410 on the last one,
     * or claims that lapsed with no outcome) are dead, not sent once more.
     */
    async buryExhausted(now: number, maxAttempts: number): Promise<number> {
      const rows = await db.query(
        `UPDATE webhook_deliveries d SET status = 'dead', claimed_by = NULL,
                last_error = coalesce(d.last_error, 'no outcome was recorded for the last attempt')
           FROM webhook_endpoints e
          WHERE e.id = d.endpoint_id AND e.status = 'active'
            AND d.status = 'pending' AND d.attempts >= $2 AND d.next_attempt_at <= $1
          RETURNING d.id`,
        [now, maxAttempts],
      );
      return rows.length;
    },
    /**
     * Logs an attempt. The log numbers attempts over the delivery's whole life (a replay starts the
     * schedule again, `attempts`, but goes on numbering here).
     */
    async recordAttempt(deliveryId: string, a: Omit<DeliveryAttempt, 'attempt'>): Promise<void> {
      await db.query(
        `INSERT INTO webhook_attempts (delivery_id, attempt, at, status, latency_ms, error, response_excerpt)
         VALUES ($1, (SELECT coalesce(max(attempt), 0) + 1 FROM webhook_attempts WHERE delivery_id = $1),
                 $2, $3, $4, $5, $6)
         ON CONFLICT (delivery_id, attempt) DO NOTHING`,
        [deliveryId, a.at, a.status, a.latencyMs, a.error, a.responseExcerpt],
      );
    },
    async settle(
      deliveryId: string,
      s: {
        status: DeliveryStatus;
        nextAttemptAt: number;
        at: number;
        lastStatus: number | null;
        lastError: string | null;
      },
    ): Promise<void> {
      await db.query(
        `UPDATE webhook_deliveries SET status = $2, next_attempt_at = $3, last_status = $4, last_error = $5,
                claimed_by = NULL, delivered_at = CASE WHEN $2 = 'delivered' THEN $6 ELSE delivered_at END
          WHERE id = $1`,
        [deliveryId, s.status, s.nextAttemptAt, s.lastStatus, s.lastError, s.at],
      );
    },
    async deliveries(
      endpointId: string,
      q: { status?: DeliveryStatus; before?: [number, string]; limit: number },
    ): Promise<DeliveryRow[]> {
      const where = ['endpoint_id = $1'];
      const params: unknown[] = [endpointId];
      if (q.status) where.push(`status = $${params.push(q.status)}`);
      if (q.before)
        where.push(`(created_at, id) < ($${params.push(q.before[0])}, $${params.push(q.before[1])})`);
      return db.query<DeliveryRow>(
        `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE ${where.join(' AND ')}
          ORDER BY created_at DESC, id DESC LIMIT $${params.push(q.limit + 1)}`,
        params,
      );
    },
    async delivery(endpointId: string, id: string): Promise<DeliveryWithEvent | undefined> {
      const rows = await db.query<DeliveryWithEvent>(
        `SELECT ${DELIVERY_COLUMNS}, event FROM webhook_deliveries WHERE endpoint_id = $1 AND id = $2`,
        [endpointId, id],
      );
      return rows[0];
    },
    async attempts(deliveryId: string): Promise<DeliveryAttempt[]> {
      const rows = await db.query<{
        attempt: number;
        at: number;
        status: number | null;
        latency_ms: number | null;
        error: string | null;
        response_excerpt: string | null;
      }>('SELECT * FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt', [deliveryId]);
      return rows.map((r) => ({
        attempt: Number(r.attempt),
        at: Number(r.at),
        status: n(r.status),
        latencyMs: n(r.latency_ms),
        error: r.error,
        responseExcerpt: r.response_excerpt,
      }));
    },
    /**
     * Deletes up to `limit` deliveries (and their attempts) past their keeping: delivered ones created
     * before `deliveredBefore`, dead ones created before `deadBefore`; returns how many.
     */
    async purgeLog(deliveredBefore: number, deadBefore: number, limit: number): Promise<number> {
      const rows = await db.query(
        `DELETE FROM webhook_deliveries WHERE id IN (
           SELECT id FROM webhook_deliveries
            WHERE (status = 'delivered' AND created_at < $1) OR (status = 'dead' AND created_at < $2)
            LIMIT $3)
         RETURNING id`,
        [deliveredBefore, deadBefore, limit],
      );
      return rows.length;
    },
    /**
     * Makes deliveries due again now (a replay); returns how many. One being sent right now (claimed
     * and pending) is left alone: replaying it would send it a second time beside the first.
     */
    async replay(
      endpointId: string,
      q: { ids?: readonly string[]; from?: number; to?: number; status?: DeliveryStatus },
      now: number,
    ): Promise<number> {
      const where = [
        'endpoint_id = $1',
        "NOT (status = 'pending' AND claimed_by IS NOT NULL AND next_attempt_at > $2)",
      ];
      const params: unknown[] = [endpointId, now];
      if (q.ids) where.push(`id = ANY($${params.push(q.ids)}::text[])`);
      if (q.from !== undefined) where.push(`created_at >= $${params.push(q.from)}`);
      if (q.to !== undefined) where.push(`created_at < $${params.push(q.to)}`);
      if (q.status) where.push(`status = $${params.push(q.status)}`);
      const rows = await db.query(
        `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $2, attempts = 0
          WHERE ${where.join(' AND ')} RETURNING id`,
        params,
      );
      return rows.length;
    },
    /**
     * Claims an earlier run of this node held (marked `<nodeId>#<run>`, the run a suffix without `#`)
     * are due again now: that run died with them in flight. Returns how many. Another node's claims are
     * left alone, also when its id starts with this one's and a `#` (node `a` and node `a#b`).
     */
    async releaseClaimsOf(nodeId: string, now: number): Promise<number> {
      const rows = await db.query(
        `UPDATE webhook_deliveries SET next_attempt_at = $2, claimed_by = NULL
          WHERE status = 'pending' AND left(claimed_by, char_length($1::text) + 1) = $1::text || '#'
            AND strpos(substr(claimed_by, char_length($1::text) + 2), '#') = 0
          RETURNING id`,
        [nodeId, now],
      );
      return rows.length;
    },
    /**
     * Gives a claimed delivery back unsent (its tenant is over its delivery rate): the attempt its
     * claim counted is taken back, and it is due again at `dueAt`.
     */
    async unclaim(deliveryId: string, claimedBy: string, dueAt: number): Promise<void> {
      await db.query(
        `UPDATE webhook_deliveries SET attempts = attempts - 1, next_attempt_at = $3, claimed_by = NULL
          WHERE id = $1 AND claimed_by = $2 AND status = 'pending'`,
        [deliveryId, claimedBy, dueAt],
      );
    },
    /** Pending endpoints whose challenge is due, claimed until `claimUntil`. */
    async claimVerifications(now: number, claimUntil: number, limit: number): Promise<EndpointRow[]> {
      return db.query<EndpointRow>(
        `UPDATE webhook_endpoints SET verify_due_at = $2
          WHERE id IN (SELECT id FROM webhook_endpoints
                        WHERE status = 'pending' AND verify_due_at <= $1
                        ORDER BY verify_due_at LIMIT $3 FOR UPDATE SKIP LOCKED)
          RETURNING *`,
        [now, claimUntil, limit],
      );
    },
    /**
     * The outcome of a challenge: active when answered (unless the URL changed meanwhile), else the
     * error and when to try again (null: wait for an operator).
     */
    async verificationResult(
      id: string,
      url: string,
      r: { at: number; attempts: number; error: string | null; nextDueAt: number | null },
    ): Promise<void> {
      await db.query(
        `UPDATE webhook_endpoints SET
            status = CASE WHEN $4::text IS NULL THEN 'active' ELSE status END,
            status_reason = CASE WHEN $4::text IS NULL THEN NULL
                                 WHEN $5::bigint IS NULL THEN 'the endpoint did not answer the verification challenge; POST …/verify to try again'
                                 ELSE status_reason END,
            verified_at = CASE WHEN $4::text IS NULL THEN $3 ELSE verified_at END,
            verify_attempts = $6, verify_due_at = $5, last_error = $4, updated_at = $3
          WHERE id = $1 AND url = $2 AND status = 'pending'`,
        [id, url, r.at, r.error, r.nextDueAt, r.attempts],
      );
    },
    async disable(id: string, reason: string, at: number): Promise<void> {
      await db.query(
        `UPDATE webhook_endpoints SET status = 'disabled', status_reason = $2, updated_at = $3 WHERE id = $1`,
        [id, reason, at],
      );
    },
    /** The device's tags (empty when it is gone). */
    async deviceTags(tenantId: string, deviceId: string): Promise<string[]> {
      const rows = await db.query<{ tags: string[] }>(
        'SELECT tags FROM devices WHERE tenant_id = $1 AND id = $2',
        [tenantId, deviceId],
      );
      return rows[0]?.tags ?? [];
    },
    /** The tags of several devices of one tenant in one statement (a device that is gone has none). */
    async devicesTags(tenantId: string, deviceIds: readonly string[]): Promise<Map<string, string[]>> {
      const rows = await db.query<{ id: string; tags: string[] }>(
        'SELECT id, tags FROM devices WHERE tenant_id = $1 AND id = ANY($2::text[])',
        [tenantId, deviceIds],
      );
      return new Map(rows.map((r) => [r.id, r.tags]));
    },
  };
}
export type WebhookStore = ReturnType<typeof webhookStore>;
