/**
 * Trust lists: what the mTLS listeners trust (the active CAs and every CRL), the reload of their
 * trust whenever it changes, and the tenant's view of its CAs (listing, disabling a manufacturer CA).
 */
import { AppError } from '../../errors.js';
import type { Bus } from '../../platform/bus.js';
import type { TenantCaller } from '../../platform/caller.js';
import { enqueue, type CommitHook } from '../../store/ambient.js';
import type { CertificateAuthority } from './pki.js';
import { toCa, type CaRecord, type PkiStore } from './store.js';

/** The listeners that reload the trust, and the notice that it changed. */
export function createTrustListeners() {
  const listeners: (() => Promise<void>)[] = [];
  const reload = async () => {
    await Promise.all(listeners.map((l) => l()));
  };
  // Inside a transaction the listeners reload once it has committed (and not at all if it rolls
  // back): they read the trust list and CRLs from the store, and must see only what was committed.
  const afterCommit: CommitHook<null> = { afterCommit: reload };
  return {
    onTrustChanged(listener: () => Promise<void>) {
      listeners.push(listener);
    },
    async trustChanged() {
      if (!enqueue(afterCommit, null)) await reload();
    },
  };
}

export function createTrustList(deps: {
  store: PkiStore;
  bus: Bus;
  crls: { root(): Promise<string>; of(caId: string): Promise<string> };
  requireCa(caller: TenantCaller, caId: string): Promise<CaRecord>;
  trustChanged(): Promise<void>;
}) {
  const { store, bus } = deps;
  return {
    /** Trust anchors and CRLs for the mTLS listeners. */
    async trust() {
      const rows = await store.activeCas();
      const pems: string[] = [];
      const crls: string[] = [await deps.crls.root()];
      for (const r of rows) {
        pems.push(r.cert_pem);
        crls.push(r.kind === 'external' ? (r.external_crl_pem ?? '') : await deps.crls.of(r.id));
      }
      return { cas: pems, crls };
    },

    async listCas(caller: TenantCaller): Promise<CertificateAuthority[]> {
      return (await store.listCas(caller.tenantId)).map(toCa);
    },

    async setCaStatus(
      caller: TenantCaller,
      caId: string,
      status: 'active' | 'disabled',
    ): Promise<CertificateAuthority> {
      const row = await deps.requireCa(caller, caId);
      if (row.kind !== 'external')
        throw new AppError(
          'VALIDATION_FAILED',
          "the tenant's issuing CA cannot be disabled; revoke certificates instead",
        );
      await store.setCaStatus(caId, status);
      await deps.trustChanged();
      if (status === 'disabled') {
        for (const deviceId of await store.devicesOfCa(caId))
          bus.publish('device.disconnect', { deviceId, reason: 'ca_disabled' });
      }
      return toCa(await deps.requireCa(caller, caId));
    },
  };
}
