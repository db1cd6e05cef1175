import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersionKeys, parseSemver } from '@mooring/protocol';
import { compareVersions } from './semver.js';

/** The specification's example list, then the boundaries a text sort gets wrong. */
const ORDERED = [
  '0.9.9',
  '1.0.0-alpha',
  '1.0.0-alpha.1',
  '1.0.0-alpha.beta',
  '1.0.0-alpha-x',
  '1.0.0-beta',
  '1.0.0-beta.2',
  '1.0.0-beta.11',
  '1.0.0-rc.1',
  '1.0.0',
  '1.9.0',
  '1.10.0-rc.2',
  '1.10.0-rc.10',
  '1.10.0',
  '1.10.1',
  '2.0.0',
  '10.0.0',
];

test('versions are shown in SemVer precedence, the order the server filters by', () => {
  const key = (v: string) => {
    const r = parseSemver(v);
    assert.ok(r.ok, v);
    return r.key;
  };
  for (let i = 0; i < ORDERED.length; i++)
    for (let j = 0; j < ORDERED.length; j++) {
      const [a, b] = [ORDERED[i]!, ORDERED[j]!];
      assert.equal(Math.sign(compareVersions(a, b)), Math.sign(i - j), `${a} vs ${b}`);
      assert.equal(Math.sign(compareVersions(a, b)), Math.sign(compareVersionKeys(key(a), key(b))));
    }
  assert.equal(compareVersions('1.0.0+a', '1.0.0+b.7'), 0, 'build metadata takes no part');
  assert.deepEqual(['x', '1.10.0', '1.2.0'].sort(compareVersions), ['1.2.0', '1.10.0', 'x']);
});
