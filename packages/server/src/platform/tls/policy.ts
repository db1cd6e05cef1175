/**
 * What every TLS listener (HTTPS with WSS, MQTT/TLS, MQTT/mTLS) offers, in one place so that a
 * listener, and a secure context reloaded later (`setSecureContext` replaces every option), cannot
 * drift from it. Mozilla's "intermediate" profile: TLS 1.2 or newer, forward-secret AEAD suites only
 * (no CBC: LUCKY13 and its kin), and no renegotiation (a client-initiated one costs the server a full
 * handshake per request, a cheap CPU attack; TLS 1.3 has none).
 */
import { constants } from 'node:crypto';
import type { SecureContextOptions, TLSSocket } from 'node:tls';

/**
 * TLS 1.3 suites first (Node disables TLS 1.3 when the list names none), then the TLS 1.2 ECDHE AEAD
 * suites for ECDSA and RSA certificates. The DHE suites of the profile are left out: they need
 * Diffie-Hellman parameters that the listeners do not configure.
 */
export const AEAD_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Options every server-side secure context carries, merged under the listener's own. */
export const TLS_SERVER_POLICY = {
  minVersion: 'TLSv1.2',
  ciphers: AEAD_CIPHERS,
  // OpenSSL answers a renegotiation request with a no_renegotiation alert: no handshake is done.
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
} as const satisfies SecureContextOptions;

/** A secure context's options with the policy applied (for listeners and for trust reloads). */
export function withTlsPolicy<T extends SecureContextOptions>(options: T): T & typeof TLS_SERVER_POLICY {
  return { ...options, ...TLS_SERVER_POLICY };
}

/**
 * Called on every accepted secure connection: a renegotiation attempt that gets past OpenSSL's
 * refusal (an older library) is caught by Node and ends the connection, since only a hostile or
 * broken client asks for one.
 */
export function refuseRenegotiation(socket: TLSSocket): void {
  socket.disableRenegotiation();
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ERR_TLS_RENEGOTIATION_DISABLED') socket.destroy();
  });
}
