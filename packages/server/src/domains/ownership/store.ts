/** SQL for ownership transfers: the claim codes and what they were claimed into. */
import type { Queryable } from '../../store/db.js';

export function ownershipStore(db: Queryable) {
  return {
    async insertTransfer(t: {
      id: string;
      fromTenantId: string;
      fromDeviceId: string | null;
      serial: string | null;
      claimCodeHash: string;
      createdAt: number;
      expiresAt: number;
    }): Promise<void> {
      await db.query(
        `INSERT INTO device_transfers (id, from_tenant_id, from_device_id, serial, claim_code_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [t.id, t.fromTenantId, t.fromDeviceId, t.serial, t.claimCodeHash, t.createdAt, t.expiresAt],
      );
    },
    /** Takes an unused, unexpired claim code for `tenantId`; undefined when there is none. */
    async claim(
      claimCodeHash: string,
      tenantId: string,
      at: number,
    ): Promise<{ id: string; serial: string | null; from_tenant_id: string } | undefined> {
      const [transfer] = await db.query<{ id: string; serial: string | null; from_tenant_id: string }>(
        `UPDATE device_transfers SET claimed_at = $2, to_tenant_id = $3
        WHERE claim_code_hash = $1 AND claimed_at IS NULL AND expires_at > $2 RETURNING id, serial, from_tenant_id`,
        [claimCodeHash, at, tenantId],
      );
      return transfer;
    },
    async setClaimedDevice(transferId: string, deviceId: string): Promise<void> {
      await db.query('UPDATE device_transfers SET to_device_id = $2 WHERE id = $1', [transferId, deviceId]);
    },
  };
}
export type OwnershipStore = ReturnType<typeof ownershipStore>;
