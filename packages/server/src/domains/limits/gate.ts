/**
 * The limit gate (limits.ts `LimitGate`): counts against the limiter, records a refusal in the limit
 * event log and refuses with `RATE_LIMITED` naming the limit (platform/limits/refusal.ts).
 */
import type { Limiter } from '../../platform/limits/limits.js';
import { rateLimited } from '../../platform/limits/refusal.js';
import type { LimitEventRecorder, LimitGate } from './limits.js';

export function createLimitGate(limits: Limiter, events?: LimitEventRecorder): LimitGate {
  return async (limit, subject, what, cost = 1) => {
    const d = await limits.consume(limit, subject, cost);
    if (d.allowed) return;
    events?.exceeded({ tenantId: subject.tenantId, subject: subject.name, deviceId: subject.deviceId }, d);
    throw rateLimited(d, what);
  };
}
