/**
 * The audit trail: one record per admin action and credential or device lifecycle event (who, in which
 * tenant, on what, with which outcome, from where, when, and a summary of what changed — never a
 * secret). Records are hash-chained per tenant: each record's hash covers its content and the previous
 * hash, and the chain's head is kept apart, so verification finds an edited, deleted, inserted or
 * reordered record and says where the chain breaks.
 */
import type { TenantCaller } from '../../platform/caller.js';
import type { Page } from '../../platform/pagination.js';
import type { PlatformCaller } from '../tenancy/tenancy.js';

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
  /** Set when retention removed older records: the first record the chain is checked from. */
  retainedFrom?: number;
  /** Where the chain first breaks, and why. */
  breaks: { seq: number; reason: string }[];
}

export interface AuditQuery {
  action?: string;
  actor?: string;
  target?: string;
  /** Records about this device: its target, or `changes.deviceId`. */
  deviceId?: string;
  from?: number;
  to?: number;
  /** Oldest first (the default) or newest first. */
  order?: 'oldest' | 'newest';
  cursor?: string;
  limit?: number;
}

export interface AuditService {
  /** Appends one record to the tenant's chain. */
  record(entry: AuditEntry): Promise<AuditRecord>;
  /** Appends records in order in one transaction (a factory batch's units, queued events). */
  recordMany(entries: readonly AuditEntry[]): Promise<AuditRecord[]>;
  /** The caller's tenant's records. */
  list(caller: TenantCaller, q: AuditQuery): Promise<Page<AuditRecord>>;
  /** Recomputes the caller's tenant's chain and reports every place it breaks. */
  verify(caller: TenantCaller): Promise<AuditVerification>;
  /** The platform chain (tenants, platform administrators). */
  listPlatform(caller: PlatformCaller, q: AuditQuery): Promise<Page<AuditRecord>>;
  verifyPlatform(caller: PlatformCaller): Promise<AuditVerification>;
  /**
   * Removes records older than each tenant's retention; the chain is then verified from the last
   * removed record's hash (kept with the head). Returns how many records were removed.
   */
  applyRetention(): Promise<number>;
}

/**
 * Where services report credential and device lifecycle events that no admin request records (a
 * device provisioning itself, a policy approving it, a certificate issued or renewed, a factory
 * unit). Fire and forget: the writer batches them into the chain.
 */
export type AuditSink = (entry: AuditEvent) => void;

/** An entry as services report it: a lifecycle event has no request behind it (no source address) and succeeded unless said otherwise. */
export type AuditEvent = Omit<AuditEntry, 'source' | 'outcome'> &
  Partial<Pick<AuditEntry, 'source' | 'outcome'>>;

export const GENESIS_HASH = '0'.repeat(64);

/** Field names whose values never enter the audit trail. */
export const SECRET_FIELDS = /pass(word)?|secret|token|key$|csr|crl|certificate|claimCode|verificationCode/i;
