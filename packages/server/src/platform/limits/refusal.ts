/**
 * How a refusal names its limit. Every answer refused by a limit carries the same members, whatever
 * its code (`RATE_LIMITED`, `QUOTA_EXCEEDED`, `TOO_MANY_OPERATIONS`, `ACCOUNT_LOCKED`): the limit's
 * name and scope, the value configured for the caller, the value observed, and `retryAfterMs`, from
 * which the HTTP adapter also sets `Retry-After`.
 */
import { AppError } from '../../errors.js';
import { LIMITS, windowWords, type LimitName, type LimitScope } from './catalogue.js';
import type { LimitDecision } from './limits.js';

export interface LimitDetails {
  [member: string]: unknown;
  limit: LimitName;
  scope: LimitScope;
  configured: number;
  observed: number;
  retryAfterMs: number;
}

export function limitDetails(
  d: Pick<LimitDecision, 'limit' | 'configured' | 'observed' | 'retryAfterMs'>,
): LimitDetails {
  return {
    limit: d.limit,
    scope: LIMITS[d.limit].scope,
    configured: d.configured,
    observed: d.observed,
    retryAfterMs: d.retryAfterMs,
  };
}

/** "at most 1000 requests per 10 s" */
export function limitWords(limit: LimitName, configured: number): string {
  const spec = LIMITS[limit];
  return `at most ${configured} ${spec.unit} ${windowWords(spec.windowMs)}`;
}

/** The `RATE_LIMITED` refusal for a decision that did not fit: `what` says whose count it was. */
export function rateLimited(d: LimitDecision, what?: string): AppError {
  const wait = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
  return new AppError(
    'RATE_LIMITED',
    `${d.limit}: ${limitWords(d.limit, d.configured)}${what ? ` ${what}` : ''}; try again in ${wait} s`,
    { details: limitDetails(d) },
  );
}

/** The `QUOTA_EXCEEDED` refusal for a cap that is full: no window ends it, a place comes free. */
export function quotaExceeded(d: LimitDecision, what?: string): AppError {
  return new AppError(
    'QUOTA_EXCEEDED',
    `${d.limit}: ${limitWords(d.limit, d.configured)}${what ? ` ${what}` : ''}; one comes free when one of them ends`,
    { details: limitDetails(d) },
  );
}
