/**
 * Authentication of peers: a verified client certificate (mTLS, or the HTTPS device API) mapped to
 * its device, or registered just in time when it comes from an active manufacturer CA.
 */
import { AppError, Errors } from '../../errors.js';
import type { AuthenticatedDevice } from '../devices/devices.js';
import type { PeerCertificate } from './pki.js';
import type { PkiStore } from './store.js';

export function createPeerAuthentication(deps: {
  store: PkiStore;
  /** Registers the device of an unseen certificate from an active manufacturer CA (`external-cas.ts`). */
  registerJustInTime(peer: PeerCertificate): Promise<(AuthenticatedDevice & { status: string }) | undefined>;
}) {
  return async function authenticate(
    peer: PeerCertificate,
    claimedClientId?: string,
  ): Promise<AuthenticatedDevice> {
    const row = await deps.store.forAuthentication(peer.serial.toLowerCase());
    if (!row) {
      const registered = await deps.registerJustInTime(peer);
      if (!registered) throw Errors.invalidCredentials();
      if (claimedClientId !== undefined && claimedClientId !== registered.clientId)
        throw Errors.invalidCredentials();
      if (registered.status === 'pending-certificate') throw new AppError('CERTIFICATE_PENDING');
      if (registered.status !== 'enabled') throw Errors.deviceDisabled(registered.deviceId);
      const { status: _status, ...device } = registered;
      return device;
    }
    if (row.fingerprint !== peer.fingerprint256) throw Errors.invalidCredentials();
    if (row.revoked_at !== null) throw new AppError('INVALID_CREDENTIALS', 'the certificate was revoked');
    if (row.pending) throw new AppError('CERTIFICATE_PENDING');
    if (row.ca_status !== 'active') throw new AppError('INVALID_CREDENTIALS', 'the issuing CA is disabled');
    const clientId = row.client_id ?? row.device_id;
    if (claimedClientId !== undefined && claimedClientId !== clientId) throw Errors.invalidCredentials();
    if (row.status !== 'enabled') throw Errors.deviceDisabled(row.device_id);
    return {
      tenantId: row.tenant_id,
      deviceId: row.device_id,
      credential: 'certificate',
      credentialId: row.serial,
      ...(row.client_id ? { clientId: row.client_id } : {}),
    };
  };
}
