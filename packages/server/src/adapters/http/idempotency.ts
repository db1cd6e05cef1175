/**
 * `Idempotency-Key` on creates that devices, factories and scripts may retry. The first request with a
 * key claims it (an in-progress row), runs, and stores its response; a retry with the same key,
 * principal and request gets that response replayed; the same key with another request is refused
 * with IDEMPOTENCY_KEY_REUSED, and a retry while the first is still running with
 * IDEMPOTENCY_KEY_IN_USE. A failed first request releases the key. Records expire after a day.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../errors.js';
import { sha256Hex } from '../../ids.js';
import { principalName } from '../../platform/caller.js';
import type { Db } from '../../store/db.js';

const KEY_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
/** How long a stored response is replayed, in milliseconds. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;
/** Status of a claimed key whose first request has not finished. */
const IN_PROGRESS = 0;

export async function idempotent(
  db: Db,
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  create: () => Promise<unknown>,
): Promise<unknown> {
  const header = request.headers['idempotency-key'];
  if (header === undefined) return reply.code(status).send(await create());
  const key = Array.isArray(header) ? header[0]! : header;
  if (!KEY_PATTERN.test(key)) {
    throw new AppError(
      'VALIDATION_FAILED',
      'Idempotency-Key must be 1 to 128 characters of letters, digits, _ . : -',
      {
        errors: [{ path: 'header:/idempotency-key', message: 'invalid format' }],
      },
    );
  }
  const scope = principalName(request.principal);
  const requestHash = sha256Hex(
    `${request.method} ${request.routeOptions.url ?? request.url} ${JSON.stringify(request.params)} ${JSON.stringify(request.body ?? null)}`,
  );
  const now = Date.now();
  // Claim the key atomically; an expired record is taken over.
  const claimed = await db.query(
    `INSERT INTO idempotency_keys (scope, key, request_hash, status, body, created_at) VALUES ($1, $2, $3, $4, 'null', $5)
     ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash, status = excluded.status, body = excluded.body, created_at = excluded.created_at
       WHERE idempotency_keys.created_at < $6
     RETURNING key`,
    [scope, key, requestHash, IN_PROGRESS, now, now - IDEMPOTENCY_TTL_MS],
  );
  if (claimed.length === 0) {
    const [seen] = await db.query<{ request_hash: string; status: number; body: unknown }>(
      'SELECT request_hash, status, body FROM idempotency_keys WHERE scope = $1 AND key = $2',
      [scope, key],
    );
    if (!seen) throw new AppError('IDEMPOTENCY_KEY_IN_USE');
    if (seen.request_hash !== requestHash) throw new AppError('IDEMPOTENCY_KEY_REUSED');
    if (seen.status === IN_PROGRESS) throw new AppError('IDEMPOTENCY_KEY_IN_USE');
    return reply.code(seen.status).header('idempotent-replayed', 'true').send(seen.body);
  }
  let body: unknown;
  try {
    body = await create();
  } catch (e) {
    await db.query('DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2', [scope, key]);
    throw e;
  }
  await db.query('UPDATE idempotency_keys SET status = $3, body = $4 WHERE scope = $1 AND key = $2', [
    scope,
    key,
    status,
    JSON.stringify(body),
  ]);
  return reply.code(status).send(body);
}

/** Deletes records past their replay window; run by the housekeeping worker. */
export async function expireIdempotencyKeys(db: Db, now = Date.now()): Promise<number> {
  return (
    await db.query('DELETE FROM idempotency_keys WHERE created_at < $1 RETURNING key', [
      now - IDEMPOTENCY_TTL_MS,
    ])
  ).length;
}
