/**
 * SQL of the MQTT bridges: `bridges` (settings, lease, status, spool counters) and `bridge_spool`.
 * Every change of a bridge's spool rows and its counters happens under the bridge row's lock, taken
 * first, so the counters stay exact and an enqueue (lock, insert, drop) and an acknowledgement (lock,
 * delete) never wait on each other in opposite orders.
 */
import type { PlatformEventType } from '@mooring/protocol';
import type { Queryable } from '../../store/db.js';

export interface BridgeRow {
  id: string;
  tenant_id: string;
  name: string;
  url: string;
  username: string | null;
  password_sealed: string | null;
  client_cert: string | null;
  client_key_sealed: string | null;
  ca: string | null;
  topic_template: string;
  event_types: PlatformEventType[];
  device_tags: string[] | null;
  qos: number;
  spool_max_bytes: string | number;
  spool_max_age_seconds: number;
  enabled: boolean;
  created_at: string | number;
  updated_at: string | number;
  revision: number;
  /** `connected` and a live lease: a node that died holding it is not connected. */
  connected_now: boolean;
  last_connected_at: string | number | null;
  last_error: string | null;
  last_error_at: string | number | null;
  spool_rows: string | number;
  spool_bytes: string | number;
  oldest_spooled_at: string | number | null;
  forwarded: string | number;
  dropped: string | number;
  last_dropped_at: string | number | null;
}

/** The settings columns a create or update writes. */
export interface BridgeColumns {
  name: string;
  url: string;
  username: string | null;
  password_sealed: string | null;
  client_cert: string | null;
  client_key_sealed: string | null;
  ca: string | null;
  topic_template: string;
  event_types: PlatformEventType[];
  device_tags: string[] | null;
  qos: number;
  spool_max_bytes: number;
  spool_max_age_seconds: number;
  enabled: boolean;
}

const COLUMNS: (keyof BridgeColumns)[] = [
  'name',
  'url',
  'username',
  'password_sealed',
  'client_cert',
  'client_key_sealed',
  'ca',
  'topic_template',
  'event_types',
  'device_tags',
  'qos',
  'spool_max_bytes',
  'spool_max_age_seconds',
  'enabled',
];

const SELECT = `SELECT b.*, (b.connected AND b.lease_until > now()) AS connected_now,
  (SELECT min(s.created_at) FROM bridge_spool s WHERE s.bridge_id = b.id) AS oldest_spooled_at
  FROM bridges b`;

/** What a spool write reports: rows dropped by the caps, and the drops to audit now (0: not yet). */
export interface SpoolOutcome {
  dropped: number;
  droppedBytes: number;
  auditNow: number;
  totalDropped: number;
}

/** The tenants and event types enabled bridges take: a source of the forwarding interest. */
export const BRIDGE_INTEREST = `SELECT DISTINCT tenant_id, unnest(event_types) AS type FROM bridges WHERE enabled`;

/** One audit record per bridge at most this often; the drops in between are summed into the next one. */
export const DROP_AUDIT_INTERVAL_MS = 60_000;

export interface SpoolTarget {
  id: string;
  tenant_id: string;
  topic_template: string;
  event_types: PlatformEventType[];
  device_tags: string[] | null;
}

export interface SpooledMessage {
  seq: string;
  topic: string;
  payload: Uint8Array;
}

export function bridgeStore(db: Queryable) {
  /** Deletes the oldest rows whose bytes cover `excess`, and rows older than `cutoff`; counts them. */
  async function dropPastCaps(bridgeId: string, excess: number, cutoff: number) {
    let dropped = 0;
    let bytes = 0;
    while (bytes < excess) {
      const oldest = await db.query<{ seq: string; bytes: number }>(
        'SELECT seq, bytes FROM bridge_spool WHERE bridge_id = $1 ORDER BY seq LIMIT 256',
        [bridgeId],
      );
      if (oldest.length === 0) break;
      let upTo = oldest[0]!.seq;
      let covered = bytes;
      for (const r of oldest) {
        upTo = r.seq;
        covered += Number(r.bytes);
        if (covered >= excess) break;
      }
      const [d] = await db.query<{ n: string; b: string }>(
        `WITH d AS (DELETE FROM bridge_spool WHERE bridge_id = $1 AND seq <= $2 RETURNING bytes)
         SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM d`,
        [bridgeId, upTo],
      );
      dropped += Number(d!.n);
      bytes += Number(d!.b);
    }
    const [aged] = await db.query<{ n: string; b: string }>(
      `WITH d AS (DELETE FROM bridge_spool WHERE bridge_id = $1 AND created_at < $2 RETURNING bytes)
       SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM d`,
      [bridgeId, cutoff],
    );
    return { dropped: dropped + Number(aged!.n), bytes: bytes + Number(aged!.b) };
  }

  /** Books drops on the bridge row (locked by the caller) and says how many to audit now (0: later). */
  async function bookDrops(bridgeId: string, n: number, bytes: number, at: number): Promise<SpoolOutcome> {
    const [b] = await db.query<{ drops_unaudited: string; drops_audited_at: string | null }>(
      'SELECT drops_unaudited, drops_audited_at FROM bridges WHERE id = $1',
      [bridgeId],
    );
    const pending = Number(b!.drops_unaudited) + n;
    const due = b!.drops_audited_at === null || Number(b!.drops_audited_at) <= at - DROP_AUDIT_INTERVAL_MS;
    const [r] = await db.query<{ dropped: string }>(
      `UPDATE bridges SET spool_rows = spool_rows - $2, spool_bytes = spool_bytes - $3, dropped = dropped + $2,
              last_dropped_at = CASE WHEN $2 > 0 THEN $4 ELSE last_dropped_at END,
              drops_unaudited = $5, drops_audited_at = $6
        WHERE id = $1 RETURNING dropped`,
      [bridgeId, n, bytes, at, due ? 0 : pending, due ? at : b!.drops_audited_at],
    );
    return { dropped: n, droppedBytes: bytes, auditNow: due ? pending : 0, totalDropped: Number(r!.dropped) };
  }

  return {
    async insert(id: string, tenantId: string, c: BridgeColumns, at: number): Promise<void> {
      await db.query(
        `INSERT INTO bridges (id, tenant_id, ${COLUMNS.join(', ')}, created_at, updated_at)
         VALUES ($1, $2, ${COLUMNS.map((_c, i) => `$${i + 3}`).join(', ')}, $${COLUMNS.length + 3}, $${COLUMNS.length + 3})`,
        [id, tenantId, ...COLUMNS.map((k) => c[k]), at],
      );
    },
    async update(tenantId: string, id: string, c: BridgeColumns, at: number): Promise<boolean> {
      const rows = await db.query(
        `UPDATE bridges SET ${COLUMNS.map((k, i) => `${k} = $${i + 3}`).join(', ')},
                updated_at = $${COLUMNS.length + 3}, revision = revision + 1
          WHERE tenant_id = $1 AND id = $2 RETURNING id`,
        [tenantId, id, ...COLUMNS.map((k) => c[k]), at],
      );
      return rows.length > 0;
    },
    async find(tenantId: string, id: string): Promise<BridgeRow | undefined> {
      const rows = await db.query<BridgeRow>(`${SELECT} WHERE b.tenant_id = $1 AND b.id = $2`, [
        tenantId,
        id,
      ]);
      return rows[0];
    },
    /** The secrets of a bridge, for an update that keeps them. */
    async secrets(tenantId: string, id: string) {
      const rows = await db.query<{ password_sealed: string | null; client_key_sealed: string | null }>(
        'SELECT password_sealed, client_key_sealed FROM bridges WHERE tenant_id = $1 AND id = $2',
        [tenantId, id],
      );
      return rows[0];
    },
    list(tenantId: string): Promise<BridgeRow[]> {
      return db.query<BridgeRow>(`${SELECT} WHERE b.tenant_id = $1 ORDER BY b.id`, [tenantId]);
    },
    async remove(tenantId: string, id: string): Promise<boolean> {
      const rows = await db.query('DELETE FROM bridges WHERE tenant_id = $1 AND id = $2 RETURNING id', [
        tenantId,
        id,
      ]);
      return rows.length > 0;
    },

    /** The tenant's enabled bridges, in id order (the order their rows are locked in). */
    spoolTargets(tenantId: string): Promise<SpoolTarget[]> {
      return db.query<SpoolTarget>(
        `SELECT id, tenant_id, topic_template, event_types, device_tags FROM bridges
          WHERE tenant_id = $1 AND enabled ORDER BY id`,
        [tenantId],
      );
    },
    /**
     * Adds messages to a bridge's spool, in order, and applies its caps; undefined when the bridge is
     * no longer enabled. Must run in a transaction: the bridge row stays locked until it ends, so seq
     * order is commit order for the bridge. Three statements however many messages (the caps' drops
     * aside): the telemetry forwarder spools a second of a tenant's devices at once.
     */
    async spool(
      bridgeId: string,
      tenantId: string,
      messages: readonly { topic: string; payload: Buffer }[],
      at: number,
    ) {
      const bytes = messages.reduce((n, m) => n + m.payload.length, 0);
      const [b] = await db.query<{
        spool_bytes: string;
        spool_max_bytes: string;
        spool_max_age_seconds: number;
      }>(
        `UPDATE bridges SET spool_rows = spool_rows + $3, spool_bytes = spool_bytes + $2
          WHERE id = $1 AND enabled RETURNING spool_bytes, spool_max_bytes, spool_max_age_seconds`,
        [bridgeId, bytes, messages.length],
      );
      if (!b) return undefined;
      await db.query(
        `INSERT INTO bridge_spool (bridge_id, tenant_id, topic, payload, bytes, created_at)
         SELECT $1, $2, m.topic, m.payload, octet_length(m.payload), $5
           FROM unnest($3::text[], $4::bytea[]) WITH ORDINALITY AS m(topic, payload, n) ORDER BY m.n`,
        [bridgeId, tenantId, messages.map((m) => m.topic), messages.map((m) => m.payload), at],
      );
      const excess = Number(b.spool_bytes) - Number(b.spool_max_bytes);
      const cut = await dropPastCaps(bridgeId, excess, at - b.spool_max_age_seconds * 1000);
      if (cut.dropped === 0) return { dropped: 0, droppedBytes: 0, auditNow: 0, totalDropped: 0 };
      return bookDrops(bridgeId, cut.dropped, cut.bytes, at);
    },
    /** The periodic pass of one bridge (in a transaction): the age cap, and drops still to be audited. */
    async expire(bridgeId: string, at: number): Promise<(SpoolOutcome & { tenantId: string }) | undefined> {
      const [b] = await db.query<{
        tenant_id: string;
        spool_max_age_seconds: number;
        drops_unaudited: string;
      }>('SELECT tenant_id, spool_max_age_seconds, drops_unaudited FROM bridges WHERE id = $1 FOR UPDATE', [
        bridgeId,
      ]);
      if (!b) return undefined;
      const cut = await dropPastCaps(bridgeId, 0, at - b.spool_max_age_seconds * 1000);
      if (cut.dropped === 0 && Number(b.drops_unaudited) === 0) return undefined;
      return { ...(await bookDrops(bridgeId, cut.dropped, cut.bytes, at)), tenantId: b.tenant_id };
    },
    /** Bridges with something for the periodic pass. */
    async expiryCandidates(at: number): Promise<string[]> {
      const rows = await db.query<{ id: string }>(
        `SELECT b.id FROM bridges b WHERE b.drops_unaudited > 0 OR EXISTS (
           SELECT 1 FROM bridge_spool s WHERE s.bridge_id = b.id AND s.created_at < $1 - b.spool_max_age_seconds * 1000::bigint)`,
        [at],
      );
      return rows.map((r) => r.id);
    },

    // The forwarder's side.
    /** Up to `limit` spooled messages after `afterSeq`, in seq order. */
    pending(bridgeId: string, afterSeq: string, limit: number): Promise<SpooledMessage[]> {
      return db.query<SpooledMessage>(
        // Ordered by the column, not by its text (`seq` the output name would sort '10' before '9').
        `SELECT s.seq::text AS seq, s.topic, s.payload FROM bridge_spool s WHERE s.bridge_id = $1 AND s.seq > $2
          ORDER BY s.seq LIMIT $3`,
        [bridgeId, afterSeq, limit],
      );
    },
    /** Deletes acknowledged rows (in a transaction, the bridge row locked first) and counts them forwarded. */
    async acknowledge(bridgeId: string, seqs: readonly string[]): Promise<void> {
      const locked = await db.query('SELECT id FROM bridges WHERE id = $1 FOR UPDATE', [bridgeId]);
      if (locked.length === 0) return;
      await db.query(
        `WITH d AS (DELETE FROM bridge_spool WHERE bridge_id = $1 AND seq = ANY($2::bigint[]) RETURNING bytes)
         UPDATE bridges SET spool_rows = spool_rows - (SELECT count(*) FROM d),
                spool_bytes = spool_bytes - (SELECT coalesce(sum(bytes), 0) FROM d),
                forwarded = forwarded + (SELECT count(*) FROM d)
          WHERE id = $1`,
        [bridgeId, seqs],
      );
    },
    /** Enabled bridges this holder holds or could take (no live lease of another holder), with their revision. */
    leasable(holder: string): Promise<{ id: string; revision: number }[]> {
      return db.query(
        `SELECT id, revision FROM bridges
          WHERE enabled AND (lease_until IS NULL OR lease_until <= now() OR lease_holder = $1) ORDER BY id`,
        [holder],
      );
    },
    /** Takes or renews the lease; the bridge's settings when held, undefined when not (taken, disabled, deleted). */
    async lease(bridgeId: string, holder: string, leaseMs: number) {
      const rows = await db.query<BridgeColumns & { id: string; tenant_id: string; revision: number }>(
        `UPDATE bridges SET lease_holder = $2, lease_until = now() + $3::double precision * interval '1 millisecond'
          WHERE id = $1 AND enabled AND (lease_until IS NULL OR lease_until <= now() OR lease_holder = $2)
          RETURNING id, tenant_id, revision, ${COLUMNS.join(', ')}`,
        [bridgeId, holder, leaseMs],
      );
      return rows[0];
    },
    async release(bridgeId: string, holder: string): Promise<void> {
      await db.query(
        `UPDATE bridges SET lease_holder = NULL, lease_until = NULL, connected = false
          WHERE id = $1 AND lease_holder = $2`,
        [bridgeId, holder],
      );
    },
    /** Leases an earlier run of this node held (it died): given back at start. */
    async releaseEarlier(nodeId: string, holder: string): Promise<void> {
      await db.query(
        `UPDATE bridges SET lease_holder = NULL, lease_until = NULL, connected = false
          WHERE left(lease_holder, length($1) + 1) = $1 || ':' AND lease_holder <> $2`,
        [nodeId, holder],
      );
    },
    async connected(bridgeId: string, holder: string, at: number): Promise<void> {
      await db.query(
        `UPDATE bridges SET connected = true, last_connected_at = $3 WHERE id = $1 AND lease_holder = $2`,
        [bridgeId, holder, at],
      );
    },
    async failed(bridgeId: string, holder: string, error: string, at: number): Promise<void> {
      await db.query(
        `UPDATE bridges SET connected = false, last_error = $3, last_error_at = $4
          WHERE id = $1 AND lease_holder = $2`,
        [bridgeId, holder, error.slice(0, 500), at],
      );
    },
  };
}
export type BridgeStore = ReturnType<typeof bridgeStore>;
