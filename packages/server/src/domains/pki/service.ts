/**
 * The device PKI service, composed of its concerns: issuing (`issuing.ts`), revocation and CRLs
 * (`revocation.ts`), trust lists (`trust.ts`), authentication of peers (`authenticate.ts`) and
 * manufacturer CAs (`external-cas.ts`), over the SQL in `store.ts`.
 */
import type { Notifier } from '../../platform/notifier.js';
import { deviceCaller, principalName, type TenantCaller } from '../../platform/caller.js';
import type { SecretBox } from '../../platform/secret-box.js';
import type { Queryable, Transaction } from '../../store/db.js';
import type { AuditSink } from '../audit/audit.js';
import type { DeviceRecordsOn } from '../devices/devices.js';
import { createPeerAuthentication } from './authenticate.js';
import { externalCas } from './external-cas.js';
import { createIssuing, parseCsr } from './issuing.js';
import type { PkiService } from './pki.js';
import { createRevocation } from './revocation.js';
import type { PkiStore } from './store.js';
import { createTrustList, createTrustListeners } from './trust.js';
import { importEcPrivateKey, x509 } from './x509.js';

export interface PkiDeps {
  store: PkiStore;
  /** The PKI store on a caller's transaction (certificates recorded with the device they belong to). */
  storeOn(tx: Queryable): PkiStore;
  transaction: Transaction<PkiStore>;
  /** Creates the device of a just-in-time registration. */
  deviceRecords: DeviceRecordsOn;
  /** Confirms the device belongs to the caller's tenant (DEVICE_NOT_FOUND otherwise). */
  requireDevice(caller: TenantCaller, deviceId: string): Promise<unknown>;
  bus: Notifier;
  box: SecretBox;
  root: { certPem: string; keyPem: string };
  certificateValidityDays: number;
  /** Certificate renewals, automatic revocations and just-in-time registrations for the audit trail. */
  audit?: AuditSink;
  now?: () => number;
}

export async function createPkiService(deps: PkiDeps): Promise<PkiService> {
  const { store, bus } = deps;
  const now = deps.now ?? Date.now;
  const root = {
    cert: new x509.X509Certificate(deps.root.certPem),
    certPem: deps.root.certPem,
    key: await importEcPrivateKey(deps.root.keyPem),
  };
  const { onTrustChanged, trustChanged } = createTrustListeners();
  const issuing = createIssuing({
    store,
    storeOn: deps.storeOn,
    box: deps.box,
    root,
    certificateValidityDays: deps.certificateValidityDays,
    now,
  });
  /** The tenant's issuing CA exists and every listener trusts it (created and reloaded when new). */
  async function prepareTenant(tenantId: string): Promise<void> {
    const known = issuing.loaded();
    await issuing.issuingCa(tenantId, store);
    if (issuing.loaded() !== known) await trustChanged();
  }
  const ext = externalCas({
    store,
    transaction: deps.transaction,
    deviceRecords: deps.deviceRecords,
    now,
    rootSubject: root.cert.subject,
    trustChanged,
    ...(deps.audit ? { audit: deps.audit } : {}),
  });
  const revocation = createRevocation({
    store,
    bus,
    root,
    loadCa: issuing.load,
    trustChanged,
    ...(deps.audit ? { audit: deps.audit } : {}),
    now,
  });
  const trustList = createTrustList({
    store,
    bus,
    crls: { root: revocation.rootCrlPem, of: revocation.crl },
    requireCa: ext.require,
    trustChanged,
  });

  return {
    prepareTenant,

    async refreshTrust() {
      await trustChanged();
    },

    onTrustChanged,

    async checkCsr(csrPem) {
      await parseCsr(csrPem);
    },

    issue: (tenantId, deviceId, csrPem, tx) => issuing.issue(tenantId, deviceId, csrPem, tx),

    sign: (tenantId, deviceId, csrPem) => issuing.sign(tenantId, deviceId, csrPem),

    async renew(device, csrPem) {
      await prepareTenant(device.tenantId);
      const issued = await issuing.issue(device.tenantId, device.deviceId, csrPem);
      deps.audit?.({
        tenantId: device.tenantId,
        actor: principalName(deviceCaller(device).principal),
        action: 'certificate.renew',
        target: issued.serial,
        changes: { deviceId: device.deviceId, notAfter: issued.notAfter },
      });
      return issued;
    },

    async listForDevice(caller, deviceId) {
      await deps.requireDevice(caller, deviceId);
      return store.listForDevice(caller.tenantId, deviceId);
    },

    revoke: revocation.revoke,
    approve: revocation.approve,
    revokeAllForDevice: revocation.revokeAllForDevice,
    revokeAllForDevices: revocation.revokeAllForDevices,
    crl: revocation.crl,
    trust: trustList.trust,
    authenticate: createPeerAuthentication({ store, registerJustInTime: ext.registerJustInTime }),

    createRegistrationCode: (caller) => ext.createRegistrationCode(caller),
    registerExternalCa: (caller, input) => ext.register(caller, input),
    async updateExternalCrl(caller, caId, crlPem) {
      for (const { deviceId, serial } of await ext.updateCrl(caller, caId, crlPem))
        bus.publish('device.disconnect', { deviceId, reason: 'certificate_revoked', keyId: serial });
    },

    listCas: trustList.listCas,
    setCaStatus: trustList.setCaStatus,
  };
}
