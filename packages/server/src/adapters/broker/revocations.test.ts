import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuthenticatedDevice } from '../../domains/devices/devices.js';
import { createRevocationLog } from './revocations.js';

const device = (credentialId: string) => ({ deviceId: 'dev_1', credentialId }) as AuthenticatedDevice;

test('a notice counts for lookups that started before it, for the device or its one credential', () => {
  let now = 0;
  const log = createRevocationLog(() => now);
  const before = log.mark();
  log.record('dev_1', 'key_1');
  assert.equal(log.revokedSince(before, device('key_1')), true);
  assert.equal(log.revokedSince(before, device('key_2')), false);
  assert.equal(log.revokedSince(log.mark(), device('key_1')), false);
  log.record('dev_1');
  assert.equal(log.revokedSince(before, device('key_2')), true);
  // Forgotten after a minute.
  now = 61_000;
  const late = log.mark() - 2;
  log.record('dev_other');
  assert.equal(log.revokedSince(late, device('key_1')), false);
});
