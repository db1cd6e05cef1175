/**
 * `Idempotency-Key` on creates that devices, factories and scripts may retry: the first response is
 * stored and replayed for the same key, principal and request; the same key with another request is
 * refused with IDEMPOTENCY_KEY_REUSED.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../errors.js';
import { sha256Hex } from '../../ids.js';
import type { Db } from '../../store/db.js';

const KEY_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

function scopeOf(request: FastifyRequest): string {
  const p = request.principal;
  if (!p) return 'anonymous';
  switch (p.kind) {
    case 'platform-admin':
      return `admin:${p.userId}`;
    case 'user':
      return `user:${p.userId}`;
    case 'api-key':
      return `key:${p.keyId}`;
    case 'device':
      return `device:${p.deviceId}`;
  }
}

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
  const scope = scopeOf(request);
  const requestHash = sha256Hex(
    `${request.method} ${request.routeOptions.url ?? request.url} ${JSON.stringify(request.params)} ${JSON.stringify(request.body ?? null)}`,
  );
  const [seen] = await db.query<{ request_hash: string; status: number; body: unknown }>(
    'SELECT request_hash, status, body FROM idempotency_keys WHERE scope = $1 AND key = $2',
    [scope, key],
  );
  if (seen) {
    if (seen.request_hash !== requestHash) throw new AppError('IDEMPOTENCY_KEY_REUSED');
    return reply.code(seen.status).header('idempotent-replayed', 'true').send(seen.body);
  }
  const body = await create();
  await db.query(
    'INSERT INTO idempotency_keys (scope, key, request_hash, status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING',
    [scope, key, requestHash, status, JSON.stringify(body), Date.now()],
  );
  return reply.code(status).send(body);
}
