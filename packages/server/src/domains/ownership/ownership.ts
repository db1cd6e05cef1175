/**
 * Ownership transfer of a unit between tenants, as when hardware is resold: the owner releases it (every
 * credential revoked, live sessions dropped, its data kept for the owner or deleted) and receives a
 * one-time claim code; the new owner claims the unit with that code and gets a blank device record
 * (new id, same serial) to provision. Nothing of the old tenant is visible to the new one.
 */
import type { TenantCaller } from '../../platform/caller.js';
import type { Device } from '../devices/devices.js';

export interface ReleaseResult {
  /** Shown once; hand it to the new owner. */
  claimCode: string;
  expiresAt: number;
  /** The released record, kept (status `released`) when the data was kept; null when deleted. */
  device: Device | null;
}

export interface OwnershipService {
  /** Releases a device: revokes access keys, registration tokens and certificates, drops sessions. */
  release(caller: TenantCaller, deviceId: string, opts: { keepData: boolean }): Promise<ReleaseResult>;
  /** Claims a released unit into the caller's tenant; CLAIM_CODE_INVALID when unknown, used or expired. */
  claim(caller: TenantCaller, claimCode: string, opts: { name?: string }): Promise<Device>;
}

export const CLAIM_CODE_PREFIX = 'mcl';
/** How long a claim code stays valid, in ms. */
export const CLAIM_CODE_TTL_MS = 30 * 86_400_000;
