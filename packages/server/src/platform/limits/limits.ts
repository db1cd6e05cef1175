/**
 * The limiter contract: callers count units against a named limit (catalogue.ts) for a subject and get
 * back whether they fit, what was observed and configured, and how long to wait. Where the counts live
 * is the backend's business: memory on one node today (memory.ts), a shared store when several nodes
 * must see one count. The value a subject may use comes from a `LimitResolver`: the configured
 * default, or a per-tenant or per-device override where one is set.
 */
import type { LimitName, LimitScope } from './catalogue.js';

/** Whose count: `key` identifies it within the limit's scope; tenant and device select overrides. */
export interface LimitSubject {
  /** The address, API key id, device id, client id…: what the limit's scope names. */
  readonly key: string;
  readonly tenantId?: string;
  readonly deviceId?: string;
}

/** Where an override may apply. */
export interface LimitContext {
  readonly tenantId?: string;
  readonly deviceId?: string;
}

/**
 * The value a limit has for a tenant or device: an override where one is set, the configured default
 * otherwise. The limiter asks it on every count, so an override applies from the next one.
 */
export type LimitResolver = (limit: LimitName, context: LimitContext) => number | Promise<number>;

/** What one count came to. */
export interface LimitDecision {
  readonly limit: LimitName;
  readonly scope: LimitScope;
  /** The units fit: the caller goes on. */
  readonly allowed: boolean;
  /** Units counted in the current window, this one included (refused ones count as well). */
  readonly observed: number;
  /** Units the window allows this subject. */
  readonly configured: number;
  /** Units left in the current window. */
  readonly remaining: number;
  /** When refused: ms until the window ends and the count starts again; 0 when allowed. */
  readonly retryAfterMs: number;
}

export interface Limiter {
  /**
   * Counts `cost` units (1 by default) against a windowed limit and says whether they fit. The count
   * is made either way: a caller that keeps trying while refused does not buy a reset, and `observed`
   * shows how hard it tried.
   */
  consume(limit: LimitName, subject: LimitSubject, cost?: number): Promise<LimitDecision>;
  /** Whether `cost` more units would fit, without counting them (a check before costly work). */
  peek(limit: LimitName, subject: LimitSubject, cost?: number): Promise<LimitDecision>;
  /** Forgets a subject's count: the next unit starts a new window. */
  reset(limit: LimitName, subject: LimitSubject): Promise<void>;
  /** The value a limit has for this tenant or device (for caps such as connections, counted by their owner). */
  configured(limit: LimitName, context?: LimitContext): Promise<number>;
}
