/**
 * Factory bulk provisioning: a list of serials (optionally each with a CSR made on the line) becomes,
 * in one call, per-device provisioning tokens or signed certificates, with a manifest. Idempotent by
 * batch id: a retry returns the same manifest (kept sealed at rest) and mints nothing new.
 */
import { createHash } from 'node:crypto';
import { AppError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { TenantCaller } from '../../platform/caller.js';
import type { SecretBox } from '../../platform/secret-box.js';
import type { Db } from '../../store/db.js';
import type { AuditSink } from '../audit/audit.js';
import { principalName } from '../../platform/caller.js';
import type { PkiService, SignedCertificate } from '../pki/pki.js';
import { newDeviceRecord } from '../devices/devices.js';
import { deviceStore } from '../devices/store.js';
import type { ProvisioningService } from './provisioning.js';

export interface FactoryItem {
  serial: string;
  csr?: string;
}

export interface ManifestEntry {
  serial: string;
  deviceId?: string;
  /** Without a CSR: the unit's per-device provisioning token (flashed on the line). */
  provisioningTokenId?: string;
  provisioningToken?: string;
  /** With a CSR: the unit's certificate and chain. */
  certificateSerial?: string;
  certificate?: string;
  chain?: string;
  notAfter?: number;
}

export interface Manifest {
  batchId: string;
  createdAt: number;
  devices: number;
  items: ManifestEntry[];
}

export interface FactoryService {
  /** Provisions a batch; `onProgress` is called after each chunk with the count done. */
  provisionBatch(
    caller: TenantCaller,
    input: { batchId: string; items: FactoryItem[]; approval: 'auto' | 'manual'; deviceTags?: string[] },
  ): Promise<Manifest>;
}

export const MAX_BATCH_ITEMS = 10_000;
const CHUNK = 200;

export function manifestCsv(m: Manifest): string {
  const cols = [
    'serial',
    'deviceId',
    'provisioningTokenId',
    'provisioningToken',
    'certificateSerial',
    'notAfter',
  ] as const;
  const esc = (v: unknown) =>
    v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v);
  return (
    [
      cols.join(','),
      ...m.items.map((i) =>
        cols
          .map((c) => esc(c === 'notAfter' && i.notAfter ? new Date(i.notAfter).toISOString() : i[c]))
          .join(','),
      ),
    ].join('\n') + '\n'
  );
}

export function createFactoryService(deps: {
  db: Db;
  box: SecretBox;
  provisioning: ProvisioningService;
  pki: PkiService;
  /** One record per unit issued. */
  audit?: AuditSink;
  now?: () => number;
}): FactoryService {
  const { db, box } = deps;
  const now = deps.now ?? Date.now;
  return {
    async provisionBatch(caller, input) {
      if (input.items.length === 0 || input.items.length > MAX_BATCH_ITEMS) {
        throw new AppError('VALIDATION_FAILED', `a batch holds 1 to ${MAX_BATCH_ITEMS} devices`);
      }
      const serials = new Set<string>();
      for (const [i, item] of input.items.entries()) {
        if (serials.has(item.serial)) {
          throw new AppError('VALIDATION_FAILED', `serial ${item.serial} appears twice`, {
            errors: [{ path: `/items/${i}/serial`, message: 'duplicate' }],
          });
        }
        serials.add(item.serial);
      }
      const requestHash = createHash('sha256').update(JSON.stringify(input)).digest('hex');
      const [seen] = await db.query<{ request_hash: string; sealed_manifest: string }>(
        'SELECT request_hash, sealed_manifest FROM provisioning_batches WHERE tenant_id = $1 AND batch_id = $2',
        [caller.tenantId, input.batchId],
      );
      if (seen) {
        if (seen.request_hash !== requestHash)
          throw new AppError('IDEMPOTENCY_KEY_REUSED', `batch ${input.batchId} was made with other contents`);
        return JSON.parse(box.open(seen.sealed_manifest)) as Manifest;
      }
      await deps.pki.prepareTenant(caller.tenantId);
      // Device ids first (a serial the tenant knows keeps its device), then every certificate is signed
      // outside any transaction: signing is the CPU-heavy part and must not hold the store, and a bad
      // CSR refuses the whole batch before anything is written.
      const known = new Map(
        (
          await db.query<{ id: string; serial: string }>(
            'SELECT id, serial FROM devices WHERE tenant_id = $1 AND serial = ANY($2::text[])',
            [caller.tenantId, input.items.map((i) => i.serial)],
          )
        ).map((r) => [r.serial, r.id]),
      );
      const signed: (SignedCertificate | undefined)[] = [];
      const deviceIds: (string | undefined)[] = [];
      for (const [i, item] of input.items.entries()) {
        if (!item.csr) {
          signed.push(undefined);
          deviceIds.push(undefined);
          continue;
        }
        const deviceId = known.get(item.serial) ?? newId('dev');
        deviceIds.push(deviceId);
        try {
          signed.push(await deps.pki.sign(caller.tenantId, deviceId, item.csr));
        } catch (e) {
          if (e instanceof AppError)
            throw new AppError('CSR_INVALID', `item ${i} (${item.serial}): ${e.message}`);
          throw e;
        }
      }
      const items: ManifestEntry[] = [];
      for (let start = 0; start < input.items.length; start += CHUNK) {
        const end = Math.min(start + CHUNK, input.items.length);
        // Short transactions: only the inserts.
        await db.transaction(async (tx) => {
          const t = now();
          for (let i = start; i < end; i++) {
            const item = input.items[i]!;
            const cert = signed[i];
            const deviceId = deviceIds[i];
            if (!cert || !deviceId) continue;
            if (!known.has(item.serial)) {
              await deviceStore(tx).insert(
                newDeviceRecord({
                  id: deviceId,
                  tenantId: caller.tenantId,
                  serial: item.serial,
                  name: item.serial,
                  tags: input.deviceTags ?? [],
                  metadata: { factoryBatch: input.batchId },
                  now: t,
                }),
              );
            }
            await cert.save(tx);
          }
        });
        for (let i = start; i < end; i++) {
          const item = input.items[i]!;
          const cert = signed[i]?.certificate;
          if (cert) {
            items.push({
              serial: item.serial,
              deviceId: deviceIds[i]!,
              certificateSerial: cert.serial,
              certificate: cert.certificate,
              chain: cert.chain,
              notAfter: cert.notAfter,
            });
            continue;
          }
          // Units without a CSR get per-device provisioning tokens.
          const pt = await deps.provisioning.createToken(caller, {
            name: `batch ${input.batchId}`,
            kind: 'device',
            serial: item.serial,
            approval: input.approval,
            ...(input.deviceTags ? { deviceTags: input.deviceTags } : {}),
          });
          items.push({
            serial: item.serial,
            provisioningTokenId: pt.provisioningToken.id,
            provisioningToken: pt.secret,
          });
        }
        for (const entry of items.slice(start, end)) {
          deps.audit?.({
            tenantId: caller.tenantId,
            actor: principalName(caller.principal),
            action: 'factory.issue',
            target: entry.deviceId ?? entry.serial,
            changes: {
              batchId: input.batchId,
              serial: entry.serial,
              ...(entry.certificateSerial
                ? { certificateSerial: entry.certificateSerial, notAfter: entry.notAfter }
                : { provisioningTokenId: entry.provisioningTokenId }),
            },
          });
        }
      }
      const manifest: Manifest = { batchId: input.batchId, createdAt: now(), devices: items.length, items };
      await db.query(
        'INSERT INTO provisioning_batches (tenant_id, batch_id, request_hash, devices, sealed_manifest, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [
          caller.tenantId,
          input.batchId,
          requestHash,
          items.length,
          box.seal(JSON.stringify(manifest)),
          manifest.createdAt,
        ],
      );
      return manifest;
    },
  };
}
