import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../errors.js';
import { toAppError } from '../adapters/http/problem.js';
import { isConnectionFailure, isStoreUnavailable, StoreError } from './db.js';

const driverError = (code: string | undefined, message = 'boom') =>
  Object.assign(new Error(message), code ? { code } : {});

test('connection-class driver errors mark the store unavailable; statement errors do not', () => {
  for (const code of ['08006', '08001', '57P01', '57P02', '57P03', '53300', 'ECONNREFUSED', 'ECONNRESET'])
    assert.ok(new StoreError(driverError(code), 'SELECT 1').unavailable, code);
  for (const message of [
    'Connection terminated unexpectedly',
    'timeout exceeded when trying to connect',
    'Client has encountered a connection error and is not queryable',
  ])
    assert.ok(isConnectionFailure(driverError(undefined, message)), message);
  // Wrong statements, constraint violations and serialization failures are not outages.
  for (const code of ['23505', '40001', '42P01', '22P02'])
    assert.equal(new StoreError(driverError(code), 'SELECT 1').unavailable, false, code);
  // A server-written message is never matched on: a SQLSTATE decides.
  assert.equal(isConnectionFailure(driverError('23505', 'Connection terminated (quoted input)')), false);
  assert.equal(isStoreUnavailable(driverError('ECONNREFUSED')), false, 'only a StoreError counts');
});

test('HTTP: an unavailable store is 503 NOT_READY with retryAfterMs, any other store error 500', () => {
  const down = toAppError(new StoreError(driverError('ECONNREFUSED'), 'SELECT devices'));
  assert.equal(down.internal, false);
  assert.equal(down.error.status, 503);
  assert.equal(down.error.code, 'NOT_READY');
  assert.equal(down.error.details.retryAfterMs, 5_000);
  const broken = toAppError(new StoreError(driverError('42P01'), 'SELECT devices'));
  assert.equal(broken.internal, true);
  assert.equal(broken.error.code, 'INTERNAL');
  assert.ok(toAppError(new AppError('NOT_FOUND')).error.status === 404);
});
