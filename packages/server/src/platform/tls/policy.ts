/**
 * What every TLS listener (HTTPS with WSS, MQTT/TLS, MQTT/mTLS) offers, in one place so that a
 * listener, and a secure context reloaded later (`setSecureContext` replaces every option), cannot
 * drift from it. Mozilla's "intermediate" profile, guidelines version 6.0: TLS 1.2 and 1.3,
 * forward-secret AEAD suites only (no CBC: LUCKY13 and its kin), the groups X25519, P-256 and P-384;
 * and no renegotiation (a client-initiated one costs the server a full handshake per request, a cheap
 * CPU attack; TLS 1.3 has none). One deviation, the suite order: see TLS_SERVER_POLICY.
 */
import { constants } from 'node:crypto';
import { createSecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';

/**
 * TLS 1.3 suites first (Node disables TLS 1.3 when the list names none), then the TLS 1.2 ECDHE AEAD
 * suites for ECDSA certificates (the generated one) and RSA certificates (an operator's may be RSA).
 * No DHE suite: version 6.0 of the profile dropped them (5.x listed three, with ffdhe2048); a
 * finite-field handshake costs the server far more than an ECDHE one, and no listener sets `dhparam`,
 * so OpenSSL could not choose one anyway.
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

/** The key-exchange groups of the profile, in its order (OpenSSL's default adds P-521, X448, ffdhe*). */
export const CLASSIC_GROUPS = ['X25519', 'prime256v1', 'secp384r1'] as const;

/**
 * The hybrid post-quantum group that version 6.0 of the profile puts first. OpenSSL 3.5 and newer
 * know it; the OpenSSL 3.0 of Node.js 20 does not, and refuses a group list that names it.
 */
export const HYBRID_GROUP = 'X25519MLKEM768';

/** Whether this process's OpenSSL accepts a key-exchange group by that name. */
export function supportsGroup(name: string): boolean {
  try {
    createSecureContext({ ecdhCurve: name });
    return true;
  } catch {
    return false;
  }
}

/** The groups every listener offers: the hybrid one where OpenSSL has it, then the classic three. */
export const TLS_GROUPS: readonly string[] = supportsGroup(HYBRID_GROUP)
  ? [HYBRID_GROUP, ...CLASSIC_GROUPS]
  : [...CLASSIC_GROUPS];

/** Options every server-side secure context carries, merged under the listener's own. */
export const TLS_SERVER_POLICY = {
  minVersion: 'TLSv1.2',
  ciphers: AEAD_CIPHERS,
  ecdhCurve: TLS_GROUPS.join(':'),
  // The server's suite order (AES-128-GCM first), where the profile leaves the choice to the client so
  // that one without AES instructions (a phone, a microcontroller) can pick ChaCha20: a client that
  // lists a ChaCha20 suite first gets it (SSL_OP_PRIORITIZE_CHACHA), which keeps that reason, and
  // testssl.sh 3.0 rates a server with no order of its own HIGH. The same order picks the group of a
  // TLS 1.2 handshake.
  honorCipherOrder: true,
  // OpenSSL answers a renegotiation request with a no_renegotiation alert: no handshake is done.
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_PRIORITIZE_CHACHA,
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
