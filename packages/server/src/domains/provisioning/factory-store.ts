/** SQL for factory batches: the batch row (idempotency and the manifest's header) and its sealed parts. */
import type { Queryable } from '../../store/db.js';

export interface BatchRow {
  request_hash: string;
  sealed_manifest: string;
  parts: number;
  manifest_id: string | null;
}

export function factoryStore(db: Queryable) {
  return {
    async batch(tenantId: string, batchId: string): Promise<BatchRow | undefined> {
      const [seen] = await db.query<BatchRow>(
        'SELECT request_hash, sealed_manifest, parts, manifest_id FROM provisioning_batches WHERE tenant_id = $1 AND batch_id = $2',
        [tenantId, batchId],
      );
      return seen;
    },
    async insertPart(manifestId: string, part: number, tenantId: string, sealedItems: string): Promise<void> {
      await db.query(
        'INSERT INTO provisioning_batch_parts (manifest_id, part, tenant_id, sealed_items) VALUES ($1, $2, $3, $4)',
        [manifestId, part, tenantId, sealedItems],
      );
    },
    async insertBatch(b: {
      tenantId: string;
      batchId: string;
      requestHash: string;
      devices: number;
      sealedManifest: string;
      createdAt: number;
      parts: number;
      manifestId: string;
    }): Promise<void> {
      await db.query(
        'INSERT INTO provisioning_batches (tenant_id, batch_id, request_hash, devices, sealed_manifest, created_at, parts, manifest_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
        [
          b.tenantId,
          b.batchId,
          b.requestHash,
          b.devices,
          b.sealedManifest,
          b.createdAt,
          b.parts,
          b.manifestId,
        ],
      );
    },
    async deleteParts(manifestId: string): Promise<void> {
      await db.query('DELETE FROM provisioning_batch_parts WHERE manifest_id = $1', [manifestId]);
    },
    async part(manifestId: string | null, part: number): Promise<string | undefined> {
      const [stored] = await db.query<{ sealed_items: string }>(
        'SELECT sealed_items FROM provisioning_batch_parts WHERE manifest_id = $1 AND part = $2',
        [manifestId, part],
      );
      return stored?.sealed_items;
    },
  };
}
export type FactoryStore = ReturnType<typeof factoryStore>;
