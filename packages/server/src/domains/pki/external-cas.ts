/**
 * Bring-your-own manufacturer CAs. Registration needs proof of possession of the CA key: a verification
 * certificate signed by the CA whose common name is a one-time registration code the platform issued to
 * the tenant. A device presenting a certificate from a registered CA is registered just in time; its
 * client id (and topic namespace) is the certificate's common name, since it cannot know a device id
 * the platform has not issued yet.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { AuditSink } from '../audit/audit.js';
import { AppError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { TenantCaller } from '../../platform/caller.js';
import type { Transaction } from '../../store/db.js';
import { x509 } from './x509.js';
import { newDeviceRecord, type AuthenticatedDevice, type DeviceRecordsOn } from '../devices/devices.js';
import {
  RESERVED_CLIENT_ID,
  type CertificateAuthority,
  type ExternalCaRegistration,
  type PeerCertificate,
} from './pki.js';
import { toCa, type CaRecord, type PkiStore } from './store.js';

export { toCa, type CaRecord } from './store.js';

const REGISTRATION_CODE_TTL_MS = 3600_000;
const caInvalid = (why: string) => new AppError('CA_INVALID', why);

/** Node's fingerprint format: upper-case hex pairs joined by colons. */
export function fingerprintOf(der: ArrayBuffer | Buffer): string {
  return createHash('sha256')
    .update(Buffer.from(der as ArrayBuffer))
    .digest('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1:');
}

function parseCert(pem: string, what: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(pem);
  } catch {
    throw caInvalid(`the ${what} is not a PEM X.509 certificate`);
  }
}

/** A certificate serial as the store keeps it: lower-case hex without leading zeros. */
export function normalSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, '');
}

/**
 * Checks a CRL is signed by the CA; returns it under the label OpenSSL reads, with the serials it
 * lists (normalized).
 */
export async function checkCrl(
  crlPem: string,
  ca: x509.X509Certificate,
): Promise<{ pem: string; revokedSerials: string[] }> {
  let crl: x509.X509Crl;
  try {
    crl = new x509.X509Crl(crlPem.replace(/-----(BEGIN|END) X509 CRL-----/g, '-----$1 CRL-----'));
  } catch {
    throw caInvalid('the CRL is not a PEM X.509 CRL');
  }
  if (!(await crl.verify({ publicKey: ca.publicKey }).catch(() => false)))
    throw caInvalid('the CRL is not signed by the CA');
  const pem = crl.toString('pem').replace(/-----(BEGIN|END) CRL-----/g, '-----$1 X509 CRL-----');
  return {
    pem: pem.endsWith('\n') ? pem : `${pem}\n`,
    revokedSerials: crl.entries.map((e) => normalSerial(e.serialNumber)),
  };
}

export function externalCas(deps: {
  store: PkiStore;
  transaction: Transaction<PkiStore>;
  /** Creates the device of a just-in-time registration in its transaction. */
  deviceRecords: DeviceRecordsOn;
  now: () => number;
  rootSubject: string;
  trustChanged(): Promise<void>;
  audit?: AuditSink;
}) {
  const { store, transaction, now } = deps;

  async function require(caller: TenantCaller, caId: string): Promise<CaRecord> {
    const row = await store.tenantCa(caller.tenantId, caId);
    if (!row) throw new AppError('CA_NOT_FOUND', `CA ${caId} not found`);
    return row;
  }

  return {
    require,

    async createRegistrationCode(caller: TenantCaller) {
      const code = randomBytes(24).toString('hex');
      const t = now();
      await store.insertRegistrationCode(caller.tenantId, code, t, t + REGISTRATION_CODE_TTL_MS);
      return { registrationCode: code, expiresAt: t + REGISTRATION_CODE_TTL_MS };
    },

    async register(caller: TenantCaller, input: ExternalCaRegistration): Promise<CertificateAuthority> {
      const ca = parseCert(input.caCertificate, 'CA certificate');
      const basic = ca.getExtension(x509.BasicConstraintsExtension);
      if (!basic?.ca) throw caInvalid('the CA certificate is not a CA (basicConstraints cA is not set)');
      const usage = ca.getExtension(x509.KeyUsagesExtension);
      if (usage && !(usage.usages & x509.KeyUsageFlags.keyCertSign))
        throw caInvalid('the CA certificate may not sign certificates (keyUsage)');
      // OpenSSL finds issuers and CRLs by subject name: a second CA with a name already in the trust
      // store (the platform root, a tenant's issuing CA, another manufacturer CA) would break other
      // tenants' chains.
      if (
        (await store.subjectTaken(ca.subject)) ||
        ca.subject === deps.rootSubject ||
        /^CN=Mooring /.test(ca.subject)
      ) {
        throw caInvalid(
          'a CA with this subject name is known already; manufacturer CAs need a distinct name',
        );
      }
      const t = now();
      if (ca.notAfter.getTime() <= t || ca.notBefore.getTime() > t + 300_000)
        throw caInvalid('the CA certificate is not valid now');
      const verification = parseCert(input.verificationCertificate, 'verification certificate');
      if (!(await verification.verify({ publicKey: ca.publicKey, signatureOnly: true }).catch(() => false))) {
        throw caInvalid('the verification certificate is not signed by the CA: proof of possession failed');
      }
      const code = /CN=([0-9a-f]{48})/.exec(verification.subject)?.[1];
      const { pem: crl } = await checkCrl(input.crl, ca);
      const fingerprint = fingerprintOf(ca.rawData);
      const id = newId('ca', t);
      await transaction(async (tx) => {
        const used = code ? await tx.useRegistrationCode(caller.tenantId, code, t) : false;
        if (!used)
          throw caInvalid(
            'the verification certificate does not name a current registration code of this tenant as its common name',
          );
        if (await tx.fingerprintTaken(fingerprint))
          throw new AppError('ALREADY_EXISTS', 'this CA is registered already');
        await tx.insertExternalCa({
          id,
          tenantId: caller.tenantId,
          subject: ca.subject,
          certPem: ca.toString('pem'),
          registrationPolicy: input.registrationPolicy,
          deviceTags: input.deviceTags ?? [],
          crlPem: crl,
          fingerprint,
          createdAt: t,
        });
      });
      await deps.trustChanged();
      return toCa((await require(caller, id))!);
    },

    /**
     * Replaces the CRL and marks the certificates it lists revoked in the store, in one transaction,
     * so that every check reads the same answer: the TLS handshake (the CRL), and each request and
     * CONNECT on a connection opened before (the certificate's row). Returns what it revoked, for the
     * caller to drop their sessions.
     */
    async updateCrl(
      caller: TenantCaller,
      caId: string,
      crlPem: string,
    ): Promise<{ deviceId: string; serial: string }[]> {
      const row = await require(caller, caId);
      if (row.kind !== 'external')
        throw new AppError('VALIDATION_FAILED', 'only a manufacturer CA takes an uploaded CRL');
      const { pem, revokedSerials } = await checkCrl(crlPem, new x509.X509Certificate(row.cert_pem));
      const revoked = await transaction(async (tx) => {
        await tx.setExternalCrl(caId, pem);
        if (revokedSerials.length === 0) return [];
        return tx.revokeListed(
          caller.tenantId,
          caId,
          revokedSerials,
          now(),
          'listed in the CRL of its manufacturer CA',
        );
      });
      await deps.trustChanged();
      return revoked.map((r) => ({ deviceId: r.device_id, serial: r.serial }));
    },

    /**
     * Registers the device of a certificate from an active manufacturer CA on its first connection.
     * Returns undefined when the issuer is no such CA.
     */
    async registerJustInTime(
      peer: PeerCertificate,
    ): Promise<(AuthenticatedDevice & { status: string }) | undefined> {
      if (!peer.issuerFingerprint256 || !peer.raw || !peer.commonName) return undefined;
      const ca = await store.activeExternalCa(peer.issuerFingerprint256);
      if (!ca) return undefined;
      const serial = peer.commonName;
      if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(serial) || RESERVED_CLIENT_ID.test(serial)) {
        throw new AppError('INVALID_CREDENTIALS', 'the certificate common name is not a usable serial');
      }
      const t = now();
      const registered = await transaction(async (tx, q) => {
        const devices = deps.deviceRecords(q);
        const existing = await devices.bySerial(ca.tenant_id, serial);
        let deviceId = existing?.id;
        let status = existing?.status ?? (ca.registration_policy === 'auto' ? 'enabled' : 'disabled');
        // Under the `pending` policy a new certificate for a known serial waits for approval too: a
        // leaked manufacturer key must not take over a unit that is already in service.
        const pending = Boolean(existing) && ca.registration_policy === 'pending';
        if (!deviceId) {
          deviceId = newId('dev', t);
          await devices.insert(
            newDeviceRecord({
              id: deviceId,
              tenantId: ca.tenant_id,
              serial,
              name: serial,
              tags: ca.device_tags,
              metadata: { registeredBy: ca.id, ...(status === 'disabled' ? { pendingApproval: true } : {}) },
              status: status as 'enabled' | 'disabled',
              now: t,
            }),
          );
        }
        await tx.insertPresentedCertificate({
          serial: peer.serial.toLowerCase(),
          tenantId: ca.tenant_id,
          deviceId,
          caId: ca.id,
          fingerprint: peer.fingerprint256,
          certPem: new x509.X509Certificate(new Uint8Array(peer.raw!)).toString('pem'),
          notBefore: peer.validFrom ? Date.parse(peer.validFrom) : t,
          notAfter: peer.validTo ? Date.parse(peer.validTo) : t,
          createdAt: t,
          clientId: serial,
          pending,
        });
        status = existing?.status ?? status;
        return {
          tenantId: ca.tenant_id,
          deviceId,
          credential: 'certificate' as const,
          credentialId: peer.serial.toLowerCase(),
          clientId: serial,
          status: pending ? 'pending-certificate' : status,
          created: !existing,
          pending,
        };
      });
      const { created, pending, ...device } = registered;
      deps.audit?.({
        tenantId: ca.tenant_id,
        actor: `ca:${ca.id}`,
        action: created ? 'device.register-just-in-time' : 'certificate.register-just-in-time',
        target: registered.deviceId,
        changes: {
          serial,
          certificateSerial: device.credentialId,
          status: device.status,
          caId: ca.id,
          pending,
        },
      });
      return device;
    },
  };
}
