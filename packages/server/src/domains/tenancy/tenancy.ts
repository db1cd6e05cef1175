/**
 * Tenancy: tenants and their security settings (2FA policy, audit retention). Users live in
 * `domains/users`, API keys in `domains/api-keys`. The contract; `service.ts` implements it.
 */
import type { Principal, TenantCaller } from '../../platform/caller.js';

export interface Tenant {
  id: string;
  name: string;
  createdAt: number;
  /** Every user must log in with a second factor; users without one can only enrol it. */
  requireTotp: boolean;
  /** Audit records older than this many days are removed (null: kept forever). */
  auditRetentionDays: number | null;
}

export interface TenantSettingsPatch {
  requireTotp?: boolean;
  auditRetentionDays?: number | null;
}

/** A platform administrator's call (the guard checks the principal). */
export interface PlatformCaller {
  readonly principal: Principal;
}

export interface TenancyService {
  createTenant(caller: PlatformCaller, name: string): Promise<Tenant>;
  listTenants(caller: PlatformCaller): Promise<Tenant[]>;
  getTenant(caller: PlatformCaller, id: string): Promise<Tenant>;
  /** The caller's own tenant. */
  current(caller: TenantCaller): Promise<Tenant>;
  updateSettings(caller: TenantCaller, patch: TenantSettingsPatch): Promise<Tenant>;
  /** For other services: a tenant or TENANT_NOT_FOUND. */
  require(id: string): Promise<Tenant>;
}
