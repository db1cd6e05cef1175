/**
 * The provisioning flow, as firmware runs it: make a key and CSR locally, start an operation with the
 * provisioning token, show the verification code (through the firmware's callback) while a
 * technician approves, long-poll until decided, and keep what comes back. Transient failures are
 * retried with backoff; the server's `retryAfterMs` is honoured; a refusal that waiting cannot fix
 * (rejected, locked, expired, a bad token) ends the flow with an error.
 */
import { randomInt } from 'node:crypto';
import { Backoff, sleep } from './backoff.js';
import type { Credentials } from './credentials.js';
import { DeviceApiError, httpJson, type HttpTarget } from './http.js';
import { certificateValidity, newKeyAndCsr } from './keys.js';

export interface ProvisionOptions {
  http: HttpTarget;
  provisioningToken: string;
  serial: string;
  attributes?: Record<string, unknown>;
  /** Ask for a certificate (mTLS) as well as a registration token. Default true. */
  certificate?: boolean;
  /**
   * Show this code on the device's display (or print it) so that a technician can approve the
   * operation with it. Called once per operation started. Omit for factory lines that approve by policy.
   */
  onVerificationCode?: (code: string) => void;
  /** How long to wait for a decision before giving up, in ms (default: the operation's own expiry). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface OperationView {
  operationId: string;
  status: 'pending' | 'approved' | 'rejected' | 'superseded' | 'locked' | 'expired';
  expiresAt: number;
  pollAfterMs?: number;
  reason?: string;
  deviceId?: string;
  registrationToken?: string;
  registrationTokenExpiresAt?: number;
  certificate?: string;
  certificateChain?: string;
}

export class ProvisioningError extends Error {
  constructor(
    readonly status: string,
    message: string,
  ) {
    super(message);
    this.name = 'ProvisioningError';
  }
}

const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
/** Six characters without look-alikes (no 0/O, 1/I). */
export function newVerificationCode(): string {
  return Array.from({ length: 6 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join('');
}

async function retrying<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const backoff = new Backoff({ baseMs: 500, capMs: 30_000 });
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof DeviceApiError) || !e.transient || signal?.aborted) throw e;
      await sleep(backoff.next(e.retryAfterMs), signal);
    }
  }
}

export async function provision(opts: ProvisionOptions): Promise<Credentials> {
  const wantCert = opts.certificate ?? true;
  const key = wantCert ? await newKeyAndCsr(opts.serial) : undefined;
  const code = opts.onVerificationCode ? newVerificationCode() : undefined;
  const started = await retrying(
    () =>
      httpJson<OperationView>(opts.http, 'POST', '/v1/device/provisioning/operations', {
        token: opts.provisioningToken,
        body: {
          serial: opts.serial,
          ...(opts.attributes ? { attributes: opts.attributes } : {}),
          ...(key ? { csr: key.csrPem } : {}),
          ...(code ? { verificationCode: code } : {}),
        },
      }),
    opts.signal,
  );
  if (code && started.status === 'pending') opts.onVerificationCode!(code);
  const deadline = Date.now() + (opts.timeoutMs ?? Math.max(0, started.expiresAt - Date.now()) + 5_000);
  let view = started;
  while (view.status === 'pending') {
    if (Date.now() > deadline || opts.signal?.aborted)
      throw new ProvisioningError('expired', 'no decision before the operation expired');
    const waitS = Math.max(1, Math.min(30, Math.floor((deadline - Date.now()) / 1000)));
    view = await retrying(
      () =>
        httpJson<OperationView>(
          opts.http,
          'GET',
          `/v1/device/provisioning/operations/${encodeURIComponent(started.operationId)}?wait=${waitS}`,
          {
            token: opts.provisioningToken,
            timeoutMs: (waitS + 15) * 1000,
            ...(opts.signal ? { signal: opts.signal } : {}),
          },
        ),
      opts.signal,
    );
  }
  if (view.status !== 'approved' || !view.deviceId || !view.registrationToken)
    throw new ProvisioningError(
      view.status,
      `provisioning ended ${view.status}${view.reason ? `: ${view.reason}` : ''}`,
    );
  const credentials: Credentials = {
    deviceId: view.deviceId,
    provisioningToken: opts.provisioningToken,
    registrationToken: view.registrationToken,
    registrationTokenExpiresAt: view.registrationTokenExpiresAt ?? Date.now() + 3_600_000,
    registrationTokenIssuedAt: Date.now(),
  };
  if (key && view.certificate) {
    const validity = certificateValidity(view.certificate);
    Object.assign(credentials, {
      privateKeyPem: key.privateKeyPem,
      certificatePem: view.certificate,
      chainPem: view.certificateChain ?? '',
      certificateNotBefore: validity.notBefore,
      certificateNotAfter: validity.notAfter,
    });
  }
  return credentials;
}

/** A new registration token for a provisioned device (with the PT it was provisioned with). */
export async function refreshRegistrationToken(http: HttpTarget, c: Credentials): Promise<Credentials> {
  const r = await retrying(() =>
    httpJson<{ registrationToken: string; expiresAt: number }>(
      http,
      'POST',
      '/v1/device/provisioning/refresh',
      {
        token: c.provisioningToken,
        body: { registrationToken: c.registrationToken },
      },
    ),
  );
  return {
    ...c,
    registrationToken: r.registrationToken,
    registrationTokenExpiresAt: r.expiresAt,
    registrationTokenIssuedAt: Date.now(),
  };
}

/** A new certificate from a new key, requested over the device API with the current credential. */
export async function renewCertificate(
  http: HttpTarget,
  c: Credentials,
  commonName: string,
): Promise<Credentials> {
  const key = await newKeyAndCsr(commonName);
  const r = await retrying(() =>
    httpJson<{ certificate: string; chain: string }>(http, 'POST', '/v1/device/certificates', {
      token: c.registrationToken,
      body: { csr: key.csrPem },
    }),
  );
  const validity = certificateValidity(r.certificate);
  return {
    ...c,
    privateKeyPem: key.privateKeyPem,
    certificatePem: r.certificate,
    chainPem: r.chain,
    certificateNotBefore: validity.notBefore,
    certificateNotAfter: validity.notAfter,
  };
}
