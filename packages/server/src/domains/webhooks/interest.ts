/**
 * Which tenants forward which event types: telemetry and device events are written for forwarding only
 * for tenants with an active integration taking them, so that a fleet nobody forwards for pays nothing
 * on the publish path. Kept in memory per node, read from the store every `everyMs` and at once after
 * a change on this node; an integration made active on another node is seen within `everyMs`, and
 * the readings of that moment are not forwarded (docs/integrations.md).
 */
import type { PlatformEventType } from '@mooring/protocol';
import { outsideTransaction } from '../../store/ambient.js';
import type { Queryable } from '../../store/db.js';

export interface Interest {
  wants(tenantId: string, type: PlatformEventType): boolean;
  /** Reads the store again now. */
  refresh(): Promise<void>;
  start(): void;
  stop(): void;
}

export function createInterest(deps: {
  db: Queryable;
  /** The SELECTs listing `(tenant_id, type)` of active integrations: one per kind of integration. */
  sources: readonly string[];
  everyMs?: number;
  onError?(err: unknown): void;
}): Interest {
  let wanted = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const keyOf = (tenantId: string, type: string) => `${tenantId} ${type}`;
  const interest: Interest = {
    wants: (tenantId, type) => wanted.has(keyOf(tenantId, type)),
    // Called from requests too: it must never join (and race inside) the caller's transaction.
    refresh: () =>
      outsideTransaction(async () => {
        const next = new Set<string>();
        for (const sql of deps.sources) {
          const rows = await deps.db.query<{ tenant_id: string; type: string }>(sql);
          for (const r of rows) next.add(keyOf(r.tenant_id, r.type));
        }
        wanted = next;
      }),
    start() {
      const tick = () => void interest.refresh().catch((err: unknown) => deps.onError?.(err));
      tick();
      timer = setInterval(tick, deps.everyMs ?? 5_000);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
    },
  };
  return interest;
}

/** Active webhooks and the types they take. */
export const WEBHOOK_INTEREST = `SELECT DISTINCT tenant_id, unnest(event_types) AS type
  FROM webhook_endpoints WHERE status = 'active'`;
