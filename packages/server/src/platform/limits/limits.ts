/**
 * The limiter contract: callers count units against a named limit (catalogue.ts) for a subject and get
 * back whether they fit, what was observed and configured, and how long to wait; caps (how many at
 * once) are places taken and given back (`acquire`). Where the counts live
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
  /**
   * When refused: ms until the window ends and the count starts again; 0 when allowed, and for a cap
   * (no window), where no time is known: a place comes free when one of those counted goes away.
   */
  readonly retryAfterMs: number;
}

/** A place taken under a cap (`acquire`), and how to give it back. */
export interface LimitHold {
  /** Whether the place was taken; `observed` counts the places held with this one. */
  readonly decision: LimitDecision;
  /** Gives the place back; only the first call counts, and nothing happens for a refused one. */
  release(): void;
}

export interface AcquireOptions {
  /**
   * The new place replaces one the same owner holds now and is about to give back (a device taking
   * over its own MQTT session): it fits even when the cap is reached, by that one place.
   */
  readonly replacing?: boolean;
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
  /**
   * Takes one place under a cap (a limit with no window: connections open at once) if it fits, and
   * says so; the caller gives it back with `release()` when what it counted ends, on every path. A
   * shared backend keeps each node's places under that node's name with an expiry the node renews,
   * so a node that dies does not leave its places taken.
   */
  acquire(limit: LimitName, subject: LimitSubject, options?: AcquireOptions): Promise<LimitHold>;
  /**
   * The value a limit has for this tenant or device: for caps that live and die with one connection
   * (its subscriptions), which its owner counts itself since no other node can see that connection.
   */
  configured(limit: LimitName, context?: LimitContext): Promise<number>;
}
