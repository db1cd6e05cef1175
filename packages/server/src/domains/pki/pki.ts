/**
 * Device PKI: each tenant gets an issuing CA under the platform root; devices get certificates signed
 * only from CSRs they generated (the private key never leaves the device); certificates are revocable
 * by serial with a CRL per CA. The contract; `service.ts` implements it.
 */
import type { TenantCaller } from '../../platform/caller.js';
import type { Queryable } from '../../store/db.js';
import type { AuthenticatedDevice } from '../devices/devices.js';

export interface IssuedCertificate {
  serial: string;
  /** PEM of the device certificate. */
  certificate: string;
  /** PEM of the issuing CA then the platform root: what the device sends after its certificate. */
  chain: string;
  notBefore: number;
  notAfter: number;
}

export interface SignedCertificate {
  certificate: IssuedCertificate;
  /** Records the certificate (in the transaction that creates its device). */
  save(tx: Queryable): Promise<void>;
}

export interface DeviceCertificate {
  serial: string;
  deviceId: string;
  caId: string;
  fingerprint: string;
  notBefore: number;
  notAfter: number;
  createdAt: number;
  revokedAt: number | null;
  revocationReason: string | null;
  /** Presented through a `pending` manufacturer CA for a known serial: refused until approved. */
  pending: boolean;
}

/** What the TLS layer read from a verified client certificate. */
export interface PeerCertificate {
  serial: string;
  fingerprint256: string;
  /** Fingerprint of the CA that issued it (from the verified chain), for just-in-time registration. */
  issuerFingerprint256?: string;
  /** Subject common name: a manufacturer certificate's serial. */
  commonName?: string;
  /** DER of the certificate, for just-in-time registration. */
  raw?: Buffer;
  validFrom?: string;
  validTo?: string;
}

export interface CertificateAuthority {
  id: string;
  kind: 'issuing' | 'external';
  subject: string;
  fingerprint: string | null;
  status: 'active' | 'disabled';
  registrationPolicy: 'auto' | 'pending' | null;
  deviceTags: string[];
  createdAt: number;
}

export interface ExternalCaRegistration {
  /** PEM of the manufacturer's CA certificate. */
  caCertificate: string;
  /** PEM of a certificate signed by that CA whose common name is a current registration code. */
  verificationCertificate: string;
  /** PEM of the CA's CRL (may list nothing); TLS checks revocation along the whole chain. */
  crl: string;
  registrationPolicy: 'auto' | 'pending';
  deviceTags?: string[];
}

export interface PkiService {
  /** Checks a CSR (format, proof of possession, key and hash strength); CSR_INVALID with the reason. */
  checkCsr(csrPem: string): Promise<void>;
  /**
   * Makes sure the tenant's issuing CA exists and every mTLS listener trusts it before a certificate
   * from it is handed out. Call outside any transaction.
   */
  prepareTenant(tenantId: string): Promise<void>;
  /** Registers a listener (an mTLS listener's reload) awaited whenever CAs or CRLs change. */
  onTrustChanged(listener: () => Promise<void>): void;
  /**
   * Signs a certificate for a device from its CSR without writing anything (bulk work outside
   * transactions); `save` records it. The tenant's issuing CA must exist (`prepareTenant`).
   */
  sign(tenantId: string, deviceId: string, csrPem: string): Promise<SignedCertificate>;
  /** Issues a certificate for a device from its CSR, inside the caller's transaction when given. */
  issue(tenantId: string, deviceId: string, csrPem: string, tx?: Queryable): Promise<IssuedCertificate>;
  /** Renews: a new certificate from a new CSR for an authenticated device. */
  renew(device: AuthenticatedDevice, csrPem: string): Promise<IssuedCertificate>;
  listForDevice(caller: TenantCaller, deviceId: string): Promise<DeviceCertificate[]>;
  /** Revokes by serial: the next handshake is refused and live sessions that used it are dropped. */
  revoke(caller: TenantCaller, serial: string, reason?: string): Promise<{ deviceId: string }>;
  /** Lets a pending certificate authenticate its device (idempotent); CERTIFICATE_NOT_FOUND otherwise. */
  approve(caller: TenantCaller, serial: string): Promise<DeviceCertificate>;
  /** A one-time code (valid one hour) that a CA must sign into a verification certificate. */
  createRegistrationCode(caller: TenantCaller): Promise<{ registrationCode: string; expiresAt: number }>;
  /** Registers a manufacturer CA after checking proof of possession; CA_INVALID with the reason. */
  registerExternalCa(caller: TenantCaller, input: ExternalCaRegistration): Promise<CertificateAuthority>;
  listCas(caller: TenantCaller): Promise<CertificateAuthority[]>;
  /** Disables (every device of the CA refused at once) or enables a manufacturer CA. */
  setCaStatus(
    caller: TenantCaller,
    caId: string,
    status: 'active' | 'disabled',
  ): Promise<CertificateAuthority>;
  /**
   * Replaces a manufacturer CA's CRL (signed by it); the certificates it lists are revoked like any
   * other (refused on every connection and request from then on, live sessions dropped).
   */
  updateExternalCrl(caller: TenantCaller, caId: string, crlPem: string): Promise<void>;
  /** Revokes every live certificate of a device (release, deletion) and reloads the listeners' trust. */
  revokeAllForDevice(
    tenantId: string,
    deviceId: string,
    reason: string,
    exceptSerial?: string,
  ): Promise<number>;
  /**
   * Revokes every live certificate of these devices of the tenant (a bulk revocation's chunk), in the
   * caller's transaction; the listeners reload their trust once it commits. Answers what it revoked.
   */
  revokeAllForDevices(
    tenantId: string,
    deviceIds: readonly string[],
    reason: string,
  ): Promise<{ deviceId: string; serial: string }[]>;
  /** The CRL of a CA (PEM), public. */
  crl(caId: string): Promise<string>;
  /**
   * Re-signs CRLs older than a day and reloads the listeners: a loaded CRL past its nextUpdate would
   * make TLS refuse every certificate of its CA. The housekeeping worker calls it hourly.
   */
  refreshTrust(): Promise<void>;
  /** Trust anchors and CRLs for the mTLS listeners. */
  trust(): Promise<{ cas: string[]; crls: string[] }>;
  /**
   * Maps a verified client certificate to its device; INVALID_CREDENTIALS when unknown or revoked. A
   * certificate from an active manufacturer CA that is new registers its device just in time (enabled,
   * or disabled and awaiting an operator, per the CA's policy). `claimedClientId` must be the device's
   * client id: its device id, or for manufacturer certificates the certificate's common name.
   */
  authenticate(peer: PeerCertificate, claimedClientId?: string): Promise<AuthenticatedDevice>;
}

/** Certificates are back-dated so that a device whose clock runs slightly behind accepts them. */
export const BACKDATE_MS = 5 * 60_000;
/** Client ids a manufacturer certificate may not take: they belong to device ids and provisioning. */
export const RESERVED_CLIENT_ID = /^(dev_|prov-)/;
export const deviceUri = (tenantId: string, deviceId: string) => `urn:mooring:${tenantId}:${deviceId}`;
