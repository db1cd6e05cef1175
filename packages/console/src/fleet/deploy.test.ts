import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deploymentTargetOf, prefillOf, prefillSearch } from './deploy.js';

test('a filter becomes the target a deployment can take, and every filter it cannot is named', () => {
  const { prefill, cannot } = deploymentTargetOf({
    tag: 'site:a',
    firmwareVersion: '1.2.0',
    belowVersion: '2.0.0',
    status: 'enabled',
    connected: false,
    hardwareClass: 'gw-v2',
    belowMinimum: true,
    lastSeenBefore: '1700000000000',
    certificateExpiresBefore: '2030-01-01T00:00:00Z',
  });
  assert.deepEqual(prefill, { tags: 'site:a', versions: '1.2.0', belowVersion: '2.0.0' });
  assert.deepEqual(cannot, [
    'status enabled',
    'not connected',
    'hardware class gw-v2 (the artifact brings its own hardware class)',
    'below the minimum version (the artifact brings its own minimum)',
    'when it was last seen',
    'when its certificate expires',
  ]);
  assert.deepEqual(deploymentTargetOf({ neverSeen: true }).cannot, ['when it was last seen']);
  assert.deepEqual(deploymentTargetOf({}), { prefill: {}, cannot: [] });
  assert.deepEqual(prefillOf(prefillSearch(prefill)), prefill, 'the prefill survives the address');
  assert.equal(prefillOf('?tags=x'), undefined, 'no form asked for');
});
