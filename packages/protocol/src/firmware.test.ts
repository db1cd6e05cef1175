import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersionKeys, parseFirmwareReport, parseSemver, type VersionKey } from './firmware.js';

const key = (v: string): VersionKey => {
  const r = parseSemver(v);
  assert.ok(r.ok, `${v}: ${r.ok ? '' : r.message}`);
  return r.key;
};

/** The same order in JavaScript and as the row (major, minor, patch, pre) in byte order. */
const rowOrder = (a: VersionKey, b: VersionKey) =>
  a.major - b.major ||
  a.minor - b.minor ||
  a.patch - b.patch ||
  Buffer.compare(Buffer.from(a.pre), Buffer.from(b.pre));

test('the sort key follows SemVer §11 precedence, in byte order too', () => {
  // The example list of the specification, then the numeric boundaries.
  const ordered = [
    '0.9.9',
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    // identifiers compare in ASCII order, a shorter one first: alpha < alpha-x
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
  for (let i = 0; i < ordered.length; i++)
    for (let j = 0; j < ordered.length; j++) {
      const [a, b] = [key(ordered[i]!), key(ordered[j]!)];
      const want = Math.sign(i - j);
      assert.equal(Math.sign(compareVersionKeys(a, b)), want, `${ordered[i]} vs ${ordered[j]}`);
      assert.equal(Math.sign(rowOrder(a, b)), want, `${ordered[i]} vs ${ordered[j]} (bytes)`);
    }
  // Build metadata takes no part.
  assert.equal(compareVersionKeys(key('1.0.0+a'), key('1.0.0+b.7')), 0);
});

test('versions outside SemVer or the stored limits are refused', () => {
  for (const v of [
    '1',
    '1.2',
    '01.2.3',
    '1.02.3',
    'v1.2.3',
    '1.2.3-',
    '1.2.3-01',
    '1.2.3+',
    ' 1.2.3',
    '1.2.3\n',
  ])
    assert.equal(parseSemver(v).ok, false, JSON.stringify(v));
  assert.equal(parseSemver('2147483647.0.0').ok, true);
  assert.equal(parseSemver('2147483648.0.0').ok, false);
  assert.equal(parseSemver('1.0.0-rc.1234567890').ok, true);
  assert.equal(parseSemver('1.0.0-rc.12345678901').ok, false);
  assert.equal(parseSemver(`1.0.0-${'a'.repeat(58)}`).ok, true);
  assert.equal(parseSemver(`1.0.0-${'a'.repeat(59)}`).ok, false);
  assert.equal(parseSemver(1).ok, false);
});

test('a report is exactly {version, hardwareClass}', () => {
  const ok = parseFirmwareReport({ version: '1.2.3', hardwareClass: 'gw-v2' });
  assert.ok(ok.ok);
  assert.deepEqual([ok.value.version, ok.value.hardwareClass], ['1.2.3', 'gw-v2']);
  const refusals: [unknown, string][] = [
    [null, ''],
    [[], ''],
    [{ version: '1.2.3' }, '/hardwareClass'],
    [{ version: '1.2', hardwareClass: 'x' }, '/version'],
    [{ version: '1.2.3', hardwareClass: '' }, '/hardwareClass'],
    [{ version: '1.2.3', hardwareClass: 'a/b' }, '/hardwareClass'],
    [{ version: '1.2.3', hardwareClass: 'x'.repeat(65) }, '/hardwareClass'],
    [{ version: '1.2.3', hardwareClass: 'x', deviceId: 'dev_other' }, '/deviceId'],
  ];
  for (const [body, path] of refusals) {
    const r = parseFirmwareReport(body);
    assert.ok(!r.ok, JSON.stringify(body));
    assert.equal(r.error.code, 'INVALID_FIRMWARE_REPORT');
    assert.equal(r.error.path, path, JSON.stringify(body));
  }
});
