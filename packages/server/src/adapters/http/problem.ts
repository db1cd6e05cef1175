/**
 * The one HTTP error renderer: every failure leaves as application/problem+json (RFC 9457) with a
 * stable `code` from the catalogue. Internals (stack traces, driver messages) never reach the client.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CATALOGUE, type ErrorCode, type Problem } from '@mooring/protocol';
import { AppError, isAppError, type FieldError } from '../../errors.js';
import { isStoreUnavailable } from '../../store/db.js';

export const PROBLEM_TYPE_BASE = 'https://mooring.dev/errors/';

export function problemOf(
  code: ErrorCode,
  detail: string | undefined,
  requestId: string,
  extra: Record<string, unknown> = {},
): Problem {
  const spec = ERROR_CATALOGUE[code];
  // The members RFC 9457 defines come last: no extra member of an error can replace them.
  return {
    ...extra,
    type: `${PROBLEM_TYPE_BASE}${code.toLowerCase().replace(/_/g, '-')}`,
    title: spec.title,
    status: spec.status,
    code,
    ...(detail !== undefined ? { detail } : {}),
    requestId,
  };
}

/** Fastify's own error codes, mapped onto the catalogue. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_EMPTY_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
};

/**
 * When a client should come back after the store did not answer: long enough for a restart or a
 * failover to finish, short enough that a client that waits as told does not wait much past it.
 */
export const STORE_RETRY_AFTER_MS = 5_000;

/** The answer while the store is unreachable: 503 NOT_READY with `retryAfterMs` (and Retry-After). */
export function storeUnavailable(): AppError {
  return new AppError('NOT_READY', 'the store does not answer; retry later', {
    details: { retryAfterMs: STORE_RETRY_AFTER_MS },
  });
}

export function toAppError(err: FastifyError | Error): { error: AppError; internal: boolean } {
  if (isAppError(err)) return { error: err, internal: false };
  // The store is down or the connection broke: the server is fine, the request may be retried.
  if (isStoreUnavailable(err)) return { error: storeUnavailable(), internal: false };
  const fe = err as FastifyError & {
    validation?: { instancePath: string; message?: string; params?: Record<string, unknown> }[];
    validationContext?: string;
  };
  if (fe.validation) {
    const errors: FieldError[] = fe.validation.map((v) => {
      const extra = v.params?.additionalProperty
        ? `/${String(v.params.additionalProperty)}`
        : v.params?.missingProperty
          ? `/${String(v.params.missingProperty)}`
          : '';
      const where = fe.validationContext && fe.validationContext !== 'body' ? `${fe.validationContext}:` : '';
      return { path: `${where}${v.instancePath}${extra}`, message: v.message ?? 'is not valid' };
    });
    return {
      error: new AppError(
        'VALIDATION_FAILED',
        errors.map((e) => `${e.path || '/'} ${e.message}`).join('; '),
        { errors },
      ),
      internal: false,
    };
  }
  if (fe.code && FASTIFY_CODES[fe.code]) {
    const code = FASTIFY_CODES[fe.code]!;
    // Parser errors (bad JSON, wrong media type) name the problem without echoing input.
    const detail = code === 'MALFORMED_JSON' ? 'the body is not valid JSON' : fe.message;
    return { error: new AppError(code, detail), internal: false };
  }
  // A body that broke off (the client went away, or was cut off at its deadline: slow-clients.ts) is
  // the client's doing: refused, and logged at debug, so that a slow-client flood floods no log.
  if (fe.code === 'ECONNRESET')
    return { error: new AppError('VALIDATION_FAILED', 'the body broke off before its end'), internal: false };
  if (fe.statusCode === 429) return { error: new AppError('RATE_LIMITED', fe.message), internal: false };
  if (fe.statusCode === 413) return { error: new AppError('PAYLOAD_TOO_LARGE'), internal: false };
  if (fe.statusCode === 415) return { error: new AppError('UNSUPPORTED_MEDIA_TYPE'), internal: false };
  if (fe.statusCode === 400 && fe.code?.startsWith('FST_'))
    return { error: new AppError('VALIDATION_FAILED', fe.message), internal: false };
  return { error: new AppError('INTERNAL'), internal: true };
}

/**
 * `Retry-After` in whole seconds (RFC 9110 §10.2.3), rounded up and at least 1, so that a client that
 * waits as told is not refused again for a few ms; `retryAfterMs` in the body keeps the precise value.
 */
export function retryAfterSeconds(retryAfterMs: unknown): number | undefined {
  if (typeof retryAfterMs !== 'number' || !Number.isFinite(retryAfterMs) || retryAfterMs < 0)
    return undefined;
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: AppError): FastifyReply {
  const extra: Record<string, unknown> = { ...error.details };
  if (error.errors) extra.errors = error.errors;
  const detail = error.code === 'INTERNAL' ? undefined : error.message;
  // Every refusal that says when to come back (rate limits, lockouts, provisioning bursts) says it
  // in the header too, where HTTP clients and proxies look for it.
  const retryAfter = retryAfterSeconds(error.details.retryAfterMs);
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  return reply
    .code(error.status)
    .type('application/problem+json')
    .send(problemOf(error.code, detail, request.id, extra));
}
