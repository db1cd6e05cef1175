/**
 * The audit trail: one record per admin action and credential or device lifecycle event (who, in which
 * tenant, on what, with which outcome, from where, when, and a summary of what changed — never a
 * secret). Records are hash-chained per tenant: each record's hash covers its content and the previous
 * hash, and the chain's head is kept apart, so verification finds an edited, deleted, inserted or
 * reordered record and says where the chain breaks.
 */
import type { Page } from '../../platform/pagination.js';

export interface AuditEntry {
  /** The tenant the action concerns; '' for platform actions (tenants, platform administrators). */
  tenantId: string;
  /** `user:usr_…`, `api-key:key_…`, `admin:usr_…`, `device:dev_…`, or `anonymous`. */
  actor: string;
  /** Stable name, e.g. `devices.create`, `auth.login`, `provisioning.approve`. */
  action: string;
  target: string | null;
  outcome: 'success' | 'failure';
  /** Source address. */
  source: string | null;
  /** What changed, secrets removed. */
  changes: Record<string, unknown> | null;
}

export interface AuditRecord extends AuditEntry {
  seq: number;
  at: number;
  prevHash: string;
  hash: string;
}

export interface AuditVerification {
  intact: boolean;
  records: number;
  /** Where the chain first breaks, and why. */
  breaks: { seq: number; reason: string }[];
}

export interface AuditQuery {
  action?: string;
  actor?: string;
  target?: string;
  from?: number;
  to?: number;
  cursor?: string;
  limit?: number;
}

export interface AuditService {
  /** Appends one record to the tenant's chain. */
  record(entry: AuditEntry): Promise<AuditRecord>;
  list(tenantId: string, q: AuditQuery): Promise<Page<AuditRecord>>;
  /** Recomputes the tenant's chain and reports every place it breaks. */
  verify(tenantId: string): Promise<AuditVerification>;
}

export const GENESIS_HASH = '0'.repeat(64);

/** Field names whose values never enter the audit trail. */
export const SECRET_FIELDS = /pass(word)?|secret|token|key$|csr|crl|certificate|claimCode|verificationCode/i;
