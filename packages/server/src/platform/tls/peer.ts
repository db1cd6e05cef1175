/** Reads what device authentication needs from a TLS socket's verified client certificate. */
import type { TLSSocket } from 'node:tls';
import type { PeerCertificate } from '../../domains/pki/pki.js';

export function peerCertificateOf(socket: TLSSocket): PeerCertificate | undefined {
  const peer = socket.getPeerCertificate(true);
  if (!peer || !peer.fingerprint256) return undefined;
  const issuer =
    peer.issuerCertificate && peer.issuerCertificate !== peer ? peer.issuerCertificate : undefined;
  const cn = peer.subject?.CN;
  return {
    serial: peer.serialNumber,
    fingerprint256: peer.fingerprint256,
    ...(issuer?.fingerprint256 ? { issuerFingerprint256: issuer.fingerprint256 } : {}),
    ...(typeof cn === 'string' ? { commonName: cn } : {}),
    ...(peer.raw ? { raw: peer.raw } : {}),
    ...(peer.valid_from ? { validFrom: peer.valid_from } : {}),
    ...(peer.valid_to ? { validTo: peer.valid_to } : {}),
  };
}
