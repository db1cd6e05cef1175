/**
 * The limits a CONNECT passes, as steps of `connect.ts`, cheapest first:
 *
 * - `checkListenerRate` (`mqtt.connects_per_listener`): before anything else, so a CONNECT over the
 *   listener's rate costs no credential lookup. No tenant is known yet: counted in the metric, the
 *   first refusal of each window logged, nothing kept as a limit event.
 * - `checkConnectRate` (`mqtt.connects_per_client_id`): once the credential is proven, so nobody can
 *   use up a device's allowance with its client id alone.
 * - `holdTenantPlace` (`mqtt.connections_per_tenant`): a place among the tenant's open connections.
 *   The place is the attempt's until `register` hands it to the connection, which gives it back when
 *   its socket closes; a refusal on the way gives it back at once (the loop in `connect.ts`), so every
 *   path gives it back exactly once.
 *
 * A refusal by a limit where the tenant is known is kept as a limit event of the tenant (bounded:
 * domains/limits/event-log.ts) besides the refusal of the device `connect.ts` keeps.
 */
import type { LimitEventLog } from '../../domains/limits/event-log.js';
import type { Logger } from '../../platform/observability.js';
import type { LimitDecision, Limiter } from '../../platform/limits/limits.js';
import { quotaExceeded, rateLimited } from '../../platform/limits/refusal.js';
import { ConnectRefusal, type ConnectAttempt } from './connect-attempt.js';
import type { Transport } from './session.js';

export interface ConnectLimitDeps {
  limiter: Pick<Limiter, 'consume' | 'acquire'>;
  limitEvents?: Pick<LimitEventLog, 'exceeded'> | undefined;
  logger: Logger;
}

export function createConnectLimits(deps: ConnectLimitDeps) {
  const { limiter, logger } = deps;

  /** The first refusal of a listener's window is logged; the rest are counted in the metric only. */
  function listenerRefused(transport: Transport, d: LimitDecision) {
    if (d.observed === d.configured + 1)
      logger.warn(
        { listener: transport, limit: d.limit, configured: d.configured },
        'CONNECTs over the listener rate are refused this second',
      );
  }

  return {
    async checkListenerRate(a: ConnectAttempt) {
      const decision = await limiter.consume('mqtt.connects_per_listener', { key: a.meta.transport });
      if (decision.allowed) return;
      listenerRefused(a.meta.transport, decision);
      throw new ConnectRefusal(
        'RATE_LIMITED',
        'listener_rate_limited',
        rateLimited(decision, `on the ${a.meta.transport} listener`).message,
      );
    },

    /** A reconnect loop, or two holders of one credential taking the session from each other. */
    async checkConnectRate(a: ConnectAttempt) {
      const { tenantId, deviceId } = a.device!;
      const decision = await limiter.consume('mqtt.connects_per_client_id', {
        key: `${tenantId}/${a.client.id}`,
        tenantId,
        deviceId,
      });
      if (decision.allowed) return;
      deps.limitEvents?.exceeded({ tenantId, subject: `client-id:${a.client.id}`, deviceId }, decision);
      throw new ConnectRefusal(
        'RATE_LIMITED',
        'rate_limited',
        rateLimited(decision, `with client id ${a.client.id}`).message,
      );
    },

    /** A device taking over its own session needs no second place: the one it replaces closes next. */
    async holdTenantPlace(a: ConnectAttempt) {
      const { tenantId } = a.device!;
      const hold = await limiter.acquire(
        'mqtt.connections_per_tenant',
        { key: tenantId, tenantId },
        { replacing: a.takesOver !== undefined },
      );
      if (!hold.decision.allowed) {
        // The tenant's count, not the device's: one row per tenant and window, whichever device asked.
        deps.limitEvents?.exceeded({ tenantId, subject: `tenant:${tenantId}` }, hold.decision);
        throw new ConnectRefusal(
          'QUOTA_EXCEEDED',
          'tenant_connection_cap',
          quotaExceeded(hold.decision, 'for this tenant').message,
        );
      }
      a.place = hold;
    },
  };
}
