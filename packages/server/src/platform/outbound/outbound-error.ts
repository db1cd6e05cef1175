/**
 * Why an outbound call (a webhook delivery, a bridge connection) did not happen or did not finish.
 * These are not refusals the platform gives a client, so they stay out of the API error catalogue:
 * a worker records the code on the delivery attempt and decides whether to retry, and a route that
 * checks a target URL turns a refusal into its own validation error with this message.
 */
export type OutboundErrorCode =
  /** The URL is malformed, or its scheme, userinfo, host or port is not allowed. */
  | 'OUTBOUND_URL_REFUSED'
  /** The host is, or resolves to, an address the policy refuses (loopback, private, metadata, ...). */
  | 'OUTBOUND_ADDRESS_REFUSED'
  /** The overall deadline passed (connect, headers and body together). */
  | 'OUTBOUND_TIMEOUT'
  /** The TLS handshake failed: an untrusted or mismatched certificate, or no common protocol. */
  | 'OUTBOUND_TLS_FAILED'
  /** The name did not resolve, or the connection was refused, reset or closed early. */
  | 'OUTBOUND_CONNECTION_FAILED';

/** Error codes OpenSSL and Node give to a failed handshake or certificate check. */
export const TLS_ERROR_CODE =
  /CERT|SSL|TLS|ISSUER|SIGNATURE|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH|HOSTNAME_MISMATCH/;

export class OutboundError extends Error {
  readonly code: OutboundErrorCode;

  constructor(code: OutboundErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OutboundError';
    this.code = code;
  }
}

export function isOutboundError(e: unknown): e is OutboundError {
  return e instanceof OutboundError;
}
