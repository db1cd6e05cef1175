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
}

/** What the TLS layer read from a verified client certificate. */
export interface PeerCertificate {
  serial: string;
  fingerprint256: string;
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
  /** Issues a certificate for a device from its CSR, inside the caller's transaction when given. */
  issue(tenantId: string, deviceId: string, csrPem: string, tx?: Queryable): Promise<IssuedCertificate>;
  /** Renews: a new certificate from a new CSR for an authenticated device. */
  renew(device: AuthenticatedDevice, csrPem: string): Promise<IssuedCertificate>;
  listForDevice(caller: TenantCaller, deviceId: string): Promise<DeviceCertificate[]>;
  /** Revokes by serial: the next handshake is refused and live sessions that used it are dropped. */
  revoke(caller: TenantCaller, serial: string, reason?: string): Promise<void>;
  /** Revokes every live certificate of a device (release, deletion) and reloads the listeners' trust. */
  revokeAllForDevice(tenantId: string, deviceId: string, reason: string): Promise<number>;
  /** The CRL of a CA (PEM), public. */
  crl(caId: string): Promise<string>;
  /** Trust anchors and CRLs for the mTLS listeners. */
  trust(): Promise<{ cas: string[]; crls: string[] }>;
  /** Maps a verified client certificate to its device; INVALID_CREDENTIALS when unknown or revoked. */
  authenticate(peer: PeerCertificate, claimedDeviceId?: string): Promise<AuthenticatedDevice>;
}

/** Certificates are back-dated so that a device whose clock runs slightly behind accepts them. */
export const BACKDATE_MS = 5 * 60_000;
export const deviceUri = (tenantId: string, deviceId: string) => `urn:mooring:${tenantId}:${deviceId}`;
