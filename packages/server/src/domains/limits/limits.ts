/**
 * Limit settings and limit events, per tenant. The contract; `service.ts` implements it over
 * `store.ts`, `resolver.ts` gives the limiter the values overrides set, and `event-log.ts` keeps the
 * refusals by a limit, bounded.
 *
 * A tenant may tighten a limit (per tenant, or per device where the limit's count names a device),
 * never loosen it: an override is at most the value the server is configured with, because the
 * defaults are what protects the other tenants on the same nodes.
 */
import type { TenantCaller } from '../../platform/caller.js';
import type { LimitName, LimitScope } from '../../platform/limits/catalogue.js';
import type { LimitDecision, LimitSubject } from '../../platform/limits/limits.js';
import type { Page } from '../../platform/pagination.js';

export interface LimitValue {
  limit: LimitName;
  scope: LimitScope;
  unit: string;
  windowMs: number | null;
  description: string;
  overridable: 'tenant' | 'device' | null;
  default: number;
  tenantOverride: number | null;
  /** Only in a device's list. */
  deviceOverride?: number | null;
  effective: number;
}

export interface LimitOverrideInput {
  items: { limit: string; value: number | null }[];
}

export interface LimitEvent {
  id: string;
  at: number;
  limit: string;
  scope: string;
  subject: string;
  deviceId: string | null;
  configured: number;
  observed: number;
  count: number;
}

export interface LimitEventQuery {
  name?: string;
  deviceId?: string;
  from?: number;
  cursor?: string;
  limit?: number;
}

export interface LimitService {
  tenantLimits(caller: TenantCaller): Promise<LimitValue[]>;
  /** Sets (a number) or clears (null) the tenant's overrides; the tenant's list back. */
  setTenantLimits(caller: TenantCaller, input: LimitOverrideInput): Promise<LimitValue[]>;
  deviceLimits(caller: TenantCaller, deviceId: string): Promise<LimitValue[]>;
  setDeviceLimits(caller: TenantCaller, deviceId: string, input: LimitOverrideInput): Promise<LimitValue[]>;
  /** Refusals by a limit, newest first. */
  events(caller: TenantCaller, query: LimitEventQuery): Promise<Page<LimitEvent>>;
}

/** Whose refusal a limit event records: the tenant, the count's subject (api-key:ID, device:ID…), the device if any. */
export interface LimitEventSubject {
  tenantId: string;
  subject: string;
  deviceId?: string | undefined;
}

/** Where refusals by a limit are recorded (event-log.ts): bounded, never waited for. */
export interface LimitEventRecorder {
  /** A refusal by a limit. Returns whether a row is written for it now. */
  exceeded(who: LimitEventSubject, decision: LimitDecision): boolean;
}

export interface GateSubject extends LimitSubject {
  /** The tenant is known wherever a gate is used: its limit events are the tenant's. */
  readonly tenantId: string;
  /** How the limit event names whose count it was (`device:ID`, `tenant:ID`). */
  readonly name: string;
}

/**
 * A limit enforced where its unit is spent (gate.ts): counts one unit (or `cost`) and, when it does
 * not fit, records the limit event and throws `RATE_LIMITED` naming the limit. Called before the work
 * the limit protects, so a refused call changes nothing.
 */
export type LimitGate = (
  limit: LimitName,
  subject: GateSubject,
  what?: string,
  cost?: number,
) => Promise<void>;

/** The subject of a limit counted per device. */
export function deviceSubject(tenantId: string, deviceId: string): GateSubject {
  return { key: `${tenantId}/${deviceId}`, tenantId, deviceId, name: `device:${deviceId}` };
}
