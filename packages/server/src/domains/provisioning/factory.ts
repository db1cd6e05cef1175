/**
 * Factory bulk provisioning: a list of serials (optionally each with a CSR made on the line) becomes,
 * in one call, per-device provisioning tokens or signed certificates, with a manifest. Idempotent by
 * batch id: a retry returns the same manifest (kept sealed at rest) and mints nothing new.
 *
 * A batch may hold 10,000 units, and the embedded store runs on the event loop: every step works in
 * slices (a short transaction or statement each, the manifest stored in sealed parts) and yields to
 * the event loop between them, so that no client of the server waits on the batch for long.
 */
import { createHash, randomUUID } from 'node:crypto';
import { AppError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { SecretBox } from '../../platform/secret-box.js';
import type { Transaction } from '../../store/db.js';
import type { AuditSink } from '../audit/audit.js';
import { principalName } from '../../platform/caller.js';
import type { PkiService, SignedCertificate } from '../pki/pki.js';
import { newDeviceRecord, type DeviceRecordsOn } from '../devices/devices.js';
import type { FactoryStore } from './factory-store.js';
import {
  MAX_BATCH_ITEMS,
  type FactoryService,
  type Manifest,
  type ManifestEntry,
  type ProvisioningService,
} from './provisioning.js';

export { MAX_BATCH_ITEMS } from './provisioning.js';
export type { FactoryItem, FactoryService, Manifest, ManifestEntry } from './provisioning.js';

/** Units per insert transaction: a short hold of the store each (≈ 2 statements per unit). */
const INSERT_SLICE = 10;
/** Units per stored manifest part (≈ 1.3 KB each sealed): one statement of about 250 KB. */
const MANIFEST_PART = 200;
/** Serials per lookup of the devices a tenant already has. */
const LOOKUP_SLICE = 500;

/** Lets the event loop serve I/O (other requests, MQTT) before the next slice of a batch. */
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A manifest part as stored: every unit's chain is the same few certificates, so each distinct chain
 * is kept once and the entries name it by index.
 */
interface StoredPart {
  chains: string[];
  items: (Omit<ManifestEntry, 'chain'> & { chain?: number })[];
}

/** Replaces `chain` by `to(chain)` in place, so that the entry keeps its key order (and its JSON). */
function mapChain<A, B>(entry: Record<string, unknown>, to: (chain: A) => B): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(entry).map(([k, v]) => (k === 'chain' && v !== undefined ? [k, to(v as A)] : [k, v])),
  );
}

function toStoredPart(items: readonly ManifestEntry[]): StoredPart {
  const chains: string[] = [];
  const index = new Map<string, number>();
  const chainIndex = (chain: string) => {
    let i = index.get(chain);
    if (i === undefined) index.set(chain, (i = chains.push(chain) - 1));
    return i;
  };
  return {
    chains,
    items: items.map((e) => mapChain({ ...e }, chainIndex) as unknown as StoredPart['items'][number]),
  };
}

function fromStoredPart(part: StoredPart): ManifestEntry[] {
  return part.items.map(
    (e) => mapChain({ ...e }, (i: number) => part.chains[i]!) as unknown as ManifestEntry,
  );
}

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
  store: FactoryStore;
  transaction: Transaction<FactoryStore>;
  /** Finds the tenant's units by serial; creates new units' device records in a slice's transaction. */
  deviceRecords: DeviceRecordsOn;
  box: SecretBox;
  provisioning: ProvisioningService;
  pki: PkiService;
  /** One record per unit issued. */
  audit?: AuditSink;
  now?: () => number;
}): FactoryService {
  const { store, transaction, box } = deps;
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
      const seen = await store.batch(caller.tenantId, input.batchId);
      if (seen) {
        if (seen.request_hash !== requestHash)
          throw new AppError('IDEMPOTENCY_KEY_REUSED', `batch ${input.batchId} was made with other contents`);
        return readManifest(input.batchId, seen);
      }
      await deps.pki.prepareTenant(caller.tenantId);
      // Device ids first (a serial the tenant knows keeps its device), then every certificate is signed
      // outside any transaction: signing is the CPU-heavy part and must not hold the store, and a bad
      // CSR refuses the whole batch before anything is written.
      const known = new Map<string, string>();
      for (let start = 0; start < input.items.length; start += LOOKUP_SLICE) {
        const ids = await deps.deviceRecords().idsBySerial(
          caller.tenantId,
          input.items.slice(start, start + LOOKUP_SLICE).map((i) => i.serial),
        );
        for (const [serial, id] of ids) known.set(serial, id);
        await yieldToLoop();
      }
      const signed: (SignedCertificate | undefined)[] = [];
      const deviceIds: (string | undefined)[] = [];
      for (const [i, item] of input.items.entries()) {
        if (i % INSERT_SLICE === 0) await yieldToLoop();
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
      const recordIssue = (entry: ManifestEntry) =>
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
      for (let start = 0; start < input.items.length; start += INSERT_SLICE) {
        const end = Math.min(start + INSERT_SLICE, input.items.length);
        await yieldToLoop();
        // Short transactions: the inserts of a slice, with each unit's audit record (reported inside
        // the transaction, it is appended before COMMIT: a unit exists with its record or not at all).
        const slice: (ManifestEntry | undefined)[] = [];
        await transaction(async (_store, tx) => {
          const devices = deps.deviceRecords(tx);
          const t = now();
          for (let i = start; i < end; i++) {
            const item = input.items[i]!;
            const cert = signed[i];
            const deviceId = deviceIds[i];
            if (!cert || !deviceId) continue;
            if (!known.has(item.serial)) {
              await devices.insert(
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
            const entry: ManifestEntry = {
              serial: item.serial,
              deviceId,
              certificateSerial: cert.certificate.serial,
              certificate: cert.certificate.certificate,
              chain: cert.certificate.chain,
              notAfter: cert.certificate.notAfter,
            };
            slice[i - start] = entry;
            recordIssue(entry);
          }
        });
        // Units without a CSR get per-device provisioning tokens, each in a transaction with its record.
        for (let i = start; i < end; i++) {
          if (slice[i - start]) continue;
          const item = input.items[i]!;
          slice[i - start] = await transaction(async () => {
            const pt = await deps.provisioning.createToken(caller, {
              name: `batch ${input.batchId}`,
              kind: 'device',
              serial: item.serial,
              approval: input.approval,
              ...(input.deviceTags ? { deviceTags: input.deviceTags } : {}),
            });
            const entry: ManifestEntry = {
              serial: item.serial,
              provisioningTokenId: pt.provisioningToken.id,
              provisioningToken: pt.secret,
            };
            recordIssue(entry);
            return entry;
          });
        }
        for (const entry of slice) items.push(entry!);
      }
      const manifest: Manifest = { batchId: input.batchId, createdAt: now(), devices: items.length, items };
      await storeManifest(caller.tenantId, requestHash, manifest);
      return manifest;
    },
  };

  /**
   * Stores the manifest in sealed parts under a manifest id of this attempt's own, one statement each,
   * then the batch row that names them: a retry finds the batch only once every part is there, and
   * an attempt that loses the race for the batch row (another one stored the batch first) removes its
   * parts again.
   */
  async function storeManifest(tenantId: string, requestHash: string, manifest: Manifest): Promise<void> {
    const manifestId = randomUUID();
    let parts = 0;
    for (let start = 0; start < manifest.items.length; start += MANIFEST_PART, parts++) {
      await yieldToLoop();
      const part = toStoredPart(manifest.items.slice(start, start + MANIFEST_PART));
      await store.insertPart(manifestId, parts, tenantId, box.seal(JSON.stringify(part)));
    }
    const header = { ...manifest, items: [] };
    try {
      await store.insertBatch({
        tenantId,
        batchId: manifest.batchId,
        requestHash,
        devices: manifest.devices,
        sealedManifest: box.seal(JSON.stringify(header)),
        createdAt: manifest.createdAt,
        parts,
        manifestId,
      });
    } catch (e) {
      await store.deleteParts(manifestId);
      throw e;
    }
  }

  /** The stored manifest, part by part (a batch stored before parts existed holds it whole). */
  async function readManifest(
    batchId: string,
    row: { sealed_manifest: string; parts: number; manifest_id: string | null },
  ): Promise<Manifest> {
    const manifest = JSON.parse(box.open(row.sealed_manifest)) as Manifest;
    for (let part = 0; part < row.parts; part++) {
      await yieldToLoop();
      const stored = await store.part(row.manifest_id, part);
      if (stored === undefined) throw new Error(`batch ${batchId}: manifest part ${part} is missing`);
      for (const entry of fromStoredPart(JSON.parse(box.open(stored)) as StoredPart))
        manifest.items.push(entry);
    }
    return manifest;
  }
}
